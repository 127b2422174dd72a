#!/usr/bin/env bash
# README command 2: install everything the tests need and run them (CI calls this too).
#   - Python packages into .venv (driftmon with its [test] extras)
#   - Debian packages: prometheus, prometheus-alertmanager (promtool, amtool, e2e test),
#     docker-compose (validates docker-compose.yml; no Docker engine is needed),
#     chromium and chromium-driver (tests/e2e/test_browser.py: the pages in a real browser),
#     postgresql-client (psql runs config/postgres/initdb's script in the Grafana SQL tests),
#     openjdk-17-jre-headless (Java for the Spark Connect server the Spark tests start from
#     the pyspark package; tests/spark.py finds it through JAVA_HOME or the java on PATH)
#   - PostgreSQL: used when reachable on 127.0.0.1:5432 (started if installed but down)
# Extra arguments go to pytest, after the defaults below (so `-n 0` runs in one process).
# pytest runs in two worker processes (pytest-xdist), each test file whole in one of them
# (--dist loadfile: a module's fixtures, e.g. its PostgreSQL database and the Spark server,
# are set up once). Half the serial run's wall time is waiting (daemons on 1 s schedules,
# timeouts, servers starting), so two workers take about a third off on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

need_apt=()
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v amtool >/dev/null || need_apt+=(prometheus-alertmanager)
command -v docker-compose >/dev/null || need_apt+=(docker-compose)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
command -v psql >/dev/null || need_apt+=(postgresql-client)
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    "${need_apt[@]}" >/dev/null
fi

bash scripts/bootstrap.sh test

if [ -z "${DRIFTMON_TEST_POSTGRES_URL:-}" ]; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && command -v pg_ctlcluster >/dev/null; then
    echo "starting PostgreSQL ..." >&2
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    export DRIFTMON_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:5432/test"
  elif [ "${CI:-}" = "true" ]; then
    echo "PostgreSQL is not reachable on 127.0.0.1:5432; CI must test it" >&2
    exit 1
  fi
fi
echo "PostgreSQL tests: ${DRIFTMON_TEST_POSTGRES_URL:-skipped (no server)}" >&2

.venv/bin/ruff check driftmon tests benchmarks examples
.venv/bin/ruff format --check driftmon tests benchmarks examples
.venv/bin/mypy driftmon tests

# driftmon's bytecode, read by every daemon, scoring worker and CLI subprocess the tests
# start: under PYTHONDONTWRITEBYTECODE=1 (set on this project's machines) each of them would
# compile driftmon again (about 0.3 s of CPU a process).
.venv/bin/python -m compileall -q driftmon >/dev/null

set +e
.venv/bin/python -m pytest -n 2 --dist loadfile "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$rc"
