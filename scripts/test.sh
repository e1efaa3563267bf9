#!/usr/bin/env bash
# Set up and run the whole test suite against PostgreSQL and Redis, with headless Chromium.
# Uses DATABASE_URL / REDIS_URL when set; otherwise the local servers, installed and started here
# when missing. Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

setup_project test

ensure_postgres() {
  if [ -n "${DATABASE_URL:-}" ]; then return; fi
  export DATABASE_URL="postgresql+psycopg://postgres:postgres@127.0.0.1:5432/test"
  command -v pg_isready >/dev/null 2>&1 || apt_install postgresql-client
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
      apt_install postgresql
      fresh_install=1
    fi
    local version; version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    say "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    if [ -n "${fresh_install:-}" ]; then
      as_root su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\""
    fi
  fi
  if ! PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -lqt 2>/dev/null | cut -d'|' -f1 | grep -qw test; then
    say "creating database test"
    PGPASSWORD=postgres psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" postgres ||
      as_root su postgres -c "psql -q -c 'CREATE DATABASE test'"
  fi
}

ensure_postgres_server_binaries() {
  # Fault tests run private clusters, and a streaming replica made with pg_basebackup, from the Debian
  # server binaries (/usr/lib/postgresql/<version>/bin), even when DATABASE_URL names another server.
  if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/pg_basebackup >/dev/null 2>&1; then
    return
  fi
  command -v initdb >/dev/null 2>&1 && command -v pg_basebackup >/dev/null 2>&1 && return
  apt_install postgresql   # postgresql-<version> (initdb, pg_ctl, postgres) and its client (pg_basebackup)
}

ensure_redis() {
  if [ -n "${REDIS_URL:-}" ]; then return; fi
  export REDIS_URL="redis://127.0.0.1:6379/15"
  command -v redis-cli >/dev/null 2>&1 || apt_install redis-tools
  if [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" != "PONG" ]; then
    command -v redis-server >/dev/null 2>&1 || apt_install redis-server
    say "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 1 30); do [ "$(redis-cli -h 127.0.0.1 ping 2>/dev/null)" = PONG ] && break; sleep 0.5; done
  fi
}

ensure_browser() {
  [ -x /usr/bin/chromium ] || apt_install chromium
  fc-list 2>/dev/null | grep -qi 'liberation\|dejavu' || apt_install fonts-liberation
}

ensure_postgres
ensure_postgres_server_binaries
ensure_redis
ensure_browser
cd "$ROOT"
say "running tests (DATABASE_URL=${DATABASE_URL%%@*}@…, REDIS_URL=$REDIS_URL)"
exec "$VENV/bin/python" -m pytest "$@"
