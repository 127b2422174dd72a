"""Storage tests run on SQLite and, with DRIFTMON_TEST_POSTGRES_URL set, on PostgreSQL.

Each test module gets its own temporary PostgreSQL database (dropped afterwards), and each
test starts from an empty schema, so these tests can run next to anyone else's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine

from driftmon.core.drift import DriftScores
from driftmon.core.status import Status, Thresholds
from driftmon.results import FeatureResult, RunResult
from driftmon.storage import Store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


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
    """An empty database URL, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.db'}"
    url: str = request.getfixturevalue("pg_database")
    _drop_everything(url)
    return url


@pytest.fixture
def empty_store(db_url: str) -> Iterator[Store]:
    """A store on a database without any table."""
    store = Store(db_url)
    yield store
    store.dispose()


@pytest.fixture
def store(empty_store: Store) -> Store:
    """A store on a freshly migrated, empty database."""
    empty_store.upgrade()
    return empty_store


def feature(
    name: str,
    kl: float | None = 0.01,
    status: Status = Status.OK,
    n_bins: int = 4,
    **kw: object,
) -> FeatureResult:
    """A feature result; ``kl=None`` gives one that could not be scored."""
    scores = None
    if kl is not None:
        scores = DriftScores(
            kl_divergence=kl,
            entropy=1.2345678901234567,
            cross_entropy=1.2345678901234567 + kl,
            js_divergence=kl / 4,
            psi=kl * 2.000000000000001,
            g_statistic=17.5,
            degrees_of_freedom=n_bins - 1,
            p_value=1e-300,
            expected_kl=0.1 + 0.2,
            live_rows=1000,
            reference_rows=5000,
        )
    args: dict[str, object] = {
        "feature": name,
        "status": status,
        "thresholds": Thresholds(warning=0.05, critical=0.2),
        "live_rows": 1000,
        "missing_rows": 7,
        "scores": scores,
        "live_counts": tuple(range(100, 100 + n_bins)),
        "bin_labels": tuple(f"[{i}, {i + 1})" for i in range(n_bins)),
        "message": None if kl is not None else "column is all NaN",
    }
    args.update(kw)
    return FeatureResult(**args)  # type: ignore[arg-type]


def run(
    monitor: str = "orders",
    window_end: datetime = T0,
    status: Status = Status.OK,
    features: tuple[FeatureResult, ...] | None = None,
    duration: float = 1.5,
    **kw: object,
) -> RunResult:
    """A run over the hour before ``window_end``, finished ``duration`` seconds after it."""
    if features is None:
        features = (feature("age"), feature("amount", kl=0.3, status=Status.CRITICAL))
    args: dict[str, object] = {
        "monitor": monitor,
        "window_start": window_end - timedelta(hours=1),
        "window_end": window_end,
        "started_at": window_end + timedelta(seconds=1),
        "finished_at": window_end + timedelta(seconds=1 + duration),
        "status": status,
        "live_rows": 1000,
        "reference_rows": 5000,
        "features": features,
        "error": "source unreachable" if status is Status.ERROR else None,
    }
    args.update(kw)
    return RunResult(**args)  # type: ignore[arg-type]


@pytest.fixture
def make_run() -> Callable[..., RunResult]:
    return run


@pytest.fixture
def make_feature() -> Callable[..., FeatureResult]:
    return feature
