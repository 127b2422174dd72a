"""Spark sources on a real Spark Connect server (one per test run, ``tests/spark.py``): the
push-down counts equal the in-process engine's on the same rows, the window is cut as
in-process, reference profiles are built in Spark, and ``driftmon check`` runs on Spark."""

from __future__ import annotations

import json
import math
import secrets
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftmon.cli import main
from driftmon.core.bins import NumericBins
from driftmon.core.histogram import Histogram
from driftmon.core.profile import FeatureProfile, FeatureSpec, build_feature_profile
from driftmon.errors import ColumnError, SourceError
from driftmon.sources.pushdown import PushedFeature, quantile_positions
from driftmon.sources.pushdown_reference import SPARK_PERCENTILE_ACCURACY
from driftmon.sources.spark import SparkSource
from driftmon.sources.spark_sql import spark_literal
from tests.sources.test_pushdown import (
    FLOATS,
    INTS,
    TEXTS,
    WINDOW,
    _concat,
    _features,
    _in_process,
    row_strategy,
)
from tests.spark import SparkServer

pytestmark = pytest.mark.spark

SCHEMA = pa.schema(
    [
        ("f", pa.float64()),
        ("i", pa.int64()),
        ("b", pa.bool_()),
        ("t", pa.string()),
        ("ts", pa.timestamp("us", "UTC")),
    ]
)
_SLOW = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


def _put(
    server: SparkServer, folder: Path, rows: list[dict[str, Any]], kind: str, **options: Any
) -> SparkSource:
    """``rows`` where Spark reads them: a Parquet file (path), a global temporary view
    (table), or a query over that view; a source reading them."""
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    name = f"t_{secrets.token_hex(4)}"
    if kind == "path":
        path = folder / f"{name}.parquet"
        pq.write_table(table, path)
        return SparkSource(server.remote, path=str(path), format="parquet", **options)
    view = server.view(name, table)
    if kind == "table":
        return SparkSource(server.remote, table=view, **options)
    return SparkSource(server.remote, query=f"SELECT * FROM {view}", **options)


@settings(max_examples=6, deadline=None, suppress_health_check=_SLOW)
@given(
    rows=st.lists(row_strategy, max_size=25),
    windowed=st.booleans(),
    kind=st.sampled_from(["path", "table", "query"]),
)
def test_spark_counts_equal_in_process_counts(
    spark_server: SparkServer,
    tmp_path: Path,
    rows: list[dict[str, Any]],
    windowed: bool,
    kind: str,
) -> None:
    """Edges ± one ulp, NaN, ±inf, NULL, empty windows, unicode/case/whitespace categories,
    integer and boolean columns: Spark's counts are the in-process engine's."""
    window = WINDOW if windowed else None
    features = _features()
    with _put(spark_server, tmp_path, rows, kind, timestamp_column="ts") as source:
        expected = _in_process(source, features, window)
        pushed = source.histograms(features, window)
    assert pushed is not None
    assert (
        pushed.rows
        == expected.rows
        == len([r for r in rows if window is None or window.start <= r["ts"] < window.end])
    )
    assert {n: h.to_list() for n, h in pushed.histograms.items()} == {
        n: h.to_list() for n, h in expected.histograms.items()
    }
    assert pushed.kinds == expected.kinds


@settings(max_examples=3, deadline=None, suppress_health_check=_SLOW)
@given(
    rows=st.lists(row_strategy, max_size=40),
    n_bins=st.integers(1, 7),
    strategy=st.sampled_from(["quantile", "uniform"]),
    max_categories=st.integers(1, 5),
)
def test_spark_reference_profile_equals_in_process(
    spark_server: SparkServer,
    tmp_path: Path,
    rows: list[dict[str, Any]],
    n_bins: int,
    strategy: Any,
    max_categories: int,
) -> None:
    """Edges (percentile_approx is exact at these sizes), kept categories with ties by
    text, counts, kinds and the errors of columns without values: the in-process build's."""
    specs = [
        ("f", FeatureSpec("f", "numeric", n_bins, strategy)),
        ("i", FeatureSpec("i", "numeric", n_bins, strategy)),
        ("b", FeatureSpec("b", "numeric", n_bins, strategy)),
        ("f", FeatureSpec("f_edges", "numeric", edges=(0.0, 1.0))),
        ("t", FeatureSpec("t", "categorical", max_categories=max_categories)),
        ("i", FeatureSpec("i_cat", "categorical", max_categories=max_categories)),
        ("b", FeatureSpec("b_cat", "categorical", max_categories=max_categories)),
    ]
    with _put(spark_server, tmp_path, rows, "path") as source:
        built = source.reference_profile(specs)
        batches = list(source.batches(sorted({c for c, _ in specs})))
    assert built is not None
    assert built.rows == len(rows)
    expected: dict[str, Any] = {}
    for column, spec in specs:
        try:
            values = _concat([b.column(column) for b in batches])
            expected[spec.name] = build_feature_profile(values, spec).to_dict()
        except ValueError as exc:
            expected[spec.name] = str(exc)
    got: dict[str, Any] = {p.name: p.to_dict() for p in built.profiles}
    got.update(built.errors)
    assert got == expected


