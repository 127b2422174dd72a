"""SqlSource on SQLite and (with DRIFTMON_TEST_POSTGRES_URL) PostgreSQL.

Covers reading, streaming, windows through bound parameters, DST, injection attempts as
identifiers, timeouts, unreachable servers and password masking.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from driftmon.errors import ColumnError, ConfigError, SourceError
from driftmon.sources import FileSource, Source, SqlSource, Window
from tests.ci import postgres_server_url

from .conftest import Database

BERLIN = ZoneInfo("Europe/Berlin")
INJECTION = 'x"; DROP TABLE {victim}; --'


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def ids(batches: Iterable[pa.RecordBatch], column: str = "id") -> list[int]:
    return [v for b in batches for v in b.column(column).to_pylist()]


def _read_all(src: SqlSource, columns: list[str]) -> list[pa.RecordBatch]:
    return list(src.batches(columns))


def hourly_windows(start: datetime, end: datetime) -> list[Window]:
    out = []
    while start < end:
        out.append(Window(start, start + timedelta(hours=1)))
        start += timedelta(hours=1)
    return out


def make_table(
    db: Database,
    name: str,
    columns: Sequence[sa.Column[Any]],
    rows: Sequence[dict[str, Any]],
) -> sa.Table:
    table = sa.Table(name, sa.MetaData(), *columns)
    with db.engine.begin() as conn:
        table.create(conn)
        if rows:
            conn.execute(table.insert(), list(rows))
    return table


def people(db: Database, n: int = 10) -> str:
    """n rows: id, age (float), country (text), n_kids (int), ts hourly from 2026-01-01."""
    name = db.name("people")
    make_table(
        db,
        name,
        [
            sa.Column("id", sa.Integer),
            sa.Column("age", sa.Float),
            sa.Column("country", sa.String(20)),
            sa.Column("n_kids", sa.Integer),
            sa.Column("ts", sa.DateTime(timezone=True)),
        ],
        [
            {
                "id": i,
                "age": 20.0 + i if i != 3 else None,
                "country": ["DE", "FR", "PL"][i % 3],
                "n_kids": i % 4,
                "ts": utc(2026, 1, 1) + timedelta(hours=i),
            }
            for i in range(n)
        ],
    )
    return name


# -- reading ------------------------------------------------------------------------------


def test_table_columns_and_types(db: Database) -> None:
    """A table reads as Arrow: int64, float64, string; NULL is null."""
    name = people(db)
    src = SqlSource(db.url, table=name)
    assert isinstance(src, Source)
    assert src.columns() == ["id", "age", "country", "n_kids", "ts"]
    batches = list(src.batches(["country", "age", "id"]))
    table = pa.Table.from_batches(batches)
    assert table.schema.names == ["country", "age", "id"]
    assert table.schema.field("id").type == pa.int64()
    assert table.schema.field("age").type == pa.float64()
    assert table.schema.field("country").type == pa.string()
    assert table.column("age").to_pylist()[3] is None
    assert table.column("id").to_pylist() == list(range(10))


@pytest.fixture
def pg_url() -> str:
    return postgres_server_url()


@pytest.mark.postgres
def test_postgres_types_map_to_arrow(pg_url: str) -> None:
    """numeric → float64, timestamptz and timestamp → timestamp[us, UTC], NULL → null."""
    src = SqlSource(
        pg_url,
        query="SELECT 1.5::numeric AS n, 2::bigint AS i, 'a'::text AS s, true AS b, "
        "timestamptz '2026-01-01 01:00+01' AS tz, timestamp '2026-01-01 00:00' AS naive, "
        "NULL::float8 AS nothing",
    )
    (batch,) = list(src.batches(["n", "i", "s", "b", "tz", "naive", "nothing"]))
    types = dict(zip(batch.schema.names, batch.schema.types, strict=True))
    assert types["n"] == pa.float64()
    assert types["i"] == pa.int64()
    assert types["s"] == pa.string()
    assert types["b"] == pa.bool_()
    assert types["tz"] == types["naive"] == pa.timestamp("us", "UTC")
    assert batch.column("tz")[0].as_py() == batch.column("naive")[0].as_py() == utc(2026, 1, 1)
    assert batch.column("nothing").null_count == 1
    src.close()


def test_streams_in_batches_of_at_most_batch_rows(db: Database) -> None:
    name = people(db, n=1000)
    batches = list(SqlSource(db.url, table=name, batch_rows=128).batches(["id"]))
    assert len(batches) == 8
    assert max(b.num_rows for b in batches) <= 128
    assert ids(batches) == list(range(1000))


def test_query_source_reads_selected_columns(db: Database) -> None:
    name = people(db)
    table = sa.table(name, sa.column("id"), sa.column("country"))
    text = str(sa.select(table.c.id, table.c.country).compile(db.engine))
    src = SqlSource(db.url, query=text + " ;")  # a trailing semicolon is tolerated
    assert src.columns() == ["id", "country"]
    assert ids(src.batches(["id"])) == list(range(10))


def test_describe_and_repr_mask_the_password() -> None:
    src = SqlSource("postgresql+psycopg://me:hunter2@db.example:5432/prod", table="events")
    for text in (src.describe(), repr(src), src.masked_url):
        assert "hunter2" not in text
        assert "db.example" in text
    assert "events" in src.describe()


def test_fingerprint_of_a_table_changes_with_its_rows(db: Database) -> None:
    """Table fingerprint: masked URL, name, row count and max(ts); an insert changes it."""
    name = people(db)
    src = SqlSource(db.url, table=name, timestamp_column="ts")
    first = src.fingerprint()
    assert first == src.fingerprint()
    table = sa.Table(name, sa.MetaData(), autoload_with=db.engine)
    with db.engine.begin() as conn:
        conn.execute(table.insert(), [{"id": 99, "ts": utc(2027, 1, 1)}])
    assert src.fingerprint() != first


def test_fingerprint_of_a_query_ignores_the_password() -> None:
    """A query's fingerprint hashes URL (masked) and text only; it runs nothing."""
    a = SqlSource("postgresql+psycopg://u:one@127.0.0.1:1/x", query="SELECT 1 AS a")
    b = SqlSource("postgresql+psycopg://u:two@127.0.0.1:1/x", query="SELECT 1 AS a")
    c = SqlSource("postgresql+psycopg://u:two@127.0.0.1:1/x", query="SELECT 2 AS a")
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_close_disposes_and_the_source_still_works(db: Database) -> None:
    name = people(db)
    src = SqlSource(db.url, table=name)
    assert src.columns()
    src.close()
    src.close()
    assert ids(src.batches(["id"])) == list(range(10))
    src.close()


