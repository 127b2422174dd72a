"""Which KL thresholds apply to a feature, from the monitor's and the feature's configuration."""

from __future__ import annotations

from driftmon.config import FeatureConfig, MonitorConfig
from driftmon.core.status import Thresholds


def resolve_thresholds(monitor: MonitorConfig, feature: FeatureConfig) -> Thresholds:
    """The static thresholds in force for ``feature`` (its own override, else the monitor's)."""
    cfg = feature.effective_thresholds(monitor)
    return Thresholds(warning=cfg.warning, critical=cfg.critical, policy=cfg.policy)
