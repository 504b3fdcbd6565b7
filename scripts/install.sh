#!/usr/bin/env bash
# Installs envision-spiders into ./.venv (Python 3.11). With --test, also the system packages
# the test suite drives for real: Debian's chromium (Playwright's browser), nginx and PostgreSQL
# (the state tests start its server binaries, /usr/lib/postgresql/*/bin, on loopback).
#
# One pip call with everything on the line: the pinned set (requirements.lock, torch==2.13.0
# among it, so pip never reaches for a CUDA build) and the project itself, editable, with its
# extras (pyproject.toml). ENVISION_EXTRAS picks other extras (default: test, which includes
# browser and scrapyd); e.g. ENVISION_EXTRAS=test,postgres.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--test" ]]; then
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
  if (( ${#missing[@]} )); then
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
  fi
fi

PYTHON="${PYTHON:-python3}"
EXTRAS="${ENVISION_EXTRAS:-test}"
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r requirements.lock -e ".[${EXTRAS}]"
