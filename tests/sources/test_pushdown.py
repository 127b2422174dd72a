"""SQL push-down: counts computed by SQLite, PostgreSQL and DuckDB equal the in-process
engine's on the same rows (the in-process engine is the oracle), and reference profiles
built in the database equal the in-process ones."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftmon.core.bins import CategoricalBins, NumericBins
from driftmon.core.histogram import Histogram
from driftmon.core.kinds import ColumnKind, kind_of
from driftmon.core.profile import FeatureProfile, FeatureSpec, build_feature_profile
from driftmon.sources import sql_pushdown
from driftmon.sources.base import Source, Window
from driftmon.sources.pushdown import PushedCounts, PushedFeature, quantile_positions
from driftmon.sources.sql import SqlSource

T0 = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = Window(T0, T0 + timedelta(hours=1))

EDGES = (-1.5, 0.0, 1.0, 2.5, float(2**53))
FLOATS = [
    *(e for e in EDGES),
    *(math.nextafter(e, math.inf) for e in EDGES),
    *(math.nextafter(e, -math.inf) for e in EDGES),
    -0.0,
    math.inf,
    -math.inf,
    math.nan,
    None,
]
INTS = [0, 1, -1, 2, 2**53, 2**53 + 1, 2**62, -(2**63), 2**63 - 1, None]
TEXTS = ["a", "A", "a ", " a", "é", "e\u0301", "", "ß", "SS", "日本", "1", "01", "true", None]
INT_CATEGORIES = ("1", "01", "-1", "2", str(2**53), "x", "9223372036854775807")


@dataclass
class Target:
    """A database for one dialect: where test tables are written and read."""

    dialect: str
    url: str

    def write(self, rows: list[dict[str, Any]]) -> str:
        """A fresh table ``t`` holding ``rows``; returns its name."""
        engine = sa.create_engine(self.url)
        meta = sa.MetaData()
        table = sa.Table(
            "t",
            meta,
            sa.Column("f", sa.Double()),
            sa.Column("i", sa.BigInteger()),
            sa.Column("b", sa.Boolean()),
            sa.Column("t", sa.Text()),
            sa.Column("ts", sa.DateTime(timezone=True)),
        )
        try:
            with engine.begin() as conn:
                meta.drop_all(conn)
                meta.create_all(conn)
                if rows:
                    conn.execute(table.insert(), rows)
        finally:
            engine.dispose()
        return "t"


@pytest.fixture(scope="module", params=["sqlite", "duckdb", "postgresql"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """A SQLite file, a DuckDB file, and a fresh PostgreSQL database (when configured)."""
    folder = tmp_path_factory.mktemp("pushdown")
    if request.param == "sqlite":
        yield Target("sqlite", f"sqlite:///{folder / 'src.db'}")
    elif request.param == "duckdb":
        yield Target("duckdb", f"duckdb:///{folder / 'src.duckdb'}")
    else:
        yield Target("postgresql", request.getfixturevalue("pg_database"))


def _features() -> dict[str, PushedFeature]:
    return {
        "f_num": PushedFeature("f", NumericBins(EDGES), "float"),
        "f_one": PushedFeature("f", NumericBins(()), None),
        "i_num": PushedFeature("i", NumericBins(EDGES), "integer"),
        "b_num": PushedFeature("b", NumericBins((0.5,)), None),
        "t_cat": PushedFeature("t", CategoricalBins(("a", "é", "", " a", "ß", "1")), "text"),
        "i_cat": PushedFeature("i", CategoricalBins(INT_CATEGORIES), "integer"),
        "i_text": PushedFeature("i", CategoricalBins(INT_CATEGORIES), "text"),
        "b_cat": PushedFeature("b", CategoricalBins(("true", "false", "1")), None),
    }


def _in_process(
    source: Source, features: Mapping[str, PushedFeature], window: Window | None
) -> PushedCounts:
    """The oracle: the runner's in-process counting of the same rows."""
    hists = {n: Histogram.empty(f.bins.n_bins) for n, f in features.items()}
    kinds: dict[str, set[ColumnKind]] = {n: set() for n in features}
    rows = 0
    columns = sorted({f.column for f in features.values()})
    for batch in source.batches(columns, window):
        rows += batch.num_rows
        for name, f in features.items():
            column = batch.column(f.column)
            if (kind := kind_of(column)) is not None:
                kinds[name].add(kind)
            fp = FeatureProfile(name, f.bins, Histogram.empty(f.bins.n_bins), f.reference_kind)
            hists[name] = hists[name] + fp.live_histogram(column)
    return PushedCounts(hists, rows, kinds)


def _source(target: Target, window: bool, as_query: bool) -> SqlSource:
    """The table, or a query over it (wrapped as a subquery when it does not cut the
    window itself)."""
    ts = "ts" if window else None
    if target.dialect == "sqlite" and window:
        # SQLite's text timestamps are filtered row by row; a query's own window is pushed.
        return SqlSource(target.url, query="SELECT * FROM t WHERE ts >= :start AND ts < :end")
    if as_query:
        return SqlSource(target.url, query="SELECT * FROM t", timestamp_column=ts)
    return SqlSource(target.url, table="t", timestamp_column=ts)


