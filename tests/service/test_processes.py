"""ScoringProcesses: runs scored in real worker processes, their deaths, and their number."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from driftmon.config import Config
from driftmon.core.parallel import available_cores
from driftmon.errors import DriftmonError
from driftmon.results import RunResult
from driftmon.service.processes import ScoringProcessError, ScoringProcesses, scoring_processes
from driftmon.service.runner import MonitorRunner, RunAbandoned
from driftmon.storage import Store

from .conftest import (
    END,
    WINDOWED,
    live_columns,
    make_config,
    monitor_dict,
    reference_columns,
    write_parquet,
)


def _data(tmp_path: Path) -> None:
    write_parquet(tmp_path / "reference.parquet", reference_columns())
    write_parquet(tmp_path / "live.parquet", live_columns(shift=0.5))


def _features(result: RunResult) -> list[dict[str, object]]:
    return [dataclasses.asdict(f) for f in result.features]


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A dead child of ours stays a zombie until reaped: that counts as gone.
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1]
        except FileNotFoundError:  # reaped between the kill(0) and the read
            return True
        if state.startswith("Z"):
            return True
        time.sleep(0.1)
    return False


def test_a_run_scored_in_a_worker_process_equals_one_scored_in_the_daemon(
    tmp_path: Path, db_url: str
) -> None:
    _data(tmp_path)
    store = Store(db_url)
    store.upgrade()
    cfg = make_config(tmp_path, db_url, monitor_dict(live=WINDOWED))
    pool = ScoringProcesses(cfg, store, 1)
    try:
        in_worker = pool.score(cfg.monitors[0], END)
        assert pool.pids()
        assert os.getpid() not in pool.pids()
    finally:
        pool.close()
    here = MonitorRunner(cfg, store).score(cfg.monitors[0], END)
    assert in_worker.error is None
    assert in_worker.live_rows == here.live_rows == 200
    assert _features(in_worker) == _features(here)
    assert in_worker.status == here.status
    store.dispose()


# A live query that never returns a row in the test's lifetime: a run stuck mid-read.
ENDLESS = (
    "SELECT x, y, c FROM live WHERE (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
    "SELECT i + 1 FROM n WHERE i < 10000000000) SELECT count(*) FROM n) > 0"
)


def _sqlite_live(path: Path) -> str:
    cols = reference_columns(50, seed=3)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE live (x REAL, y REAL, c TEXT)")
        conn.executemany(
            "INSERT INTO live VALUES (?, ?, ?)",
            zip(cols["x"].tolist(), cols["y"].tolist(), cols["c"].tolist(), strict=True),
        )
    conn.close()
    return f"sqlite:///{path}"


def _endless_and_quick(tmp_path: Path) -> tuple[Config, Store]:
    """Monitor 'endless' (a live query that never returns, no timeout) and 'quick', with a
    migrated SQLite results database."""
    _data(tmp_path)
    endless = monitor_dict(
        "endless", live={"url": _sqlite_live(tmp_path / "live.db"), "query": ENDLESS}
    )
    endless["source_timeout"] = None
    url = f"sqlite:///{tmp_path / 'results.db'}"
    store = Store(url)
    store.upgrade()
    return make_config(tmp_path, url, endless, monitor_dict("quick", live=WINDOWED)), store


def _counting(limit: int) -> str:
    """A live query that counts to ``limit`` before returning its rows (SQLite: ~5 M/s)."""
    return (
        "SELECT x, y, c FROM live WHERE (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
        f"SELECT i + 1 FROM n WHERE i < {limit}) SELECT count(*) FROM n) > 0"
    )


def _busy_worker(pool: ScoringProcesses, run: Callable[[], object]) -> threading.Thread:
    """``run`` on a thread, returned once a worker has started it (``pool.idle`` drops)."""
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while pool.idle:
        assert time.monotonic() < deadline, "the run never reached a worker"
        time.sleep(0.02)
    return thread


def test_a_worker_killed_mid_run_fails_that_run_and_the_next_gets_a_new_process(
    tmp_path: Path,
) -> None:
    cfg, store = _endless_and_quick(tmp_path)
    pool = ScoringProcesses(cfg, store, 1)
    outcome: list[BaseException | RunResult] = []

    def run() -> None:
        try:
            outcome.append(pool.score(cfg.monitor("endless"), END))
        except DriftmonError as exc:
            outcome.append(exc)

    try:
        t = _busy_worker(pool, run)
        (victim,) = pool.pids()
        time.sleep(1.0)  # the worker builds the profile, then runs the query
        assert t.is_alive()
        os.kill(victim, 9)
        t.join(30)
        assert not t.is_alive()
        (error,) = outcome
        assert isinstance(error, ScoringProcessError)
        assert "'endless'" in str(error)
        assert "died" in str(error)
        result = pool.score(cfg.monitor("quick"), END)
        assert result.error is None
        assert result.live_rows == 200
        assert victim not in pool.pids()
    finally:
        pool.close(terminate=True)
        store.dispose()


def test_a_run_queues_behind_a_moving_run_and_is_not_handed_back(tmp_path: Path) -> None:
    """One worker, on a run that started less than ``wait`` ago: the next run queues for it
    instead of coming back to the daemon, and is scored after it."""
    cfg, store = _endless_and_quick(tmp_path)
    slow = monitor_dict("slow", live={"url": f"sqlite:///{tmp_path / 'live.db'}"})
    slow["live"]["query"] = _counting(5_000_000)
    cfg = make_config(tmp_path, cfg.database.url, slow, monitor_dict("quick", live=WINDOWED))
    pool = ScoringProcesses(cfg, store, 1)
    finished: list[str] = []

    def slow_run() -> None:
        pool.score(cfg.monitor("slow"), END)
        finished.append("slow")

    try:
        pool.score(cfg.monitor("quick"), END)  # the worker is up: the next run starts at once
        busy = _busy_worker(pool, slow_run)
        queued = pool.score_in_worker(cfg.monitor("quick"), END, wait=60.0)
        finished.append("quick")
        assert queued is not None, "the run was handed back instead of waiting for the worker"
        assert queued.error is None
        assert queued.live_rows == 200
        busy.join(30)
        assert finished == ["slow", "quick"]
        assert pool.idle == 1
    finally:
        pool.close(terminate=True)
        store.dispose()


def test_a_run_queued_when_its_worker_dies_is_scored_by_the_next_one(tmp_path: Path) -> None:
    """Killing the worker fails the run it was on, not the run queued behind it."""
    cfg, store = _endless_and_quick(tmp_path)
    pool = ScoringProcesses(cfg, store, 1)
    failed: list[BaseException] = []

    def endless_run() -> None:
        try:
            pool.score(cfg.monitor("endless"), END)
        except ScoringProcessError as exc:
            failed.append(exc)

    try:
        stuck = _busy_worker(pool, endless_run)
        (victim,) = pool.pids()
        threading.Timer(1.0, os.kill, args=(victim, 9)).start()
        queued = pool.score_in_worker(cfg.monitor("quick"), END, wait=60.0)
        assert queued is not None
        assert queued.error is None
        assert queued.live_rows == 200
        stuck.join(30)
        (error,) = failed
        assert "'endless'" in str(error)
        assert victim not in pool.pids()
    finally:
        pool.close(terminate=True)
        store.dispose()


def test_a_run_still_waiting_for_a_worker_at_shutdown_is_abandoned_not_failed(
    tmp_path: Path,
) -> None:
    """At shutdown (abandon) a run queued behind a busy worker raises RunAbandoned at once,
    which the daemon logs and does not store, instead of an error run."""
    cfg, store = _endless_and_quick(tmp_path)
    pool = ScoringProcesses(cfg, store, 1)
    ended: list[BaseException] = []

    def endless_run() -> None:
        try:
            pool.score_in_worker(cfg.monitor("endless"), END)
        except RunAbandoned as exc:  # its worker is killed at close, after the abandon
            ended.append(exc)

    try:
        stuck = _busy_worker(pool, endless_run)
        threading.Timer(0.3, pool.abandon).start()
        t0 = time.monotonic()
        with pytest.raises(RunAbandoned, match="'quick'"):
            pool.score_in_worker(cfg.monitor("quick"), END, wait=60.0)
        assert time.monotonic() - t0 < 10.0, "the queued run waited for the stuck one"
    finally:
        pool.close(terminate=True)
        store.dispose()
    stuck.join(30)
    assert len(ended) == 1


def test_a_stuck_worker_is_waited_for_briefly_so_a_stuck_monitor_starves_no_other(
    tmp_path: Path,
) -> None:
    """One worker, held by a run that never ends: the next monitor's run waits at most the
    bound after that run started, then score_in_worker says None (the daemon scores it)."""
    cfg, store = _endless_and_quick(tmp_path)
    pool = ScoringProcesses(cfg, store, 1)
    ended: list[BaseException] = []

    def endless_run() -> None:
        try:
            pool.score_in_worker(cfg.monitor("endless"), END)
        except RunAbandoned as exc:
            ended.append(exc)

    stuck = threading.Thread(target=endless_run, daemon=True)
    try:
        idle = pool.score_in_worker(cfg.monitor("quick"), END)
        assert idle is not None  # the worker was idle: it scored
        assert idle.error is None
        stuck.start()
        deadline = time.monotonic() + 60
        while pool.idle:  # the stuck run holds the only worker
            assert time.monotonic() < deadline, "the endless run never took the worker"
            time.sleep(0.05)
        t0 = time.monotonic()
        assert pool.score_in_worker(cfg.monitor("quick"), END, wait=2.0) is None
        assert time.monotonic() - t0 < 5.0  # at most the bound after the stuck run started
        # The stuck run is now older than the bound: no wait at all. Waiting would take 2 s,
        # so 1 s tells them apart with room for a loaded machine (a 0.5 s bound left 0.1 s).
        t1 = time.monotonic()
        assert pool.score_in_worker(cfg.monitor("quick"), END, wait=2.0) is None
        assert time.monotonic() - t1 < 1.0
        assert stuck.is_alive()
    finally:
        pool.abandon()  # as the daemon does at shutdown: the killed worker's run is abandoned
        pool.close(terminate=True)
        stuck.join(30)
        store.dispose()
    assert not stuck.is_alive()
    assert len(ended) == 1


def test_a_worker_that_died_between_runs_is_replaced_without_failing_a_run(
    tmp_path: Path,
) -> None:
    _data(tmp_path)
    url = f"sqlite:///{tmp_path / 'results.db'}"
    store = Store(url)
    store.upgrade()
    cfg = make_config(tmp_path, url, monitor_dict(live=WINDOWED))
    pool = ScoringProcesses(cfg, store, 1)
    try:
        assert pool.score(cfg.monitors[0], END).error is None
        (victim,) = pool.pids()
        os.kill(victim, 9)
        assert _gone(victim, 10)
        # The executor notices the death and marks itself broken: the case of this test. After
        # a fixed 0.5 s sleep, a run submitted before that (under load) could fail with it.
        executor = pool._executor
        assert executor is not None
        deadline = time.monotonic() + 30
        while not executor._broken:
            assert time.monotonic() < deadline, "the executor never noticed its dead worker"
            time.sleep(0.02)
        assert pool.score(cfg.monitors[0], END).error is None
        assert victim not in pool.pids()
    finally:
        pool.close()
        store.dispose()


_ORPHAN = """
import os, sys, time
from datetime import datetime, UTC
sys.path.insert(0, {tests!r})
from driftmon.config import config_from_dict
from driftmon.service.processes import ScoringProcesses
from driftmon.storage import Store
cfg = config_from_dict({config!r}, base_dir={base!r}, environ={{}})
store = Store(cfg.database.url)
store.upgrade()
pool = ScoringProcesses(cfg, store, 1)
pool.score(cfg.monitors[0], datetime.fromisoformat({end!r}))
print(pool.pids()[0], flush=True)
os.kill(os.getpid(), 9)
"""


def test_workers_exit_when_the_daemon_is_killed(tmp_path: Path) -> None:
    """kill -9 of the process that started them leaves no orphan scoring process."""
    _data(tmp_path)
    config = {
        "database": {"url": f"sqlite:///{tmp_path / 'results.db'}"},
        "monitors": [monitor_dict(live=WINDOWED)],
    }
    script = _ORPHAN.format(
        tests=str(Path(__file__).parents[2]), config=config, base=str(tmp_path), end=END.isoformat()
    )
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == -9, proc.stderr
    worker = int(proc.stdout.split()[0])
    assert _gone(worker, 10), f"scoring process {worker} outlived its daemon"


def test_how_many_processes_score(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    two = [monitor_dict("a"), monitor_dict("b"), monitor_dict("off", enabled=False)]
    store = Store(url)
    assert scoring_processes(make_config(tmp_path, url, *two), store) == min(2, available_cores())
    one = make_config(tmp_path, url, *two, engine={"threads": 1})
    assert scoring_processes(one, store) == 1
    pinned = make_config(tmp_path, url, *two, engine={"processes": 0})
    assert scoring_processes(pinned, store) == 0
    many = make_config(tmp_path, url, *two, engine={"processes": 5, "threads": 10})
    assert scoring_processes(many, store) == 5
    assert ScoringProcesses(many, store, 5).threads_each == 2
    memory = Store("sqlite://")
    assert scoring_processes(make_config(tmp_path, "sqlite://", *two), memory) == 0
    with pytest.raises(ValueError, match="processes must be at least 1, got 0"):
        ScoringProcesses(many, store, 0)
