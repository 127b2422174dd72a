"""A run the results database refuses for good (a value too long, a constraint) is stored as
an error run with the reason and never retried; it never holds up other runs, which an outage
keeps waiting and which are stored afterwards, each monitor on its own, in window order.

On SQLite and PostgreSQL. "The database is away": PostgreSQL behind a proxy that is cut;
SQLite locked by another writer (short busy timeout), both operational errors."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import driftmon.service.daemon as daemon_module
import driftmon.storage.engine as engine_module
import driftmon.storage.store as store_module
from driftmon.config import load_config
from driftmon.core.status import Status, Thresholds
from driftmon.errors import PermanentStorageError, StorageError
from driftmon.results import FeatureResult, RunResult
from driftmon.service.daemon import Daemon
from driftmon.service.pending import PendingRuns
from driftmon.spool import Spool
from driftmon.storage import Store

from .conftest import FaultProxy, monitor, via_proxy, write_config

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Backend:
    name: str
    url: str
    cut: Callable[[], None]
    restore: Callable[[], None]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    """A migrated, empty results database whose ``cut()`` makes writes fail as in an outage."""
    if request.param == "sqlite":
        # Writers give up on the lock after 0.2 s (the busy timeout), as in a short outage.
        real_make_engine = engine_module.make_engine

        def quick_make_engine(url: str, **options: Any) -> sa.Engine:
            return real_make_engine(url, **{**options, "statement_timeout": 0.2})

        monkeypatch.setattr(store_module, "make_engine", quick_make_engine)
        path = tmp_path / "results.db"
        holder: list[sqlite3.Connection] = []

        def lock() -> None:
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("BEGIN EXCLUSIVE")
            holder.append(conn)

        def unlock() -> None:
            conn = holder.pop()
            conn.execute("ROLLBACK")
            conn.close()

        b = Backend("sqlite", f"sqlite:///{path}", lock, unlock)
        Store(b.url).upgrade()
        yield b
        while holder:
            unlock()
        return
    pg_url: str = request.getfixturevalue("pg_url")
    proxies: Callable[[str], FaultProxy] = request.getfixturevalue("proxies")
    proxy = proxies(pg_url)
    b = Backend("postgresql", via_proxy(pg_url, proxy), proxy.cut, proxy.restore)
    Store(b.url).upgrade()
    yield b


class CountingStore(Store):
    """A Store that counts save attempts per (monitor, window end)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.attempts: dict[tuple[str, datetime], int] = {}

    def save_run(self, run: RunResult, *, replace: bool = True) -> int:
        key = (run.monitor, run.window_end)
        self.attempts[key] = self.attempts.get(key, 0) + 1
        return super().save_run(run, replace=replace)


@pytest.fixture
def store(backend: Backend) -> Iterator[CountingStore]:
    s = CountingStore(backend.url)
    yield s
    s.dispose()


