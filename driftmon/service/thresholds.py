"""Which KL thresholds apply to a feature, from the monitor's and the feature's configuration."""

from __future__ import annotations

from driftmon.config import FeatureConfig, MonitorConfig
from driftmon.config.thresholds import StaticThresholds
from driftmon.core.status import Thresholds
from driftmon.errors import ConfigError


def resolve_thresholds(monitor: MonitorConfig, feature: FeatureConfig) -> Thresholds:
    """The static thresholds in force for ``feature`` (its own override, else the monitor's)."""
    cfg = feature.effective_thresholds(monitor)
    if isinstance(cfg, StaticThresholds):
        return cfg.to_thresholds()
    raise ConfigError(
        f"monitor {monitor.name!r}, feature {feature.name!r}: threshold policy "
        f"{cfg.policy!r} is not supported by this version"
    )