def test_spark_quantile_edges_are_within_the_documented_rank_error(
    spark_server: SparkServer, tmp_path: Path
) -> None:
    """40,001 values: percentile_approx's edges lie within n / accuracy ranks of the exact
    quantiles, and the counts on them are exact (the in-process counts on the same bins)."""
    values = np.random.default_rng(7).lognormal(size=40_001)
    path = tmp_path / "q.parquet"
    pq.write_table(pa.table({"x": values}), path)
    spec = FeatureSpec("x", bins=20)
    with SparkSource(spark_server.remote, path=str(path), format="parquet") as source:
        built = source.reference_profile([("x", spec)])
    assert built is not None
    profile = built.profiles[0]
    assert isinstance(profile.bins, NumericBins)
    ordered = np.sort(values)
    error = math.ceil(len(values) / SPARK_PERCENTILE_ACCURACY)
    targets = quantile_positions(len(values), spec.bins)
    assert len(profile.bins.edges) == len(targets)
    for edge, target in zip(profile.bins.edges, targets, strict=True):
        below = int(np.searchsorted(ordered, edge, side="left"))
        assert ordered[below] == edge  # an edge is one of the values
        assert abs(below - target) <= error
    counted = FeatureProfile("x", profile.bins, Histogram.empty(profile.bins.n_bins), "float")
    assert profile.reference.to_list() == counted.live_histogram(pa.array(values)).to_list()


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Berlin"])
def test_spark_window_on_naive_timestamps(
    spark_server: SparkServer,
    tmp_path: Path,
    timezone: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """TIMESTAMP_NTZ: in UTC the window is cut by Spark; in another zone the rows are
    pre-filtered by Spark, cut in-process (logged), with the same counts either way."""
    start = WINDOW.start.replace(tzinfo=None)
    stamps = [start + timedelta(minutes=m) for m in (-61, -60, -59, -1, 0, 1, 59, 60, 61, 119)]
    path = tmp_path / "ntz.parquet"
    pq.write_table(
        pa.table({"ts": pa.array(stamps, pa.timestamp("us")), "x": np.arange(len(stamps)) * 1.0}),
        path,
    )
    features = {"x": PushedFeature("x", NumericBins((2.0, 5.0)), "float")}
    with (
        SparkSource(
            spark_server.remote,
            path=str(path),
            format="parquet",
            timestamp_column="ts",
            naive_timezone=timezone,
        ) as source,
        caplog.at_level("INFO", "driftmon.sources"),
    ):
        pushed = source.histograms(features, WINDOW)
        expected = _in_process(source, features, WINDOW)
    if timezone == "UTC":
        assert pushed is not None
        assert pushed.rows == expected.rows == 3  # minutes 0, 1 and 59
        assert pushed.histograms["x"].to_list() == expected.histograms["x"].to_list()
        assert "rows are pulled" not in caplog.text
    else:
        assert pushed is None
        assert expected.rows == 3  # Berlin is UTC+1 in March: minutes 60, 61 and 119
        assert "timestamp_ntz, timezone Europe/Berlin) is filtered row by row" in caplog.text


def test_spark_decimal_column_is_pulled_and_counted_in_process(
    spark_server: SparkServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A DECIMAL column is not counted by Spark (its text and float readings are Arrow's):
    histograms returns None with the reason, and the rows arrive as Arrow batches."""
    path = tmp_path / "d.parquet"
    amounts = [Decimal("1.25"), Decimal("-3.50"), None]
    pq.write_table(pa.table({"d": pa.array(amounts, pa.decimal128(10, 2))}), path)
    features = {"d": PushedFeature("d", NumericBins((0.0,)), "decimal")}
    with (
        SparkSource(spark_server.remote, path=str(path), format="parquet") as source,
        caplog.at_level("INFO", "driftmon.sources"),
    ):
        assert source.histograms(features) is None
        assert source.reference_profile([("d", FeatureSpec("d"))]) is None
        expected = _in_process(source, features, None)
    assert "column 'd' is of a type not counted in the database" in caplog.text
    assert expected.histograms["d"].to_list() == [1, 1, 1]


def test_spark_missing_column_and_table_are_named(spark_server: SparkServer) -> None:
    view = spark_server.view("known", pa.table({"x": [1.0]}))
    with (
        SparkSource(spark_server.remote, table=view) as source,
        pytest.raises(ColumnError, match=r"column 'nope' not found; it has x"),
    ):
        source.histograms({"n": PushedFeature("nope", NumericBins(()), None)})
    with (
        SparkSource(spark_server.remote, table="global_temp.missing") as source,
        pytest.raises(SourceError, match="TABLE_OR_VIEW_NOT_FOUND"),
    ):
        source.columns()


LITERALS: list[Any] = [
    *(v for v in FLOATS if v is not None),
    0.1,
    5e-324,
    1.7976931348623157e308,
    -1e-300,
    *(v for v in INTS if v is not None),
    *(v for v in TEXTS if v is not None),
    "it's",
    "back\\slash",
    "${env:HOME}",
    "nul\x00byte",
    "tab\tnewline\n",
    "🙂",
    True,
    False,
    datetime(2026, 3, 29, 1, 30, 0, 1, tzinfo=UTC),
    datetime(2026, 3, 29, 2, 30),
]


def test_spark_literals_read_back_as_the_same_values(spark_server: SparkServer) -> None:
    """Every literal the Spark dialect renders (floats to the last bit, ±inf, NaN, int64
    extremes, text that needs escaping, instants and wall times) is the value Spark reads."""
    select = ", ".join(f"{spark_literal(v)} AS c{k}" for k, v in enumerate(LITERALS))
    row = spark_server.admin.sql(f"SELECT {select}").toArrow().to_pylist()[0]
    for k, value in enumerate(LITERALS):
        got = row[f"c{k}"]
        if isinstance(value, float):
            assert isinstance(got, float)
            assert math.isnan(got) if math.isnan(value) else got.hex() == value.hex(), value
        elif isinstance(value, datetime):
            assert got.replace(tzinfo=None) == value.astimezone(UTC).replace(tzinfo=None)
            assert (got.tzinfo is None) == (value.tzinfo is None)
        else:
            assert got == value, value
            assert type(got) is type(value), value


def test_driftmon_check_on_a_spark_source(
    spark_server: SparkServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``driftmon check --json`` on Spark sources: a reference from Parquet files, a live
    window of a catalog table; the same results with push-down off (rows pulled)."""
    rng = np.random.default_rng(11)
    end = datetime(2026, 3, 1, 12, tzinfo=UTC)
    n = 2_000
    reference = pa.table(
        {
            "amount": rng.normal(100, 15, n),
            "country": rng.choice(["de", "fr", "nl", "it"], n),
        }
    )
    pq.write_table(reference, tmp_path / "reference.parquet")
    stamps = [end - timedelta(minutes=int(m)) for m in rng.integers(1, 120, n)]
    live = pa.table(
        {
            "amount": rng.normal(110, 15, n),
            "country": rng.choice(["de", "fr", "es"], n),
            "ts": pa.array(stamps, pa.timestamp("us", "UTC")),
        }
    )
    view = spark_server.view("live_events", live)
    results = []
    for pushdown in (True, False):
        config = {
            "database": {"url": f"sqlite:///{tmp_path / f'results-{pushdown}.db'}"},
            "monitors": [
                {
                    "name": "events",
                    "schedule": {"every": "1h"},
                    "reference": {
                        "spark": {
                            "remote": spark_server.remote,
                            "path": str(tmp_path / "reference.parquet"),
                            "format": "parquet",
                        },
                        "pushdown": pushdown,
                    },
                    "live": {
                        "spark": {"remote": spark_server.remote, "table": view},
                        "timestamp_column": "ts",
                        "window": "1h",
                        "pushdown": pushdown,
                    },
                    "features": [
                        {"name": "amount", "bins": 10},
                        {"name": "country", "type": "categorical"},
                    ],
                }
            ],
        }
        path = tmp_path / f"driftmon-{pushdown}.yaml"
        path.write_text(yaml.safe_dump(config))
        code = main(["check", "-c", str(path), "--json", "--window-end", end.isoformat()])
        out = capsys.readouterr().out
        runs = json.loads(out)
        assert code in (0, 1), out
        results.append(runs)
    pushed, pulled = results
    expected_live = sum(1 for s in stamps if end - timedelta(hours=1) <= s < end)
    assert pushed[0]["live_rows"] == expected_live
    assert pushed[0]["reference_rows"] == n
    assert [f["status"] for f in pushed[0]["features"]] != ["error", "error"]
    for run in (pushed[0], pulled[0]):
        for key in ("started_at", "finished_at", "duration_seconds"):
            run.pop(key, None)
    assert pushed == pulled


def test_a_spark_job_past_the_timeout_is_interrupted(spark_server: SparkServer) -> None:
    """A count over 10^12 generated rows is interrupted after ``timeout_seconds`` and the
    read fails saying so, instead of holding the run (and the cluster) for hours."""
    query = "SELECT id AS x FROM range(1000000000000)"
    with SparkSource(spark_server.remote, query=query, timeout_seconds=2) as source:
        source.columns()
        started = time.monotonic()
        with pytest.raises(SourceError, match=r"timed out after 2 s"):
            source.histograms({"x": PushedFeature("x", NumericBins((0.0,)), "integer")})
    assert time.monotonic() - started < 30
