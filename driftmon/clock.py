"""Time in one place: UTC always, and the window a scheduled run covers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(t: datetime) -> datetime:
    """A timezone-aware UTC datetime; naive input is taken to be UTC already."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def floor_time(t: datetime, every: timedelta) -> datetime:
    """The latest multiple of ``every`` since the Unix epoch at or before ``t``.

    Interval schedules fire on these boundaries, so every daemon (and every restart)
    computes the same window ends and a window is stored once, whoever runs it.
    """
    step = int(every.total_seconds() * 1_000_000)
    if step <= 0:
        raise ValueError(f"interval must be positive, got {every}")
    elapsed = as_utc(t) - EPOCH
    micros = (elapsed.days * 86_400 + elapsed.seconds) * 1_000_000 + elapsed.microseconds
    return EPOCH + timedelta(microseconds=micros - micros % step)


_CRONTAB_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def crontab_day_of_week(field: str) -> str:
    """A crontab day-of-week field (0 and 7 are Sunday) spelled with APScheduler 3's names.

    APScheduler 3 counts weekday numbers from Monday, and ``CronTrigger.from_crontab``
    passes them through, so ``1-5`` would fire Tuesday to Saturday. Numbers, ranges and
    steps become explicit day names; names and anything unrecognised pass through as given.
    """
    if field == "*":
        return field
    parts: list[str] = []
    for part in field.split(","):
        span, slash, step_text = part.partition("/")
        bounds = span.split("-", 1)
        step = int(step_text) if step_text.isdigit() else 0 if slash else 1
        if span == "*":
            first, last = 0, 6
        elif all(b.isdigit() for b in bounds):
            first, last = int(bounds[0]), int(bounds[-1])
            if slash and len(bounds) == 1:  # "a/n": from a to the end of the week
                last = 7
        else:
            first, last = 0, -1  # names: APScheduler reads those right
        if step >= 1 and 0 <= first <= last <= 7:
            parts.extend(_CRONTAB_WEEKDAYS[d % 7] for d in range(first, last + 1, step))
        else:
            parts.append(part)  # names as given; anything invalid for APScheduler to reject
    return ",".join(dict.fromkeys(parts))
