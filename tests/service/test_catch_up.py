"""One rule for missed windows of time-windowed sources, within the monitor's ``catch_up``:
windows skipped by a late tick (a slow run, a stalled scheduler) are scored late, oldest
first, before the current one; windows missed while the daemon was down are scored on its
first run. Windows beyond the bound are logged and counted (real processes:
faults/test_catch_up.py)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import driftmon.service.catch_up as catch_up_module
import driftmon.service.daemon as daemon_module
from driftmon.config import MonitorConfig
from driftmon.core.status import Status
from driftmon.results import RunResult
from driftmon.service.backfill import window_ends
from driftmon.service.catch_up import last_scheduled, missed_windows
from driftmon.service.daemon import Daemon
from driftmon.storage import Store

from .conftest import END, WINDOWED, make_config, monitor_dict

HOUR = timedelta(hours=1)
DROPPED = "driftmon_catch_up_dropped_windows_total"
LAST_DROPPED = "driftmon_catch_up_last_dropped_timestamp_seconds"
LAG = "driftmon_catch_up_lag_seconds"
BOUND = "driftmon_catch_up_bound_seconds"


def daemon_for(tmp_path: Path, live: dict[str, str], **extra: Any) -> Daemon:
    url = f"sqlite:///{tmp_path / 'results.db'}"
    config = make_config(tmp_path, url, monitor_dict(live=live, **extra))
    return Daemon(config, Store(url))


def dropped_metric(daemon: Daemon) -> float | None:
    return daemon.process_registry.get_sample_value(DROPPED, {"monitor": "m"})


def test_first_run_scores_only_the_current_window(tmp_path: Path) -> None:
    daemon = daemon_for(tmp_path, WINDOWED)
    (monitor,) = daemon.config.monitors
    assert daemon._skipped_windows(monitor, END) == []


def test_a_skipped_tick_is_scored_before_the_current_window(tmp_path: Path) -> None:
    daemon = daemon_for(tmp_path, WINDOWED)
    (monitor,) = daemon.config.monitors
    daemon._last_end[monitor.name] = END - 2 * HOUR
    assert daemon._skipped_windows(monitor, END) == [END - HOUR]


def test_every_skipped_window_within_catch_up_is_scored_oldest_first(tmp_path: Path) -> None:
    """No hole in history: ten hours skipped, all within the default 24h, none dropped."""
    daemon = daemon_for(tmp_path, WINDOWED)
    (monitor,) = daemon.config.monitors
    daemon._last_end[monitor.name] = END - 10 * HOUR
    assert daemon._skipped_windows(monitor, END) == [END - h * HOUR for h in range(9, 0, -1)]
    assert dropped_metric(daemon) == 0


@pytest.mark.parametrize(
    ("catch_up", "kept", "dropped"),
    [({"windows": 3}, 3, 6), ("2h", 2, 7), ("150m", 2, 7)],
)
def test_skipped_windows_beyond_catch_up_are_dropped_logged_and_counted(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    catch_up: Any,
    kept: int,
    dropped: int,
) -> None:
    """The bound of the downtime rule: the latest windows are kept, the older ones said."""
    daemon = daemon_for(tmp_path, WINDOWED, catch_up=catch_up)
    (monitor,) = daemon.config.monitors
    daemon._last_end[monitor.name] = END - 10 * HOUR
    with caplog.at_level(logging.WARNING, "driftmon.daemon"):
        late = daemon._skipped_windows(monitor, END)
    assert late == [END - h * HOUR for h in range(kept, 0, -1)]
    (line,) = [r for r in caplog.records if r.getMessage() == "catch_up.windows_dropped"]
    fields = line.__dict__
    assert (fields["windows"], fields["cause"]) == (dropped, "late tick")
    assert (fields["after"], fields["before"]) == (
        (END - 10 * HOUR).isoformat(),
        late[0].isoformat(),
    )
    assert dropped_metric(daemon) == dropped
    daemon._last_end[monitor.name] = END - HOUR * (kept + 3)  # two more beyond the bound
    daemon._skipped_windows(monitor, END)
    assert dropped_metric(daemon) == dropped + 2, "the counter adds up"


def test_catch_up_null_scores_no_skipped_window_and_counts_none(tmp_path: Path) -> None:
    daemon = daemon_for(tmp_path, WINDOWED, catch_up=None)
    (monitor,) = daemon.config.monitors
    daemon._last_end[monitor.name] = END - 5 * HOUR
    assert daemon._skipped_windows(monitor, END) == []
    assert dropped_metric(daemon) is None, "a monitor that never catches up has no series"


def test_batch_sources_score_only_the_latest_window(tmp_path: Path) -> None:
    """Without a time window every run reads the same data: nothing to catch up."""
    daemon = daemon_for(tmp_path, {"path": "live.parquet"})
    (monitor,) = daemon.config.monitors
    daemon._last_end[monitor.name] = END - 5 * HOUR
    assert daemon._skipped_windows(monitor, END) == []


def test_a_run_after_a_late_tick_scores_the_skipped_windows_then_the_current_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon = daemon_for(tmp_path, WINDOWED)
    (monitor,) = daemon.config.monitors
    scored: list[datetime] = []
    monkeypatch.setattr(daemon, "_run_window", lambda m, end: scored.append(end))
    monkeypatch.setattr(daemon_module, "utcnow", lambda: END + timedelta(minutes=3))
    daemon._last_end[monitor.name] = END - 4 * HOUR
    daemon.run_monitor(monitor)
    assert scored == [END - h * HOUR for h in (3, 2, 1, 0)]
    assert daemon._last_end[monitor.name] == END


def test_a_run_exports_how_long_after_its_end_its_window_was_scored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lag of the run's own window, scored after its late ones; a drop says when."""
    daemon = daemon_for(tmp_path, WINDOWED, catch_up={"windows": 2})
    (monitor,) = daemon.config.monitors
    times = [END + timedelta(minutes=m) for m in (3, 4, 50)]
    monkeypatch.setattr(daemon, "_run_window", lambda m, end: None)
    monkeypatch.setattr(daemon_module, "utcnow", lambda: times.pop(0) if times else END)
    daemon._last_end[monitor.name] = END - 4 * HOUR
    daemon.run_monitor(monitor)  # tick at 3m, drops at 4m, scored by 50m
    registry = daemon.process_registry
    assert registry.get_sample_value(LAG, {"monitor": "m"}) == 50 * 60
    assert registry.get_sample_value(DROPPED, {"monitor": "m"}) == 1
    assert (
        registry.get_sample_value(LAST_DROPPED, {"monitor": "m"})
        == (END + timedelta(minutes=4)).timestamp()
    )
    assert registry.get_sample_value(BOUND, {"monitor": "m"}) == 2 * 3600


