"""When a monitor runs: a fixed interval (``every``) or a crontab expression, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import Field, field_validator, model_validator

from driftmon.clock import EPOCH, crontab_day_of_week
from driftmon.config._base import ConfigModel, fail
from driftmon.config.durations import Duration

if TYPE_CHECKING:  # APScheduler is imported where a trigger is built: `every` needs none
    from apscheduler.triggers.base import BaseTrigger
    from apscheduler.triggers.cron import CronTrigger

SCHEDULE_TIMEZONE = "UTC"


def cron_trigger(expression: str) -> CronTrigger:
    """The APScheduler trigger of a 5-field crontab expression, evaluated in UTC.

    Not ``CronTrigger.from_crontab``: APScheduler 3 reads weekday numbers from Monday,
    crontab from Sunday (0 and 7), so numeric weekdays are spelled as names first.
    """
    from apscheduler.triggers.cron import CronTrigger

    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 crontab fields, got {len(fields)}")
    minute, hour, day, month, day_of_week = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=crontab_day_of_week(day_of_week),
        timezone=SCHEDULE_TIMEZONE,
    )


class ScheduleConfig(ConfigModel):
    """Exactly one of ``every`` (e.g. 5m) or ``cron`` (e.g. "*/5 * * * *")."""

    every: Duration | None = Field(default=None, description="Run at this fixed interval, e.g. 5m.")
    cron: str | None = Field(
        default=None, description='Run on this 5-field crontab schedule in UTC, e.g. "*/5 * * * *".'
    )

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            trigger = cron_trigger(value)
        except ValueError as exc:
            raise fail(
                "expected a 5-field crontab expression (minute hour day month weekday) "
                f"such as '*/5 * * * *', got {value!r}: {exc}"
            ) from None
        if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
            raise fail(f"cron expression {value!r} never fires")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ScheduleConfig:
        if (self.every is None) == (self.cron is None):
            given = "both" if self.every is not None else "neither"
            raise fail(f"expected exactly one of 'every' or 'cron', got {given}")
        return self

    def trigger(self) -> BaseTrigger:
        """The APScheduler trigger for this schedule, in UTC.

        Intervals fire on multiples of ``every`` since the Unix epoch, so every daemon and
        every restart computes the same window ends.
        """
        from apscheduler.triggers.interval import IntervalTrigger

        if self.cron is not None:
            return cron_trigger(self.cron)
        assert self.every is not None  # guaranteed by validation
        return IntervalTrigger(
            seconds=self.every.total_seconds(), start_date=EPOCH, timezone=SCHEDULE_TIMEZONE
        )

    def interval_seconds(self, now: datetime | None = None) -> float:
        """Seconds between runs; for cron, the gap between the next two fire times after now."""
        if self.every is not None:
            return self.every.total_seconds()
        assert self.cron is not None  # guaranteed by validation
        trigger = cron_trigger(self.cron)
        start = now or datetime.now(UTC)
        first = trigger.get_next_fire_time(None, start)
        second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
        if first is None or second is None:
            raise ValueError(f"cron expression {self.cron!r} does not fire twice after {start}")
        gap: timedelta = second - first
        return gap.total_seconds()
