"""Which scheduled windows a monitor missed, and which of them its ``catch_up`` lets it score.

One rule for both ways a window is missed: while the daemon was down (asked once per
monitor, on its first run after start, or on a later one if the results database could not
say then which window was stored last), and while it ran, when a late tick skipped windows
(a run slower than the schedule, a stalled scheduler). Only time-windowed live sources are
caught up: a source without a window reads the same data whenever it runs, so an old window
cannot be scored any more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from driftmon.config import MonitorConfig, ScheduleConfig, format_duration
from driftmon.config.catch_up import CatchUpConfig
from driftmon.schedule_times import TICK, count_fire_times, fire_times

MAX_DROPPED_COUNTED = 100_000
"""Most windows left out by the bound that one catch-up counts: a cron schedule's are walked
one by one, so a long downtime is not walked to its end; an interval's are counted exactly."""


@dataclass(frozen=True)
class MissedWindows:
    """The window ends to score late, oldest first, and how many the bound left out."""

    ends: list[datetime]
    dropped: int
    """Missed windows before those, not scored (a cron's counted up to MAX_DROPPED_COUNTED)."""

    @property
    def bounded(self) -> bool:
        """Whether the bound left some missed windows out."""
        return self.dropped > 0


def catches_up(monitor: MonitorConfig) -> bool:
    """Whether ``monitor`` scores the windows it missed."""
    return monitor.live.window is not None and monitor.catch_up is not None


def missed_windows(monitor: MonitorConfig, last: datetime, before: datetime) -> MissedWindows:
    """The scheduled window ends ``t`` with ``last < t < before``, within ``catch_up``.

    ``catch_up: {within: D}`` keeps those with ``t >= before - D``, ``{windows: N}`` the
    latest N; ``null`` none. Only the span the bound allows is listed, however long ago
    ``last`` was; the windows before it are only counted.
    """
    bound = monitor.catch_up
    start = last + TICK
    if bound is None or before <= start:
        return MissedWindows([], 0)
    schedule = monitor.schedule
    if bound.within is not None:
        kept_from = max(start, before - bound.within)
        ends = list(fire_times(schedule, kept_from, before))
    else:
        assert bound.windows is not None  # exactly one of within/windows, by validation
        kept_from, ends = _latest(schedule, bound.windows, start, before)
    beyond = len(ends) - bound.windows if bound.windows is not None else 0
    if beyond > 0:
        ends = ends[beyond:]
    dropped = max(beyond, 0) + count_fire_times(schedule, start, kept_from, MAX_DROPPED_COUNTED)
    return MissedWindows(ends, dropped)


def _latest(
    schedule: ScheduleConfig, n: int, start: datetime, before: datetime
) -> tuple[datetime, list[datetime]]:
    """A span ``[from, before)`` with ``from >= start`` holding at least ``n`` fire times
    (or starting at ``start``), and those fire times; grown from ``n`` intervals."""
    lookback = timedelta(seconds=max(1.0, n * schedule.interval_seconds(before)))
    while True:
        kept_from = max(start, before - lookback)
        ends = list(fire_times(schedule, kept_from, before))
        if len(ends) >= n or kept_from == start:
            return kept_from, ends
        lookback *= 4


def last_scheduled(schedule: ScheduleConfig, stored: list[datetime]) -> datetime | None:
    """The latest of ``stored`` (window ends, newest first) that the schedule fires on.

    A run ``driftmon check`` stored for "now" is off the schedule: the windows missed
    before it are still missed. None when none of them is on the schedule.
    """
    for t in stored:
        if next(fire_times(schedule, t, t + TICK), None) == t:
            return t
    return None


def bound_seconds(monitor: MonitorConfig, at: datetime) -> float | None:
    """``catch_up`` as a span of time at ``at``: ``within`` itself, ``{windows: N}`` N
    schedule intervals (a cron's interval after ``at``); None for a monitor that does not
    catch up. Windows further behind than this are dropped."""
    bound = monitor.catch_up
    if not catches_up(monitor) or bound is None:
        return None
    if bound.within is not None:
        return bound.within.total_seconds()
    assert bound.windows is not None  # exactly one of within/windows, by validation
    return bound.windows * monitor.schedule.interval_seconds(at)


def describe_bound(bound: CatchUpConfig) -> str:
    """``catch_up`` as the configuration spells it: ``24h`` or ``48 windows``."""
    if bound.within is not None:
        return format_duration(bound.within)
    return f"{bound.windows} windows"
