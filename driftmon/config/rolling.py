"""Rolling references: a monitor's reference taken from its own live source's past.

``reference: {from_live: {offset: 7d, window: 7d}}`` compares the live window ending at T
with the live source's rows in [T - offset - window, T - offset), so the reference moves
with the schedule ("the same hour one week ago", "the previous 7 days").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar, Literal

from pydantic import Field

from driftmon.clock import as_utc, floor_time
from driftmon.config._base import ConfigModel, fail
from driftmon.config.durations import Duration, format_duration

FROM_LIVE_TAG = "rolling reference"
TAGS = frozenset({FROM_LIVE_TAG})


class ReferenceWindow(ConfigModel):
    """Which past stretch of the live source is the reference of a live window ending at T."""

    offset: Duration = Field(
        description="How far the reference window's end lies before the live window's end; "
        "at least the live window, so the two never overlap (7d: a week ago)."
    )
    window: Duration = Field(description="Length of the reference window (1h, 7d, ...).")
    align: Duration | None = Field(
        default=None,
        description="Round the reference window's end down to a multiple of this since the "
        "Unix epoch, so the reference (and its profile) moves once per align, not every "
        "run; null: it moves with every window.",
    )

    def span(self, live_window_end: datetime) -> tuple[datetime, datetime]:
        """The reference window ``[start, end)`` of the live window ending at that time."""
        end = as_utc(live_window_end) - self.offset
        if self.align is not None:
            end = floor_time(end, self.align)
        return end - self.window, end


class FromLiveReference(ConfigModel):
    """A rolling reference: ``{from_live: {offset: ..., window: ...}}``."""

    kind: ClassVar[Literal["from_live"]] = "from_live"

    from_live: ReferenceWindow = Field(
        description="The reference window, read from the monitor's own live source."
    )


def check_rolling(monitor: str, reference: object, live_window: timedelta | None) -> None:
    """A rolling reference needs a time-windowed live source not overlapping its reference."""
    if not isinstance(reference, FromLiveReference):
        return
    if live_window is None:
        raise fail(
            f"monitor {monitor!r}: reference 'from_live' needs a time-windowed live source; "
            "give its live source 'timestamp_column' and 'window'"
        )
    offset = reference.from_live.offset
    if offset < live_window:
        raise fail(
            f"monitor {monitor!r}: reference from_live.offset ({format_duration(offset)}) is "
            f"shorter than the live window ({format_duration(live_window)}), so the reference "
            "would overlap the live window; use an offset of at least the live window"
        )
