"""The CI rule for PostgreSQL and Spark tests: skipped where the server or Java is missing,
failing in CI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.ci import PG_ENV

ROOT = Path(__file__).resolve().parent.parent

# One test behind each way a test gets the PostgreSQL server.
POSTGRES_TESTS = (
    "tests/storage/test_migrations.py::test_upgrade_twice_is_a_no_op[postgresql]",  # pg_database
    "tests/sources/test_sql.py::test_table_columns_and_types[postgresql]",  # sources' db
    "tests/sources/test_sql.py::test_postgres_types_map_to_arrow",  # pg_url
)
SPARK_TEST = "tests/sources/test_spark.py::test_spark_literals_read_back_as_the_same_values"
TESTS = (*POSTGRES_TESTS, SPARK_TEST)
PG_MISSING = f"{PG_ENV} is not set"
JAVA_MISSING = "no Java (apt-get install -y --no-install-recommends openjdk-17-jre-headless)"


# A call of require_tool with a literal name (or list of names) and Debian package.
_REQUIRED = re.compile(r"require_tool\(\s*(\[[^\]]*\]|\"[^\"]+\")\s*,\s*\"(?P<package>[^\"]+)\"")


def test_every_tool_a_test_requires_is_installed_by_the_test_script() -> None:
    """CI fails a test whose tool is missing, so scripts/test.sh must install each one."""
    script = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    installed = set(re.findall(r"need_apt\+=\((\S+)\)", script))
    required = {
        match["package"]
        for path in (ROOT / "tests").rglob("*.py")
        for match in _REQUIRED.finditer(path.read_text(encoding="utf-8"))
    }
    assert {"chromium", "chromium-driver", "prometheus"} <= required
    assert required <= installed, f"not installed by scripts/test.sh: {required - installed}"


def run_without_postgres_and_java(ci: str | None) -> subprocess.CompletedProcess[str]:
    """The PostgreSQL tests and a Spark test in one pytest run (one start-up instead of
    two) where neither the server nor Java can be found: no DRIFTMON_TEST_POSTGRES_URL,
    no JAVA_HOME, no java on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in (PG_ENV, "JAVA_HOME", "CI")}
    env["PATH"] = str(ROOT / "no-such-folder")
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", *TESTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _skip_reasons(stdout: str) -> list[str]:
    """The reasons of the summary (``-ra`` in addopts), one per skipped test."""
    return [
        line.split(": ", 1)[1] for line in stdout.splitlines() if line.startswith("SKIPPED [1]")
    ]


def test_postgres_and_spark_tests_skip_without_server_and_java_outside_ci() -> None:
    done = run_without_postgres_and_java(ci=None)
    assert done.returncode == 0, done.stdout
    assert f"{len(TESTS)} skipped" in done.stdout
    for test in TESTS:
        assert f"{test} SKIPPED" in done.stdout, done.stdout
    reasons = _skip_reasons(done.stdout)
    assert sum(r.startswith(PG_MISSING) for r in reasons) == len(POSTGRES_TESTS), done.stdout
    assert reasons.count(JAVA_MISSING) == 1, done.stdout


def test_postgres_and_spark_tests_fail_without_server_and_java_in_ci() -> None:
    done = run_without_postgres_and_java(ci="true")
    assert done.returncode == 1, done.stdout
    assert f"{len(TESTS)} errors" in done.stdout
    assert "skipped" not in done.stdout
    for test in POSTGRES_TESTS:
        assert f"ERROR {test} - Failed: {PG_MISSING}" in done.stdout, done.stdout
    assert f"ERROR {SPARK_TEST} - Failed: {JAVA_MISSING}" in done.stdout, done.stdout
    assert done.stdout.count("CI must run the PostgreSQL tests") >= len(POSTGRES_TESTS)
    assert "CI must run the Spark tests" in done.stdout