# -- windows ------------------------------------------------------------------------------


def test_table_window_on_timestamp_column(db: Database) -> None:
    name = people(db, n=48)
    src = SqlSource(db.url, table=name, timestamp_column="ts")
    w = Window(utc(2026, 1, 1, 5), utc(2026, 1, 1, 9))
    assert ids(src.batches(["id"], w)) == [5, 6, 7, 8]
    berlin = Window(datetime(2026, 1, 1, 6, tzinfo=BERLIN), datetime(2026, 1, 1, 8, tzinfo=BERLIN))
    assert ids(src.batches(["id"], berlin)) == [5, 6]


def test_window_bounds_are_bound_parameters(db: Database) -> None:
    """The window reaches SQL as parameters; the statement text holds no date (PostgreSQL's
    bulk path binds them client-side, see tests/sources/test_pg_bulk.py)."""
    name = people(db, n=24)
    statements: list[tuple[str, Any]] = []
    src = SqlSource(db.url, table=name, timestamp_column="ts", bulk=False)

    def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        statements.append((statement, params))

    sa.event.listen(src._get_engine(), "before_cursor_execute", record)
    assert ids(src.batches(["id"], Window(utc(2026, 1, 1, 3), utc(2026, 1, 1, 5)))) == [3, 4]
    select = [(s, p) for s, p in statements if "SELECT" in s and name in s and "count" not in s]
    statement, params = select[-1]
    assert "2026" not in statement
    assert "2026" in str(params) or "1767" in str(params)  # datetimes, or epoch seconds


def test_query_with_start_and_end_parameters(db: Database) -> None:
    """A query using :start/:end gets the window bounds bound; nothing else is filtered."""
    name = people(db, n=24)
    table = sa.table(name, sa.column("id"), sa.column("ts"))
    body = str(sa.select(table.c.id, table.c.ts).select_from(table).compile(db.engine))
    src = SqlSource(db.url, query=f"{body} WHERE ts >= :start AND ts < :end")
    assert src.uses_window_params
    assert src.columns() == ["id", "ts"]
    assert ids(src.batches(["id"], Window(utc(2026, 1, 1, 3), utc(2026, 1, 1, 5)))) == [3, 4]
    with pytest.raises(SourceError, match="give a window"):
        list(src.batches(["id"]))


