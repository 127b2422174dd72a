"""count_into_edges equals bincount(searchsorted(edges, x, "right")) with NaN moved apart.

Both kernels (per-edge thresholds and the cell grid) are checked on their own as well as
through the public function, on the values where float binning goes wrong: values on an
edge and one ulp either side, ±0, subnormals, ±inf, NaN, the largest floats, and edges
that are one ulp apart, uniform, single or absent.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from driftmon.core import fastbin
from driftmon.core.fastbin import _count_thresholds, _Grid, _Uniform, count_into_edges

Floats = npt.NDArray[np.float64]
Kernel = Callable[[Floats, Floats], npt.NDArray[np.int64]]

MAX = float(np.finfo(np.float64).max)
TINY = float(np.finfo(np.float64).smallest_subnormal)
NORMAL_MIN = float(np.finfo(np.float64).smallest_normal)
SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, TINY, -TINY, NORMAL_MIN, -NORMAL_MIN, MAX, -MAX]


def reference(x: npt.ArrayLike, edges: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The definition: searchsorted(side="right") + bincount, NaN moved to a last bin."""
    v = np.asarray(x, dtype=np.float64).ravel()
    e = np.asarray(edges, dtype=np.float64)
    m = e.size
    counts = np.bincount(np.searchsorted(e, v, side="right"), minlength=m + 1).astype(np.int64)
    n_nan = int(np.isnan(v).sum())
    counts[m] -= n_nan
    return np.append(counts, n_nan)


def grid_kernel(x: Floats, e: Floats) -> npt.NDArray[np.int64]:
    grid = _Grid.build(e)
    assert grid is not None
    return grid.count(x)


def uniform_kernel(x: Floats, e: Floats) -> npt.NDArray[np.int64]:
    uniform = _Uniform.build(e)
    assert uniform is not None
    return uniform.count(x)


KERNELS: dict[str, Kernel] = {
    "public": count_into_edges,
    "thresholds": _count_thresholds,
    "grid": grid_kernel,
    "uniform": uniform_kernel,
}


def takes(kernel: Kernel, edges: Floats) -> bool:
    """Whether a kernel accepts a layout (the public function and thresholds take any)."""
    if kernel is grid_kernel:
        return _Grid.build(edges) is not None
    if kernel is uniform_kernel:
        return _Uniform.build(edges) is not None
    return True


def around(edges: Floats) -> Floats:
    """Each edge and its neighbouring floats on both sides."""
    e = np.asarray(edges, dtype=np.float64)
    with np.errstate(over="ignore"):  # the neighbours of ±MAX are ±inf
        down = np.nextafter(e, -np.inf)
        up = np.nextafter(e, np.inf)
        return np.concatenate([e, down, up, np.nextafter(down, -np.inf), np.nextafter(up, np.inf)])


