"""Counting values into a fixed bin layout, and merging counts of chunks.

A histogram is a vector of non-negative integer counts, one per bin of its layout.
Counts of disjoint chunks add up exactly to the counts of their union, so any input can be
streamed in batches with memory bounded by the number of bins, not the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from driftmon.core.bins import Bins, CategoricalBins, NumericBins
from driftmon.core.fastbin import count_into_edges

Counts = npt.NDArray[np.int64]


class ColumnTypeError(TypeError):
    """A column's values cannot be read as the feature's type (e.g. text in a numeric feature)."""


@dataclass(frozen=True, eq=False)
class Histogram:
    """Immutable bin counts; ``a + b`` merges the counts of two chunks."""

    counts: Counts

    def __post_init__(self) -> None:
        c = np.array(self.counts, dtype=np.int64, copy=True)
        if c.ndim != 1 or c.size == 0 or np.any(c < 0):
            raise ValueError("histogram counts must be a non-empty 1-d array of counts >= 0")
        c.setflags(write=False)
        object.__setattr__(self, "counts", c)

    @classmethod
    def empty(cls, n_bins: int) -> Histogram:
        return cls(np.zeros(n_bins, dtype=np.int64))

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def __add__(self, other: Histogram) -> Histogram:
        if self.counts.shape != other.counts.shape:
            raise ValueError(
                f"cannot merge histograms of {self.counts.size} and {other.counts.size} bins"
            )
        return Histogram(self.counts + other.counts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Histogram) and np.array_equal(self.counts, other.counts)

    def __hash__(self) -> int:
        return hash(self.counts.tobytes())

    def to_list(self) -> list[int]:
        return [int(c) for c in self.counts]


def numeric_values(values: Any) -> npt.NDArray[np.float64]:
    """Read a column as float64, missing values (None, NaN, NA, null) as NaN.

    Raises ColumnTypeError for text, dates or other non-numeric data.
    """
    if isinstance(values, pa.ChunkedArray | pa.Array):
        if not (
            pa.types.is_integer(values.type)
            or pa.types.is_floating(values.type)
            or pa.types.is_boolean(values.type)
            or pa.types.is_null(values.type)
            or pa.types.is_decimal(values.type)
        ):
            raise ColumnTypeError(f"expected numbers, got Arrow type {values.type}")
        arr = pc.cast(values, pa.float64())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
    if isinstance(values, pd.Series | pd.Index):
        if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
            return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan))
        if values.dtype == object:
            try:
                return np.asarray(pd.to_numeric(values, errors="raise"), dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ColumnTypeError(f"expected numbers, got {_sample(values)}") from exc
        raise ColumnTypeError(f"expected numbers, got dtype {values.dtype}")
    arr = np.asarray(values)
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64, copy=False).ravel()
    if arr.dtype.kind == "O":
        return numeric_values(pd.Series(arr.ravel(), dtype=object))
    raise ColumnTypeError(f"expected numbers, got dtype {arr.dtype}")


def _sample(values: pd.Series | pd.Index) -> str:
    bad = pd.to_numeric(values, errors="coerce").isna() & values.notna()
    example = values[bad][:3].tolist()
    return f"non-numeric values such as {example!r}"


def category_value_counts(values: Any) -> tuple[dict[str, int], int]:
    """Count distinct categories as text, and missing values separately.

    Every input type goes through Arrow's string cast, so a category is spelled the same
    way in the reference and in a live window (``true``/``false`` for booleans).
    """
    arr = _as_arrow_strings(values)
    n_missing = int(arr.null_count)
    vc = pc.value_counts(arr)
    cats = vc.field("values")
    counts = vc.field("counts").to_numpy(zero_copy_only=False)
    valid = cats.is_valid().to_numpy(zero_copy_only=False)
    keys = cats.to_pylist()
    return {str(k): int(c) for k, c, ok in zip(keys, counts, valid, strict=True) if ok}, n_missing


def _as_arrow_strings(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        arr = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    elif isinstance(values, pa.Array):
        arr = values
    else:
        series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
        try:
            arr = pa.array(series, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            mask = series.isna().to_numpy()
            arr = pa.array(series.astype(str).to_numpy(dtype=object), mask=mask, type=pa.string())
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        try:
            arr = pc.cast(arr, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ColumnTypeError(f"cannot read Arrow type {arr.type} as categories") from exc
    return arr


def numeric_histogram(values: Any, bins: NumericBins) -> Histogram:
    """Count a numeric column into ``bins`` (see ``driftmon.core.bins`` for the rules)."""
    return Histogram(count_into_edges(numeric_values(values), bins.edges))


def categorical_histogram(values: Any, bins: CategoricalBins) -> Histogram:
    """Count a categorical column into ``bins``; unseen categories land in "other"."""
    arr = _as_arrow_strings(values)
    counts = np.zeros(bins.n_bins, dtype=np.int64)
    counts[bins.missing_index] = arr.null_count
    vc = pc.value_counts(arr)
    cats = vc.field("values")
    n = vc.field("counts").to_numpy(zero_copy_only=False).astype(np.int64)
    valid = cats.is_valid().to_numpy(zero_copy_only=False)
    if bins.categories:
        idx = pc.index_in(cats, value_set=pa.array(bins.categories, type=cats.type))
        pos = idx.fill_null(bins.other_index).to_numpy(zero_copy_only=False).astype(np.intp)
    else:
        pos = np.full(len(cats), bins.other_index, dtype=np.intp)
    np.add.at(counts, pos[valid], n[valid])
    return Histogram(counts)


def histogram(values: Any, bins: Bins) -> Histogram:
    """Count a column into either kind of layout."""
    if isinstance(bins, NumericBins):
        return numeric_histogram(values, bins)
    return categorical_histogram(values, bins)
