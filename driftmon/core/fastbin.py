"""The hot loop: counting float64 values into left-closed bins between sorted edges.

``count_into_edges`` returns exactly what ``np.searchsorted(edges, x, side="right")``
followed by ``np.bincount`` gives, with NaN moved to a separate last bin, but without a
binary search per value. Three exact kernels, all pure NumPy over cache-sized chunks:

* **Thresholds** (up to ~30 edges; the default 10 bins). The searchsorted index of ``x``
  is ``#{j : e_j <= x}``, so the bin counts are differences of the counts ``#{x >= e_j}``.
  Exact by definition: it is the comparison searchsorted makes (NaN compares false;
  ``-0.0 == 0.0``), and a first row against ``-inf`` counts the values that are not NaN.
  A chunk costs two NumPy calls whatever the number of edges: one broadcast comparison of
  the chunk with every edge into a bool matrix, added as bytes into a tally of the same
  shape. Each call releases the GIL and re-takes it after; with one call per edge (and a
  ``count_nonzero`` each) two threads counting numeric columns spent their time handing
  the GIL over. The tally's rows are summed every 255 chunks (before a byte could
  overflow) and at the end. A column that fits in one chunk is counted row by row with
  ``count_nonzero``, the cheapest there (one call per row, once per column).

The other two rest on one fact. ``T(x) = clip(x·s + b)``, computed in float64, is
monotone non-decreasing whatever the rounding, because each IEEE step (multiply, add,
clip) is. So if ``T(e) < T(x)`` then ``e < x``, and if ``T(e) > T(x)`` then ``e > x``.
Edges go through the very same array operations as the data, so no error analysis of
the rounding is needed: only values whose ``T`` ties or nearly ties an edge's need care.

* **Uniform** (evenly spaced edges, e.g. ``np.linspace``). ``s, b`` map edge ``e_j`` to
  within ``δ`` (a few ulps) of the integer ``j + 1``; a value's bin is then its cell
  ``floor(T(x))``, counted with one ``bincount`` and no lookup, unless ``T(x)`` is within
  ``δ`` of an integer: if ``T(x) ∈ (k + δ, k + 1 - δ)``, every edge with integer ``<= k``
  has ``T(e) <= k + δ < T(x)`` and every other edge has ``T(e) > T(x)``. Those few
  near-integer values are placed by searchsorted.
* **Grid** (any other edges, more than ~35). ``T`` maps values to a few thousand cells
  over ``[e_0, e_last]``, chosen so that cells rarely hold two edges. Only the edges that
  ``T`` puts into ``x``'s own cell need a comparison, which is at most one::

      bin(x) = below[cell(x)] + (x >= edge_in[cell(x)])

  with ``below[c]`` the number of edges in cells below ``c`` and ``edge_in[c]`` the cell's
  single edge (NaN if none: every comparison with NaN is false). Cells that received two
  or more edges send their values to a marker bin, and only those are searchsorted.

NaN is given a cell of its own whose bin is the missing bin.
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
# The thresholds kernel's bool matrix (edges + 1 rows) and byte tally are this size each.
_THRESHOLD_BYTES = 1 << 18
# Chunks added into a byte tally before its rows are summed: no byte can overflow.
_TALLY_MAX = 255
# _row_sums stops folding rows this short (a fold would cost more than it saves).
_FOLDED_WIDTH = 512
# Up to this many edges the thresholds kernel (one comparison per value and edge) beats
# the grid's fixed ~10 passes, and below _MIN_UNIFORM_EDGES also the uniform kernel's ~8
# (at 1M normal values the times crossed at 35-39 and 28-29 edges).
_MAX_THRESHOLD_EDGES = 36
_MIN_UNIFORM_EDGES = 28
# The uniform kernel takes edges that map to within this of their integer (rounding only).
_MAX_UNIFORM_SLOP = 2.0**-20
# Above this fraction of values needing searchsorted, the uniform kernel hands over to the grid.
_HANDOVER_FRACTION = 0.125
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
    if e.size < _MIN_UNIFORM_EDGES:
        return _count_thresholds(values, e)
    uniform = _Uniform.build(e)
    if uniform is not None:
        return uniform.count(values)
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
    rows = np.empty((m + 1, 1))  # row 0: -inf, which every value but NaN reaches
    rows[0, 0] = -np.inf
    rows[1:, 0] = e
    n = x.size
    size = min(n, _CHUNK, max(8, _THRESHOLD_BYTES // (m + 1)))
    if n <= size:  # one chunk: counting the rows directly is cheapest
        ge = np.greater_equal(x, rows)
        reached = np.array([np.count_nonzero(row) for row in ge], dtype=np.int64)
    else:
        reached = np.zeros(m + 1, dtype=np.int64)
        ge = np.empty((m + 1, size), dtype=np.bool_)
        ge_bytes = ge.view(np.uint8)
        tally = np.zeros((m + 1, size), dtype=np.uint8)
        part = tally  # the columns of the tally that this chunk adds to
        pending = 0
        for start in range(0, n, size):
            chunk = x[start : start + size]
            if chunk.size < size:  # the last chunk: no slicing in the loop for the others
                k = chunk.size
                ge, ge_bytes, part = ge[:, :k], ge_bytes[:, :k], tally[:, :k]
            np.greater_equal(chunk, rows, ge)
            np.add(part, ge_bytes, part)
            pending += 1
            if pending == _TALLY_MAX:
                reached += _row_sums(tally, pending)
                tally.fill(0)
                pending = 0
        if pending:
            reached += _row_sums(tally, pending)
    counts = np.empty(m + 2, dtype=np.int64)
    n_valid = int(reached[0])
    at_least = reached[1:]  # at_least[j] = #{x >= e_j}
    if m == 0:
        counts[0] = n_valid
    else:
        counts[0] = n_valid - at_least[0]
        counts[1:m] = at_least[:-1] - at_least[1:]
        counts[m] = at_least[-1]
    counts[m + 1] = n - n_valid
    return counts


def _row_sums(tally: npt.NDArray[np.uint8], most: int) -> Counts:
    """Row sums of a byte tally whose bytes are at most ``most``; ``tally`` is overwritten.

    Summing bytes into int64 is slow per byte, so each row's second half is first added
    onto its first half, as bytes, while no sum can pass 255: a fold is one vectorised
    byte add (about a tenth of the cost of the int64 sum of the same bytes).
    """
    rows = tally
    while 2 * most <= 255 and rows.shape[1] > _FOLDED_WIDTH:
        width = rows.shape[1]
        half = (width + 1) // 2
        np.add(rows[:, : width - half], rows[:, half:], out=rows[:, : width - half])
        rows = rows[:, :half]
        most *= 2
    sums: Counts = np.add.reduce(rows, axis=1, dtype=np.int64)
    return sums


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


@dataclass(frozen=True)
class _Uniform:
    """Cell-per-bin counting for evenly spaced edges (see the module docstring)."""

    edges: Floats
    scale: float
    offset: float
    top: float  # values clip to [0.5, top + 0.5]; NaN goes to top + 1.5
    eps: float  # a value whose T is within eps of an integer is placed by searchsorted
    exact_ok: bool  # T exactly on an integer needs no check (edges map exactly, no collapse)
    bin_of_cell: npt.NDArray[np.intp]

    @classmethod
    def build(cls, e: Floats) -> _Uniform | None:
        """Tables when every edge maps to within ``_MAX_UNIFORM_SLOP`` of its own integer."""
        m = e.size
        if m < 2:
            return None
        lo, hi = float(e[0]), float(e[-1])
        span = hi - lo
        if not (np.isfinite(span) and span > 0):
            return None
        scale = (m - 1) / span
        offset = 1.0 - lo * scale  # e_j -> j + 1
        if not (np.isfinite(scale) and np.isfinite(offset) and scale > 0):
            return None
        top = float(m + 1)
        t = _transform(e, scale, offset, top, np.empty(m), False)
        k = np.rint(t)
        slop = np.abs(t - k)
        if np.any(k != np.arange(1, m + 1)) or float(slop.max()) > _MAX_UNIFORM_SLOP:
            return None
        # Exactly-integer T is unambiguous if each edge that maps exactly onto its integer is
        # the first value to do so (its predecessor maps lower) and none maps just above it.
        with np.errstate(over="ignore"):  # the float below -MAX is -inf: fine for T
            below_e = np.nextafter(e, -np.inf)
        prev = _transform(below_e, scale, offset, top, np.empty(m), False)
        exact_ok = bool(np.all((t < k) | ((t == k) & (prev < k))))
        bin_of_cell = np.searchsorted(k, np.arange(m + 3), side="right").astype(np.intp)
        bin_of_cell[-1] = m + 1  # the NaN cell: missing
        return cls(e, scale, offset, top, float(slop.max()), exact_ok, bin_of_cell)

    def count(self, x: Floats) -> Counts:
        m = self.edges.size
        n_cells = m + 3
        per_cell = np.zeros(n_cells, dtype=np.int64)
        exact = np.zeros(m + 1, dtype=np.int64)
        rest = np.zeros(m + 2, dtype=np.int64)  # counts handed over to the grid kernel
        size = min(x.size, _CHUNK)
        t = np.empty(size)
        d = np.empty(size)
        cell = np.empty(size, dtype=np.int32)
        flag = np.empty(size, dtype=np.bool_)
        flag2 = np.empty(size, dtype=np.bool_)
        for start in range(0, x.size, _CHUNK):
            chunk = x[start : start + _CHUNK]
            k = chunk.size
            has_nan = bool(np.count_nonzero(np.isnan(chunk, out=flag[:k])))
            tk = _transform(chunk, self.scale, self.offset, self.top, t[:k], has_nan)
            c = cell[:k]
            np.copyto(c, tk, casting="unsafe")  # floor, as T >= 0.5
            per_cell += np.bincount(c, minlength=n_cells)
            # Values near an integer of T may sit on the wrong side of an edge: recount them.
            dk = d[:k]
            np.rint(tk, out=dk)
            np.subtract(tk, dk, out=dk)  # exact: T and its nearest integer are close
            np.abs(dk, out=dk)
            f = flag[:k]
            np.less_equal(dk, self.eps, out=f)
            if self.exact_ok:
                np.logical_and(f, np.greater(dk, 0.0, out=flag2[:k]), out=f)
            n_flagged = int(np.count_nonzero(f))
            if n_flagged > k * _HANDOVER_FRACTION and (grid := _Grid.build(self.edges)):
                # Many values right on edges (integer data on integer edges that do not map
                # exactly onto integers of T): the grid kernel has no such slow case.
                per_cell -= np.bincount(c, minlength=n_cells)
                rest = grid.count(x[start:])
                break
            if n_flagged:
                idx = np.flatnonzero(f)
                per_cell -= np.bincount(c[idx], minlength=n_cells)
                exact += np.bincount(
                    np.searchsorted(self.edges, chunk[idx], side="right"), minlength=m + 1
                )
        counts = rest.copy()
        np.add.at(counts, self.bin_of_cell, per_cell)
        counts[: m + 1] += exact
        return counts


def _transform(
    v: Floats, scale: float, offset: float, top: float, t: Floats, has_nan: bool
) -> Floats:
    """Monotone T(v) in [0.5, top + 0.5], NaN to top + 1.5; the same for edges and data."""
    with np.errstate(over="ignore"):
        np.multiply(v, scale, out=t)
    np.add(t, offset, out=t)
    np.clip(t, 0.5, top + 0.5, out=t)  # propagates NaN
    if has_nan:
        np.fmin(t, top + 1.5, out=t)
    return t
