#!/usr/bin/env bash
# Installs envision-spiders into ./.venv (Python 3.11). With --test, also the system packages
# the test suite drives for real: Debian's chromium (Playwright's browser) and nginx.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--test" ]]; then
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
  if (( ${#missing[@]} )); then
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
  fi
fi

PYTHON="${PYTHON:-python3}"
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
# One pip call with everything pinned: torch==2.13.0 is in requirements.txt so pip never
# reaches for a CUDA build. The project itself is installed editable (scrapyd eggs, commands).
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt -e .
