"""ColumnPool: threads over columns where they pay, and the same results with any number."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from driftmon.core.columns import holds_gil, live_histograms, profile_columns, score_columns
from driftmon.core.parallel import MIN_ROWS_PER_COLUMN, ColumnPool, available_cores
from driftmon.core.profile import FeatureSpec


def mixed_frame(n: int, seed: int, shift: float) -> pd.DataFrame:
    """Numeric columns of several shapes (NaN, ties, ints) and text categories with None."""
    rng = np.random.default_rng(seed)
    normal = rng.normal(shift, 1.0, n)
    normal[rng.random(n) < 0.02] = np.nan
    cats = np.array([f"c{i}" for i in range(40)], dtype=object)[rng.integers(0, 40, n)]
    cats[rng.random(n) < 0.01] = None
    return pd.DataFrame(
        {
            "normal": normal,
            "zeros": np.where(rng.random(n) < 0.6, 0.0, rng.lognormal(1 + shift, 1, n)),
            "counts": rng.poisson(3 + shift, n),
            "uniform": rng.uniform(-1, 1 + shift, n),
            "wide": rng.standard_t(3, n),
            "city": pd.Series(cats, dtype="str"),
            "plan": pd.Series(cats, dtype=object),
        }
    )


SPECS = [
    FeatureSpec("normal"),
    FeatureSpec("zeros", bins=20),
    FeatureSpec("counts"),
    FeatureSpec("uniform", strategy="uniform", bins=30),
    FeatureSpec("wide", bins=60),
    FeatureSpec("city", "categorical", max_categories=25),
    FeatureSpec("plan", "categorical", max_categories=10),
]


def test_results_are_identical_with_one_thread_and_many() -> None:
    """Profiles, live histograms and scores, bit for bit, whatever the number of threads."""
    n = 3 * MIN_ROWS_PER_COLUMN
    ref, live = mixed_frame(n, 1, 0.0), mixed_frame(n, 2, 0.3)
    one = ColumnPool(1)
    with ColumnPool(4) as many:
        assert many.pays(len(SPECS), n)
        assert not one.pays(len(SPECS), n)
        profiles = [profile_columns(ref, SPECS, pool) for pool in (one, many)]
        assert profiles[0].to_dict() == profiles[1].to_dict()
        profile = profiles[0]
        hists = [live_histograms(live, profile.features, pool) for pool in (one, many)]
        assert [h.to_list() for h in hists[0]] == [h.to_list() for h in hists[1]]
        scores = [score_columns(live, profile, pool) for pool in (one, many)]
        assert scores[0] == scores[1]
        assert all(s is not None for s in scores[0])


def test_columns_run_on_the_pools_threads_when_it_pays() -> None:
    pool = ColumnPool(3, min_rows=10)
    seen: set[str] = set()
    barrier = threading.Barrier(3, timeout=10)

    def work(i: int) -> int:
        seen.add(threading.current_thread().name)
        barrier.wait()  # only passes if three columns are counted at the same time
        return i * i

    with pool:
        assert pool.map(work, [0, 1, 2], rows=10) == [0, 1, 4]
    assert len(seen) == 3
    assert all(name.startswith("driftmon-count") for name in seen)


def test_small_columns_one_column_or_one_thread_stay_in_the_caller() -> None:
    caller = threading.current_thread().name
    for pool, items, rows in (
        (ColumnPool(4, min_rows=1000), [1, 2, 3], 999),  # columns too short
        (ColumnPool(4, min_rows=0), [1], 10**6),  # a single column
        (ColumnPool(1, min_rows=0), [1, 2, 3], 10**6),  # one thread
    ):
        names = pool.map(lambda _: threading.current_thread().name, items, rows)
        assert names == [caller] * len(items)
        assert pool._executor is None  # no thread was started


def test_results_come_back_in_input_order_whatever_the_costs() -> None:
    with ColumnPool(2, min_rows=0) as pool:

        def slow_first(i: int) -> int:
            time.sleep(0.001 * (5 - i))
            return i

        assert pool.map(slow_first, [0, 1, 2, 3, 4], 1, costs=[1, 9, 3, 7, 5]) == [0, 1, 2, 3, 4]
        with pytest.raises(ValueError, match="2 costs for 3 items"):
            pool.map(slow_first, [0, 1, 2], 1, costs=[1, 2])


def test_an_error_propagates_after_every_column_has_finished() -> None:
    finished: list[int] = []

    def work(i: int) -> int:
        if i == 1:
            raise KeyError("column 1")
        time.sleep(0.05)
        finished.append(i)
        return i

    with ColumnPool(2, min_rows=0) as pool, pytest.raises(KeyError, match="column 1"):
        pool.map(work, [0, 1, 2, 3], 1)
    assert sorted(finished) == [0, 2, 3]


def test_thread_counts_are_checked_and_default_to_the_available_cores() -> None:
    assert ColumnPool().threads == available_cores() >= 1
    with pytest.raises(ValueError, match="threads must be at least 1, got 0"):
        ColumnPool(0)
    with pytest.raises(ValueError, match="min_rows must be at least 0, got -1"):
        ColumnPool(2, min_rows=-1)


def test_gil_holding_items_run_one_at_a_time_while_gil_free_ones_wait() -> None:
    """Two GIL-holding items never overlap while a GIL-free item is still queued; the
    GIL-free items run beside them, and every result comes back in input order."""
    lock = threading.Lock()
    running: set[int] = set()
    overlaps: list[tuple[int, ...]] = []
    free_started: list[float] = []
    spans: dict[int, tuple[float, float]] = {}
    holds = [True, False, True, True, False, True]

    def work(i: int) -> int:
        start = time.perf_counter()
        with lock:
            if not holds[i]:
                free_started.append(start)
            elif any(holds[j] for j in running):
                overlaps.append((i, *running))
            running.add(i)
        time.sleep(0.03 if holds[i] else 0.05)
        with lock:
            running.discard(i)
        spans[i] = (start, time.perf_counter())
        return -i

    with ColumnPool(2, min_rows=0) as pool:
        assert pool.map(work, list(range(6)), 1, holds_gil=holds) == [0, -1, -2, -3, -4, -5]
    last_free = max(free_started)
    assert not [o for o in overlaps if spans[o[0]][0] < last_free]
    # The GIL-free items ran alongside the GIL-holding ones, not after them all.
    assert min(free_started) < max(s for i, (s, _) in spans.items() if holds[i])


def test_gil_holding_items_alone_still_use_every_thread() -> None:
    barrier = threading.Barrier(2, timeout=10)

    def work(i: int) -> int:
        barrier.wait()  # passes only if both are counted at the same time
        return i

    with ColumnPool(2, min_rows=0) as pool:
        assert pool.map(work, [0, 1], 1, holds_gil=[True, True]) == [0, 1]
        with pytest.raises(ValueError, match="1 holds_gil for 2 items"):
            pool.map(work, [0, 1], 1, holds_gil=[True])


def test_columns_are_marked_by_whether_counting_them_holds_the_gil() -> None:
    """Numeric bins and object columns hold it; text held by Arrow does not."""
    n = 2_000
    frame = mixed_frame(n, 3, 0.0)
    profile = profile_columns(frame, SPECS)
    by_name = {f.name: f for f in profile.features}
    arrow_text = pa.array(frame["plan"], from_pandas=True)
    cases = [
        ("normal", frame["normal"], True),
        ("counts", pa.array(frame["counts"]), True),
        ("city", frame["city"], False),  # pandas' Arrow-backed str
        ("plan", frame["plan"], True),  # object
        ("plan", arrow_text, False),
        ("plan", pa.chunked_array([arrow_text]), False),
        ("plan", arrow_text.dictionary_encode(), False),
        ("plan", frame["plan"].astype("string[python]"), True),
        ("plan", frame["plan"].astype(pd.ArrowDtype(pa.string())), False),
    ]
    for name, values, expected in cases:
        assert holds_gil(by_name[name].bins, values) is expected, (name, type(values))
