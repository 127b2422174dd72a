"""The streamed, bounded-memory reference fit gives exactly the whole-column profile."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftmon.core.histogram import ColumnTypeError
from driftmon.core.profile import FeatureProfile, FeatureSpec, build_feature_profile
from driftmon.core.reference_fit import FeatureFit
from driftmon.core.selection import RankSelector, float_keys, inverted_cdf_ranks


def whole_column(chunks: list[pa.Array]) -> pa.ChunkedArray | pa.Array:
    """The column as the runner built it before streaming (its former ``_concat_chunks``)."""
    if not chunks:
        return pa.array([], type=pa.float64())
    types = list(dict.fromkeys(a.type for a in chunks))
    if len(types) == 1:
        return pa.chunked_array(chunks)
    try:
        schemas = [pa.schema([("v", t)]) for t in types]
        common = pa.unify_schemas(schemas, promote_options="permissive").field("v").type
        return pa.chunked_array([a.cast(common) for a in chunks])
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        names = ", ".join(str(t) for t in types)
        raise ColumnTypeError(f"the files disagree on its type ({names})") from exc


def old_profile(chunks: list[pa.Array], spec: FeatureSpec) -> FeatureProfile | str:
    try:
        return build_feature_profile(whole_column(chunks), spec)
    except (TypeError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def streamed(
    chunks: list[pa.Array], spec: FeatureSpec, value_budget: int = 1 << 17
) -> tuple[FeatureProfile | str, FeatureFit, int]:
    """The fit's profile (or its error), the fit, and the passes it took."""
    fit = FeatureFit(spec, value_budget=value_budget)
    passes = 0
    try:
        while fit.needs_pass:
            passes += 1
            for c in chunks:
                fit.feed(c)
            fit.end_pass()
            assert fit.peak_held <= (1 << 16) + value_budget
        return fit.profile(), fit, passes
    except (TypeError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}", fit, passes


def same(a: FeatureProfile | str, b: FeatureProfile | str) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return a.to_dict() == b.to_dict() and a == b


def split(values: list[Any], cuts: list[int], type_: pa.DataType | None) -> list[pa.Array]:
    bounds = sorted({0, len(values), *(c % (len(values) + 1) for c in cuts)})
    return [pa.array(values[a:b], type=type_) for a, b in itertools.pairwise(bounds)]


# Few distinct values give ties; edges and their neighbours in floats give exact-edge cases.
_specials = st.sampled_from(
    [0.0, -0.0, 1.0, math.nextafter(1.0, 2.0), -1.0, 1e300, -1e300, 5e-324, math.inf, -math.inf]
)
_floats = st.one_of(
    _specials,
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-3, 3).map(float),
    st.none(),
)
_specs = st.builds(
    FeatureSpec,
    name=st.just("f"),
    kind=st.just("numeric"),
    bins=st.integers(1, 12),
    strategy=st.sampled_from(["quantile", "uniform"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(_floats, max_size=120),
    cuts=st.lists(st.integers(0, 200), max_size=6),
    spec=_specs,
    value_budget=st.integers(1, 64),
)
def test_streamed_numeric_profile_equals_the_whole_column_one(
    values: list[float | None], cuts: list[int], spec: FeatureSpec, value_budget: int
) -> None:
    """Quantile and uniform edges and counts are identical (ties, NaN, ±inf, NULL, -0.0,
    empty and multi-batch columns, budgets small enough to force several passes)."""
    chunks = split(values, cuts, pa.float64())
    got, _, _ = streamed(chunks, spec, value_budget)
    assert same(got, old_profile(chunks, spec))


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.one_of(st.integers(-(2**62), 2**62), st.integers(-5, 5), st.none())),
    cuts=st.lists(st.integers(0, 200), max_size=4),
    spec=_specs,
)
def test_streamed_integer_profile_equals_the_whole_column_one(
    values: list[int | None], cuts: list[int], spec: FeatureSpec
) -> None:
    """Integers (beyond 2**53 too) are read as floats the same way."""
    chunks = split(values, cuts, pa.int64())
    got, _, _ = streamed(chunks, spec, 8)
    assert same(got, old_profile(chunks, spec))


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.sampled_from(["a", "A", " a", "a ", "é", "e\u0301", "", "other"]),
            st.text(max_size=3),
            st.none(),
        ),
        max_size=80,
    ),
    cuts=st.lists(st.integers(0, 100), max_size=5),
    max_categories=st.integers(1, 5),
    dictionary=st.booleans(),
)
def test_streamed_categorical_profile_equals_the_whole_column_one(
    values: list[str | None], cuts: list[int], max_categories: int, dictionary: bool
) -> None:
    """Category counts (unicode, whitespace and case variants, missing) stream exactly."""
    spec = FeatureSpec("c", kind="categorical", max_categories=max_categories)
    chunks = split(values, cuts, pa.string())
    if dictionary:
        chunks = [c.dictionary_encode() for c in chunks]
    got, _, passes = streamed(chunks, spec)
    assert same(got, old_profile(chunks, spec))
    assert passes == 1


