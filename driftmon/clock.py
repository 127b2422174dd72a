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
