"""Fixtures shared by every test folder: a fresh PostgreSQL database per test module, and
one Spark Connect server for the whole run (``tests/spark.py``).

Tests that need PostgreSQL read DRIFTMON_TEST_POSTGRES_URL (`scripts/test.sh` sets it):
without it they are skipped, except under CI=true, where they fail (``tests/ci.py``). Each
module gets its own database, dropped at the end, so modules never see each other's rows and
never touch anything on the server they did not create.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from tests.ci import postgres_server_url
from tests.spark import SparkServer, spark_connect_server


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """URL of a fresh database on the test server for this module, dropped at the end."""
    server = postgres_server_url()
    name = f"driftmon_t_{secrets.token_hex(6)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="module")
def spark_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkServer]:
    """The run's Spark Connect server on 127.0.0.1, started on first use. Module-scoped:
    every Spark test is in tests/sources/test_spark.py, so this is still one server per run,
    but it stops when they are done instead of at the end of the run (an idle Spark JVM
    kept ~0.6 of a core busy through the rest of the suite)."""
    with spark_connect_server(tmp_path_factory.mktemp("spark")) as server:
        yield server
