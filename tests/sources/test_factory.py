"""source_from_config: configuration fields become FileSource / SqlSource arguments."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from driftmon.sources import FileSource, SqlSource
from driftmon.sources.factory import source_from_config


def test_path_makes_a_file_source_with_live_options(tmp_path: Path) -> None:
    cfg = SimpleNamespace(
        path=str(tmp_path / "*.csv"),
        format="csv",
        batch_rows=10,
        timestamp_column="ts",
        timezone="Europe/Berlin",
    )
    src = source_from_config(cfg, SimpleNamespace(source_timeout=timedelta(seconds=3)))
    assert isinstance(src, FileSource)
    assert (src.pattern, src.format, src.batch_rows) == (cfg.path, "csv", 10)
    assert (src.timestamp_column, src.naive_timezone) == ("ts", "Europe/Berlin")


def test_reference_file_source_has_no_window_options(tmp_path: Path) -> None:
    cfg = SimpleNamespace(path=str(tmp_path / "r.parquet"), format=None, batch_rows=5)
    src = source_from_config(cfg)
    assert isinstance(src, FileSource)
    assert src.format == "parquet"
    assert src.timestamp_column is None
    assert src.naive_timezone == "UTC"


def test_url_makes_a_sql_source_with_the_monitor_timeout() -> None:
    cfg = SimpleNamespace(
        url="postgresql+psycopg://u:pw@h/db",
        query=None,
        table="events",
        db_schema="analytics",
        batch_rows=100,
        timestamp_column="ts",
        timezone="UTC",
    )
    src = source_from_config(cfg, SimpleNamespace(source_timeout=timedelta(seconds=30)))
    assert isinstance(src, SqlSource)
    assert (src.table, src.schema, src.query) == ("events", "analytics", None)
    assert src.timeout_seconds == 30
    assert src.batch_rows == 100
    assert "pw" not in src.describe()


def test_no_monitor_timeout_means_none() -> None:
    cfg = SimpleNamespace(url="sqlite:///x.db", query="SELECT 1 AS a", batch_rows=1)
    src = source_from_config(cfg, SimpleNamespace(source_timeout=None))
    assert isinstance(src, SqlSource)
    assert src.timeout_seconds is None
    assert src.timestamp_column is None
