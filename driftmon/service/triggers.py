"""The APScheduler trigger of a monitor's schedule, on the epoch grid for intervals."""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from driftmon.config import ScheduleConfig


def make_trigger(schedule: ScheduleConfig) -> BaseTrigger:
    """The schedule's APScheduler trigger (epoch-aligned intervals, crontab weekdays)."""
    trigger = schedule.trigger()
    return _OnGrid(trigger) if isinstance(trigger, IntervalTrigger) else trigger


class _OnGrid(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 has no type hints
    """An interval trigger that returns to its epoch grid after an off-grid fire time.

    The first run is immediate (``next_run_time=now``) and APScheduler's IntervalTrigger
    adds the interval to the previous fire time, so later runs kept start-up's offset from
    the grid; a job that then waited in the pool past the next multiple scored the wrong
    window (``scheduled_window_end`` floors the clock): one window skipped, the next twice.
    """

    def __init__(self, interval: IntervalTrigger) -> None:
        self._interval = interval

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is not None:
            now = max(now, previous_fire_time + timedelta(microseconds=1))
        fire: datetime | None = self._interval.get_next_fire_time(None, now)
        return fire

    def __str__(self) -> str:
        return str(self._interval)
