"""The hot loop: counting float64 values into left-closed bins between sorted edges.

``count_into_edges`` returns exactly what ``np.searchsorted(edges, x, side="right")``
followed by ``np.bincount`` gives, with NaN moved to a separate last bin, but without a
binary search per value. Two exact kernels, both pure NumPy over cache-sized chunks:

* **Thresholds** (few edges, the default of 10 bins). The searchsorted index of ``x`` is
  ``#{j : e_j <= x}``, so the counts of the bins are differences of the counts
  ``#{x >= e_j}``, one vectorised comparison and one ``count_nonzero`` per edge. Exact
  by definition: it is the same IEEE comparison searchsorted makes (NaN compares false
  and is counted apart; ``-0.0 == 0.0``).
* **Grid** (many edges). ``t(x) = floor(clip(x·s + b))`` maps values to a few thousand
  cells over ``[e_0, e_last]``. Each IEEE step (multiply, add, clip, truncate) is
  monotone non-decreasing, so ``t`` is too, whatever the rounding: an edge whose cell is
  below ``t(x)`` is ``< x`` and an edge whose cell is above is ``> x``. Only the edges
  that ``t`` maps into ``x``'s own cell need a comparison, and the cell count is chosen
  so that this is at most one edge almost always::

      bin(x) = below[t(x)] + (x >= edge_in[t(x)])

  where ``below[c]`` counts the edges mapped to cells below ``c`` and ``edge_in[c]`` is the
  cell's single edge (NaN if none: every comparison with NaN is false). The edges are put
  into cells by the very same array operations as the data, so no error analysis of the
  rounding is needed. Cells that received two or more edges (edges closer than a cell)
  send their values to a marker bin, and only those values are searchsorted. NaN gets
  a cell of its own whose bin is the missing bin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Counts = npt.NDArray[np.int64]

# Elements per pass: a chunk and its temporaries stay in the L2 cache, and memory is bounded.
_CHUNK = 1 << 16
# Up to this many edges one comparison pass per edge beats the grid's fixed ~10 passes.
_MAX_THRESHOLD_EDGES = 22
# Cells of the grid: enough that edges rarely share a cell, few enough that the
# lookup tables (9 bytes a cell) stay in the L2 cache.
_MIN_CELLS = 1 << 10
_MAX_CELLS = 1 << 16


def count_into_edges(x: npt.ArrayLike, edges: Sequence[float] | Floats) -> Counts:
    """Counts per bin for inner ``edges``: ``len(edges) + 1`` value bins, then missing (NaN).

    Equivalent to ``np.bincount(np.searchsorted(edges, x, side="right"))`` with NaN moved
    from the top bin (where NumPy sorts it) to the missing bin, for any float64 input.
    """
    values = np.asarray(x, dtype=np.float64).ravel()
    e = np.asarray(edges, dtype=np.float64).ravel()
    if e.size and (np.isnan(e).any() or np.any(e[1:] < e[:-1])):
        return _count_searchsorted(values, e)  # outside the contract: defer to NumPy
    if e.size <= _MAX_THRESHOLD_EDGES:
        return _count_thresholds(values, e)
    grid = _Grid.build(e)
    if grid is None:
        return _count_thresholds(values, e)
    return grid.count(values)


def _count_searchsorted(x: Floats, e: Floats) -> Counts:
    """The reference definition, chunked; used for edges outside the fast kernels' contract."""
    m = e.size
    counts = np.zeros(m + 2, dtype=np.int64)
    for start in range(0, x.size, _CHUNK):
        chunk = x[start : start + _CHUNK]
        counts[: m + 1] += np.bincount(np.searchsorted(e, chunk, side="right"), minlength=m + 1)
    n_nan = int(np.count_nonzero(np.isnan(x)))
    counts[m] -= n_nan
    counts[m + 1] = n_nan
    return counts


def _count_thresholds(x: Floats, e: Floats) -> Counts:
    """Bin counts from ``#{x >= e_j}`` per edge, for sorted non-NaN edges."""
    m = e.size
    at_least = np.zeros(m, dtype=np.int64)  # at_least[j] = #{x >= e_j}
    n_nan = 0
    mask = np.empty(min(x.size, _CHUNK), dtype=np.bool_)
    edges = [float(v) for v in e]
    for start in range(0, x.size, _CHUNK):
        chunk = x[start : start + _CHUNK]
        buf = mask[: chunk.size]
        np.isnan(chunk, out=buf)
        n_nan += int(np.count_nonzero(buf))
        for j, edge in enumerate(edges):
            np.greater_equal(chunk, edge, out=buf)
            at_least[j] += np.count_nonzero(buf)
    counts = np.empty(m + 2, dtype=np.int64)
    n_valid = x.size - n_nan
    if m == 0:
        counts[0] = n_valid
    else:
        counts[0] = n_valid - at_least[0]
        counts[1:m] = at_least[:-1] - at_least[1:]
        counts[m] = at_least[-1]
    counts[m + 1] = n_nan
    return counts


