"""Backfill: score every scheduled window of a time range in one process.

``driftmon check --from FROM --to TO`` lists the window ends a monitor's schedule puts in
``[FROM, TO]`` (both included), leaves out those with a stored run (unless replacing), and
scores the rest in time order with one ``MonitorRunner``: a fixed reference profile is
loaded once; a rolling reference's profile is built per reference window and kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from driftmon.clock import as_utc, floor_time
from driftmon.config import MonitorConfig, ScheduleConfig, format_duration
from driftmon.errors import ConfigError
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
    """The schedule's fire times in ``[first, last]``, in order; ValueError past ``limit``."""
    first, last = as_utc(first), as_utc(last)
    ends: list[datetime] = []
    if schedule.every is not None:
        step = schedule.every
        t = floor_time(first, step)
        if t < first:
            t += step
        while t <= last:
            ends.append(t)
            if len(ends) > limit:
                raise ValueError(f"more than {limit:,} windows (every {format_duration(step)})")
            t += step
        return ends
    from driftmon.service.triggers import make_trigger

    trigger = make_trigger(schedule)
    t = trigger.get_next_fire_time(None, first)
    while t is not None and as_utc(t) <= last:
        ends.append(as_utc(t))
        if len(ends) > limit:
            raise ValueError(f"more than {limit:,} windows (cron {schedule.cron!r})")
        t = trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
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