def test_a_monitor_that_does_not_catch_up_exports_no_lag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon = daemon_for(tmp_path, {"path": "live.parquet"})
    (monitor,) = daemon.config.monitors
    monkeypatch.setattr(daemon, "_run_window", lambda m, end: None)
    monkeypatch.setattr(daemon_module, "utcnow", lambda: END)
    daemon.run_monitor(monitor)
    assert daemon.process_registry.get_sample_value(LAG, {"monitor": "m"}) is None


def stop_after(daemon: Daemon, monkeypatch: pytest.MonkeyPatch, n: int) -> list[datetime]:
    """The window ends the daemon scores at END, the daemon stopping after ``n`` of them."""
    scored: list[datetime] = []

    def run_window(m: MonitorConfig, end: datetime) -> None:
        scored.append(end)
        if len(scored) == n:
            daemon._stopping.set()

    monkeypatch.setattr(daemon, "_run_window", run_window)
    monkeypatch.setattr(daemon_module, "utcnow", lambda: END)
    return scored


def test_a_stopping_daemon_ends_the_late_windows_at_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The windows left lie after the last stored one: the next start catches them up."""
    daemon = daemon_for(tmp_path, WINDOWED)
    (monitor,) = daemon.config.monitors
    scored = stop_after(daemon, monkeypatch, 1)
    daemon._last_end[monitor.name] = END - 4 * HOUR
    assert daemon.run_monitor(monitor) is None
    assert scored == [END - 3 * HOUR]
    assert daemon._last_end[monitor.name] == END - 4 * HOUR


# -- windows missed while the daemon was down ------------------------------------------------


def hourly(**extra: Any) -> MonitorConfig:
    config = make_config(Path("/tmp"), "sqlite://", monitor_dict(live=WINDOWED, **extra))
    (monitor,) = config.monitors
    return monitor


def test_missed_windows_lie_strictly_between_the_last_stored_and_the_current() -> None:
    missed = missed_windows(hourly(), END - timedelta(hours=4), END)
    assert missed.ends == [END - timedelta(hours=h) for h in (3, 2, 1)]
    assert (missed.bounded, missed.dropped) == (False, 0)
    off_grid = missed_windows(hourly(), END - timedelta(hours=4) - HOUR / 2, END + HOUR / 2)
    assert off_grid.ends == [END - timedelta(hours=h) for h in (4, 3, 2, 1, 0)]


def test_catch_up_lists_backfills_windows_without_its_two_ends() -> None:
    """The same schedule arithmetic: backfill's [a, b] is catch-up's (a, b) plus a and b."""
    for schedule in ({"every": "1h"}, {"cron": "15 */2 * * 1-5"}):
        monitor = hourly(schedule=schedule, catch_up={"windows": 1000})
        ends = window_ends(monitor.schedule, END - timedelta(days=5), END + timedelta(days=5))
        first, last = ends[0], ends[-1]
        assert missed_windows(monitor, first, last).ends == ends[1:-1]


def test_a_duration_bound_keeps_the_windows_that_ended_within_it() -> None:
    missed = missed_windows(hourly(catch_up="2h"), END - timedelta(days=400), END)
    assert missed.ends == [END - timedelta(hours=2), END - timedelta(hours=1)]
    assert missed.bounded
    assert missed.dropped == 400 * 24 - 1 - 2, "every window left out is counted"


def test_a_window_count_bound_keeps_the_latest_windows() -> None:
    missed = missed_windows(hourly(catch_up={"windows": 3}), END - timedelta(days=400), END)
    assert missed.ends == [END - timedelta(hours=h) for h in (3, 2, 1)]
    assert missed.dropped == 400 * 24 - 1 - 3
    few = missed_windows(hourly(catch_up={"windows": 30}), END - timedelta(hours=3), END)
    assert (few.ends, few.bounded) == ([END - timedelta(hours=2), END - timedelta(hours=1)], False)


def test_a_cron_schedule_is_caught_up_on_its_own_fire_times() -> None:
    """Weekdays at 09:00: over a weekend only Friday's and Monday's windows were missed."""
    monitor = hourly(schedule={"cron": "0 9 * * 1-5"}, catch_up={"windows": 5})
    monday = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
    missed = missed_windows(monitor, monday - timedelta(days=4), monday + timedelta(days=1))
    assert missed.ends == [monday - timedelta(days=3), monday]
    # Four weeks since: 19 weekdays missed, the latest 5 kept.
    weeks = missed_windows(monitor, monday - timedelta(days=28), monday + timedelta(days=1))
    assert (len(weeks.ends), weeks.dropped) == (5, 15)


def test_a_cron_schedules_dropped_windows_are_counted_up_to_a_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cron's fire times are walked one by one: a year of minutes is not walked to its end."""
    monkeypatch.setattr(catch_up_module, "MAX_DROPPED_COUNTED", 100)
    minutely = hourly(schedule={"cron": "* * * * *"}, catch_up="1h")
    missed = missed_windows(minutely, END - timedelta(days=365), END)
    assert (len(missed.ends), missed.dropped) == (60, 100)


