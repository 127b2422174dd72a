"""Fixtures of the service tests: data files in tmp_path, configs, and a results database.

The results database is a SQLite file and, when DRIFTMON_TEST_POSTGRES_URL is set, a fresh
PostgreSQL database per test module (dropped afterwards), emptied before every test.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from sqlalchemy import MetaData, create_engine

from driftmon.config import Config, MonitorConfig, config_from_dict
from driftmon.service.fresh_collector import FreshCollector
from driftmon.storage import Store

# The window end every runner test scores; live rows are spread over the 3 hours before it.
END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOWED = {"path": "live.parquet", "timestamp_column": "ts", "window": "1h"}
"""A live source windowed by the hour on its ``ts`` column (so catch-up applies)."""

S = TypeVar("S")


def _empty(url: str) -> None:
    """Delete every row (fast) when the schema is migrated, else drop every table."""
    engine = create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        names = [t.name for t in meta.sorted_tables]
        if "alembic_version" in names:
            tables = ", ".join(f'"{n}"' for n in names if n != "alembic_version")
            with engine.begin() as conn:
                conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        else:
            meta.drop_all(engine)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A results database without rows (maybe migrated already), once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.db'}"
    url: str = request.getfixturevalue("pg_database")
    _empty(url)
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


def monitors(*dicts: dict[str, Any]) -> list[MonitorConfig]:
    """The validated monitors of ``monitor_dict``s (no file is read)."""
    return list(make_config(Path("/tmp"), "sqlite://", *dicts).monitors)


def scraped(
    families: Callable[[S | None], list[Metric]], state: Callable[[], S]
) -> CollectorRegistry:
    """A registry scraping ``families`` of ``state`` as the daemon's ``FreshCollector`` does."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(FreshCollector(families, state))
    return registry


def sample(registry: CollectorRegistry, name: str, monitor: str = "m") -> float | None:
    return registry.get_sample_value(name, {"monitor": monitor})


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a server; ``stop()`` refuses and cuts every connection."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._stopped:
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            sockets, self._sockets = self._sockets, []
        self._listener.close()
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
