"""Threshold policies from configuration, and the reference calibrations they need.

The maths lives in ``driftmon.core.thresholds``; this module maps the configured policy of
a feature to its core policy and keeps calibrations (for ``policy: calibrated``) stored with
the reference profile, so they are computed once per window size, not on every run.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from typing import Any

from driftmon.config import FeatureConfig, MonitorConfig
from driftmon.config.models import ScoringScope
from driftmon.config.thresholds import (
    CalibratedThresholds,
    SignificanceThresholds,
    StaticThresholds,
)
from driftmon.core.profile import FeatureProfile
from driftmon.core.status import Thresholds
from driftmon.core.thresholds import (
    RECALIBRATION_RANGE,
    CalibratedPolicy,
    Calibration,
    SignificancePolicy,
    StaticPolicy,
    ThresholdPolicy,
    calibrate,
    needs_recalibration,
)

CALIBRATIONS_KEY = "calibrations"


def policy_for(monitor: ScoringScope, feature: FeatureConfig) -> ThresholdPolicy:
    """The core policy in force for ``feature`` (its own override, else the monitor's)."""
    cfg = feature.effective_thresholds(monitor)
    if isinstance(cfg, StaticThresholds):
        return StaticPolicy(cfg.warning, cfg.critical)
    if isinstance(cfg, SignificanceThresholds):
        return SignificancePolicy(
            cfg.alpha.warning, cfg.alpha.critical, cfg.min_effect, cfg.correction
        )
    assert isinstance(cfg, CalibratedThresholds)
    return CalibratedPolicy(
        cfg.quantile.warning, cfg.quantile.critical, cfg.windows, cfg.window_rows
    )


def resolve_thresholds(monitor: MonitorConfig, feature: FeatureConfig) -> Thresholds:
    """The thresholds of ``feature`` known before any window is scored (see below)."""
    return unscored_thresholds(policy_for(monitor, feature))


def unscored_thresholds(policy: ThresholdPolicy) -> Thresholds:
    """Thresholds known before a window is scored: the static values, else +inf.

    Significance and calibrated thresholds depend on the window; until one is scored they
    are not known yet and are reported as +inf (nothing can cross them) under the policy's
    name.
    """
    if isinstance(policy, StaticPolicy):
        return Thresholds(policy.warning, policy.critical, policy.name)
    return Thresholds(math.inf, math.inf, policy.name)


def calibration_seed(monitor: str, feature: str) -> int:
    """A stable seed per feature, so a calibration is reproducible run after run."""
    return zlib.crc32(f"{monitor}\x00{feature}".encode())


def stored_calibrations(metadata: Mapping[str, Any]) -> dict[str, Calibration]:
    raw = metadata.get(CALIBRATIONS_KEY, {})
    return {name: Calibration.from_dict(data) for name, data in raw.items()}


def ensure_calibration(
    current: Calibration | None,
    monitor: ScoringScope,
    feature: FeatureConfig,
    profile: FeatureProfile,
    policy: CalibratedPolicy,
    live_rows: int,
) -> tuple[Calibration, bool]:
    """A calibration valid for this window size, and whether it had to be (re)computed.

    The first calibration uses ``window_rows`` when configured, else the live window's
    size; later ones follow the live window when its size moves out of the range in which
    thresholds are rescaled (see ``core.thresholds.needs_recalibration``). Raises
    ValueError when the reference is too small to calibrate.
    """
    smoothing = feature.effective_smoothing(monitor)
    stale = (
        current is None
        or needs_recalibration(current, live_rows, policy)
        or current.reference_rows != profile.reference_rows
        or current.smoothing != smoothing
        or current.reference_is_sample != monitor.reference_is_sample
    )
    if not stale:
        assert current is not None
        return current, False
    size = live_rows
    if current is None and policy.window_rows:
        lo, hi = RECALIBRATION_RANGE
        if lo <= live_rows / policy.window_rows <= hi:
            size = policy.window_rows
    cal = calibrate(
        profile.reference.counts,
        size,
        policy,
        smoothing,
        calibration_seed(monitor.name, feature.name),
        reference_is_sample=monitor.reference_is_sample,
    )
    return cal, True
