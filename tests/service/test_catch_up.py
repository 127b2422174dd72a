"""Windows skipped by the schedule (a tick while the previous run was still going) are
scored late for time-windowed sources, at most MAX_CATCH_UP_WINDOWS of them; windows missed
while the daemon was down are scored on its first run, within the monitor's ``catch_up``
(real processes: faults/test_catch_up.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import driftmon.service.daemon as daemon_module
from driftmon.config import MonitorConfig
from driftmon.core.status import Status
from driftmon.results import RunResult
from driftmon.service.catch_up import last_scheduled, missed_windows
from driftmon.service.daemon import MAX_CATCH_UP_WINDOWS, Daemon
from driftmon.storage import Store

from .conftest import END, make_config, monitor_dict

WINDOWED = {"path": "live.parquet", "timestamp_column": "ts", "window": "1h"}


def daemon_for(tmp_path: Path, live: dict[str, str]) -> Daemon:
    url = f"sqlite:///{tmp_path / 'results.db'}"
    config = make_config(tmp_path, url, monitor_dict(live=live))
    return Daemon(config, Store(url))


def test_first_run_scores_only_the_current_window(tmp_path: Path) -> None:
    daemon = daemon_for(tmp_path, WINDOWED)
    (monitor,) = daemon.config.monitors
    assert daemon._windows_due(monitor, END) == [END]


def test_a_skipped_tick_is_scored_before_the_current_window(tmp_path: Path) -> None:
    daemon = daemon_for(tmp_path, WINDOWED)
    (monitor,) = daemon.config.monitors
    daemon._last_end[monitor.name] = END - timedelta(hours=2)
    assert daemon._windows_due(monitor, END) == [END - timedelta(hours=1), END]


def test_only_the_latest_skipped_windows_are_caught_up(tmp_path: Path) -> None:
    daemon = daemon_for(tmp_path, WINDOWED)
    (monitor,) = daemon.config.monitors
    daemon._last_end[monitor.name] = END - timedelta(hours=10)
    due = daemon._windows_due(monitor, END)
    assert len(due) == MAX_CATCH_UP_WINDOWS + 1
    assert due == [END - timedelta(hours=h) for h in range(MAX_CATCH_UP_WINDOWS, -1, -1)]


def test_batch_sources_score_only_the_latest_window(tmp_path: Path) -> None:
    """Without a time window every run reads the same data: nothing to catch up."""
    daemon = daemon_for(tmp_path, {"path": "live.parquet"})
    (monitor,) = daemon.config.monitors
    daemon._last_end[monitor.name] = END - timedelta(hours=5)
    assert daemon._windows_due(monitor, END) == [END]


# -- windows missed while the daemon was down ------------------------------------------------


def hourly(**extra: Any) -> MonitorConfig:
    config = make_config(Path("/tmp"), "sqlite://", monitor_dict(live=WINDOWED, **extra))
    (monitor,) = config.monitors
    return monitor


def test_missed_windows_lie_strictly_between_the_last_stored_and_the_current() -> None:
    missed = missed_windows(hourly(), END - timedelta(hours=4), END)
    assert missed.ends == [END - timedelta(hours=h) for h in (3, 2, 1)]
    assert not missed.bounded


def test_a_duration_bound_keeps_the_windows_that_ended_within_it() -> None:
    missed = missed_windows(hourly(catch_up="2h"), END - timedelta(days=400), END)
    assert missed.ends == [END - timedelta(hours=2), END - timedelta(hours=1)]
    assert missed.bounded


def test_a_window_count_bound_keeps_the_latest_windows() -> None:
    missed = missed_windows(hourly(catch_up={"windows": 3}), END - timedelta(days=400), END)
    assert missed.ends == [END - timedelta(hours=h) for h in (3, 2, 1)]
    assert missed.bounded
    few = missed_windows(hourly(catch_up={"windows": 30}), END - timedelta(hours=3), END)
    assert (few.ends, few.bounded) == ([END - timedelta(hours=2), END - timedelta(hours=1)], False)


def test_a_cron_schedule_is_caught_up_on_its_own_fire_times() -> None:
    """Weekdays at 09:00: over a weekend only Friday's and Monday's windows were missed."""
    monitor = hourly(schedule={"cron": "0 9 * * 1-5"}, catch_up={"windows": 5})
    monday = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
    missed = missed_windows(monitor, monday - timedelta(days=4), monday + timedelta(days=1))
    assert missed.ends == [monday - timedelta(days=3), monday]


def test_the_first_run_after_downtime_scores_the_missed_windows_oldest_first(
    tmp_path: Path,
) -> None:
    daemon = daemon_for(tmp_path, WINDOWED)
    daemon.store.upgrade()
    (monitor,) = daemon.config.monitors
    daemon.store.save_run(stored_run(END - timedelta(hours=4)))
    assert daemon._missed_while_down(monitor, END) == [END - timedelta(hours=h) for h in (3, 2, 1)]
    assert daemon._missed_while_down(monitor, END + timedelta(hours=1)) == [], "only once"


def test_a_monitor_never_stored_has_nothing_to_catch_up(tmp_path: Path) -> None:
    daemon = daemon_for(tmp_path, WINDOWED)
    daemon.store.upgrade()
    (monitor,) = daemon.config.monitors
    assert daemon._missed_while_down(monitor, END) == []


def test_batch_sources_and_catch_up_null_are_not_caught_up(tmp_path: Path) -> None:
    cases: list[tuple[dict[str, str], dict[str, Any]]] = [
        ({"path": "live.parquet"}, {}),
        (WINDOWED, {"catch_up": None}),
    ]
    for live, extra in cases:
        url = f"sqlite:///{tmp_path / 'results.db'}"
        config = make_config(tmp_path, url, monitor_dict(live=live, **extra))
        daemon = Daemon(config, Store(url))
        daemon.store.upgrade()
        (monitor,) = config.monitors
        daemon.store.save_run(stored_run(END - timedelta(hours=4)))
        assert daemon._missed_while_down(monitor, END) == []


def test_without_the_database_catch_up_waits_for_a_later_run(tmp_path: Path) -> None:
    """The first window this process scored stays the upper end of the missed ones."""
    daemon = daemon_for(tmp_path, WINDOWED)  # not migrated: every lookup fails
    (monitor,) = daemon.config.monitors
    assert daemon._missed_while_down(monitor, END) == []
    daemon.store.upgrade()
    daemon.store.save_run(stored_run(END - timedelta(hours=3)))
    later = END + timedelta(hours=2)
    assert daemon._missed_while_down(monitor, later) == [
        END - timedelta(hours=2),
        END - timedelta(hours=1),
    ]


def stored_run(end: datetime) -> RunResult:
    return RunResult(
        monitor="m",
        window_start=end - timedelta(hours=1),
        window_end=end,
        started_at=end,
        finished_at=end,
        status=Status.OK,
    )


def test_a_stopping_daemon_ends_its_catch_up_at_the_next_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The windows left are after the last stored one, so the next start catches them up."""
    daemon = daemon_for(tmp_path, WINDOWED)
    (monitor,) = daemon.config.monitors
    scored: list[datetime] = []

    def run_window(m: MonitorConfig, end: datetime) -> None:
        scored.append(end)
        if len(scored) == 2:
            daemon._stopping.set()

    monkeypatch.setattr(daemon, "_run_window", run_window)
    monkeypatch.setattr(daemon_module, "utcnow", lambda: END)
    missed = [END - timedelta(hours=h) for h in (4, 3, 2, 1)]
    daemon._catch_up(monitor, missed, END)
    assert scored == missed[:2]


