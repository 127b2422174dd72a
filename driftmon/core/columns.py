"""Profiles and scores of columns held in memory, counted column by column on a pool.

The runner streams batches and counts them itself; these are for a window or a reference
that is already a set of whole columns (a DataFrame's, an Arrow table's): ``driftmon
check`` on files, the benchmarks, library code. Each column is counted whole by one
thread (``driftmon.core.parallel``), so the results are the same for any number of
threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa

from driftmon.core.bins import Bins, NumericBins
from driftmon.core.divergence import DEFAULT_SMOOTHING
from driftmon.core.drift import DriftScores, score_all
from driftmon.core.histogram import Histogram
from driftmon.core.parallel import ColumnPool
from driftmon.core.profile import (
    FeatureProfile,
    FeatureSpec,
    ReferenceProfile,
    build_feature_profile,
)

# Relative cost per row, to start the dearest columns first (measured at 1M rows:
# text categories ~10 ms, quantile bins ~9 ms with their sort, other numeric ~2-4 ms).
_TEXT_COST = 5.0
_SORT_COST = 4.0
_NUMERIC_COST = 1.0


class Columns(Protocol):
    """Whole columns by name: a DataFrame, an Arrow table, a dict of arrays."""

    def __getitem__(self, name: str, /) -> Any: ...


def _rows(columns: Columns, names: Sequence[str]) -> int:
    return max((len(columns[n]) for n in names), default=0)


def profile_columns(
    columns: Columns,
    specs: Sequence[FeatureSpec],
    pool: ColumnPool | None = None,
) -> ReferenceProfile:
    """The reference profile of ``specs``, each read from ``columns[spec.name]``."""
    rows = _rows(columns, [s.name for s in specs])

    def build(spec: FeatureSpec) -> FeatureProfile:
        return build_feature_profile(columns[spec.name], spec)

    costs = [column_cost(s) for s in specs]
    pool = pool or ColumnPool(1)
    return ReferenceProfile(tuple(pool.map(build, specs, rows, costs)), rows=rows)


def live_histograms(
    columns: Columns,
    features: Sequence[FeatureProfile],
    pool: ColumnPool | None = None,
) -> list[Histogram]:
    """Each feature's live histogram of ``columns[feature.name]``, in ``features`` order."""

    def count(feature: FeatureProfile) -> Histogram:
        return feature.live_histogram(columns[feature.name])

    pool = pool or ColumnPool(1)
    rows = _rows(columns, [f.name for f in features])
    holds = None  # a window the pool counts in this thread, in order, needs no flags
    if pool.pays(len(features), rows):
        holds = [holds_gil(f.bins, columns[f.name]) for f in features]
    return pool.map(count, features, rows, [column_cost(f.bins) for f in features], holds)


def score_columns(
    columns: Columns,
    profile: ReferenceProfile,
    pool: ColumnPool | None = None,
    *,
    smoothing: float = DEFAULT_SMOOTHING,
    reference_is_sample: bool = True,
) -> list[DriftScores | None]:
    """Live histograms and scores of every feature of ``profile`` (``driftmon.core.drift``).

    The columns are counted on ``pool``; the scores are computed afterwards, all at once
    (``score_all``: the same numbers as ``score`` feature by feature, for a third of the
    CPU, which is all Python and NumPy overhead that holds the GIL).
    """
    features = profile.features
    live = live_histograms(columns, features, pool)
    return score_all(
        [(h, f.reference, smoothing) for h, f in zip(live, features, strict=True)],
        reference_is_sample,
    )


def column_cost(layout: Bins | FeatureSpec) -> float:
    """Relative cost of a column per row, so that the dearest start first on a
    ``ColumnPool``: counting a live column on ``Bins``, or building a reference from a
    ``FeatureSpec`` (quantile edges need a sort)."""
    if isinstance(layout, FeatureSpec):
        if layout.kind == "categorical":
            return _TEXT_COST
        sorts = layout.strategy == "quantile" and layout.edges is None
        return _SORT_COST if sorts else _NUMERIC_COST
    return _NUMERIC_COST if isinstance(layout, NumericBins) else _TEXT_COST


def holds_gil(bins: Bins, values: Any) -> bool:
    """Whether counting ``values`` on ``bins`` holds the GIL most of the time
    (``ColumnPool.map``): numeric bins (NumPy calls on short chunks) and object columns
    (pandas hashes Python objects, ``textmatch`` reads them) do; text held by Arrow is
    counted by ``textmatch``'s compiled loop or Arrow's kernels, which release it."""
    if isinstance(bins, NumericBins):
        return True
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return False
    dtype = getattr(values, "dtype", None)
    if isinstance(dtype, pd.ArrowDtype):
        return False
    return not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow")
