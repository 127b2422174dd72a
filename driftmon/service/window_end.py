"""The end of the window a schedule scores now: light, so ``validate`` needs no scheduler.

Interval schedules floor the clock to their epoch grid; only a cron schedule loads
APScheduler, to walk its fire times.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from driftmon.clock import as_utc, floor_time
from driftmon.config import ScheduleConfig

_MAX_CRON_LOOKBACK = timedelta(days=9 * 366)  # beyond the gap of "0 0 29 2 *" (leap days)


def scheduled_window_end(schedule: ScheduleConfig, now: datetime) -> datetime:
    """The latest scheduled fire time at or before ``now``: the end of the window to score."""
    now = as_utc(now)
    if schedule.every is not None:
        return floor_time(now, schedule.every)
    from driftmon.service.triggers import make_trigger

    trigger = make_trigger(schedule)
    # Look back over a growing span: a cron's gaps vary (weekends, months, leap days), so
    # no single look-back derived from one gap is sure to reach the previous fire time.
    lookback = timedelta(minutes=2)
    while lookback < _MAX_CRON_LOOKBACK:
        last: datetime | None = None
        t = trigger.get_next_fire_time(None, now - lookback)
        while t is not None and t <= now:
            last = t
            t = trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
        if last is not None:
            return as_utc(last)
        lookback *= 4
    return floor_time(now, timedelta(seconds=1))
