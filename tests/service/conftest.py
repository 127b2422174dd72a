"""Fixtures of the service tests: data files in tmp_path, configs, and a results database.

The results database is a SQLite file and, when DRIFTMON_TEST_POSTGRES_URL is set, a fresh
PostgreSQL database per test module (dropped afterwards), emptied before every test.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import make_url

from driftmon.config import Config, config_from_dict
from driftmon.storage import Store

PG_ENV = "DRIFTMON_TEST_POSTGRES_URL"
# The window end every runner test scores; live rows are spread over the 3 hours before it.
END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A fresh database on the test server for this module, dropped at the end."""
    server = os.environ.get(PG_ENV)
    if not server:
        pytest.skip(f"{PG_ENV} is not set")
    name = f"driftmon_svc_{secrets.token_hex(6)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _drop_everything(url: str) -> None:
    engine = create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        meta.drop_all(engine)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty results database URL, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.db'}"
    url: str = request.getfixturevalue("pg_database")
    _drop_everything(url)
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A store on a freshly migrated, empty database."""
    s = Store(db_url)
    s.upgrade()
    yield s
    s.dispose()


# -- data ---------------------------------------------------------------------------------


def write_parquet(path: Path, columns: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(dict(columns)), path)
    return path


def reference_columns(n: int = 2000, seed: int = 0) -> dict[str, Any]:
    """x ~ N(0, 1), y ~ N(5, 2), c in {a, b, c}."""
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(0.0, 1.0, n),
        "y": rng.normal(5.0, 2.0, n),
        "c": rng.choice(["a", "b", "c"], n).astype(object),
    }


def live_columns(
    n: int = 600, seed: int = 1, *, shift: float = 0.0, end: datetime = END, hours: int = 3
) -> dict[str, Any]:
    """Like the reference (x shifted by ``shift``), rows spread evenly over ``hours`` before end.

    Row i has timestamp ``end - hours + i * step``: the first row sits exactly on the
    window start of a whole-hour window, none on ``end`` itself.
    """
    cols = reference_columns(n, seed)
    cols["x"] = cols["x"] + shift
    step = timedelta(hours=hours) / n
    cols["ts"] = pa.array([end - timedelta(hours=hours) + i * step for i in range(n)])
    return cols


def monitor_dict(
    name: str = "m",
    *,
    reference: str = "reference.parquet",
    live: Mapping[str, Any] | None = None,
    features: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "schedule": {"every": "1h"},
        "reference": {"path": reference},
        "live": dict(live) if live is not None else {"path": "live.parquet"},
        "features": features
        if features is not None
        else [
            {"name": "x", "bins": 8},
            {"name": "y", "bins": 8},
            {"name": "c", "type": "categorical"},
        ],
        "thresholds": {"warning": 0.05, "critical": 0.2},
        **extra,
    }


def make_config(base_dir: Path, db_url: str, *monitors: dict[str, Any], **top: Any) -> Config:
    """A validated Config whose relative paths resolve against ``base_dir``."""
    data: dict[str, Any] = {
        "database": {"url": db_url},
        "monitors": list(monitors) or [monitor_dict()],
        **top,
    }
    return config_from_dict(data, base_dir=base_dir, environ={})
