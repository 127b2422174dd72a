"""Reference profiles: fitting per feature, streaming, and the JSON round trip."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from driftmon.core.bins import BinningError, CategoricalBins, NumericBins
from driftmon.core.drift import score
from driftmon.core.histogram import ColumnTypeError, Histogram
from driftmon.core.profile import (
    PROFILE_FORMAT,
    FeatureProfile,
    FeatureSpec,
    ReferenceProfile,
    accumulate,
    build_feature_profile,
    fit_bins,
)


def _json_round_trip(data: dict[str, Any]) -> dict[str, Any]:
    restored: dict[str, Any] = json.loads(json.dumps(data, allow_nan=False))
    return restored


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    amount = rng.exponential(50.0, 500)
    amount[rng.random(500) < 0.6] = 0.0  # zero-inflated
    amount[:7] = np.nan
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, 500),
            "amount": amount,
            "clicks": rng.poisson(1.5, 500),
            "country": rng.choice(
                ["fr", "de", "it", "es", "pt"], 500, p=[0.5, 0.2, 0.2, 0.09, 0.01]
            ),
            "flag": rng.random(500) < 0.3,
        }
    )


SPECS = (
    FeatureSpec("age"),
    FeatureSpec("amount", bins=5),
    FeatureSpec("clicks", strategy="uniform", bins=4),
    FeatureSpec("country", kind="categorical", max_categories=3),
    FeatureSpec("flag", kind="categorical"),
)


def _profile(df: pd.DataFrame) -> ReferenceProfile:
    return ReferenceProfile(
        features=tuple(build_feature_profile(df[s.name], s) for s in SPECS),
        rows=len(df),
        metadata={"monitor": "payments", "source": "ref.parquet", "window": [1, 2]},
    )


# --- round trip -------------------------------------------------------------------------


def test_profile_round_trips_through_json() -> None:
    profile = _profile(_frame())
    restored = ReferenceProfile.from_dict(_json_round_trip(profile.to_dict()))
    assert restored == profile
    assert restored.to_dict() == profile.to_dict()


def test_restored_profile_counts_live_data_exactly_like_the_original() -> None:
    df = _frame()
    profile = _profile(df)
    restored = ReferenceProfile.from_dict(_json_round_trip(profile.to_dict()))
    live = df.sample(frac=1.0, random_state=1).iloc[:200]
    for f in profile.features:
        assert restored.feature(f.name).live_histogram(live[f.name]) == f.live_histogram(
            live[f.name]
        )


@settings(max_examples=100, deadline=None)
@given(
    values=st.one_of(
        st.lists(st.one_of(st.floats(), st.none()), max_size=30),
        st.lists(st.one_of(st.text(max_size=4), st.none()), max_size=30),
    ),
    n_bins=st.integers(1, 12),
    strategy=st.sampled_from(["quantile", "uniform"]),
)
def test_any_feature_profile_round_trips_through_json(
    values: list[Any], n_bins: int, strategy: str
) -> None:
    numeric = all(v is None or isinstance(v, float) for v in values)
    fittable = [v for v in values if v is not None and not (numeric and not math.isfinite(v))]
    assume(fittable or not values)  # else ReferenceValuesError, tested below
    spec = FeatureSpec(
        "f",
        kind="numeric" if numeric else "categorical",
        bins=n_bins,
        strategy=strategy,  # type: ignore[arg-type]
    )
    profile = build_feature_profile(values, spec)
    restored = FeatureProfile.from_dict(_json_round_trip(profile.to_dict()))
    assert restored == profile
    assert restored.kind == profile.kind


def test_profile_of_another_format_is_rejected() -> None:
    data = _profile(_frame()).to_dict()
    assert data["format"] == PROFILE_FORMAT
    with pytest.raises(ValueError, match="format"):
        ReferenceProfile.from_dict({**data, "format": PROFILE_FORMAT + 1})
    with pytest.raises(ValueError, match="format"):
        ReferenceProfile.from_dict({k: v for k, v in data.items() if k != "format"})


# --- fitting ----------------------------------------------------------------------------


def test_profile_counts_every_reference_row_once() -> None:
    df = _frame()
    for f in _profile(df).features:
        assert f.reference_rows == len(df)


def test_numeric_reference_histogram_has_no_empty_value_bin() -> None:
    df = _frame()
    for f in _profile(df).features:
        if f.kind == "numeric":
            assert np.all(f.reference.counts[:-1] > 0), (f.name, f.reference.to_list())


def test_zero_inflated_feature_gives_zeros_their_own_bin() -> None:
    amount = _profile(_frame()).feature("amount")
    zeros = int((_frame()["amount"] == 0).sum())
    assert amount.reference.counts[0] == zeros
    assert amount.reference.counts[amount.bins.missing_index] == 7


def test_categorical_feature_keeps_top_categories_and_counts_the_rest_as_other() -> None:
    country = _profile(_frame()).feature("country")
    assert isinstance(country.bins, CategoricalBins)
    assert country.bins.categories[0] == "fr"
    assert len(country.bins.categories) == 3
    assert country.reference.counts[country.bins.other_index] > 0


def test_boolean_feature_bins_are_true_and_false() -> None:
    flag = _profile(_frame()).feature("flag")
    assert flag.bins == CategoricalBins(("false", "true"))


def test_explicit_edges_override_fitted_bins() -> None:
    bins = fit_bins(np.arange(100.0), FeatureSpec("x", edges=(10.0, 20.0), bins=50))
    assert bins == NumericBins((10.0, 20.0))


def test_bad_explicit_edges_in_a_spec_raise_binning_error() -> None:
    with pytest.raises(BinningError):
        build_feature_profile([1.0, 2.0], FeatureSpec("x", edges=(2.0, 1.0)))


def test_text_reference_for_a_numeric_feature_raises_column_type_error() -> None:
    with pytest.raises(ColumnTypeError):
        build_feature_profile(pd.Series(["a", "b"]), FeatureSpec("x"))


def test_ints_configured_categorical_become_text_categories() -> None:
    profile = build_feature_profile(pa.array([3, 1, 3, None]), FeatureSpec("n", "categorical"))
    assert profile.bins == CategoricalBins(("3", "1"))
    assert profile.reference.to_list() == [2, 1, 0, 1]


def test_reference_counts_must_match_the_bin_layout() -> None:
    with pytest.raises(ValueError, match="3 reference counts for 4 bins"):
        FeatureProfile("x", NumericBins((1.0, 2.0)), Histogram.empty(3))


def test_unknown_feature_name_raises_key_error() -> None:
    with pytest.raises(KeyError):
        _profile(_frame()).feature("nope")


def test_empty_reference_profile_has_no_rows() -> None:
    profile = build_feature_profile([], FeatureSpec("x"))
    assert profile.reference_rows == 0
    assert profile.bins == NumericBins(())


# --- streaming --------------------------------------------------------------------------


@pytest.mark.parametrize("name", [s.name for s in SPECS])
def test_accumulated_batches_equal_the_histogram_of_the_whole_column(name: str) -> None:
    df = _frame()
    f = _profile(df).feature(name)
    batches = [df[name].iloc[i : i + 77] for i in range(0, len(df), 77)]
    assert accumulate(f.bins, batches) == f.live_histogram(df[name])
    assert accumulate(f.bins, batches) == f.reference


def test_accumulating_arrow_record_batches_equals_the_whole_table() -> None:
    df = _frame()
    table = pa.Table.from_pandas(df, preserve_index=False)
    for f in _profile(df).features:
        batches = (b.column(f.name) for b in table.to_batches(max_chunksize=64))
        assert accumulate(f.bins, batches) == f.reference, f.name


def test_accumulating_no_batches_gives_an_empty_histogram() -> None:
    bins = NumericBins((1.0,))
    assert accumulate(bins, []) == Histogram.empty(3)


@settings(max_examples=60, deadline=None)
@given(
    cells=st.lists(
        st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "e"]), st.text(max_size=3)),
        max_size=60,
    ),
    keep=st.integers(min_value=1, max_value=4),
)
def test_categorical_profile_counts_equal_counting_the_column_on_its_bins(
    cells: list[str | None], keep: int
) -> None:
    """The single tally that fixes the categories gives the same counts as a second pass."""
    from driftmon.core.histogram import categorical_histogram

    assume(not cells or any(c is not None for c in cells))  # else no profile (issue 9)
    column = pd.Series(cells, dtype=object)
    fp = build_feature_profile(column, FeatureSpec("c", kind="categorical", max_categories=keep))
    assert isinstance(fp.bins, CategoricalBins)
    assert fp.reference == categorical_histogram(column, fp.bins)


# -- timestamp and decimal categories, whatever their unit or scale ---------------------------

_INSTANTS = [
    dt.datetime(2026, 3, 1, 12, 0, 0),
    dt.datetime(2026, 3, 1, 12, 0, 0),
    dt.datetime(2026, 3, 1, 13, 30, 0),
    dt.datetime(2026, 3, 2, 0, 0, 0),
    None,
]


@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Paris"])
@pytest.mark.parametrize("live_unit", ["ms", "us", "ns"])
def test_a_timestamp_category_is_the_same_in_any_unit(live_unit: str, tz: str | None) -> None:
    """A reference stored in seconds and a live window in ms/us/ns (a Parquet round trip,
    pandas' nanoseconds) of the same instants: the same categories, no drift."""
    reference = pa.array(_INSTANTS, pa.timestamp("s", tz))
    live = reference.cast(pa.timestamp(live_unit, tz))
    feature = build_feature_profile(reference, FeatureSpec("at", kind="categorical"))
    assert isinstance(feature.bins, CategoricalBins)
    assert len(feature.bins.categories) == 3
    hist = feature.live_histogram(live)
    assert hist.counts.tolist() == feature.reference.counts.tolist()
    scores = score(hist, feature.reference)
    assert scores is not None
    assert scores.kl_divergence == pytest.approx(0.0, abs=1e-12)


def test_a_sub_second_timestamp_stays_its_own_category() -> None:
    values = pa.array(
        [dt.datetime(2026, 3, 1, 12), dt.datetime(2026, 3, 1, 12, 0, 0, 500000)],
        pa.timestamp("ms", "UTC"),
    )
    feature = build_feature_profile(values, FeatureSpec("at", kind="categorical"))
    assert isinstance(feature.bins, CategoricalBins)
    assert sorted(feature.bins.categories) == ["2026-03-01 12:00:00.5Z", "2026-03-01 12:00:00Z"]


def test_a_decimal_category_is_the_same_at_any_scale() -> None:
    amounts = [Decimal("1.5"), Decimal("2"), Decimal("2"), Decimal("-0.25"), None]
    reference = pa.array(amounts, pa.decimal128(10, 2))
    feature = build_feature_profile(reference, FeatureSpec("amount", kind="categorical"))
    assert isinstance(feature.bins, CategoricalBins)
    assert set(feature.bins.categories) == {"1.5", "2", "-0.25"}
    live = pa.array(amounts, pa.decimal128(18, 6))
    assert feature.live_histogram(live).counts.tolist() == feature.reference.counts.tolist()


def test_a_stored_profile_with_unit_spelled_timestamps_reads_as_now() -> None:
    """A profile stored before canonical spellings (``…12:00:00.000`` for a reference in
    ms) loads with today's spellings, so live values still land in their categories;
    categories that now read the same are merged, their counts added."""
    stored = {
        "name": "at",
        "bins": {
            "kind": "categorical",
            "categories": [
                "2026-03-01 12:00:00.000",
                "2026-03-01 12:00:00",
                "2026-03-01 13:30:00.500",
            ],
        },
        "counts": [5, 2, 3, 1, 4],
        "column_kind": "timestamp",
    }
    feature = FeatureProfile.from_dict(stored)
    assert isinstance(feature.bins, CategoricalBins)
    assert feature.bins.categories == ("2026-03-01 12:00:00", "2026-03-01 13:30:00.5")
    assert feature.reference.counts.tolist() == [7, 3, 1, 4]
    live = pa.array(
        [dt.datetime(2026, 3, 1, 12), dt.datetime(2026, 3, 1, 13, 30, 0, 500000)],
        pa.timestamp("us"),
    )
    assert feature.live_histogram(live).counts.tolist() == [1, 1, 0, 0]
    text = {**stored, "column_kind": "text"}  # text is never re-spelled
    assert FeatureProfile.from_dict(text).bins == CategoricalBins(
        tuple(stored["bins"]["categories"])  # type: ignore[index]
    )
