#!/usr/bin/env bash
# Installs what paperlink's example and tests need on a Debian machine, idempotently, then creates .venv.
# Sourced by scripts/example.sh and scripts/test.sh; quick when everything is already there.
# System packages are listed in scripts/apt-packages.txt (one per line, '#' comments).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

apt_install_missing() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "setup: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
      return 1
    fi
    echo "setup: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
  fi
}

if command -v dpkg-query >/dev/null 2>&1; then
  mapfile -t PKGS < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$ROOT/scripts/apt-packages.txt")
  apt_install_missing "${PKGS[@]}"
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10), "paperlink needs Python 3.10+"'
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  apt_install_missing python3-venv
fi

VENV="$ROOT/.venv"
STAMP="$VENV/.paperlink-installed"
WANT="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "setup: installing paperlink and its test tools into $VENV" >&2
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  # editable_mode=compat puts the checkout on sys.path with a plain .pth: setuptools' default import
  # finder for a flat layout costs every Python start in the venv ~20 ms, paperlink's and the command's.
  "$VENV/bin/python" -m pip install -q --config-settings editable_mode=compat -e "$ROOT[test,example]"
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"

# Services the tests talk to (a Docker engine, a local registry) are started by scripts/services.sh.
if [ -f "$ROOT/scripts/services.sh" ]; then
  # shellcheck source=/dev/null
  source "$ROOT/scripts/services.sh"
fi
