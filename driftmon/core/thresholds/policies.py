r"""Threshold policies: which KL values make a feature warning or critical in one window.

Three policies, each a small frozen dataclass:

``static``: fixed KL cut-offs.

``significance``: alert when the G-test (p-value adjusted across the run) shows drift larger
than ``min_effect`` nats, any drift when it is 0 (see ``driftmon.core.thresholds.decision``).

``calibrated``: the thresholds are quantiles of KL between windows of n rows and the
reference when nothing drifted (see ``driftmon.core.thresholds.calibration``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from driftmon.core.thresholds.corrections import CORRECTIONS, Correction

MIN_TAIL_WINDOWS = 10
"""A calibrated quantile q needs floor((1-q)·(windows+1)) ≥ this many windows beyond it."""
KL_FLOOR = 1e-12
"""No KL below this (float rounding of an exact match) is ever an alert."""


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_unit_interval(name: str, value: float) -> None:
    if not _finite(value) or not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")


@dataclass(frozen=True)
class StaticPolicy:
    """Fixed KL cut-offs in nats: warning when KL ≥ warning, critical when KL ≥ critical."""

    warning: float
    critical: float

    name = "static"

    def __post_init__(self) -> None:
        for field in ("warning", "critical"):
            v = getattr(self, field)
            if not _finite(v) or v < 0:
                raise ValueError(f"{field} must be a finite KL value >= 0 nats, got {v!r}")
        if self.warning > self.critical:
            raise ValueError(
                f"warning ({self.warning:g}) must not be above critical ({self.critical:g})"
            )


@dataclass(frozen=True)
class SignificancePolicy:
    """G-test p-value (adjusted across the run) ≤ alpha, under H0: true KL ≤ min_effect."""

    alpha_warning: float
    alpha_critical: float
    min_effect: float = 0.0
    correction: Correction = "none"

    name = "significance"

    def __post_init__(self) -> None:
        _check_unit_interval("alpha_warning", self.alpha_warning)
        _check_unit_interval("alpha_critical", self.alpha_critical)
        if self.alpha_critical > self.alpha_warning:
            raise ValueError(
                f"alpha_critical ({self.alpha_critical:g}) must not be above alpha_warning "
                f"({self.alpha_warning:g}): critical is the stricter level"
            )
        if not _finite(self.min_effect) or self.min_effect < 0:
            raise ValueError(f"min_effect must be a finite KL >= 0 nats, got {self.min_effect!r}")
        if self.correction not in CORRECTIONS:
            raise ValueError(
                f"correction must be one of {', '.join(CORRECTIONS)}, got {self.correction!r}"
            )


@dataclass(frozen=True)
class CalibratedPolicy:
    """Thresholds at quantiles of the no-drift KL of ``window_rows``-row windows.

    ``window_rows`` None: calibrate at the live window size of the first run.
    """

    quantile_warning: float
    quantile_critical: float
    windows: int = 1000
    window_rows: int | None = None

    name = "calibrated"

    def __post_init__(self) -> None:
        _check_unit_interval("quantile_warning", self.quantile_warning)
        _check_unit_interval("quantile_critical", self.quantile_critical)
        if self.quantile_warning > self.quantile_critical:
            raise ValueError(
                f"quantile_warning ({self.quantile_warning:g}) must not be above "
                f"quantile_critical ({self.quantile_critical:g})"
            )
        if isinstance(self.windows, bool) or not isinstance(self.windows, int) or self.windows < 1:
            raise ValueError(f"windows must be a positive integer, got {self.windows!r}")
        if self.window_rows is not None and (
            isinstance(self.window_rows, bool)
            or not isinstance(self.window_rows, int)
            or self.window_rows < 1
        ):
            raise ValueError(
                f"window_rows must be a positive integer or None, got {self.window_rows!r}"
            )
        for field in ("quantile_warning", "quantile_critical"):
            q = getattr(self, field)
            if _tail_windows(q, self.windows) < MIN_TAIL_WINDOWS:
                raise ValueError(
                    f"{field} {q:g} is not resolvable from {self.windows} windows: it needs "
                    f"at least {min_windows(q)} (so that {MIN_TAIL_WINDOWS} simulated windows "
                    "lie beyond it); raise windows"
                )


ThresholdPolicy = StaticPolicy | SignificancePolicy | CalibratedPolicy


def _tail_windows(quantile: float, windows: int) -> int:
    """r = floor((1-q)·(W+1)): the threshold is the r-th largest of W simulated KLs."""
    return math.floor((1.0 - quantile) * (windows + 1) + 1e-9)


def min_windows(quantile: float) -> int:
    """Fewest calibration windows that resolve ``quantile`` (``MIN_TAIL_WINDOWS`` beyond it)."""
    return math.ceil(MIN_TAIL_WINDOWS / (1.0 - quantile) - 1 - 1e-9)