def test_query_without_parameters_is_filtered_on_timestamp_column(db: Database) -> None:
    name = people(db, n=24)
    body = str(sa.select(sa.text("*")).select_from(sa.table(name)).compile(db.engine))
    src = SqlSource(db.url, query=body, timestamp_column="ts")
    assert ids(src.batches(["id"], Window(utc(2026, 1, 1, 3), utc(2026, 1, 1, 5)))) == [3, 4]
    with pytest.raises(SourceError, match="timestamp_column"):
        list(
            SqlSource(db.url, query=body).batches(["id"], Window(utc(2026, 1, 1), utc(2026, 1, 2)))
        )


def test_rows_with_null_timestamps_are_in_no_window(db: Database) -> None:
    name = db.name()
    make_table(
        db,
        name,
        [sa.Column("id", sa.Integer), sa.Column("ts", sa.DateTime(timezone=True))],
        [{"id": 1, "ts": utc(2026, 1, 1, 1)}, {"id": 2, "ts": None}],
    )
    src = SqlSource(db.url, table=name, timestamp_column="ts")
    assert ids(src.batches(["id"], Window(utc(2000, 1, 1), utc(2100, 1, 1)))) == [1]


def test_sqlite_text_timestamps_in_several_iso_forms(tmp_path: Path) -> None:
    """SQLite stores text: ISO with T or space, with or without offset, and epoch numbers."""
    url = f"sqlite:///{tmp_path / 'd.db'}"
    engine = sa.create_engine(url)
    values: list[Any] = [
        "2026-06-01 10:00:00",  # naive → Berlin → 08:00Z
        "2026-06-01T10:30:00+02:00",  # 08:30Z
        "2026-06-01 08:45:00.500000Z",  # 08:45:00.5Z
        int(utc(2026, 6, 1, 8, 50).timestamp()),  # epoch seconds
        "2026-06-01T11:00:00",  # naive → 09:00Z: out
        "2026-06-01 07:59:59+00:00",  # out
        None,
    ]
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER, ts)")
        conn.exec_driver_sql("INSERT INTO t VALUES (?, ?)", [(i, v) for i, v in enumerate(values)])
    engine.dispose()
    src = SqlSource(url, table="t", timestamp_column="ts", naive_timezone="Europe/Berlin")
    assert ids(src.batches(["id"], Window(utc(2026, 6, 1, 8), utc(2026, 6, 1, 9)))) == [0, 1, 2, 3]


def test_dst_windows_match_the_file_source(db: Database, tmp_path: Path) -> None:
    """Naive Berlin wall times across both 2026 DST changes: each row in exactly one hourly
    window, and in the same window as when read from Parquet (one rule for every source)."""
    stamps: list[datetime] = []
    for day in (datetime(2026, 3, 28, 20), datetime(2026, 10, 24, 20)):
        stamps += [day + timedelta(minutes=10 * i) for i in range(6 * 14)]
    name = db.name("dst")
    make_table(
        db,
        name,
        [sa.Column("id", sa.Integer), sa.Column("ts", sa.DateTime(timezone=False))],
        [{"id": i, "ts": ts} for i, ts in enumerate(stamps)],
    )
    pq.write_table(pa.table({"id": range(len(stamps)), "ts": stamps}), tmp_path / "d.parquet")
    sql = SqlSource(db.url, table=name, timestamp_column="ts", naive_timezone="Europe/Berlin")
    files = FileSource(
        tmp_path / "d.parquet", timestamp_column="ts", naive_timezone="Europe/Berlin"
    )
    windows = hourly_windows(utc(2026, 3, 28, 17), utc(2026, 3, 29, 12)) + hourly_windows(
        utc(2026, 10, 24, 16), utc(2026, 10, 25, 12)
    )
    seen: dict[int, Window] = {}
    for w in windows:
        got = ids(sql.batches(["id"], w))
        assert sorted(got) == ids(files.batches(["id"], w)), w
        for i in got:
            assert i not in seen, f"row {i} in {seen[i]} and {w}"
            seen[i] = w
    assert sorted(seen) == list(range(len(stamps)))


