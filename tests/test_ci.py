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


def run_postgres_tests(ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (PG_ENV, "CI")}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *POSTGRES_TESTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_postgres_tests_skip_without_a_server_outside_ci() -> None:
    done = run_postgres_tests(ci=None)
    assert done.returncode == 0, done.stdout
    assert f"{len(POSTGRES_TESTS)} skipped" in done.stdout


def test_postgres_tests_fail_without_a_server_in_ci() -> None:
    done = run_postgres_tests(ci="true")
    assert done.returncode == 1, done.stdout
    assert f"{len(POSTGRES_TESTS)} errors" in done.stdout
    assert "skipped" not in done.stdout
    assert "CI must run the PostgreSQL tests" in done.stdout


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


SPARK_TEST = "tests/sources/test_spark.py::test_spark_literals_read_back_as_the_same_values"


def run_spark_test_without_java(ci: str | None) -> subprocess.CompletedProcess[str]:
    """A Spark test where no Java can be found (no JAVA_HOME, no java on PATH)."""
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "CI")}
    env["PATH"] = str(ROOT / "no-such-folder")
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", SPARK_TEST],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_spark_tests_skip_without_java_outside_ci() -> None:
    done = run_spark_test_without_java(ci=None)
    assert done.returncode == 0, done.stdout
    assert "1 skipped" in done.stdout


def test_spark_tests_fail_without_java_in_ci() -> None:
    done = run_spark_test_without_java(ci="true")
    assert done.returncode == 1, done.stdout
    assert "CI must run the Spark tests" in done.stdout
    assert "skipped" not in done.stdout
