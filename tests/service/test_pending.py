"""PendingRuns without a database: window order, the bound on kept runs, waiting time, a
refused run whose error run is refused too (real databases: faults/test_poisoned_runs.py),
and the durable spool: written before a run counts as pending, replayed by a new process,
bounded, damaged files set aside (real processes: faults/test_spool.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import driftmon.service.pending as pending_module
from driftmon.core.status import Status
from driftmon.errors import PermanentStorageError, StorageError
from driftmon.results import RunResult
from driftmon.service.pending import PendingRuns
from driftmon.spool import Spool, SpoolEntry
from driftmon.spool.directory import file_name

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


# -- with a spool ---------------------------------------------------------------------------


def spooled_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.run"))


def test_a_run_not_stored_is_in_the_spool_before_it_counts_as_pending(tmp_path: Path) -> None:
    store = FakeStore()
    store.down = True
    pending_while_written: list[int] = []

    class Watched(Spool):
        def write(self, run: RunResult, spooled_at: datetime) -> SpoolEntry:
            pending_while_written.append(pending.state().pending)
            return super().write(run, spooled_at)

    pending = PendingRuns(store, spool=Watched(tmp_path))
    pending.submit(run("m", 0))
    assert pending_while_written == [0]
    assert spooled_files(tmp_path) == [file_name("m", END)]
    state = pending.state()
    assert (state.pending, state.in_memory_only, state.spool_path) == (1, 0, str(tmp_path))


def test_a_new_process_replays_the_spool_in_window_order_and_empties_it(tmp_path: Path) -> None:
    store = FakeStore()
    store.down = True
    first = PendingRuns(store, spool=Spool(tmp_path))
    first.open()
    for h in (2, 0, 1):
        first.submit(run("m", h))
    first.submit(run("n", 0))
    assert len(spooled_files(tmp_path)) == 4
    del first  # the process ends with the database still away

    store.down = False
    second = PendingRuns(store, spool=Spool(tmp_path))
    second.open()
    assert second.state().pending == 4
    assert second.latest_window("m", before=END + timedelta(hours=2)) == END + timedelta(hours=1)
    second.flush()
    assert [(r.monitor, r.window_end) for r in store.saved if r.monitor == "m"] == [
        ("m", END + timedelta(hours=h)) for h in (0, 1, 2)
    ]
    assert store.saved[0] == run("m", 0)  # read back whole
    assert spooled_files(tmp_path) == []
    assert second.state().pending == 0


def test_a_full_spool_drops_the_oldest_windows_counts_and_deletes_them(tmp_path: Path) -> None:
    store = FakeStore()
    store.down = True
    pending = PendingRuns(store, spool=Spool(tmp_path), limit=3)
    for h in range(5):
        pending.submit(run("m", h))
    state = pending.state()
    assert (state.pending, state.dropped) == (3, {"full": 2, "expired": 0})
    assert spooled_files(tmp_path) == [file_name("m", END + timedelta(hours=h)) for h in (2, 3, 4)]


def test_runs_older_than_max_age_are_dropped_as_expired(tmp_path: Path) -> None:
    store = FakeStore()
    store.down = True
    now = [END + timedelta(hours=1)]
    pending = PendingRuns(
        store, spool=Spool(tmp_path), max_age=timedelta(hours=2), wall_clock=lambda: now[0]
    )
    pending.submit(run("m", 0))
    pending.submit(run("m", 1))
    now[0] = END + timedelta(hours=2, minutes=30)
    pending.flush()
    state = pending.state()
    assert (state.pending, state.dropped["expired"]) == (1, 1)
    assert spooled_files(tmp_path) == [file_name("m", END + timedelta(hours=1))]


def test_a_refused_spooled_run_leaves_the_spool_as_an_error_run(tmp_path: Path) -> None:
    store = FakeStore()
    store.down = True
    first = PendingRuns(store, spool=Spool(tmp_path))
    first.submit(run("a", 0))
    first.submit(run("b", 0))
    store.down = False
    store.refuse = {"a"}
    second = PendingRuns(store, spool=Spool(tmp_path))
    second.open()
    second.flush()
    store.refuse = set()
    second.flush()
    saved = {r.monitor: r for r in store.saved}
    assert saved["b"] == run("b", 0)
    assert "a" not in saved or saved["a"].status == Status.ERROR
    assert second.state().unstorable == 1
    assert spooled_files(tmp_path) == []


def test_a_file_damaged_after_listing_is_set_aside_and_the_others_stored(tmp_path: Path) -> None:
    store = FakeStore()
    store.down = True
    first = PendingRuns(store, spool=Spool(tmp_path))
    for h in range(3):
        first.submit(run("m", h))
    second = PendingRuns(store, spool=Spool(tmp_path))
    second.open()
    (tmp_path / file_name("m", END)).write_bytes(b"garbage\n")
    store.down = False
    second.flush()
    assert [r.window_end for r in store.saved] == [END + timedelta(hours=h) for h in (1, 2)]
    assert second.state().damaged_files == 1
    assert (tmp_path / "damaged" / file_name("m", END)).exists()


def test_a_run_the_spool_cannot_take_stays_in_memory_and_says_so(tmp_path: Path) -> None:
    store = FakeStore()
    store.down = True
    pending = PendingRuns(store, spool=Spool(tmp_path / "spool"))
    pending.open()
    (tmp_path / "spool").rmdir()
    (tmp_path / "spool").write_text("")
    pending.submit(run("m", 0))
    state = pending.state()
    assert (state.pending, state.in_memory_only, state.spool_write_errors) == (1, 1, 1)
    assert state.spool_error is not None
    assert "could not be written to the spool" in state.spool_error
    store.down = False
    pending.flush()
    assert [r.window_end for r in store.saved] == [END]


def test_runs_the_spool_cannot_take_are_bounded_in_memory_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk must not turn the spool's 10,000 runs into 10,000 runs in memory."""
    monkeypatch.setattr(pending_module, "MAX_PENDING_RUNS", 2)
    store = FakeStore()
    store.down = True
    pending = PendingRuns(store, spool=Spool(tmp_path / "spool"), limit=10)
    pending.open()
    (tmp_path / "spool").rmdir()
    (tmp_path / "spool").write_text("")
    for h in range(4):
        pending.submit(run("m", h))
    state = pending.state()
    assert (state.pending, state.in_memory_only, state.dropped["full"]) == (2, 2, 2)
    store.down = False
    pending.flush()
    assert [r.window_end for r in store.saved] == [END + timedelta(hours=h) for h in (2, 3)]