# -- bad input ----------------------------------------------------------------------------


def test_missing_column_names_table_and_column(db: Database) -> None:
    name = people(db)
    with pytest.raises(ColumnError, match=rf"{name}.*'salary'"):
        list(SqlSource(db.url, table=name).batches(["id", "salary"]))


def test_missing_timestamp_column(db: Database) -> None:
    name = people(db)
    src = SqlSource(db.url, table=name, timestamp_column="when")
    with pytest.raises(ColumnError, match="'when'"):
        list(src.batches(["id"], Window(utc(2026, 1, 1), utc(2026, 1, 2))))


def test_missing_table(db: Database) -> None:
    src = SqlSource(db.url, table="dm_src_no_such_table")
    with pytest.raises(SourceError, match=r"dm_src_no_such_table.*not found"):
        src.columns()
    with pytest.raises(SourceError, match="dm_src_no_such_table"):
        list(src.batches(["id"]))


def test_bad_query_is_a_source_error_naming_the_query(db: Database) -> None:
    src = SqlSource(db.url, query="SELECT id FROM dm_src_nowhere_at_all")
    with pytest.raises(SourceError, match="dm_src_nowhere_at_all"):
        src.columns()


def test_text_in_a_mixed_sqlite_column_stays_visible(tmp_path: Path) -> None:
    """SQLite's dynamic typing: numbers mixed with text come as text, not silently dropped."""
    url = f"sqlite:///{tmp_path / 'd.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1), (2.5), ('abc'), (NULL)")
        conn.exec_driver_sql("CREATE TABLE u (x)")
        conn.exec_driver_sql("INSERT INTO u VALUES (1), (2.5), (NULL)")
    engine.dispose()
    (batch,) = list(SqlSource(url, table="t").batches(["x"]))
    assert batch.column("x").to_pylist() == ["1", "2.5", "abc", None]
    (batch,) = list(SqlSource(url, table="u").batches(["x"]))
    assert batch.column("x").type == pa.float64()


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"query": "SELECT 1", "table": "t"},
        {"query": "SELECT 1", "schema": "s"},
        {"query": "SELECT :foo"},
        {"query": " ; "},
        {"table": "t", "naive_timezone": "Nowhere/Special"},
        {"table": "t", "batch_rows": 0},
        {"table": "t", "timeout_seconds": 0},
    ],
)
def test_invalid_arguments_are_config_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        SqlSource("sqlite:///x.db", **kwargs)


def test_sqlite_file_that_does_not_exist_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    with pytest.raises(SourceError, match="not found"):
        SqlSource(f"sqlite:///{path}", table="t").columns()
    assert not path.exists()


def test_source_connections_are_read_only(db: Database) -> None:
    """The source's own connections refuse writes (defence in depth behind quoting)."""
    name = people(db)
    table = sa.table(name, sa.column("id"))
    src = SqlSource(db.url, table=name)
    with src._get_engine().connect() as conn, pytest.raises(sa.exc.DBAPIError):
        conn.execute(sa.delete(table))
    src.close()
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 10


# -- hostile identifiers ------------------------------------------------------------------


def test_injection_in_table_and_column_names_is_quoted(db: Database) -> None:
    """A table and a column named like an injection are read as plain names."""
    victim = people(db)
    weird = db.track(INJECTION.format(victim=victim))
    weird_col = f"c'); DROP TABLE {victim}; --"
    make_table(
        db,
        weird,
        [sa.Column(weird_col, sa.Integer), sa.Column("ts", sa.DateTime(timezone=True))],
        [{weird_col: i, "ts": utc(2026, 1, 1, i)} for i in range(4)],
    )
    src = SqlSource(db.url, table=weird, timestamp_column="ts")
    assert src.columns() == [weird_col, "ts"]
    assert ids(src.batches([weird_col]), weird_col) == [0, 1, 2, 3]
    w = Window(utc(2026, 1, 1, 1), utc(2026, 1, 1, 3))
    assert ids(src.batches([weird_col], w), weird_col) == [1, 2]
    src.fingerprint()
    assert db.has_table(victim)


