"""PostgreSQL's bulk path (binary COPY through ADBC) against the fetched-rows path.

Both read the same table on a real PostgreSQL (DRIFTMON_TEST_POSTGRES_URL): the same
values, the same Arrow types per column, the same histograms, the same windows.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from driftmon.core.profile import FeatureSpec, build_feature_profile
from driftmon.errors import SourceError
from driftmon.sources import SqlSource, Window, pg_bulk
from tests.ci import postgres_server_url

from .conftest import Database, opened_database

pytestmark = pytest.mark.postgres

START = datetime(2026, 3, 1, tzinfo=UTC)
COLUMNS = ["id", "ts", "naive", "x", "k", "big", "d", "c", "b", "day", "empty"]
SPECIAL = [math.nan, math.inf, -math.inf, None, 0.0, -0.0, 1.5, 1e308]


@pytest.fixture
def pg() -> Iterator[Database]:
    """The shared PostgreSQL server; the tables a test creates are dropped after it."""
    with opened_database(postgres_server_url()) as database:
        yield database


def mixed_table(db: Database, n: int = 200) -> str:
    """Every column type the row path maps, with NaN, ±Infinity, NULL, unicode text."""
    name = db.name("bulk")
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {name} (id int, ts timestamptz, naive timestamp, x float8, "
            "k int4, big int8, d numeric, c text, b bool, day date, empty float8)"
        )
        rows = []
        for i in range(n):
            x = SPECIAL[i % len(SPECIAL)] if i % 3 else i / 7
            rows.append(
                {
                    "id": i,
                    "ts": None if i % 17 == 5 else START + timedelta(minutes=i),
                    "naive": datetime(2026, 3, 1) + timedelta(seconds=i),
                    "x": x,
                    "k": None if i % 11 == 0 else i % 5,
                    "big": 2**62 + i if i % 2 else -i,
                    "d": ["NaN", "Infinity", "-Infinity", None, "123.456", "-0.001"][i % 6],
                    "c": None if i % 13 == 0 else ["a", "é", " a", "A", "日本"][i % 5],
                    "b": None if i % 7 == 0 else i % 2 == 0,
                    "day": (START + timedelta(days=i)).date(),
                    "empty": None,
                }
            )
        conn.execute(
            sa.text(
                f"INSERT INTO {name} VALUES (:id, :ts, :naive, :x, :k, :big, "
                "CAST(:d AS numeric), :c, :b, :day, :empty)"
            ),
            rows,
        )
    return name


def read(src: SqlSource, window: Window | None = None) -> list[pa.RecordBatch]:
    return list(src.batches(COLUMNS, window))


def values(batches: list[pa.RecordBatch], column: str) -> list[Any]:
    out = []
    for b in batches:
        for v in b.column(column).to_pylist():
            out.append("nan" if isinstance(v, float) and math.isnan(v) else v)
    return out


def valued_types(batches: list[pa.RecordBatch], column: str) -> set[pa.DataType]:
    return {b.schema.field(column).type for b in batches} - {pa.null()}


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The queries the bulk path ran (so a test knows it ran)."""
    ran: list[str] = []
    real = pg_bulk.copy_batches

    def spy(conninfo: str, query: str, **kwargs: Any) -> Iterator[pa.RecordBatch]:
        ran.append(query)
        return real(conninfo, query, **kwargs)

    monkeypatch.setattr(pg_bulk, "copy_batches", spy)
    return ran


