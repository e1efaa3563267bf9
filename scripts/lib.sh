# Shared by scripts/demo.sh and scripts/test.sh: install what the project needs on Debian.
# Sourced, not run. Everything is idempotent: a second run only checks.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
APT_UPDATED=""

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else say "need root to run: $*"; return 1; fi
}

apt_install() {
  [ "$#" -gt 0 ] || return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    say "missing: $* (install them with your package manager)"; return 1
  fi
  if [ -z "$APT_UPDATED" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  say "installing Debian packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

have_python() {
  command -v python3 >/dev/null 2>&1 &&
    python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

ensure_system_packages() {
  local pkgs=()
  have_python || pkgs+=(python3 python3-venv python3-dev)
  command -v npm >/dev/null 2>&1 || pkgs+=(npm)
  # WeasyPrint renders PDFs with Pango.
  ldconfig -p 2>/dev/null | grep -q 'libpango-1.0' || pkgs+=(libpango-1.0-0 libpangoft2-1.0-0)
  fc-list 2>/dev/null | grep -qi dejavu || pkgs+=(fonts-dejavu-core)
  # The PDF tests read the generated files back with pdftotext.
  command -v pdftotext >/dev/null 2>&1 || pkgs+=(poppler-utils)
  apt_install "${pkgs[@]}"
}

ensure_python_env() {
  # "base" is satisfied by a "test" install of the same pyproject.toml.
  local extras="$1" stamp="$VENV/.installed"
  [ -x "$VENV/bin/python" ] || { say "creating $VENV"; python3 -m venv "$VENV"; }
  local want; want="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
  local have; have="$(cat "$stamp" 2>/dev/null || true)"
  if [ "$have" != "$want test" ] && [ "$have" != "$want $extras" ]; then
    say "installing Python packages ($extras)"
    "$VENV/bin/pip" install -q --upgrade pip >/dev/null
    if [ "$extras" = "test" ]; then "$VENV/bin/pip" install -q -e "$ROOT[test]"
    else "$VENV/bin/pip" install -q -e "$ROOT"; fi
    echo "$want $extras" > "$stamp"
  fi
}

ensure_assets() {
  # htmx is pinned in package.json / package-lock.json and served by the tool itself.
  if [ ! -f "$ROOT/node_modules/htmx.org/dist/htmx.min.js" ] || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
    say "installing front-end assets (npm ci)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}

setup_project() {
  ensure_system_packages
  ensure_python_env "${1:-base}"
  ensure_assets
}
