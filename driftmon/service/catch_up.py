"""Which scheduled windows a monitor missed while the daemon was down, within its bound.

The daemon asks this once per monitor, on its first run after start (or on a later one,
if the results database could not say then which window was stored last). Only
time-windowed live sources are caught up: a source without a window reads the same data
whenever it runs, so an old window cannot be scored any more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger

from driftmon.clock import as_utc
from driftmon.config import MonitorConfig, ScheduleConfig, format_duration
from driftmon.config.catch_up import CatchUpConfig
from driftmon.service.triggers import make_trigger

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class MissedWindows:
    """The window ends to score late, oldest first, and whether the bound left some out."""

    ends: list[datetime]
    bounded: bool


def catches_up(monitor: MonitorConfig) -> bool:
    """Whether ``monitor`` scores windows missed while the daemon was down."""
    return monitor.live.window is not None and monitor.catch_up is not None


def missed_windows(monitor: MonitorConfig, last: datetime, before: datetime) -> MissedWindows:
    """The scheduled window ends ``t`` with ``last < t < before``, within ``catch_up``.

    ``catch_up: {within: D}`` keeps those with ``t >= before - D``, ``{windows: N}`` the
    latest N. Only the span the bound allows is walked, however long ago ``last`` was.
    """
    bound = monitor.catch_up
    if bound is None or before <= last + _TICK:
        return MissedWindows([], False)
    trigger = make_trigger(monitor.schedule)
    first_missed = _fire_times(trigger, last + _TICK, before, limit=1)
    if bound.within is not None:
        start = max(last + _TICK, before - bound.within)
        ends = _fire_times(trigger, start, before)
        return MissedWindows(ends, bool(first_missed) and first_missed[0] < start)
    assert bound.windows is not None  # exactly one of within/windows, by validation
    n = bound.windows
    lookback = timedelta(seconds=max(1.0, n * monitor.schedule.interval_seconds(before)))
    while True:
        start = max(last + _TICK, before - lookback)
        ends = _fire_times(trigger, start, before)
        if len(ends) >= n or start == last + _TICK:
            break
        lookback *= 4
    bounded = len(ends) > n or (bool(first_missed) and first_missed[0] < start)
    return MissedWindows(ends[-n:], bounded)


def last_scheduled(schedule: ScheduleConfig, stored: list[datetime]) -> datetime | None:
    """The latest of ``stored`` (window ends, newest first) that the schedule fires on.

    A run ``driftmon check`` stored for "now" is off the schedule: the windows missed
    before it are still missed. None when none of them is on the schedule.
    """
    trigger = make_trigger(schedule)
    for t in stored:
        fire = trigger.get_next_fire_time(None, t)
        if fire is not None and as_utc(fire) == t:
            return t
    return None


def scheduled_between(
    schedule: ScheduleConfig, after: datetime, before: datetime
) -> list[datetime]:
    """Every scheduled window end ``t`` with ``after < t < before``, oldest first."""
    return _fire_times(make_trigger(schedule), after + _TICK, before)


def describe_bound(bound: CatchUpConfig) -> str:
    """``catch_up`` as the configuration spells it: ``24h`` or ``48 windows``."""
    if bound.within is not None:
        return format_duration(bound.within)
    return f"{bound.windows} windows"


def _fire_times(
    trigger: BaseTrigger, start: datetime, before: datetime, limit: int | None = None
) -> list[datetime]:
    """The trigger's fire times in ``[start, before)``, at most ``limit`` of them."""
    out: list[datetime] = []
    t = trigger.get_next_fire_time(None, start)
    while t is not None and as_utc(t) < before and (limit is None or len(out) < limit):
        out.append(as_utc(t))
        t = trigger.get_next_fire_time(t, t + _TICK)
    return out