@pytest.mark.parametrize("batch_rows", [7, 65_536])
def test_bulk_and_fetched_rows_give_the_same_values_types_and_histograms(
    pg: Database, copies: list[str], batch_rows: int
) -> None:
    """Every column: identical values (NaN, ±Infinity, NULL, -0.0, int8 beyond 2**53,
    numeric NaN/±Infinity, unicode), the same Arrow type, batches of at most batch_rows,
    and identical histograms on bins fitted from the fetched rows."""
    name = mixed_table(pg)
    fetched = read(SqlSource(pg.url, table=name, batch_rows=batch_rows, bulk=False))
    bulk = read(SqlSource(pg.url, table=name, batch_rows=batch_rows))
    assert len(copies) == 1
    assert max(b.num_rows for b in bulk) <= batch_rows
    for column in COLUMNS:
        assert values(bulk, column) == values(fetched, column), column
        assert valued_types(bulk, column) == valued_types(fetched, column), column
    assert valued_types(bulk, "ts") == {pa.timestamp("us", "UTC")}
    assert valued_types(bulk, "naive") == {pa.timestamp("us", "UTC")}
    assert valued_types(bulk, "d") == {pa.float64()}
    assert valued_types(bulk, "k") == {pa.int64()}
    specs = [
        ("x", FeatureSpec("x", bins=4)),
        ("k", FeatureSpec("k", bins=3)),
        ("d", FeatureSpec("d", bins=3, strategy="uniform")),
        ("big", FeatureSpec("big", bins=5)),
        ("c", FeatureSpec("c", kind="categorical", max_categories=3)),
        ("b", FeatureSpec("b", kind="categorical")),
    ]
    for column, spec in specs:
        ref = build_feature_profile(
            pa.chunked_array([b.column(column) for b in fetched if b.num_rows]).cast(
                next(iter(valued_types(fetched, column)))
            ),
            spec,
        )
        total = ref.reference
        counted = sum(
            (ref.live_histogram(b.column(column)) for b in bulk),
            start=type(total).empty(total.counts.size),
        )
        assert counted == total, column


def test_bulk_windows_equal_fetched_windows(pg: Database, copies: list[str]) -> None:
    """A timestamp_column window and a query using :start/:end select the same rows."""
    name = mixed_table(pg)
    window = Window(START + timedelta(minutes=20), START + timedelta(minutes=90))
    query = f"SELECT * FROM {name} WHERE ts >= :start AND ts < :end"
    sources: list[dict[str, Any]] = [{"table": name, "timestamp_column": "ts"}, {"query": query}]
    for kwargs in sources:
        fetched = read(SqlSource(pg.url, bulk=False, **kwargs), window)
        bulk = read(SqlSource(pg.url, **kwargs), window)
        assert values(bulk, "id") == values(fetched, "id")
        assert values(bulk, "id") == [i for i in range(20, 90) if i % 17 != 5]
    assert len(copies) == 2
    assert all("::timestamptz" in q for q in copies), "bound by psycopg, as timestamptz"


def test_an_unsupported_column_falls_back_to_rows_with_one_log_line(
    pg: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """An interval column is not read by COPY: the rows are fetched (exactly as without the
    bulk path), and that is logged once per source."""
    name = pg.name("interval")
    with pg.engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {name} (id int, span interval)")
        conn.exec_driver_sql(f"INSERT INTO {name} VALUES (1, interval '90 seconds'), (2, NULL)")
    src = SqlSource(pg.url, table=name)
    with caplog.at_level(logging.INFO, logger="driftmon.sources"):
        first = list(src.batches(["id", "span"]))
        list(src.batches(["id", "span"]))
    fallbacks = [r for r in caplog.records if r.getMessage() == "sql.bulk_fallback"]
    assert len(fallbacks) == 1
    assert "'span'" in str(fallbacks[0].__dict__["reason"])
    fetched = list(SqlSource(pg.url, table=name, bulk=False).batches(["id", "span"]))
    assert [b.to_pydict() for b in first] == [b.to_pydict() for b in fetched]
    assert [b.schema for b in first] == [b.schema for b in fetched]


def test_a_bulk_read_past_the_timeout_is_a_source_error(pg: Database) -> None:
    """statement_timeout also bounds the COPY; its error names the source and the limit."""
    src = SqlSource(
        pg.url, query="SELECT g AS v FROM generate_series(1, 3) g, pg_sleep(3)", timeout_seconds=1
    )
    with pytest.raises(SourceError, match=r"reading .*timed out after 1 s"):
        list(src.batches(["v"]))
