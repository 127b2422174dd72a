"""Fixtures of the source tests: data files in tmp_path, SQLite files, PostgreSQL tables.

PostgreSQL tests need DRIFTMON_TEST_POSTGRES_URL. The server is shared with other tests
running at the same time, so every table gets a unique name and only those are dropped.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.ci import postgres_server_url


@dataclass
class Database:
    """A database to put test tables in; ``name()`` gives unique names, dropped at the end."""

    url: str
    engine: sa.Engine
    created: list[str] = field(default_factory=list)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def name(self, stem: str = "t") -> str:
        name = f"dm_src_{stem}_{secrets.token_hex(4)}"
        self.created.append(name)
        return name

    def track(self, name: str) -> str:
        """Register a table created under a name of the test's choosing, to be dropped."""
        self.created.append(name)
        return name

    def has_table(self, name: str) -> bool:
        return sa.inspect(self.engine).has_table(name)

    def drop_created(self) -> None:
        with self.engine.begin() as conn:
            for name in self.created:
                sa.Table(name, sa.MetaData()).drop(conn, checkfirst=True)


@contextmanager
def opened_database(url: str) -> Iterator[Database]:
    """A Database on ``url``; the tables made through it are dropped, its engine disposed."""
    database = Database(url, sa.create_engine(url))
    try:
        yield database
    finally:
        try:
            database.drop_created()
        finally:
            database.engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A SQLite file, and the shared PostgreSQL server when DRIFTMON_TEST_POSTGRES_URL is set."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'source.db'}"
    else:
        url = postgres_server_url()
    with opened_database(url) as database:
        yield database
