"""source_from_config: a monitor's source sections become FileSource / SqlSource arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftmon.config import FileSourceConfig, MonitorConfig, SqlSourceConfig, config_from_dict
from driftmon.sources import FileSource, SqlSource
from driftmon.sources.factory import source_from_config


def monitor(
    tmp_path: Path, reference: dict[str, Any], live: dict[str, Any], **extra: Any
) -> MonitorConfig:
    data = {
        "database": {"url": f"sqlite:///{tmp_path / 'results.db'}"},
        "monitors": [
            {
                "name": "m",
                "schedule": {"every": "5m"},
                "reference": reference,
                "live": live,
                "features": [{"name": "age"}],
                **extra,
            }
        ],
    }
    return config_from_dict(data, base_dir=tmp_path).monitors[0]


def test_file_sections(tmp_path: Path) -> None:
    """Live file sources get the timestamp column and zone; reference ones read everything."""
    m = monitor(
        tmp_path,
        {"path": "ref.parquet", "batch_rows": 5},
        {
            "path": "live/*.csv",
            "timestamp_column": "ts",
            "window": "1h",
            "timezone": "Europe/Berlin",
        },
    )
    assert isinstance(m.reference, FileSourceConfig)
    ref = source_from_config(m.reference, m)
    assert isinstance(ref, FileSource)
    assert (ref.pattern, ref.format, ref.batch_rows) == (
        str(tmp_path / "ref.parquet"),
        "parquet",
        5,
    )
    assert (ref.timestamp_column, ref.naive_timezone) == (None, "UTC")
    live = source_from_config(m.live, m)
    assert isinstance(live, FileSource)
    assert (live.pattern, live.format) == (str(tmp_path / "live" / "*.csv"), "csv")
    assert (live.timestamp_column, live.naive_timezone) == ("ts", "Europe/Berlin")


def test_sql_sections_get_the_monitor_timeout(tmp_path: Path) -> None:
    m = monitor(
        tmp_path,
        {"url": "postgresql+psycopg://u:pw@h/db", "table": "events", "schema": "analytics"},
        {
            "url": "postgresql+psycopg://u:pw@h/db",
            "query": "SELECT * FROM events WHERE ts >= :start AND ts < :end",
            "timestamp_column": "ts",
            "window": "1h",
        },
        source_timeout="30s",
    )
    assert isinstance(m.reference, SqlSourceConfig)
    ref = source_from_config(m.reference, m)
    assert isinstance(ref, SqlSource)
    assert (ref.table, ref.schema, ref.query) == ("events", "analytics", None)
    assert ref.timeout_seconds == 30
    assert "pw" not in ref.describe()
    live = source_from_config(m.live, m)
    assert isinstance(live, SqlSource)
    assert live.uses_window_params
    assert live.timestamp_column == "ts"
