#!/usr/bin/env bash
# Set up and start the demo on the embedded default: SQLite, jobs in-process, the dev platform.
# Usage: scripts/demo.sh [PORT]      (default 5000; loopback only)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PORT="${1:-${PORT:-5000}}"
BASE="http://127.0.0.1:$PORT"

setup_project base
cd "$ROOT"
export APP_ENV=dev FLASK_APP=wsgi.py
unset DATABASE_URL REDIS_URL
"$VENV/bin/flask" db upgrade >/dev/null 2>&1 || "$VENV/bin/flask" db upgrade
"$VENV/bin/flask" demo setup --base-url "$BASE"
# A semester of demo viewing on the first start only (about a minute); later starts keep the data.
"$VENV/bin/flask" demo seed --if-empty

cat <<MSG

  Media Analytics demo is running.
  Open  $BASE/dev/  and pick a person to launch as (teacher, TA, designer, student, observer, admin).
  Emails the tool sends (Export → Email) arrive at  $BASE/dev/mail  unless SMTP_URL is set.
  Stop with Ctrl-C. Data lives in instance/media-analytics.sqlite3.

MSG
exec "$VENV/bin/flask" run --host 127.0.0.1 --port "$PORT"