@pytest.fixture(autouse=True, params=["hand over", "never hand over"])
def small_chunks(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Chunks of 7 values, so every test also crosses chunk boundaries and a short tail;
    with and without the uniform kernel handing edge-heavy data over to the grid."""
    monkeypatch.setattr(fastbin, "_CHUNK", 7)
    if request.param == "never hand over":
        monkeypatch.setattr(fastbin, "_HANDOVER_FRACTION", 2.0)


# --- strategies ---------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def edge_sets(draw: st.DrawFn) -> Floats:
    """Strictly increasing finite edges of several shapes, at least two (the grid's minimum)."""
    shape = draw(st.sampled_from(["random", "ulp_apart", "uniform", "clustered", "wide"]))
    if shape == "random":
        e = draw(st.lists(finite, min_size=2, max_size=40, unique=True))
        arr = np.unique(np.asarray(e, dtype=np.float64) + 0.0)  # + 0.0 folds -0.0 into 0.0
    elif shape == "ulp_apart":
        start = draw(st.floats(-1e300, 1e300))
        n = draw(st.integers(2, 30))
        arr = np.empty(n)
        arr[0] = start
        for i in range(1, n):
            arr[i] = np.nextafter(arr[i - 1], np.inf)
    elif shape == "uniform":
        lo = draw(st.floats(-1e6, 1e6))
        width = draw(st.floats(1e-9, 1e6))
        n = draw(st.integers(2, 200))
        arr = np.unique(np.linspace(lo, lo + width, n + 1)[1:-1])
    elif shape == "clustered":
        centre = draw(st.floats(-1e3, 1e3))
        spread = draw(st.sampled_from([1e-12, 1e-6, 1.0]))
        offsets = draw(st.lists(st.floats(-1, 1), min_size=2, max_size=40))
        arr = np.unique(centre + spread * np.asarray(offsets))
        arr = np.append(arr, centre + 1e6)  # one far edge: most edges share a few cells
    else:
        arr = np.unique(np.asarray(draw(st.sampled_from([[-MAX, MAX], [-MAX, 0.0, 1.0, MAX]]))))
    if arr.size < 2:
        arr = np.array([arr[0], np.nextafter(arr[0], np.inf)])
    return arr


@st.composite
def values_for(draw: st.DrawFn, edges: Floats) -> Floats:
    """Values drawn mostly from the edges' neighbourhoods, special floats and anything at all."""
    pool = np.concatenate([around(edges), np.asarray(SPECIALS)])
    picks = draw(st.lists(st.integers(0, pool.size - 1), max_size=120))
    anything = draw(st.lists(st.floats(), max_size=40))
    x = np.concatenate([pool[picks], np.asarray(anything, dtype=np.float64)])
    return x[draw(st.permutations(range(x.size)))] if x.size else x


@st.composite
def cases(draw: st.DrawFn) -> tuple[Floats, Floats]:
    edges = draw(edge_sets())
    return draw(values_for(edges)), edges


# --- property tests -------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", KERNELS.values(), ids=KERNELS.keys())
@settings(max_examples=400, deadline=None)
@given(case=cases())
def test_kernel_matches_searchsorted_on_generated_edges(
    kernel: Kernel, case: tuple[Floats, Floats]
) -> None:
    """Every kernel equals the searchsorted definition on edge-hugging and special values."""
    x, edges = case
    assume(takes(kernel, edges))
    np.testing.assert_array_equal(kernel(x, edges), reference(x, edges))


@settings(max_examples=300, deadline=None)
@given(
    x=st.lists(st.floats(), max_size=60),
    edges=st.lists(finite, max_size=30, unique=True),
)
def test_public_function_matches_searchsorted_on_any_sorted_edges(
    x: list[float], edges: list[float]
) -> None:
    """Any sorted edge list, zero and one edge included, and any float64 values."""
    e = np.sort(np.unique(np.asarray(edges, dtype=np.float64) + 0.0))
    v = np.asarray(x, dtype=np.float64)
    np.testing.assert_array_equal(count_into_edges(v, e), reference(v, e))


# --- targeted cases ----------------------------------------------------------------------

TARGETED_EDGES = {
    "zero edges": [],
    "one edge": [0.0],
    "one huge edge": [MAX],
    "two edges": [-1.0, 1.0],
    "ulp apart": [1.0, float(np.nextafter(1.0, 2.0))],
    "subnormal": [-TINY, 0.0, TINY, 2 * TINY],
    "huge span": [-MAX, 0.0, MAX],
    "huge magnitudes": [1e300, 2e300, 3e300],
    "far from zero": [1e16, 1e16 + 2, 1e16 + 4, 1e16 + 8],
    "linspace": list(np.linspace(-3.0, 7.0, 101)[1:-1]),
    "linspace tenths": list(np.linspace(0.0, 1.0, 41)[1:-1]),
    "linspace even integers": list(np.linspace(0.0, 200.0, 101)[1:-1]),
    "linspace through zero": list(np.linspace(-1.0, 1.0, 42)[1:-1]),
    "linspace far from zero": list(np.linspace(1e6, 1e6 + 7.0, 31)[1:-1]),
    "linspace tiny span": list(np.linspace(1.0, 1.0 + 1e-10, 31)[1:-1]),
    "linspace fifths": list(np.linspace(0.0, 20.0, 101)[1:-1]),
    "integers": [float(i) for i in range(1, 60)],
    "quantiles": list(
        np.quantile(np.random.default_rng(0).lognormal(size=999), np.arange(1, 50) / 50)
    ),
}


@pytest.mark.parametrize("kernel", KERNELS.values(), ids=KERNELS.keys())
@pytest.mark.parametrize("edges", TARGETED_EDGES.values(), ids=TARGETED_EDGES.keys())
def test_kernel_matches_searchsorted_on_targeted_edges(kernel: Kernel, edges: list[float]) -> None:
    """Hand-picked layouts, each probed on its edges, one and two ulps off, and specials."""
    e = np.asarray(edges, dtype=np.float64)
    if not takes(kernel, e):
        pytest.skip("the kernel does not take this layout; the public function falls back")
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [around(e), SPECIALS, rng.normal(size=200) * 10, rng.choice(e, 50) if e.size else []]
    )
    rng.shuffle(x)
    np.testing.assert_array_equal(kernel(x, e), reference(x, e))


def test_evenly_spaced_edges_take_the_uniform_kernel() -> None:
    """np.linspace layouts (the "uniform" strategy) are recognised; quantile ones are not."""
    rng = np.random.default_rng(4)
    for lo, hi, n in ((0.0, 1.0, 20), (-3.0, 7.0, 100), (1e6, 1e6 + 7.0, 30), (0.0, 200.0, 300)):
        assert _Uniform.build(np.linspace(lo, hi, n + 1)[1:-1]) is not None
    x = rng.lognormal(size=10_000)
    assert _Uniform.build(np.quantile(x, np.arange(1, 40) / 40)) is None
    assert _Uniform.build(np.array([1.0])) is None


def test_integer_data_on_uniform_edges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Integer values that sit exactly on edges, where T's rounding matters most."""
    monkeypatch.setattr(fastbin, "_CHUNK", 4096)
    rng = np.random.default_rng(5)
    x = rng.poisson(10, size=50_000).astype(np.float64)
    for n_bins in (16, 20, 30, 40, 100):
        for hi in (20.0, 23.0, 40.0):
            e = np.linspace(0.0, hi, n_bins + 1)[1:-1]
            if _Uniform.build(e) is not None:
                np.testing.assert_array_equal(uniform_kernel(x, e), reference(x, e))
            np.testing.assert_array_equal(count_into_edges(x, e), reference(x, e))


def test_grid_refuses_layouts_it_cannot_hold() -> None:
    """A span that overflows, or a single edge, leaves the grid to the threshold kernel."""
    assert _Grid.build(np.array([-MAX, MAX])) is None
    assert _Grid.build(np.array([1.0])) is None


def test_crowded_cells_fall_back_to_searchsorted_for_their_values() -> None:
    """Edges one ulp apart share a cell; their values are still placed exactly."""
    e = np.array(
        [
            0.0,
            1.0,
            float(np.nextafter(1.0, 2.0)),
            float(np.nextafter(np.nextafter(1.0, 2.0), 2.0)),
            1e6,
        ]
    )
    grid = _Grid.build(e)
    assert grid is not None
    assert np.any(grid.below == grid.marker)
    x = np.concatenate([around(e), [1.0] * 5, [0.5, 2.0, np.nan]])
    np.testing.assert_array_equal(grid.count(x), reference(x, e))


def test_nan_goes_to_missing_and_infinities_to_the_outer_bins() -> None:
    """NaN is its own bin; -inf is below every edge, +inf at or above the last."""
    for e in ([1.0, 2.0], list(np.linspace(0, 1, 40))):
        x = np.array([np.nan, -np.inf, np.inf, np.nan])
        counts = count_into_edges(x, e)
        assert counts[0] == 1
        assert counts[-2] == 1
        assert counts[-1] == 2
        assert counts.sum() == 4


def test_negative_zero_equals_zero_on_an_edge() -> None:
    """-0.0 sits on an edge at 0.0, as IEEE comparison (and searchsorted) says."""
    for e in ([0.0], [-1.0, 0.0, 1.0], list(np.linspace(-1, 1, 41))):
        np.testing.assert_array_equal(
            count_into_edges(np.array([-0.0, 0.0]), e), reference([-0.0, 0.0], e)
        )


def test_empty_input_gives_zero_counts() -> None:
    for e in ([], [1.0], list(range(40))):
        counts = count_into_edges(np.array([], dtype=np.float64), e)
        assert counts.shape == (len(e) + 2,)
        assert counts.sum() == 0


def test_input_of_other_dtypes_and_layouts_is_read_as_float64(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Integers, float32, Python lists and strided views give the float64 answer."""
    monkeypatch.setattr(fastbin, "_CHUNK", 1 << 16)
    rng = np.random.default_rng(2)
    base = rng.normal(size=(300, 4))
    e = np.quantile(base, np.arange(1, 30) / 30)
    for x in (base[:, 1], base.T, base.astype(np.float32), (base * 10).astype(np.int64)):
        np.testing.assert_array_equal(count_into_edges(x, e), reference(x, e))
    np.testing.assert_array_equal(count_into_edges([1.0, 2.0, 3.0], [2.0]), [1, 2, 0])


def test_edges_outside_the_contract_behave_like_searchsorted() -> None:
    """Unsorted, NaN, repeated or infinite edges are not a valid layout (NumericBins refuses
    them); the result is still searchsorted's."""
    x = np.array([0.0, 1.0, 2.0, 3.0, np.nan, np.inf, -np.inf, 0.5])
    infinite = [-np.inf, *np.linspace(0.0, 1.0, 30), np.inf]
    for e in ([3.0, 1.0, 2.0], [1.0, np.nan], [1.0, 1.0, 2.0], [-np.inf, 0.0, np.inf], infinite):
        np.testing.assert_array_equal(count_into_edges(x, e), reference(x, e))


def test_large_random_columns_across_real_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Realistic columns with NaN, in full-size chunks, for a spread of bin counts."""
    monkeypatch.setattr(fastbin, "_CHUNK", 1 << 16)
    rng = np.random.default_rng(3)
    columns = {
        "normal": rng.normal(size=200_003),
        "lognormal": rng.lognormal(size=200_003),
        "counts": rng.poisson(3.0, size=200_003).astype(np.float64),
    }
    for x in columns.values():
        x[::97] = np.nan
        finite_x = x[np.isfinite(x)]
        for n_bins in (2, 10, 28, 29, 37, 38, 50, 300):  # either side of each hand-over
            for e in (
                np.unique(np.quantile(finite_x, np.arange(1, n_bins) / n_bins)),
                np.linspace(finite_x.min(), finite_x.max(), n_bins + 1)[1:-1],
            ):
                np.testing.assert_array_equal(count_into_edges(x, e), reference(x, e))


@pytest.mark.parametrize(
    ("chunk", "tally_max", "folded_width"),
    [(16, 255, 512), (16, 100, 2), (50, 3, 4), (1 << 16, 255, 512), (1 << 16, 2, 1)],
)
def test_thresholds_byte_tally_is_flushed_before_it_overflows(
    monkeypatch: pytest.MonkeyPatch, chunk: int, tally_max: int, folded_width: int
) -> None:
    """Values reaching every edge add 1 to every tally byte per chunk: hundreds of chunks
    must be summed before a byte wraps, with rows folded to any width, odd ones included."""
    monkeypatch.setattr(fastbin, "_CHUNK", chunk)
    monkeypatch.setattr(fastbin, "_TALLY_MAX", tally_max)
    monkeypatch.setattr(fastbin, "_FOLDED_WIDTH", folded_width)
    e = np.array([-1.0, 0.0, 1.0])
    rng = np.random.default_rng(6)
    top = np.full(chunk * 600 + 5, np.inf)  # every value >= every edge and -inf
    mixed = np.concatenate([top, around(e), SPECIALS, rng.normal(size=3 * chunk + 1)])
    rng.shuffle(mixed)
    for x in (top, mixed, np.ascontiguousarray(mixed[::-1])):
        np.testing.assert_array_equal(_count_thresholds(x, e), reference(x, e))


@settings(max_examples=300, deadline=None)
@given(
    case=cases(),
    chunk=st.integers(1, 40),
    tally_max=st.integers(1, 255),
    folded_width=st.integers(1, 16),
)
def test_thresholds_kernel_matches_searchsorted_for_any_chunking(
    case: tuple[Floats, Floats], chunk: int, tally_max: int, folded_width: int
) -> None:
    """Chunk length, tally flushes and row folding change the arithmetic, never the counts:
    on edge-hugging and special values (NaN, ±0, ±inf, values one ulp off an edge)."""
    x, edges = case
    x = np.concatenate([x, x, x])  # enough values for several chunks and folds
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fastbin, "_CHUNK", chunk)
        mp.setattr(fastbin, "_TALLY_MAX", tally_max)
        mp.setattr(fastbin, "_FOLDED_WIDTH", folded_width)
        np.testing.assert_array_equal(_count_thresholds(x, edges), reference(x, edges))