row_strategy = st.fixed_dictionaries(
    {
        "f": st.sampled_from(FLOATS),
        "i": st.sampled_from(INTS),
        "b": st.sampled_from([True, False, None]),
        "t": st.sampled_from(TEXTS),
        "ts": st.sampled_from(
            [T0 - timedelta(microseconds=1), T0, T0 + timedelta(minutes=59), WINDOW.end]
        ),
    }
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=st.lists(row_strategy, max_size=25), windowed=st.booleans(), as_query=st.booleans())
def test_pushed_counts_equal_in_process_counts(
    target: Target, rows: list[dict[str, Any]], windowed: bool, as_query: bool
) -> None:
    """Edges ± one ulp, NaN, ±inf, NULL, empty windows, unicode/case/whitespace categories,
    integer and boolean columns: the database's counts are the in-process engine's."""
    target.write(rows)
    window = WINDOW if windowed else None
    features = _features()
    with _source(target, windowed, as_query) as source:
        expected = _in_process(source, features, window)
        pushed = source.histograms(features, window)
    assert pushed is not None
    assert pushed.rows == expected.rows
    assert {n: h.to_list() for n, h in pushed.histograms.items()} == {
        n: h.to_list() for n, h in expected.histograms.items()
    }
    assert pushed.kinds == expected.kinds


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(row_strategy, max_size=40),
    n_bins=st.integers(1, 7),
    strategy=st.sampled_from(["quantile", "uniform"]),
    max_categories=st.integers(1, 5),
)
def test_reference_profile_in_database_equals_in_process(
    target: Target, rows: list[dict[str, Any]], n_bins: int, strategy: Any, max_categories: int
) -> None:
    """Quantile and uniform edges, kept categories (ties by text), counts, kinds and the
    errors of columns without values: the same as the in-process build."""
    target.write(rows)
    specs = [
        ("f", FeatureSpec("f", "numeric", n_bins, strategy)),
        ("i", FeatureSpec("i", "numeric", n_bins, strategy)),
        ("b", FeatureSpec("b", "numeric", n_bins, strategy)),
        ("f", FeatureSpec("f_edges", "numeric", edges=(0.0, 1.0))),
        ("t", FeatureSpec("t", "categorical", max_categories=max_categories)),
        ("i", FeatureSpec("i_cat", "categorical", max_categories=max_categories)),
        ("b", FeatureSpec("b_cat", "categorical", max_categories=max_categories)),
    ]
    with SqlSource(target.url, table="t") as source:
        built = source.reference_profile(specs)
        columns = sorted({c for c, _ in specs})
        batches = list(source.batches(columns))
    assert built is not None
    assert built.rows == sum(b.num_rows for b in batches)
    expected: dict[str, Any] = {}
    for column, spec in specs:
        chunks = [b.column(column) for b in batches]
        values = _concat(chunks)
        try:
            expected[spec.name] = build_feature_profile(values, spec).to_dict()
        except ValueError as exc:
            expected[spec.name] = str(exc)
    got: dict[str, Any] = {p.name: p.to_dict() for p in built.profiles}
    got.update(built.errors)
    assert got == expected


def _concat(chunks: list[Any]) -> Any:
    """A reference column from its batches, types unified as the in-process build does (its
    streamed fit equals build_feature_profile of this column: tests/core/test_reference_fit)."""
    if not chunks:
        return pa.array([], type=pa.float64())
    types = list(dict.fromkeys(a.type for a in chunks))
    if len(types) == 1:
        return pa.chunked_array(chunks)
    schemas = [pa.schema([("v", t)]) for t in types]
    common = pa.unify_schemas(schemas, promote_options="permissive").field("v").type
    return pa.chunked_array([a.cast(common) for a in chunks])


@given(
    n=st.integers(1, 10_000),
    n_bins=st.integers(1, 20),
)
@settings(max_examples=200, deadline=None)
def test_quantile_positions_are_numpys_inverted_cdf(n: int, n_bins: int) -> None:
    """The order statistics the database reads are the ones np.quantile(inverted_cdf) picks."""
    values = np.arange(n, dtype=np.float64)
    probs = np.arange(1, n_bins, dtype=np.float64) / n_bins
    expected = np.quantile(values, probs, method="inverted_cdf")
    assert quantile_positions(n, n_bins) == [int(v) for v in expected]


def test_pushdown_false_pulls_rows(tmp_path: Path) -> None:
    """``pushdown: false`` returns None (the runner reads batches) without querying."""
    url = f"sqlite:///{tmp_path / 'x.db'}"
    Target("sqlite", url).write([])
    with SqlSource(url, table="t", pushdown=False) as source:
        assert source.histograms({"f": PushedFeature("f", NumericBins(()), None)}) is None
        assert source.reference_profile([("f", FeatureSpec("f"))]) is None


