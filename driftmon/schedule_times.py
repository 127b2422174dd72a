"""When a schedule fires: its window ends between two instants, as pure time arithmetic.

The one answer to "which scheduled windows end in this span", for the daemon's catch-up
and for ``driftmon check --from/--to``. No clock, no scheduler, no I/O: interval
schedules fire on multiples of ``every`` since the Unix epoch (``floor_time``'s grid, the
same instants the daemon's trigger fires at), computed without APScheduler; a cron
schedule walks its APScheduler ``CronTrigger`` (imported only then). Every schedule is in
UTC, so a daylight-saving change never moves, adds or removes a fire time.

Spans are half-open, ``[start, stop)`` like ``range``. ``TICK`` is the resolution of
``datetime``, so ``(after, before)`` is ``[after + TICK, before)`` and ``[first, last]`` is
``[first, last + TICK)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice

from driftmon.clock import as_utc, floor_time
from driftmon.config.schedule import ScheduleConfig, cron_trigger

TICK = timedelta(microseconds=1)
"""The smallest step between two datetimes: turns an open bound into a closed one."""


def fire_times(schedule: ScheduleConfig, start: datetime, stop: datetime) -> Iterator[datetime]:
    """The schedule's fire times ``t`` with ``start <= t < stop``, oldest first, lazily
    (aware UTC; naive bounds are taken as UTC)."""
    start, stop = as_utc(start), as_utc(stop)
    if schedule.every is not None:
        yield from _grid(schedule.every, start, stop)
        return
    assert schedule.cron is not None  # exactly one of every/cron, by validation
    trigger = cron_trigger(schedule.cron)
    t = trigger.get_next_fire_time(None, start)
    while t is not None and as_utc(t) < stop:
        yield as_utc(t)
        t = trigger.get_next_fire_time(t, t + TICK)


def count_fire_times(
    schedule: ScheduleConfig, start: datetime, stop: datetime, limit: int | None = None
) -> int:
    """How many fire times ``fire_times`` would give, at most ``limit``.

    Exact and O(1) for an interval; a cron schedule is walked fire time by fire time, so
    ``limit`` bounds the work on a long span.
    """
    start, stop = as_utc(start), as_utc(stop)
    if schedule.every is None:
        return sum(1 for _ in islice(fire_times(schedule, start, stop), limit))
    first = _ceil(start, schedule.every)
    if first is None or first >= stop:
        return 0
    n = (floor_time(stop - TICK, schedule.every) - first) // schedule.every + 1
    return n if limit is None else min(n, limit)


def _grid(every: timedelta, start: datetime, stop: datetime) -> Iterator[datetime]:
    t = _ceil(start, every)
    while t is not None and t < stop:
        yield t
        try:
            t += every
        except OverflowError:  # past year 9999: the grid has no later point
            return


def _ceil(t: datetime, every: timedelta) -> datetime | None:
    """The first multiple of ``every`` since the epoch at or after ``t``; None past 9999."""
    floor = floor_time(t, every)
    if floor >= t:
        return floor
    try:
        return floor + every
    except OverflowError:
        return None
