"""How far back a monitor scores the windows it missed: while the daemon was down, or
skipped by a late tick while it ran (one rule, ``service/catch_up.py``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field, model_validator

from driftmon.config._base import ConfigModel, Int, describe_value, fail
from driftmon.config.durations import Duration

DEFAULT_CATCH_UP = timedelta(hours=24)
MAX_CATCH_UP_WINDOWS = 100_000
"""Most windows ``catch_up: {windows: N}`` may ask for."""


class CatchUpConfig(ConfigModel):
    """Exactly one of ``within`` (a duration) or ``windows`` (a count); written in YAML as
    ``catch_up: 24h`` or ``catch_up: {windows: 48}``."""

    within: Duration | None = Field(
        default=None,
        description="Catch up the missed windows (daemon down, or skipped by a late tick) that "
        "ended within this long before the current one.",
    )
    windows: Int | None = Field(
        default=None,
        ge=1,
        le=MAX_CATCH_UP_WINDOWS,
        description=f"Catch up at most this many missed windows, the latest ones (at most "
        f"{MAX_CATCH_UP_WINDOWS:,}).",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_duration(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"within": data}
        if isinstance(data, int | float) and not isinstance(data, bool):
            raise fail(
                "expected a duration with its unit such as 24h, or {windows: N} for a number "
                f"of windows, got {describe_value(data)} (a bare number would be ambiguous)"
            )
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> CatchUpConfig:
        if (self.within is None) == (self.windows is None):
            given = "both" if self.within is not None else "neither"
            raise fail(f"expected exactly one of 'within' or 'windows', got {given}")
        return self