def test_an_unsupported_dialect_pulls_rows_and_logs_why(caplog: pytest.LogCaptureFixture) -> None:
    """A dialect without proven aggregates (here MySQL) is never queried for counts."""
    source = SqlSource("mysql+pymysql://u:p@127.0.0.1:1/x", table="t")
    with caplog.at_level("INFO", logger="driftmon.sources"):
        assert source.histograms({}, None) is None
    assert "the mysql dialect is not supported for push-down" in caplog.text


def test_definition_fingerprint_does_not_read_the_table(tmp_path: Path) -> None:
    """``fingerprint: definition``: adding rows leaves it unchanged (no count per run),
    while the default ``data`` fingerprint changes."""
    url = f"sqlite:///{tmp_path / 'x.db'}"
    target = Target("sqlite", url)
    target.write([{"f": 1.0, "i": 1, "b": True, "t": "a", "ts": T0}])
    with (
        SqlSource(url, table="t", fingerprint_data=False) as cheap,
        SqlSource(url, table="t") as full,
    ):
        before = (cheap.fingerprint(), full.fingerprint())
        target.write([{"f": 1.0, "i": 1, "b": True, "t": "a", "ts": T0}] * 2)
        after = (cheap.fingerprint(), full.fingerprint())
    assert before[0] == after[0]
    assert before[1] != after[1]


def test_duckdb_reference_edges_use_quantile_disc(tmp_path: Path) -> None:
    """A 10,001-row DuckDB column: the in-database edges are np.quantile's (inverted_cdf)."""
    url = f"duckdb:///{tmp_path / 'q.duckdb'}"
    values = np.random.default_rng(3).lognormal(size=10_001).round(3)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (f DOUBLE)")
        conn.execute(sa.text("INSERT INTO t VALUES (:f)"), [{"f": float(v)} for v in values])
    engine.dispose()
    spec = FeatureSpec("f", bins=10)
    with SqlSource(url, table="t") as source:
        built = source.reference_profile([("f", spec)])
    assert built is not None
    assert built.profiles[0].to_dict() == build_feature_profile(values, spec).to_dict()


def test_decimal_and_date_columns_are_pulled_not_pushed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """DuckDB DECIMAL and DATE columns: read as the in-process engine reads them (rows)."""
    url = f"duckdb:///{tmp_path / 'd.duckdb'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (d DECIMAL(10, 2), day DATE)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1.25, DATE '2026-01-01')")
    engine.dispose()
    with SqlSource(url, table="t") as source, caplog.at_level("INFO", "driftmon.sources"):
        numeric = {"d": PushedFeature("d", NumericBins((1.0,)), None)}
        assert source.histograms(numeric) is None
        assert source.reference_profile([("day", FeatureSpec("day", "categorical"))]) is None
    assert "column 'd' is of a type not counted in the database" in caplog.text
    assert "column 'day' is of a type not counted in the database" in caplog.text


def test_a_live_kind_that_needs_a_lossless_cast_check_is_pulled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Integers against a bool reference: the in-process engine checks every value maps to
    false/true (2 does not), which SQL counts cannot, so rows are pulled."""
    url = f"sqlite:///{tmp_path / 'k.db'}"
    Target("sqlite", url).write([{"f": 1.0, "i": 2, "b": True, "t": "a", "ts": T0}])
    features = {"i": PushedFeature("i", CategoricalBins(("true", "false")), "bool")}
    with SqlSource(url, table="t") as source, caplog.at_level("INFO", "driftmon.sources"):
        assert source.histograms(features) is None
    assert "feature 'i': integer values against a bool reference" in caplog.text


@pytest.mark.postgres
def test_a_category_with_nul_is_other_on_postgresql(pg_database: str) -> None:
    """A kept category holding NUL (possible from a Parquet reference) matches no
    PostgreSQL text, as in-process; it is not bound as a literal PostgreSQL refuses."""
    target = Target("postgresql", pg_database)
    target.write([{"f": 1.0, "i": 1, "b": True, "t": "a", "ts": T0}])
    features = {"t": PushedFeature("t", CategoricalBins(("a\x00", "a")), "text")}
    with SqlSource(pg_database, table="t") as source:
        pushed = source.histograms(features)
        expected = _in_process(source, features, None)
    assert pushed is not None
    assert pushed.histograms["t"].to_list() == expected.histograms["t"].to_list() == [0, 1, 0, 0]


def test_sqlite_without_filter_clause_pulls_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite before 3.30 has no FILTER clause: rows are pulled."""
    monkeypatch.setattr("driftmon.sources.sql_pushdown.sqlite3.sqlite_version_info", (3, 29, 0))
    url = f"sqlite:///{tmp_path / 'old.db'}"
    Target("sqlite", url).write([])
    with SqlSource(url, table="t") as source:
        assert sql_pushdown.refusal(source) is not None
        assert "has no FILTER clause" in str(sql_pushdown.refusal(source))