class Captured(logging.Handler):
    """The records of the daemon's logger, whatever its propagation is set to."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def daemon_log() -> Iterator[Captured]:
    captured = Captured()
    logger = logging.getLogger("driftmon.daemon")
    logger.addHandler(captured)
    yield captured
    logger.removeHandler(captured)


def feature(name: str) -> FeatureResult:
    return FeatureResult(
        feature=name,
        status=Status.OK,
        thresholds=Thresholds(0.05, 0.2),
        live_rows=10,
        live_counts=(4, 6),
        bin_labels=("[-inf, 0)", "[0, inf)"),
    )


def run(monitor_name: str, end: datetime, features: tuple[str, ...] = ("x", "y")) -> RunResult:
    return RunResult(
        monitor=monitor_name,
        window_start=end - timedelta(hours=1),
        window_end=end,
        started_at=end,
        finished_at=end + timedelta(seconds=2),
        status=Status.OK,
        live_rows=10,
        reference_rows=100,
        features=tuple(feature(f) for f in features),
    )


def duplicate_feature(monitor_name: str, end: datetime) -> RunResult:
    """Refused on every backend: UNIQUE(run_id, feature)."""
    return run(monitor_name, end, ("x", "x"))


def long_feature_name(monitor_name: str, end: datetime) -> RunResult:
    """Refused by PostgreSQL (varchar(255)); what a 300-character feature name did."""
    return run(monitor_name, end, ("f" * 300,))


POISONS: list[Any] = [
    pytest.param(duplicate_feature, "IntegrityError|UniqueViolation", id="duplicate-feature"),
    pytest.param(long_feature_name, "StringDataRightTruncation", id="300-char-name"),
]


def skip_unless_refused(backend: Backend, poison: Callable[[str, datetime], RunResult]) -> None:
    if backend.name == "sqlite" and poison is long_feature_name:
        pytest.skip("SQLite does not enforce VARCHAR lengths")


@pytest.mark.parametrize(("poison", "driver_error"), POISONS)
def test_a_refused_run_is_stored_as_an_error_run_with_the_reason_and_not_retried(
    backend: Backend,
    store: CountingStore,
    poison: Callable[[str, datetime], RunResult],
    driver_error: str,
    daemon_log: Captured,
) -> None:
    skip_unless_refused(backend, poison)
    with pytest.raises(PermanentStorageError):
        Store(backend.url).save_run(poison("a", END))
    pending = PendingRuns(store)
    pending.submit(poison("a", END))

    state = pending.state()
    assert (state.pending, state.unstorable, state.last_error) == (0, 1, None)
    (stored,) = store.runs("a")
    assert stored.window_end == END
    assert stored.status == Status.ERROR
    assert stored.features == ()
    assert stored.live_rows == 10
    assert stored.error is not None
    assert stored.error.startswith("the run (status ok) could not be stored: saving run of")
    assert any(name in stored.error for name in driver_error.split("|")), stored.error
    (snapshot,) = store.snapshot()
    assert snapshot.runs_failure == 1
    (logged,) = [r for r in daemon_log.records if r.getMessage() == "run.unstorable"]
    assert logged.levelno == logging.ERROR
    assert any(name in logged.__dict__["error"] for name in driver_error.split("|"))

    attempts = dict(store.attempts)
    pending.flush()
    assert store.attempts == attempts, "a refused run was retried"
    assert store.attempts[("a", END)] == 2  # the run, then its error run


def test_an_outage_is_not_mistaken_for_a_refused_run(backend: Backend, store: Store) -> None:
    backend.cut()
    with pytest.raises(StorageError) as info:
        store.save_run(run("a", END))
    assert not isinstance(info.value, PermanentStorageError)
    backend.restore()


@pytest.mark.parametrize(("poison", "driver_error"), POISONS)
def test_a_refused_run_never_holds_up_another_monitors_runs_kept_during_an_outage(
    backend: Backend,
    store: CountingStore,
    poison: Callable[[str, datetime], RunResult],
    driver_error: str,
) -> None:
    skip_unless_refused(backend, poison)
    pending = PendingRuns(store)
    hours = [END + timedelta(hours=h) for h in range(4)]
    pending.submit(run("b", hours[0]))

    backend.cut()
    pending.submit(poison("a", hours[1]))  # the database cannot say why while it is away
    pending.submit(run("b", hours[1]))
    pending.submit(poison("a", hours[2]))
    pending.submit(run("b", hours[2]))
    state = pending.state()
    assert (state.pending, state.not_stored, state.unstorable) == (4, 4, 0)
    assert state.last_error is not None

    backend.restore()
    # b's next run stores b's kept runs first, in window order, whatever a's queue holds.
    pending.submit(run("b", hours[3]))
    b_runs = sorted(store.runs("b"), key=lambda r: r.window_end)
    assert [r.window_end for r in b_runs] == hours
    assert all(r.status == Status.OK and len(r.features) == 2 for r in b_runs)
    assert pending.state().pending == 2  # a's, left to the periodic retry

    pending.flush()
    state = pending.state()
    assert (state.pending, state.unstorable, state.last_error) == (0, 2, None)
    a_runs = store.runs("a")
    assert sorted(r.window_end for r in a_runs) == hours[1:3]
    for r in a_runs:
        assert r.status == Status.ERROR
        assert r.error is not None
        assert "could not be stored" in r.error
        assert any(name in r.error for name in driver_error.split("|")), r.error


@pytest.mark.parametrize(("poison", "driver_error"), POISONS)
def test_a_refused_run_read_back_from_the_spool_leaves_it_as_a_recorded_failure(
    backend: Backend,
    store: CountingStore,
    tmp_path: Path,
    poison: Callable[[str, datetime], RunResult],
    driver_error: str,
) -> None:
    """Spooled during an outage, the poisoned run is replayed by a new process: its error
    run is stored, its file leaves the spool, and the other monitor's runs are stored."""
    skip_unless_refused(backend, poison)
    folder = tmp_path / "spool"
    first = PendingRuns(store, spool=Spool(folder))
    first.open()
    backend.cut()
    first.submit(poison("a", END))
    first.submit(run("b", END))
    first.submit(run("a", END + timedelta(hours=1)))
    assert len(list(folder.glob("*.run"))) == 3
    backend.restore()

    second = PendingRuns(store, spool=Spool(folder))  # the next process
    second.open()
    second.flush()
    state = second.state()
    assert (state.pending, state.unstorable) == (0, 1)
    assert list(folder.glob("*.run")) == []
    a_runs = sorted(store.runs("a"), key=lambda r: r.window_end)
    assert [(r.window_end, r.status) for r in a_runs] == [
        (END, Status.ERROR),
        (END + timedelta(hours=1), Status.OK),
    ]
    assert a_runs[0].error is not None
    assert any(name in a_runs[0].error for name in driver_error.split("|")), a_runs[0].error
    assert [r.window_end for r in store.runs("b")] == [END]


