"""Backfill: score every scheduled window of a time range in one process.

``driftmon check --from FROM --to TO`` lists the window ends a monitor's schedule puts in
``[FROM, TO]`` (both included), leaves out those with a stored run (unless replacing), and
scores the rest in time order with one ``MonitorRunner``: a fixed reference profile is
loaded once; a rolling reference's profile is built per reference window and kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from driftmon.clock import as_utc
from driftmon.config import MonitorConfig, ScheduleConfig, format_duration
from driftmon.errors import ConfigError
from driftmon.schedule_times import TICK, fire_times
from driftmon.storage import Store

MAX_WINDOWS = 100_000
"""Most windows one backfill scores per monitor: a range that holds more is refused."""


@dataclass(frozen=True)
class BackfillPlan:
    """The windows of one monitor a backfill scores, and how many it skips as stored."""

    monitor: MonitorConfig
    window_ends: tuple[datetime, ...]
    skipped: int


def window_ends(
    schedule: ScheduleConfig, first: datetime, last: datetime, limit: int = MAX_WINDOWS
) -> list[datetime]:
    """The schedule's fire times in ``[first, last]`` (both included), in order; ValueError
    past ``limit``."""
    ends = list(islice(fire_times(schedule, first, as_utc(last) + TICK), limit + 1))
    if len(ends) > limit:
        every = schedule.every
        spelled = f"cron {schedule.cron!r}" if every is None else f"every {format_duration(every)}"
        raise ValueError(f"more than {limit:,} windows ({spelled})")
    return ends


def plan(
    store: Store,
    monitor: MonitorConfig,
    first: datetime,
    last: datetime,
    *,
    replace: bool = False,
) -> BackfillPlan:
    """Which windows of ``monitor`` ending in ``[first, last]`` to score; ConfigError for a
    monitor that reads no time window or a range with too many windows."""
    live = monitor.live
    if live.window is None or live.timestamp_column is None:
        raise ConfigError(
            f"monitor {monitor.name!r} cannot be backfilled: its live source reads the whole "
            "source on every run, not a time window (give it 'timestamp_column' and 'window', "
            "or leave the monitor out with --monitor)"
        )
    try:
        ends = window_ends(monitor.schedule, first, last)
    except ValueError as exc:
        raise ConfigError(
            f"monitor {monitor.name!r}: {first.isoformat()} to {last.isoformat()} holds "
            f"{exc}; backfill at most {MAX_WINDOWS:,} windows at a time"
        ) from None
    stored = set() if replace else store.scored_window_ends(monitor.name, first, last)
    todo = tuple(t for t in ends if t not in stored)
    return BackfillPlan(monitor, todo, len(ends) - len(todo))
