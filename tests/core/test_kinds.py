"""Column kinds and the lossless mappings between them (issue 9: a type change is not drift)."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from driftmon.core.histogram import ColumnTypeError
from driftmon.core.kinds import (
    COLUMN_KINDS,
    ColumnKind,
    KindMismatch,
    column_kind,
    kind_mapping,
    kind_note,
    kind_of,
    to_reference_kind,
)
from driftmon.core.profile import (
    FeatureProfile,
    FeatureSpec,
    ReferenceProfile,
    ReferenceValuesError,
    build_feature_profile,
)


@pytest.mark.parametrize(
    ("arrow_type", "kind"),
    [
        (pa.bool_(), "bool"),
        (pa.int8(), "integer"),
        (pa.uint64(), "integer"),
        (pa.float16(), "float"),
        (pa.float64(), "float"),
        (pa.decimal128(10, 2), "decimal"),
        (pa.string(), "text"),
        (pa.large_string(), "text"),
        (pa.binary(), "text"),
        (pa.string_view(), "text"),
        (pa.binary_view(), "text"),
        (pa.dictionary(pa.int32(), pa.string()), "text"),
        (pa.dictionary(pa.int8(), pa.int64()), "integer"),
        (pa.date32(), "date"),
        (pa.timestamp("ms", "UTC"), "timestamp"),
        (pa.duration("s"), "other"),
        (pa.list_(pa.int64()), "other"),
        (pa.null(), None),
    ],
)
def test_the_kind_of_an_arrow_type(arrow_type: pa.DataType, kind: ColumnKind | None) -> None:
    assert column_kind(arrow_type) == kind


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (np.array([True]), "bool"),
        (np.array([1], dtype=np.uint8), "integer"),
        (pd.Series([1.5]), "float"),
        (np.array(["a"]), "text"),
        (np.array(["2026-03-01"], dtype="datetime64[s]"), "timestamp"),
        (pd.Series(["a"], dtype=object), None),
        (pd.Series([1, None], dtype="Int64"), None),
        ([1, 2], None),
    ],
)
def test_numpy_dtypes_have_a_kind_and_untyped_columns_none(values: Any, kind: str | None) -> None:
    assert kind_of(values) == kind


def test_kind_mismatch_is_a_column_type_error() -> None:
    """The runner and the CLI already report ColumnTypeError per feature."""
    assert issubclass(KindMismatch, ColumnTypeError)


# --- mappings ------------------------------------------------------------------------------


def test_values_of_the_reference_kind_or_an_unknown_kind_pass_unchanged() -> None:
    ints = pa.array([0, 1, 2])
    assert to_reference_kind(ints, "integer", numeric=False) is ints
    assert to_reference_kind(ints, None, numeric=False) is ints
    nulls = pa.nulls(3)
    assert to_reference_kind(nulls, "bool", numeric=False) is nulls


@pytest.mark.parametrize("numeric", [True, False])
def test_0_1_integers_and_floats_read_as_booleans_missing_values_kept(numeric: bool) -> None:
    mapped = to_reference_kind(pa.array([0, 1, None, 1]), "bool", numeric=numeric)
    assert mapped.to_pylist() == [False, True, None, True]
    floats = pa.array([0.0, 1.0, np.nan, None, -0.0])
    assert to_reference_kind(floats, "bool", numeric=numeric).to_pylist() == [
        False,
        True,
        None,
        None,
        False,
    ]


@pytest.mark.parametrize("numeric", [True, False])
@pytest.mark.parametrize("values", [[0, 1, 2, -1], [0.0, 0.5, np.inf]])
def test_values_other_than_0_1_against_a_bool_reference_raise_naming_them(
    numeric: bool, values: list[Any]
) -> None:
    with pytest.raises(KindMismatch, match=r"but the reference's are bool") as info:
        to_reference_kind(pa.array(values), "bool", numeric=numeric)
    assert str(values[2]) in str(info.value)


def test_integral_floats_read_as_integers_in_a_categorical_feature() -> None:
    mapped = to_reference_kind(pa.array([1.0, -0.0, np.nan, 1e15]), "integer", numeric=False)
    assert mapped.type == pa.int64()
    assert mapped.to_pylist() == [1, 0, None, 10**15]


@pytest.mark.parametrize("bad", [1.5, 1e20, np.inf])
def test_floats_without_an_exact_integer_raise_in_a_categorical_feature(bad: float) -> None:
    with pytest.raises(KindMismatch, match="cannot be read as integer without loss"):
        to_reference_kind(pa.array([1.0, bad]), "integer", numeric=False)


def test_integers_read_as_floats_only_when_exact() -> None:
    assert to_reference_kind(pa.array([2, 3]), "float", numeric=False).to_pylist() == [2.0, 3.0]
    with pytest.raises(KindMismatch, match="9007199254740993"):
        to_reference_kind(pa.array([2**53 + 1]), "float", numeric=False)


def test_integers_are_spelled_as_text_against_a_text_reference() -> None:
    mapped = to_reference_kind(pa.array([7, None, -12]), "text", numeric=False)
    assert mapped.to_pylist() == ["7", None, "-12"]


def test_numbers_and_booleans_pass_unchanged_into_a_numeric_feature_of_numbers() -> None:
    """Numeric binning reads every number as float64 anyway: nothing to map."""
    for values in (pa.array([1, 2]), pa.array([True]), pa.array([decimal.Decimal("1.5")])):
        assert to_reference_kind(values, "float", numeric=True) is values
        assert to_reference_kind(values, "integer", numeric=True) is values


@pytest.mark.parametrize(
    ("reference", "values", "numeric"),
    [
        ("float", pa.array(["1.5"]), True),
        ("float", pa.array([dt.date(2026, 3, 1)]), True),
        ("text", pa.array([1.5]), False),
        ("text", pa.array([True]), False),
        ("integer", pa.array(["1"]), False),
        ("date", pa.array([dt.datetime(2026, 3, 1)]), False),
        ("timestamp", pa.array([dt.date(2026, 3, 1)]), False),
        ("decimal", pa.array([1.5]), False),
        ("float", pa.array([decimal.Decimal("1.5")]), False),
    ],
)
def test_kinds_without_a_lossless_mapping_raise_naming_both(
    reference: ColumnKind, values: pa.Array, numeric: bool
) -> None:
    live = column_kind(values.type)
    assert live is not None
    with pytest.raises(KindMismatch) as info:
        to_reference_kind(values, reference, numeric=numeric)
    message = str(info.value)
    assert f" {live} (Arrow {values.type})" in message
    assert f"the reference's are {reference}" in message


def test_every_mapping_names_its_rule_in_the_note() -> None:
    for reference in COLUMN_KINDS:
        for live in COLUMN_KINDS:
            for numeric in (True, False):
                if live == reference:
                    continue
                try:
                    mapping = kind_mapping(reference, live, numeric=numeric)
                except KindMismatch:
                    continue
                note = mapping.note()
                assert note.startswith(f"column kind changed: reference {reference}, live {live}")


def test_kind_notes_name_the_reference_and_every_other_live_kind() -> None:
    assert kind_note("float", ["float"], numeric=True) is None
    assert kind_note(None, ["text"], numeric=True) is None
    assert kind_note("float", ["integer", "float"], numeric=True) == (
        "column kind changed: reference float, live integer; compared with both read as numbers"
    )
    two = kind_note("float", ["bool", "integer"], numeric=True)
    assert two is not None
    assert two.startswith("column kind changed: reference float, live bool and integer;")


# --- the profile ---------------------------------------------------------------------------


def test_a_profile_records_the_reference_column_kind_and_round_trips_it() -> None:
    fp = build_feature_profile(pa.array([True, False, None]), FeatureSpec("f", "categorical"))
    assert fp.column_kind == "bool"
    assert FeatureProfile.from_dict(fp.to_dict()) == fp


def test_mapped_live_values_count_exactly_as_the_reference_kind_would() -> None:
    flags = np.random.default_rng(2).random(500) < 0.4
    for spec in (FeatureSpec("f", "categorical"), FeatureSpec("f")):
        fp = build_feature_profile(pa.array(flags), spec)
        as_bool = fp.live_histogram(pa.array(flags[:100]))
        assert fp.live_histogram(pa.array(flags[:100].astype(np.int64))) == as_bool
        assert fp.live_histogram(pa.array(flags[:100].astype(np.float32))) == as_bool


def test_a_format_1_profile_loads_with_unknown_kinds() -> None:
    fp = build_feature_profile(pa.array([1.0, 2.0, 3.0]), FeatureSpec("x"))
    data = ReferenceProfile((fp,), rows=3).to_dict()
    data["format"] = 1
    del data["features"][0]["column_kind"]
    old = ReferenceProfile.from_dict(data)
    assert old.format == 1
    assert old.feature("x").column_kind is None
    # Without a kind nothing is checked: text reaches the numeric reader as before.
    with pytest.raises(ColumnTypeError, match="expected numbers"):
        old.feature("x").live_histogram(pa.array(["a"]))


def test_an_unknown_column_kind_in_a_stored_profile_is_rejected() -> None:
    data = build_feature_profile(pa.array([1.0]), FeatureSpec("x")).to_dict()
    with pytest.raises(ValueError, match="unknown column kind 'complex'"):
        FeatureProfile.from_dict({**data, "column_kind": "complex"})


@pytest.mark.parametrize(
    ("values", "spec", "reason"),
    [
        (
            pa.array([np.inf, np.inf]),
            FeatureSpec("x"),
            r"no finite value in its 2 rows \(2 \+inf\)",
        ),
        (pa.array([None, np.nan, -np.inf]), FeatureSpec("x", edges=(1.0,)), r"1 -inf, 2 missing"),
        (pa.array([None, None], pa.string()), FeatureSpec("c", "categorical"), "all 2 rows are"),
        (pa.nulls(3), FeatureSpec("c", "categorical"), "all 3 rows are missing"),
    ],
)
def test_a_reference_with_rows_but_no_value_to_fit_raises_with_its_reason(
    values: pa.Array, spec: FeatureSpec, reason: str
) -> None:
    with pytest.raises(ReferenceValuesError, match=reason):
        build_feature_profile(values, spec)


@pytest.mark.parametrize("spec", [FeatureSpec("x"), FeatureSpec("c", "categorical")])
def test_a_reference_without_rows_has_an_empty_profile_of_unknown_kind(spec: FeatureSpec) -> None:
    fp = build_feature_profile(pa.array([], pa.float64()), spec)
    assert fp.reference_rows == 0
    assert fp.column_kind is None


@pytest.mark.parametrize("version", [True, 1.5, "2", 3, None])
def test_only_profile_formats_1_and_2_load(version: Any) -> None:
    data = ReferenceProfile((), rows=0).to_dict()
    with pytest.raises(ValueError, match="unsupported profile format"):
        ReferenceProfile.from_dict({**data, "format": version})
