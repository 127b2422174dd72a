"""Fixtures shared by every test folder: a fresh PostgreSQL database per test module.

Tests that need PostgreSQL read DRIFTMON_TEST_POSTGRES_URL and are skipped when it is unset
(`.ci/run` sets it). Each module gets its own database, dropped at the end, so modules never
see each other's rows and never touch anything on the server they did not create.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

PG_ENV = "DRIFTMON_TEST_POSTGRES_URL"


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """URL of a fresh database on the test server for this module, dropped at the end."""
    server = os.environ.get(PG_ENV)
    if not server:
        pytest.skip(f"{PG_ENV} is not set")
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
