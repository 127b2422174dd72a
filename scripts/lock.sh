#!/usr/bin/env bash
# Regenerate requirements.lock, the Docker image's dependencies: driftmon's dependencies, the
# postgres and duckdb extras and the build backend (setuptools), every version pinned with the sha256 of
# every file PyPI has for it. Run after changing dependencies in pyproject.toml and commit
# the result; tests/test_lock.py checks that the lock covers pyproject.toml.
#   bash scripts/lock.sh               keep the pins that still fit, add what is new
#   bash scripts/lock.sh --upgrade     move every pin to the newest version that fits
# The lock is resolved for this interpreter's Python (the image's: 3.11) and platform.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pip-compile ] || .venv/bin/python -m pip install -q "pip-tools>=7.4"
# PyPI only: a developer's pip configuration (local wheel folders, extra indexes) stays out.
env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_CONSTRAINT \
  PIP_CONFIG_FILE=/dev/null CUSTOM_COMPILE_COMMAND="bash scripts/lock.sh" \
  .venv/bin/pip-compile --quiet --extra postgres --extra duckdb --build-deps-for wheel --generate-hashes \
  --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links \
  --output-file requirements.lock "$@" pyproject.toml