@pytest.mark.parametrize(
    ("chunks", "kind"),
    [
        ([pa.array([1, 2, 3]), pa.array([1.5, None])], "numeric"),
        ([pa.array([None, None]), pa.array([4, 5, 4])], "numeric"),
        ([pa.array([None, None]), pa.array([4, 5, 4])], "categorical"),
        ([pa.array([1, 2], pa.int32()), pa.array([2**40, 7])], "categorical"),
        ([pa.array([True, False]), pa.array([1, 0, 1])], "categorical"),
        ([pa.array(["a", "b"]), pa.array([1, 2])], "numeric"),
        ([pa.array(["a", "b"]), pa.array([1, 2])], "categorical"),
        ([pa.array(["x", "y"])], "numeric"),
        ([pa.array([None, float("nan")]), pa.array([math.inf])], "numeric"),
        ([pa.array([None, None], pa.string())], "categorical"),
        ([], "numeric"),
        ([], "categorical"),
        ([pa.array([], pa.float64())], "numeric"),
    ],
)
def test_mixed_types_and_unprofilable_columns_match_the_whole_column(
    chunks: list[pa.Array], kind: str
) -> None:
    """Batches of differing types are unified as for a whole column; the errors of a text
    column in a numeric feature, of disagreeing types and of no value read the same."""
    for strategy in ("quantile", "uniform"):
        spec = FeatureSpec("f", kind=kind, strategy=strategy, bins=3)  # type: ignore[arg-type]
        got, _, _ = streamed(chunks, spec, 2)
        assert same(got, old_profile(chunks, spec))


def test_explicit_edges_take_one_pass() -> None:
    """Configured edges need no fitting: the scan counts them."""
    spec = FeatureSpec("f", edges=(0.0, 1.0))
    chunks = [pa.array([-1.0, 0.0, 0.5, None]), pa.array([1.0, math.inf])]
    got, _, passes = streamed(chunks, spec)
    assert same(got, old_profile(chunks, spec))
    assert passes == 1


def test_quantile_fit_holds_a_bounded_number_of_values() -> None:
    """A 400k-row column, streamed in 4k-row batches, never holds more than the budgets'
    counters and values, and still gives the whole-column edges."""
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.lognormal(size=300_000), np.zeros(100_000)])
    chunks = [pa.array(x[i : i + 4096]) for i in range(0, x.size, 4096)]
    spec = FeatureSpec("f", bins=20)
    got, fit, _ = streamed(chunks, spec, value_budget=2_000)
    assert same(got, old_profile(chunks, spec))
    assert fit.peak_held <= (1 << 16) + 2_000
    assert fit.peak_held < x.size // 5


def test_a_column_that_changes_between_passes_is_an_error() -> None:
    """Each pass must see the rows of the first; otherwise the edges would be wrong."""
    fit = FeatureFit(FeatureSpec("f", bins=4))
    fit.feed(pa.array([1.0, 2.0, 3.0, 4.0]))
    fit.end_pass()
    assert fit.needs_pass
    fit.feed(pa.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="changed while it was read"):
        fit.end_pass()


@settings(max_examples=200, deadline=None)
@given(
    x=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=300),
    n_bins=st.integers(2, 40),
    value_budget=st.integers(1, 50),
)
def test_rank_selector_returns_numpys_inverted_cdf_quantiles(
    x: list[float], n_bins: int, value_budget: int
) -> None:
    """Radix selection returns exactly ``np.quantile(..., method="inverted_cdf")``."""
    arr = np.array(x, dtype=np.float64)
    probs = np.arange(1, n_bins, dtype=np.float64) / n_bins
    ranks = [int(r) for r in inverted_cdf_ranks(arr.size, probs)]
    sel = RankSelector(value_budget=value_budget)
    first = True
    while not sel.done:
        for i in range(0, arr.size, 7):
            sel.feed(float_keys(arr[i : i + 7]))
        sel.end_pass(ranks if first else None)
        first = False
    want = np.quantile(arr, probs, method="inverted_cdf")
    assert sel.values(ranks) == [float(v) for v in want]