@pytest.mark.parametrize("where", ["table", "column", "schema", "timestamp_column"])
def test_injection_in_names_that_do_not_exist_fails_cleanly(db: Database, where: str) -> None:
    victim = people(db)
    evil = INJECTION.format(victim=victim)
    kwargs: dict[str, Any] = {"table": victim}
    columns = ["id"]
    window = None
    if where == "table":
        kwargs["table"] = evil
    elif where == "schema":
        kwargs["schema"] = evil
    elif where == "column":
        columns = [evil]
    else:
        kwargs["timestamp_column"] = evil
        window = Window(utc(2026, 1, 1), utc(2026, 1, 2))
    src = SqlSource(db.url, **kwargs)
    with pytest.raises(SourceError):
        list(src.batches(columns, window))
    if where != "column":
        with pytest.raises(SourceError):
            src.fingerprint()
    assert db.has_table(victim)


def test_injection_as_data_values_is_just_data(db: Database) -> None:
    """Hostile category strings round-trip unchanged."""
    name = db.name()
    values = ["'; DROP TABLE x; --", 'a"b', "line\nbreak", "<script>alert(1)</script>", "é ✓"]
    make_table(db, name, [sa.Column("c", sa.Text)], [{"c": v} for v in values])
    (batch,) = list(SqlSource(db.url, table=name).batches(["c"]))
    assert batch.column("c").to_pylist() == values


# -- timeouts and unreachable servers -------------------------------------------------------


def test_sqlite_slow_query_times_out(tmp_path: Path) -> None:
    """An endless recursive CTE is interrupted after timeout_seconds."""
    path = tmp_path / "d.db"
    sa.create_engine(f"sqlite:///{path}").connect().close()
    src = SqlSource(
        f"sqlite:///{path}",
        query="WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) "
        "SELECT count(*) AS n FROM c",
        timeout_seconds=0.5,
    )
    t0 = time.monotonic()
    with pytest.raises(SourceError, match=r"timed out after 0\.5 s"):
        list(src.batches(["n"]))
    assert time.monotonic() - t0 < 3


@pytest.mark.postgres
def test_postgres_slow_query_times_out(pg_url: str) -> None:
    src = SqlSource(pg_url, query="SELECT pg_sleep(5) AS z", timeout_seconds=0.5)
    t0 = time.monotonic()
    with pytest.raises(SourceError, match=r"timed out after 0\.5 s"):
        list(src.batches(["z"]))
    assert time.monotonic() - t0 < 3
    src.close()


def test_postgres_server_that_never_answers_times_out_connecting() -> None:
    """A listener that accepts TCP but never speaks: connecting gives up after libpq's 2 s."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        src = SqlSource(
            f"postgresql+psycopg://u:s3cret@127.0.0.1:{port}/x", table="t", timeout_seconds=0.5
        )
        t0 = time.monotonic()
        with pytest.raises(SourceError, match=r"connecting timed out after 2 s") as info:
            src.columns()
        assert time.monotonic() - t0 < 6
        assert "s3cret" not in str(info.value)
        src.close()


def test_timeout_does_not_cut_a_long_streamed_read(db: Database) -> None:
    """The timeout bounds each round trip; a consumer slower than it is not an error."""
    name = people(db, n=30)
    src = SqlSource(db.url, table=name, batch_rows=10, timeout_seconds=0.5)
    got: list[int] = []
    for batch in src.batches(["id"]):
        got += batch.column("id").to_pylist()
        time.sleep(0.6)
    assert got == list(range(30))


def test_unreachable_postgres_is_a_source_error_without_the_password() -> None:
    url = "postgresql+psycopg://u:s3cret@127.0.0.1:1/x"
    cases: list[dict[str, Any]] = [{"table": "t"}, {"query": "SELECT 1 AS a"}]
    for kwargs in cases:
        src = SqlSource(url, timeout_seconds=2, **kwargs)
        calls: list[Callable[[], object]] = [src.columns, partial(_read_all, src, ["a"])]
        if "table" in kwargs:
            calls.append(src.fingerprint)
        for call in calls:
            with pytest.raises(SourceError) as info:
                call()
            text = str(info.value)
            assert "s3cret" not in text
            assert "127.0.0.1" in text
            assert "u:***@" in text
            chain: BaseException | None = info.value
            while chain is not None:
                assert "s3cret" not in str(chain)
                assert "s3cret" not in repr(chain)
                chain = chain.__cause__ or chain.__context__
        src.close()


def test_missing_driver_is_a_source_error() -> None:
    with pytest.raises(SourceError, match=r"u:\*\*\*@"):
        SqlSource("mysql+nosuchdriver://u:pw@h/db", table="t").columns()