@dataclass(frozen=True)
class _Grid:
    """Cell lookup tables for ``count_into_edges``'s grid kernel (see the module docstring)."""

    edges: Floats
    scale: float
    offset: float
    top: float  # highest value cell; NaN goes to the cell after it
    below: npt.NDArray[np.integer]  # bin of the cell's values below its edge
    edge_in: Floats  # the cell's single edge, NaN if none (or if several)
    marker: int  # bin index meaning "several edges in this cell: searchsorted"

    @classmethod
    def build(cls, e: Floats) -> _Grid | None:
        """Tables for strictly increasing finite edges; None when a grid cannot hold them."""
        m = e.size
        if m < 2:
            return None
        lo, hi = float(e[0]), float(e[-1])
        span = hi - lo
        if not (np.isfinite(lo) and np.isfinite(hi) and np.isfinite(span) and span > 0):
            return None
        gaps = np.diff(e)
        if np.any(gaps <= 0):
            return None
        n_cells = int(min(_MAX_CELLS, max(_MIN_CELLS, 4 * m, 2 * span / float(gaps.min()))))
        scale = n_cells / span
        offset = 1.0 - lo * scale  # e_0 near cell 1, e_last near cell n_cells + 1
        if not (np.isfinite(scale) and np.isfinite(offset) and scale > 0):
            return None
        top = float(n_cells + 2)
        cells = _cells(e, scale, offset, top, np.empty(m), np.empty(m, dtype=np.int32), False)
        n_slots = n_cells + 4  # cells 0..top, then the NaN cell
        per_cell = np.bincount(cells, minlength=n_slots)
        first = np.searchsorted(cells, np.arange(n_slots), side="left")  # first edge at/after
        dtype: type[np.integer] = (
            np.uint8 if m + 3 <= 255 else np.uint16 if m + 3 <= 65535 else np.int64
        )
        marker = m + 2
        below: npt.NDArray[np.integer] = first.astype(dtype)
        edge_in = np.full(n_slots, np.nan)
        single = per_cell == 1
        edge_in[single] = e[first[single]]
        below[per_cell > 1] = marker
        below[-1] = m + 1  # NaN cell: the missing bin, and edge_in is NaN there
        return cls(e, scale, offset, top, below, edge_in, marker)

    def count(self, x: Floats) -> Counts:
        m = self.edges.size
        n_out = m + 3  # value bins, missing, marker
        counts = np.zeros(n_out, dtype=np.int64)
        size = min(x.size, _CHUNK)
        t = np.empty(size)
        cell = np.empty(size, dtype=np.int32)
        edge = np.empty(size)
        ge = np.empty(size, dtype=np.bool_)
        bins = np.empty(size, dtype=self.below.dtype)
        for start in range(0, x.size, _CHUNK):
            chunk = x[start : start + _CHUNK]
            k = chunk.size
            has_nan = bool(np.count_nonzero(np.isnan(chunk, out=ge[:k])))
            c = _cells(chunk, self.scale, self.offset, self.top, t[:k], cell[:k], has_nan)
            # Indices are in range by construction; "wrap" skips NumPy's bounds check.
            np.take(self.edge_in, c, out=edge[:k], mode="wrap")
            np.greater_equal(chunk, edge[:k], out=ge[:k])
            b = bins[:k]
            np.take(self.below, c, out=b, mode="wrap")
            np.add(b, ge[:k], out=b, casting="unsafe")
            part = np.bincount(b, minlength=n_out)
            if part[self.marker]:
                crowded = chunk[b == self.marker]
                part[: m + 1] += np.bincount(
                    np.searchsorted(self.edges, crowded, side="right"), minlength=m + 1
                )
            counts += part
        return counts[: m + 2]


def _cells(
    v: Floats,
    scale: float,
    offset: float,
    top: float,
    t: Floats,
    out: npt.NDArray[np.int32],
    has_nan: bool = True,
) -> npt.NDArray[np.int32]:
    """Monotone cell index of each value: NaN to ``top + 1``, everything else in ``[0, top]``.

    The edges go through this same function, which is what makes the grid kernel exact.
    ``has_nan=False`` is a promise that ``v`` holds no NaN, and skips one pass.
    """
    with np.errstate(over="ignore"):  # huge values overflow to ±inf: still monotone
        np.multiply(v, scale, out=t)
    np.add(t, offset, out=t)
    np.clip(t, 0.0, top, out=t)  # propagates NaN
    if has_nan:
        np.fmin(t, top + 1.0, out=t)  # NaN -> top + 1 (fmin ignores NaN)
    np.copyto(out, t, casting="unsafe")  # truncation == floor for t >= 0
    return out
