"""Feature and run statuses, and the static KL threshold rule."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """Outcome of a feature or a run, in increasing order of severity for drift."""

    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    INSUFFICIENT_DATA = "insufficient_data"
    ERROR = "error"

    @property
    def level(self) -> int:
        """The number exported as ``driftmon_feature_drift_status``: 0 ok, 1 warning, 2 critical."""
        return _LEVELS[self]


_LEVELS = {
    Status.OK: 0,
    Status.WARNING: 1,
    Status.CRITICAL: 2,
    Status.INSUFFICIENT_DATA: -1,
    Status.ERROR: -2,
}

_DRIFT_ORDER = [Status.OK, Status.WARNING, Status.CRITICAL]


@dataclass(frozen=True)
class Thresholds:
    """KL thresholds in nats actually applied to a feature, and the policy that set them."""

    warning: float
    critical: float
    policy: str = "static"

    def __post_init__(self) -> None:
        for name in ("warning", "critical"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or math.isnan(v) or v < 0:
                raise ValueError(f"{name} threshold must be a number >= 0, got {v!r}")
        if self.warning > self.critical:
            raise ValueError(
                f"warning threshold {self.warning} is above critical threshold {self.critical}"
            )

    def classify(self, kl: float) -> Status:
        """Critical when KL ≥ critical, warning when KL ≥ warning, else ok."""
        if kl >= self.critical:
            return Status.CRITICAL
        if kl >= self.warning:
            return Status.WARNING
        return Status.OK


def worst(statuses: list[Status]) -> Status:
    """A run's status: its worst drift status; insufficient data only if no feature scored.

    A feature error does not hide drift in others: drift statuses win when present.
    """
    drift = [s for s in statuses if s in _DRIFT_ORDER]
    if drift:
        return max(drift, key=_DRIFT_ORDER.index)
    if Status.ERROR in statuses:
        return Status.ERROR
    return Status.INSUFFICIENT_DATA
