"""What one run of one monitor produced: the records stored, exported and printed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from driftmon.core.drift import DriftScores
from driftmon.core.status import Status, Thresholds


def _finite_or_none(x: float) -> float | None:
    """JSON has no infinity: a threshold not known yet (+inf until scored) is null."""
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class FeatureResult:
    """One feature in one window: scores (None when not computable), status and why."""

    feature: str
    status: Status
    thresholds: Thresholds
    live_rows: int = 0
    missing_rows: int = 0
    scores: DriftScores | None = None
    live_counts: tuple[int, ...] = ()
    bin_labels: tuple[str, ...] = ()
    message: str | None = None
    p_value_adjusted: float | None = None
    """The deciding p-value after the run's Bonferroni/BH adjustment (only under one)."""

    @property
    def missing_ratio(self) -> float:
        return self.missing_rows / self.live_rows if self.live_rows else 0.0

    def as_json(self) -> dict[str, Any]:
        """The per-feature object of ``driftmon check --json``."""
        s = self.scores
        return {
            "feature": self.feature,
            "status": self.status.value,
            "kl_divergence": s.kl_divergence if s else None,
            "entropy": s.entropy if s else None,
            "cross_entropy": s.cross_entropy if s else None,
            "js_divergence": s.js_divergence if s else None,
            "psi": s.psi if s else None,
            "p_value": s.p_value if s else None,
            "p_value_adjusted": self.p_value_adjusted,
            "expected_kl": s.expected_kl if s else None,
            "live_rows": self.live_rows,
            "missing_ratio": self.missing_ratio,
            "thresholds": {
                "policy": self.thresholds.policy,
                "warning": _finite_or_none(self.thresholds.warning),
                "critical": _finite_or_none(self.thresholds.critical),
            },
            "message": self.message,
        }


@dataclass(frozen=True)
class RunResult:
    """One monitor over one window [window_start, window_end), all times UTC."""

    monitor: str
    window_start: datetime | None
    window_end: datetime
    started_at: datetime
    finished_at: datetime
    status: Status
    live_rows: int = 0
    reference_rows: int = 0
    features: tuple[FeatureResult, ...] = field(default_factory=tuple)
    error: str | None = None
    message: str | None = None
    """A note on a run that is not an error, e.g. why its window is empty."""
    profile_version: int | None = None
    """Id of the stored reference profile version the run was scored on (None: not known,
    or the run never got as far as a profile)."""

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def as_json(self) -> dict[str, Any]:
        """The per-run object of ``driftmon check --json``."""
        return {
            "monitor": self.monitor,
            "status": self.status.value,
            "window_start": self.window_start.isoformat() if self.window_start else None,
            "window_end": self.window_end.isoformat(),
            "live_rows": self.live_rows,
            "reference_rows": self.reference_rows,
            "duration_seconds": self.duration_seconds,
            "error": self.error,
            "message": self.message,
            "features": [f.as_json() for f in self.features],
        }
