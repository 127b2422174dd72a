"""SqlSource: integer timestamps in ``timestamp_unit``, and the time range of a table or
query from one aggregate statement (SQLite, and PostgreSQL with DRIFTMON_TEST_POSTGRES_URL)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from driftmon.errors import ColumnError
from driftmon.sources import SqlSource, Window
from driftmon.sources.timespan import TimeSpan
from driftmon.sources.timestamps import EpochUnit

from .conftest import Database

UNITS: tuple[EpochUnit, ...] = ("s", "ms", "us", "ns")
PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
START = datetime(2026, 1, 1, tzinfo=UTC)


def ids(batches: Iterable[pa.RecordBatch]) -> list[int]:
    return [v for b in batches for v in b.column("id").to_pylist()]


def epoch(dt: datetime, unit: str) -> int:
    return int(dt.timestamp()) * PER_SECOND[unit]


def table_of(db: Database, ts_type: Any, stamps: list[Any]) -> str:
    name = db.name("ts")
    table = sa.Table(name, sa.MetaData(), sa.Column("id", sa.Integer), sa.Column("ts", ts_type))
    with db.engine.begin() as conn:
        table.create(conn)
        conn.execute(table.insert(), [{"id": i, "ts": t} for i, t in enumerate(stamps)])
    return name


def half_hourly(unit: str, n: int = 6) -> list[int]:
    return [epoch(START + timedelta(minutes=30 * i), unit) for i in range(n)]


def statements_of(src: SqlSource) -> list[str]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    sa.event.listen(src._get_engine(), "before_cursor_execute", record)
    return seen


@pytest.mark.parametrize("unit", UNITS)
def test_integer_timestamps_in_the_configured_unit(db: Database, unit: EpochUnit) -> None:
    """A BIGINT epoch column in s/ms/us/ns is windowed in that unit, on every database
    (on PostgreSQL the filter compares numbers, not timestamptz)."""
    name = table_of(db, sa.BigInteger, half_hourly(unit))
    window = Window(START + timedelta(minutes=30), START + timedelta(minutes=90))
    src = SqlSource(db.url, table=name, timestamp_column="ts", timestamp_unit=unit)
    assert ids(src.batches(["id"], window)) == [1, 2]
    query = SqlSource(
        db.url, query=f"SELECT id, ts FROM {name}", timestamp_column="ts", timestamp_unit=unit
    )
    assert ids(query.batches(["id"], window)) == [1, 2]


def test_epoch_milliseconds_read_as_seconds_give_an_empty_window(db: Database) -> None:
    name = table_of(db, sa.BigInteger, half_hourly("ms"))
    src = SqlSource(db.url, table=name, timestamp_column="ts")
    assert ids(src.batches(["id"], Window(START, START + timedelta(days=1)))) == []


def test_timestamp_columns_are_still_compared_as_instants(db: Database) -> None:
    """timestamp_unit concerns numbers only: a timestamptz column is unaffected by it."""
    stamps = [START + timedelta(minutes=30 * i) for i in range(6)]
    name = table_of(db, sa.DateTime(timezone=True), stamps)
    src = SqlSource(db.url, table=name, timestamp_column="ts", timestamp_unit="ms")
    window = Window(START + timedelta(minutes=30), START + timedelta(minutes=90))
    assert ids(src.batches(["id"], window)) == [1, 2]


def test_span_of_an_integer_table_in_one_aggregate_statement(db: Database) -> None:
    name = table_of(db, sa.BigInteger, [None, *half_hourly("ms")[1:]])
    src = SqlSource(db.url, table=name, timestamp_column="ts")
    seen = statements_of(src)
    span = src.timestamp_span()
    assert span == TimeSpan(
        first_us=epoch(START + timedelta(minutes=30), "s") * 1_000_000_000,
        last_us=epoch(START + timedelta(minutes=150), "s") * 1_000_000_000,
        rows=5,
        epoch_unit="s",
    )
    assert span.describe().startswith("about the year 57,97")
    spans = [s for s in seen if "max(" in s.lower()]
    assert len(spans) == 1
    assert "min(" in spans[0].lower()
    assert "count(" in spans[0].lower()
    in_ms = SqlSource(db.url, table=name, timestamp_column="ts", timestamp_unit="ms")
    assert in_ms.timestamp_span() == TimeSpan(
        first_us=epoch(START + timedelta(minutes=30), "us"),
        last_us=epoch(START + timedelta(minutes=150), "us"),
        rows=5,
        epoch_unit="ms",
    )


def test_span_of_a_timestamptz_table_and_of_a_query(db: Database) -> None:
    stamps = [START + timedelta(hours=i) for i in range(3)]
    name = table_of(db, sa.DateTime(timezone=True), stamps)
    expected = "2026-01-01T00:00:00Z to 2026-01-01T02:00:00Z"
    for src in (
        SqlSource(db.url, table=name, timestamp_column="ts"),
        SqlSource(db.url, query=f"SELECT id, ts FROM {name}", timestamp_column="ts"),
    ):
        span = src.timestamp_span()
        assert span is not None
        assert (span.describe(), span.rows, span.epoch_unit) == (expected, 3, None)


def test_span_of_a_query_that_uses_start_and_end_covers_all_time(db: Database) -> None:
    stamps = [START + timedelta(hours=i) for i in range(3)]
    name = table_of(db, sa.DateTime(timezone=True), stamps)
    src = SqlSource(
        db.url,
        query=f"SELECT id, ts FROM {name} WHERE ts >= :start AND ts < :end",
        timestamp_column="ts",
    )
    span = src.timestamp_span()
    assert span is not None
    assert span.describe() == "2026-01-01T00:00:00Z to 2026-01-01T02:00:00Z"


def test_span_of_an_empty_table_is_none(db: Database) -> None:
    name = table_of(db, sa.BigInteger, [None])
    assert SqlSource(db.url, table=name, timestamp_column="ts").timestamp_span() is None


def test_span_names_a_missing_timestamp_column(db: Database) -> None:
    name = table_of(db, sa.BigInteger, [1])
    with pytest.raises(ColumnError, match="timestamp column 'when' not found; it has id, ts"):
        SqlSource(db.url, table=name, timestamp_column="when").timestamp_span()


def test_sqlite_digits_only_text_is_an_epoch_number_in_the_unit(tmp_path: Path) -> None:
    """SQLite's dynamic typing: digit text in a column is windowed like the integers."""
    url = f"sqlite:///{tmp_path / 'd.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER, ts TEXT)")
        for i, stamp in enumerate(half_hourly("ms")):
            conn.exec_driver_sql("INSERT INTO t VALUES (?, ?)", (i, str(stamp)))
    engine.dispose()
    src = SqlSource(url, table="t", timestamp_column="ts", timestamp_unit="ms")
    window = Window(START + timedelta(minutes=30), START + timedelta(minutes=90))
    assert ids(src.batches(["id"], window)) == [1, 2]
