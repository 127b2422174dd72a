"""A run's feature rows in one statement: exactly the rows a row-by-row insert stored."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Text, cast, create_engine, insert, select

from driftmon.core.drift import DriftScores
from driftmon.core.status import Status, Thresholds
from driftmon.errors import PermanentStorageError
from driftmon.results import FeatureResult, RunResult
from driftmon.storage import Store
from driftmon.storage.bulk import recordset_json
from driftmon.storage.models import feature_results_table
from driftmon.storage.records import feature_values

MakeRun = Callable[..., RunResult]
MakeFeature = Callable[..., FeatureResult]


def awkward_features(make_feature: MakeFeature) -> tuple[FeatureResult, ...]:
    """NaN, ±infinity, -0.0, the smallest subnormal, NULLs, NUL, quotes, backslashes, JSON
    metacharacters and non-ASCII text in every kind of column."""
    odd = DriftScores(
        kl_divergence=math.nan,
        entropy=-0.0,
        cross_entropy=math.inf,
        js_divergence=5e-324,
        psi=-math.inf,
        g_statistic=1.7976931348623157e308,
        degrees_of_freedom=2**31 - 1,
        p_value=0.1 + 0.2,
        expected_kl=1e-300,
        live_rows=2**62,
        reference_rows=0,
    )
    return (
        make_feature("age"),
        make_feature('unscored \x00 "q" \\ ünï', kl=None, status=Status.INSUFFICIENT_DATA),
        make_feature(
            "odd",
            scores=odd,
            status=Status.CRITICAL,
            thresholds=Thresholds(warning=-0.0, critical=math.inf, policy="null-calibrated"),
            live_counts=(0, 2**53 + 1),
            bin_labels=("[-inf, 0)", 'it\'s "x" \\ {a: [1]}', "\x00ünï\u2028", ""),
            message='a\nb\t"c" \x00',
            p_value_adjusted=math.nan,
        ),
        make_feature("adjusted", p_value_adjusted=1.0, missing_rows=0, message=""),
        make_feature("inf-adjusted", p_value_adjusted=math.inf),
    )


def stored_rows(store: Store, run_id: int) -> list[str]:
    """The run's feature rows as stored, but ids: ``repr`` tells NaN, -0.0 and None apart,
    and JSON columns are compared as their stored text."""
    columns = [
        cast(c, Text) if c.name in ("live_counts", "bin_labels") else c
        for c in feature_results_table.c
        if c.name not in ("id", "run_id")
    ]
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(*columns)
            .where(feature_results_table.c.run_id == run_id)
            .order_by(feature_results_table.c.position)
        ).all()
    if store.engine.dialect.driver == "psycopg2":
        # psycopg2's executemany writes -0.0 as 0.0; the one statement keeps the sign.
        return [
            repr(tuple(0.0 if v == 0.0 and isinstance(v, float) else v for v in r)) for r in rows
        ]
    return [repr(tuple(r)) for r in rows]


def test_one_statement_stores_exactly_the_rows_of_a_row_by_row_insert(
    store: Store, make_run: MakeRun, make_feature: MakeFeature
) -> None:
    """On PostgreSQL the rows go through one JSON document; every value, NULL, NaN, infinity,
    NUL replacement and JSON text must come out as the driver's executemany stored it."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores a run's rows one way only (multi-row INSERTs)")
    features = awkward_features(make_feature)
    one_statement = store.save_run(make_run(features=features))
    row_by_row = store.save_run(make_run(window_end=make_run().window_end + timedelta(hours=1)))
    with store.engine.begin() as conn:
        conn.execute(
            feature_results_table.delete().where(feature_results_table.c.run_id == row_by_row)
        )
        conn.execute(
            insert(feature_results_table),
            [feature_values(row_by_row, i, f) for i, f in enumerate(features)],
        )
    expected = stored_rows(store, row_by_row)
    assert len(expected) == len(features)
    assert stored_rows(store, one_statement) == expected


def test_a_name_too_long_for_its_column_fails_the_run_instead_of_being_cut(
    store: Store, make_run: MakeRun, make_feature: MakeFeature
) -> None:
    """Strings travel unbounded, so varchar(255) refuses the 300-character name (an explicit
    cast to varchar(255) would have cut it silently)."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    with pytest.raises(PermanentStorageError, match="StringDataRightTruncation"):
        store.save_run(make_run(features=(make_feature("f" * 300),)))
    assert store.runs("orders") == []


def test_recordset_json_holds_what_a_row_by_row_insert_binds(make_feature: MakeFeature) -> None:
    """No database: non-finite floats as PostgreSQL's float8 spellings, NUL replaced, JSON
    columns as their text, NULL as null."""
    rows = [feature_values(7, i, f) for i, f in enumerate(awkward_features(make_feature))]
    records = json.loads(recordset_json(rows, create_engine("postgresql+psycopg://u@h/db").dialect))
    odd = records[2]
    assert (odd["kl_divergence"], odd["cross_entropy"], odd["psi"]) == (
        "NaN",
        "Infinity",
        "-Infinity",
    )
    assert odd["threshold_critical"] == "Infinity"
    assert odd["p_value_adjusted"] == "NaN"
    assert odd["js_divergence"] == 5e-324
    assert math.copysign(1.0, odd["entropy"]) == -1.0
    assert odd["live_counts"] == "[0, 9007199254740993]"
    assert json.loads(odd["bin_labels"]) == [
        "[-inf, 0)",
        'it\'s "x" \\ {a: [1]}',
        "\x00ünï\u2028",
        "",
    ]
    assert odd["message"] == 'a\nb\t"c" \ufffd'
    unscored = records[1]
    assert unscored["feature"] == 'unscored \ufffd "q" \\ ünï'
    assert unscored["kl_divergence"] is None
    assert unscored["degrees_of_freedom"] is None
    assert "run_id" not in odd  # one parameter for the whole run
    assert [r["position"] for r in records] == [0, 1, 2, 3, 4]