def test_health_degrades_while_a_run_waits_longer_than_the_bound(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """b's runs are stored fine, so "latest run could not be stored" clears; a's kept run
    still degrades /healthz once it has waited longer than the bound."""
    monkeypatch.setattr(daemon_module, "PENDING_DEGRADED_SECONDS", 0.2)
    path = write_config(
        tmp_path / "driftmon.yaml",
        backend.url,
        [monitor("a", {"path": "live.parquet"}), monitor("b", {"path": "live.parquet"})],
    )
    d = Daemon(load_config(path, environ={}), Store(backend.url), upgrade=False)
    backend.cut()
    d.pending.submit(run("a", END))
    backend.restore()
    d.pending.submit(run("b", END))

    def waiting_problems() -> list[str]:
        problems: list[str] = d.health()["problems"]
        assert "latest run could not be stored" not in problems
        return [p for p in problems if "waiting to be stored" in p]

    deadline = time.monotonic() + 5
    while not waiting_problems():
        assert time.monotonic() < deadline, d.health()
        time.sleep(0.05)
    (problem,) = waiting_problems()
    assert problem.startswith("runs waiting to be stored for more than 0.2 s (the oldest for ")
    assert d.health()["runs_pending"] == 1

    d.pending.flush()
    assert waiting_problems() == []
    assert d.health()["runs_pending"] == 0
    d.store.dispose()


def test_a_missing_table_is_the_databases_state_not_a_refusal(
    backend: Backend, store: Store
) -> None:
    """A dropped table (or a revoked privilege) is for an operator to fix, then the kept runs
    go in: PostgreSQL's class 42 errors are retried, not recorded as refused runs."""
    direct = sa.create_engine(backend.url)
    with direct.begin() as conn:
        conn.exec_driver_sql("DROP TABLE feature_results")
    direct.dispose()
    with pytest.raises(StorageError) as info:
        store.save_run(run("a", END))
    assert not isinstance(info.value, PermanentStorageError), info.value
    assert "feature_results" in str(info.value)
