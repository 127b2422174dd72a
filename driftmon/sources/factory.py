"""Building a Source from its configuration: the only place that maps config to sources."""

from __future__ import annotations

from driftmon.config import MonitorConfig
from driftmon.config.sources import (
    FileSourceConfig,
    LiveFileSourceConfig,
    LiveSparkSourceConfig,
    LiveSqlSourceConfig,
    SparkSourceConfig,
    SqlSourceConfig,
)
from driftmon.sources.base import Source
from driftmon.sources.files import FileSource
from driftmon.sources.spark import SparkSource
from driftmon.sources.sql import SqlSource
from driftmon.sources.timestamps import EpochUnit

SourceConfig = (
    FileSourceConfig
    | SqlSourceConfig
    | SparkSourceConfig
    | LiveFileSourceConfig
    | LiveSqlSourceConfig
    | LiveSparkSourceConfig
)


def source_from_config(cfg: SourceConfig, monitor: MonitorConfig) -> Source:
    """A file, SQL or Spark source for a reference or live section of ``monitor``.

    Live sections carry the timestamp column and time zone used to cut windows; the
    monitor's ``source_timeout`` bounds SQL statements.
    """
    ts: str | None = None
    tz = "UTC"
    unit: EpochUnit = "s"
    if isinstance(cfg, LiveFileSourceConfig | LiveSqlSourceConfig | LiveSparkSourceConfig):
        ts, tz, unit = cfg.timestamp_column, cfg.timezone, cfg.timestamp_unit
    if isinstance(cfg, FileSourceConfig):
        return FileSource(
            cfg.path,
            format=cfg.format,
            timestamp_column=ts,
            naive_timezone=tz,
            timestamp_unit=unit,
            batch_rows=cfg.batch_rows,
            null_values=cfg.null_values,
        )
    timeout = monitor.source_timeout.total_seconds() if monitor.source_timeout else None
    if isinstance(cfg, SparkSourceConfig):
        spark = cfg.spark
        return SparkSource(
            spark.remote,
            table=spark.table,
            query=spark.query,
            path=spark.path,
            format=spark.format,
            options=spark.options,
            schema=spark.read_schema,
            timestamp_column=ts,
            naive_timezone=tz,
            timestamp_unit=unit,
            batch_rows=cfg.batch_rows,
            timeout_seconds=timeout,
            pushdown=cfg.pushdown,
            fingerprint_data=cfg.fingerprint == "data",
        )
    return SqlSource(
        cfg.url,
        query=cfg.query,
        table=cfg.table,
        schema=cfg.db_schema,
        timestamp_column=ts,
        naive_timezone=tz,
        timestamp_unit=unit,
        batch_rows=cfg.batch_rows,
        timeout_seconds=timeout,
        pushdown=cfg.pushdown,
        fingerprint_data=cfg.fingerprint == "data",
    )
