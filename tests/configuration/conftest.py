"""Helpers for configuration tests: write a config file, load it, capture the error."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from driftmon.config import (
    Config,
    catch_up,
    load_config,
    models,
    profile_reference,
    rolling,
    schedule,
    sources,
    spool,
    thresholds,
)
from driftmon.errors import ConfigError

CONFIG_NAME = "driftmon.yaml"

# Every configuration model, for checks that must cover all of them.
ALL_MODELS: list[type[BaseModel]] = [
    models.Config, models.DatabaseConfig, models.ServerConfig, models.RetentionConfig,
    models.LogConfig, models.MonitorConfig, models.FeatureConfig, schedule.ScheduleConfig,
    sources.FileSourceConfig, sources.SqlSourceConfig, sources.LiveFileSourceConfig,
    sources.LiveSqlSourceConfig, sources.SparkInput, sources.SparkSourceConfig,
    sources.LiveSparkSourceConfig, thresholds.StaticThresholds, thresholds.SignificanceThresholds,
    thresholds.CalibratedThresholds, thresholds.AlphaLevels, thresholds.QuantileLevels,
    spool.SpoolConfig, catch_up.CatchUpConfig,
    rolling.FromLiveReference, rolling.ReferenceWindow,
    profile_reference.ProfileReferenceConfig,
]  # fmt: skip

MINIMAL_MONITOR: dict[str, Any] = {
    "name": "example",
    "schedule": {"every": "5m"},
    "reference": {"path": "data/reference.parquet"},
    "live": {"path": "data/live/*.parquet", "timestamp_column": "ts", "window": "1h"},
    "features": [
        {"name": "age"},
        {"name": "amount", "edges": [0, 10, 100]},
        {"name": "country", "type": "categorical"},
    ],
}

Writer = Callable[[Mapping[str, Any] | str], Path]
Loader = Callable[..., Config]
ErrorLoader = Callable[..., str]


def minimal_config(**top: Any) -> dict[str, Any]:
    """A valid config with one monitor; ``top`` replaces top-level keys."""
    data: dict[str, Any] = {"monitors": [copy.deepcopy(MINIMAL_MONITOR)]}
    data.update(top)
    return data


def with_monitor(**keys: Any) -> dict[str, Any]:
    """A valid config whose single monitor has ``keys`` replaced."""
    monitor = copy.deepcopy(MINIMAL_MONITOR)
    monitor.update(keys)
    return {"monitors": [monitor]}


def with_feature(index: int = 0, **keys: Any) -> dict[str, Any]:
    """A valid config whose feature number ``index`` has ``keys`` replaced."""
    data = minimal_config()
    data["monitors"][0]["features"][index].update(keys)
    return data


@pytest.fixture
def write(tmp_path: Path) -> Writer:
    """Write a mapping (as YAML) or raw text to ``tmp_path/driftmon.yaml``."""

    def _write(content: Mapping[str, Any] | str) -> Path:
        path = tmp_path / CONFIG_NAME
        text = content if isinstance(content, str) else yaml.safe_dump(dict(content))
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def load(write: Writer) -> Loader:
    """Write and load a config; keyword ``environ`` replaces the environment."""

    def _load(content: Mapping[str, Any] | str, environ: Mapping[str, str] | None = None) -> Config:
        return load_config(write(content), environ={} if environ is None else environ)

    return _load


@pytest.fixture
def load_error(write: Writer) -> ErrorLoader:
    """Write a config that must be rejected; return the ConfigError message."""

    def _error(content: Mapping[str, Any] | str, environ: Mapping[str, str] | None = None) -> str:
        path = write(content)
        with pytest.raises(ConfigError) as info:
            load_config(path, environ={} if environ is None else environ)
        message = str(info.value)
        assert str(path) in message, message
        return message

    return _error
