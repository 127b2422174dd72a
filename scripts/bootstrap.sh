#!/usr/bin/env bash
# Create .venv (installing Debian's python3-venv first if this Python lacks it) and
# install driftmon into it in editable mode, with the extras given as $1 (e.g. "test").
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "driftmon needs Python >= 3.11; $PY is $("$PY" --version 2>&1)" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    echo "installing python3-venv (Debian) ..." >&2
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    "$PY" -m venv .venv
  fi
fi
# driftmon's compiled text count (driftmon/core/_textmatch.c) needs a C compiler and the
# Python headers at install time; without them the install still succeeds and text is
# counted by Arrow instead (about twice the time). Best effort: Debian's packages if missing.
if ! command -v gcc >/dev/null || ! .venv/bin/python -c 'import os, sysconfig, sys
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  echo "installing gcc and the Python headers (Debian) for the compiled text count ..." >&2
  if ! { as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install \
      -y -qq --no-install-recommends gcc libc6-dev "python$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-dev" >/dev/null; }; then
    echo "could not install them: driftmon will count text with Arrow instead" >&2
  fi
fi
extras=${1:-}
target="."
[ -n "$extras" ] && target=".[${extras}]"
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e "$target"