def test_windows_that_end_while_catching_up_are_scored_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each window takes an hour here: the first run goes on until it is up to date."""
    daemon = daemon_for(tmp_path, WINDOWED)
    (monitor,) = daemon.config.monitors
    now = [END]
    scored: list[datetime] = []

    def run_window(m: MonitorConfig, end: datetime) -> None:
        scored.append(end)
        if len(scored) <= 3:
            now[0] += timedelta(hours=1)  # three slow runs, then fast ones

    monkeypatch.setattr(daemon, "_run_window", run_window)
    monkeypatch.setattr(daemon_module, "utcnow", lambda: now[0])
    missed = [END - timedelta(hours=2), END - timedelta(hours=1)]
    end = daemon._catch_up(monitor, missed, END)
    assert end == END + timedelta(hours=3)
    assert scored == [END + timedelta(hours=h) for h in (-2, -1, 0, 1, 2)]


def test_a_window_stored_off_schedule_by_check_does_not_hide_the_missed_ones(
    tmp_path: Path,
) -> None:
    """`driftmon check` stores a window ending "now": the scheduled windows before it that
    the daemon missed are still caught up."""
    daemon = daemon_for(tmp_path, WINDOWED)
    daemon.store.upgrade()
    (monitor,) = daemon.config.monitors
    daemon.store.save_run(stored_run(END - timedelta(hours=3)))
    daemon.store.save_run(stored_run(END - timedelta(minutes=47, seconds=13)))  # a check
    assert daemon._missed_while_down(monitor, END) == [
        END - timedelta(hours=2),
        END - timedelta(hours=1),
    ]


def test_last_scheduled_knows_interval_and_cron_fire_times() -> None:
    every = hourly().schedule
    off = END - timedelta(minutes=1)
    assert last_scheduled(every, [off, END - timedelta(hours=1)]) == END - timedelta(hours=1)
    assert last_scheduled(every, [off]) is None
    cron = hourly(schedule={"cron": "30 * * * *"}).schedule
    assert last_scheduled(cron, [END, END - timedelta(minutes=30)]) == END - timedelta(minutes=30)