def test_the_first_run_after_downtime_scores_the_missed_windows_oldest_first(
    tmp_path: Path,
) -> None:
    daemon = daemon_for(tmp_path, WINDOWED)
    daemon.store.upgrade()
    (monitor,) = daemon.config.monitors
    daemon.store.save_run(stored_run(END - timedelta(hours=4)))
    assert daemon._missed_while_down(monitor, END) == [END - timedelta(hours=h) for h in (3, 2, 1)]
    assert daemon._missed_while_down(monitor, END + timedelta(hours=1)) == [], "only once"
    assert dropped_metric(daemon) == 0


def test_windows_missed_while_down_beyond_the_bound_are_logged_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = daemon_for(tmp_path, WINDOWED, catch_up={"windows": 2})
    daemon.store.upgrade()
    (monitor,) = daemon.config.monitors
    daemon.store.save_run(stored_run(END - 30 * HOUR))
    with caplog.at_level(logging.INFO, "driftmon.daemon"):
        assert daemon._missed_while_down(monitor, END) == [END - 2 * HOUR, END - HOUR]
    (started,) = [r for r in caplog.records if r.getMessage() == "catch_up.started"]
    assert (started.__dict__["bounded"], started.__dict__["dropped"]) == (True, 27)
    (line,) = [r for r in caplog.records if r.getMessage() == "catch_up.windows_dropped"]
    assert (line.__dict__["windows"], line.__dict__["cause"]) == (27, "downtime")
    assert dropped_metric(daemon) == 27


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
    scored = stop_after(daemon, monkeypatch, 2)
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
