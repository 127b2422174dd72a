"""The hot loop: counting float64 values into left-closed bins between sorted edges."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

_CHUNK = 1 << 16  # elements per pass; keeps temporaries in cache and memory bounded


def count_into_edges(x: npt.NDArray[np.float64], edges: Sequence[float]) -> npt.NDArray[np.int64]:
    """Counts per bin for inner ``edges``: ``len(edges) + 1`` value bins, then missing (NaN).

    Equivalent to ``np.bincount(np.searchsorted(edges, x, side="right"))`` with NaN moved
    from the top bin (where NumPy sorts it) to the missing bin.
    """
    e = np.asarray(edges, dtype=np.float64)
    m = e.size
    counts = np.zeros(m + 2, dtype=np.int64)
    for start in range(0, x.size, _CHUNK):
        chunk = x[start : start + _CHUNK]
        counts[: m + 1] += np.bincount(np.searchsorted(e, chunk, side="right"), minlength=m + 1)
    n_nan = int(np.count_nonzero(np.isnan(x)))
    counts[m] -= n_nan
    counts[m + 1] = n_nan
    return counts
