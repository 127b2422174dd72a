"""Which windows a backfill scores: the schedule's window ends in a range, stored ones left
out unless replacing, and a clear refusal for what cannot be backfilled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from driftmon.config import MonitorConfig, ScheduleConfig
from driftmon.core.status import Status
from driftmon.errors import ConfigError
from driftmon.results import RunResult
from driftmon.schedule_times import TICK
from driftmon.service.backfill import MAX_WINDOWS, plan, window_ends
from driftmon.service.runner import MonitorRunner, default_source_factory
from driftmon.sources.base import Source
from driftmon.storage import Store

from .conftest import (
    WINDOWED,
    live_columns,
    make_config,
    monitor_dict,
    reference_columns,
    write_parquet,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_interval_window_ends_in_a_range_include_both_bounds() -> None:
    every = ScheduleConfig(every=HOUR)
    assert window_ends(every, T0, T0 + 3 * HOUR) == [T0 + i * HOUR for i in range(4)]
    # Off-grid bounds: the first fire time at or after FROM, the last at or before TO.
    inner = window_ends(every, T0 + timedelta(minutes=1), T0 + 3 * HOUR - timedelta(seconds=1))
    assert inner == [T0 + HOUR, T0 + 2 * HOUR]
    assert window_ends(every, T0 + timedelta(minutes=1), T0 + timedelta(minutes=59)) == []


def test_cron_window_ends_are_its_fire_times_in_utc() -> None:
    weekdays_at_nine = ScheduleConfig(cron="0 9 * * 1-5")
    # 2026-03-01 is a Sunday: the weekdays of that week.
    ends = window_ends(weekdays_at_nine, T0, T0 + timedelta(days=7))
    assert ends == [T0 + timedelta(days=d, hours=9) for d in range(1, 6)]


def test_cron_fire_times_on_either_bound_are_included_and_nothing_beyond() -> None:
    half_past = ScheduleConfig(cron="30 * * * *")
    first, last = T0 + HOUR / 2, T0 + 3 * HOUR + HOUR / 2
    assert window_ends(half_past, first, last) == [first + i * HOUR for i in range(4)]
    assert window_ends(half_past, first + TICK, last - TICK) == [first + HOUR, first + 2 * HOUR]
    assert window_ends(half_past, last, first) == []


def test_a_range_with_too_many_windows_is_refused() -> None:
    with pytest.raises(ValueError, match=r"more than 10 windows \(every 1m\)"):
        window_ends(ScheduleConfig(every=timedelta(minutes=1)), T0, T0 + HOUR, limit=10)
    with pytest.raises(ValueError, match=r"more than 10 windows \(cron '\* \* \* \* \*'\)"):
        window_ends(ScheduleConfig(cron="* * * * *"), T0, T0 + HOUR, limit=10)
    assert len(window_ends(ScheduleConfig(cron="* * * * *"), T0, T0 + 9 * HOUR / 60, 10)) == 10


def _stored(store: Store, end: datetime, status: Status) -> None:
    store.save_run(
        RunResult(
            monitor="m",
            window_start=end - HOUR,
            window_end=end,
            started_at=end,
            finished_at=end,
            status=status,
            error="boom" if status == Status.ERROR else None,
        )
    )


def test_plan_leaves_out_stored_windows_but_retries_errors(tmp_path: Path, store: Store) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    monitor = make_config(tmp_path, url, monitor_dict(live=WINDOWED)).monitors[0]
    _stored(store, T0 + HOUR, Status.OK)
    _stored(store, T0 + 2 * HOUR, Status.ERROR)
    _stored(store, T0 + 9 * HOUR, Status.OK)  # outside the range
    p = plan(store, monitor, T0, T0 + 3 * HOUR)
    assert p.window_ends == (T0, T0 + 2 * HOUR, T0 + 3 * HOUR)
    assert p.skipped == 1
    everything = plan(store, monitor, T0, T0 + 3 * HOUR, replace=True)
    assert everything.window_ends == tuple(T0 + i * HOUR for i in range(4))
    assert everything.skipped == 0


def test_plan_refuses_a_monitor_without_a_time_window(tmp_path: Path, store: Store) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    monitor = make_config(tmp_path, url, monitor_dict(name="batch")).monitors[0]
    with pytest.raises(ConfigError, match="monitor 'batch' cannot be backfilled: its live source"):
        plan(store, monitor, T0, T0 + HOUR)


def test_plan_refuses_a_range_of_more_windows_than_it_scores_at_once(
    tmp_path: Path, store: Store
) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    minutely = monitor_dict(live=WINDOWED, schedule={"every": "1s"})
    monitor = make_config(tmp_path, url, minutely).monitors[0]
    last = T0 + timedelta(seconds=MAX_WINDOWS)
    with pytest.raises(ConfigError, match=f"more than {MAX_WINDOWS:,} windows"):
        plan(store, monitor, T0, last)
    assert len(plan(store, monitor, T0, last - timedelta(seconds=1)).window_ends) == MAX_WINDOWS


def test_a_runner_with_pinned_profiles_opens_a_fixed_reference_once(
    tmp_path: Path, store: Store
) -> None:
    """What a backfill runs with: the profile loaded for the first window serves the rest,
    without fingerprinting the reference for every window."""
    write_parquet(tmp_path / "reference.parquet", reference_columns())
    write_parquet(tmp_path / "live.parquet", live_columns(end=T0 + 3 * HOUR))
    url = store.engine.url.render_as_string(hide_password=False)
    cfg = make_config(tmp_path, url, monitor_dict(live=WINDOWED))
    opened: list[str] = []

    def sources(source_cfg: Any, monitor: MonitorConfig) -> Source:
        opened.append("live" if source_cfg is monitor.live else "reference")
        return default_source_factory(source_cfg, monitor)

    pinned = MonitorRunner(cfg, store, source_factory=sources, pin_profiles=True)
    runs = [pinned.run(cfg.monitors[0], T0 + i * HOUR) for i in (1, 2, 3)]
    assert all(r.live_rows == 200 for r in runs)
    assert opened.count("reference") == 1
    opened.clear()
    everyday = MonitorRunner(cfg, store, source_factory=sources)
    for i in (1, 2, 3):
        everyday.run(cfg.monitors[0], T0 + i * HOUR)
    assert opened.count("reference") == 3  # the daemon notices a changed reference
