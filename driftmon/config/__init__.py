"""driftmon's configuration: YAML loaded into frozen, validated pydantic models.

Everything a caller needs is re-exported here; ``load_config`` is the entry point.
"""

from driftmon.config.durations import Duration, format_duration, parse_duration
from driftmon.config.loader import config_from_dict, load_config
from driftmon.config.models import (
    Config,
    DatabaseConfig,
    FeatureConfig,
    LogConfig,
    MonitorConfig,
    RetentionConfig,
    ServerConfig,
)
from driftmon.config.profile_reference import ProfileReferenceConfig
from driftmon.config.reference import ReferenceConfig
from driftmon.config.rolling import FromLiveReference, ReferenceWindow
from driftmon.config.schedule import ScheduleConfig
from driftmon.config.sources import (
    FileSourceConfig,
    LiveFileSourceConfig,
    LiveSourceConfig,
    LiveSparkSourceConfig,
    LiveSqlSourceConfig,
    SourceConfig,
    SparkInput,
    SparkSourceConfig,
    SqlSourceConfig,
)
from driftmon.config.thresholds import (
    AlphaLevels,
    CalibratedThresholds,
    QuantileLevels,
    SignificanceThresholds,
    StaticThresholds,
    ThresholdPolicy,
    ThresholdsConfig,
)

__all__ = [
    "AlphaLevels",
    "CalibratedThresholds",
    "Config",
    "DatabaseConfig",
    "Duration",
    "FeatureConfig",
    "FileSourceConfig",
    "FromLiveReference",
    "LiveFileSourceConfig",
    "LiveSourceConfig",
    "LiveSparkSourceConfig",
    "LiveSqlSourceConfig",
    "LogConfig",
    "MonitorConfig",
    "ProfileReferenceConfig",
    "QuantileLevels",
    "ReferenceConfig",
    "ReferenceWindow",
    "RetentionConfig",
    "ScheduleConfig",
    "ServerConfig",
    "SignificanceThresholds",
    "SourceConfig",
    "SparkInput",
    "SparkSourceConfig",
    "SqlSourceConfig",
    "StaticThresholds",
    "ThresholdPolicy",
    "ThresholdsConfig",
    "config_from_dict",
    "format_duration",
    "load_config",
    "parse_duration",
]
