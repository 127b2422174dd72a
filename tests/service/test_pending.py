"""PendingRuns without a database: window order, the bound on kept runs, waiting time, and
a refused run whose error run is refused too (real databases: faults/test_poisoned_runs.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from driftmon.core.status import Status
from driftmon.errors import PermanentStorageError, StorageError
from driftmon.results import RunResult
from driftmon.service.pending import PendingRuns

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FakeStore:
    """Stores runs in a list; ``down`` makes every save an outage, ``refuse`` refuses the
    runs of those monitors for good."""

    def __init__(self) -> None:
        self.saved: list[RunResult] = []
        self.down = False
        self.refuse: set[str] = set()

    def save_run(self, run: RunResult, *, replace: bool = True) -> int:
        if self.down:
            raise StorageError("saving run failed: connection refused")
        if run.monitor in self.refuse:
            raise PermanentStorageError("saving run failed: value too long")
        self.saved.append(run)
        return len(self.saved)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(monitor: str, hours: int) -> RunResult:
    end = END + timedelta(hours=hours)
    return RunResult(
        monitor=monitor,
        window_start=end - timedelta(hours=1),
        window_end=end,
        started_at=end,
        finished_at=end,
        status=Status.OK,
    )


def test_kept_runs_are_stored_in_window_order_whatever_order_they_came_in() -> None:
    store = FakeStore()
    pending = PendingRuns(store)
    store.down = True
    for h in (3, 1, 2):  # e.g. a late catch-up window finishing after a newer one
        pending.submit(run("m", h))
    assert store.saved == []
    store.down = False
    pending.flush()
    assert [r.window_end for r in store.saved] == [END + timedelta(hours=h) for h in (1, 2, 3)]


def test_beyond_the_bound_the_oldest_kept_runs_are_lost_first() -> None:
    store = FakeStore()
    clock = Clock()
    pending = PendingRuns(store, limit=3, clock=clock)
    store.down = True
    for i, monitor in enumerate(["a", "b", "a", "b", "a"]):
        clock.now += 1
        pending.submit(run(monitor, i))
    assert pending.state().pending == 3
    store.down = False
    pending.flush()
    assert sorted((r.monitor, r.window_end) for r in store.saved) == [
        ("a", END + timedelta(hours=2)),
        ("a", END + timedelta(hours=4)),
        ("b", END + timedelta(hours=3)),
    ]


def test_state_reports_kept_runs_and_how_long_the_oldest_has_waited() -> None:
    store = FakeStore()
    clock = Clock()
    pending = PendingRuns(store, clock=clock)
    assert pending.state().oldest_wait_seconds == 0.0
    store.down = True
    pending.submit(run("a", 0))
    clock.now += 30
    pending.submit(run("b", 0))
    clock.now += 10
    state = pending.state()
    assert (state.pending, state.not_stored, state.oldest_wait_seconds) == (2, 2, 40.0)
    assert state.last_error == "saving run failed: connection refused"
    store.down = False
    pending.submit(run("b", 1))  # b's runs are stored; a's still wait for the retry
    state = pending.state()
    assert (state.pending, state.oldest_wait_seconds, state.last_error) == (1, 40.0, None)
    pending.flush()
    assert pending.state().pending == 0


def test_a_refused_run_whose_error_run_is_refused_too_is_dropped_not_retried() -> None:
    store = FakeStore()
    store.refuse = {"a"}
    pending = PendingRuns(store)
    pending.submit(run("a", 0))
    pending.submit(run("b", 0))
    state = pending.state()
    assert (state.pending, state.unstorable) == (0, 1)
    assert [r.monitor for r in store.saved] == ["b"]
