#!/usr/bin/env bash
# README command 1: install driftmon and run the daemon on the bundled example
# (SQLite database driftmon.db, config/example.yaml, data in examples/data).
# Results appear in the log within seconds and on http://127.0.0.1:9464/metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/driftmon run -c config/example.yaml
