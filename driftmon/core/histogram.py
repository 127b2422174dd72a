"""Counting values into a fixed bin layout, and merging counts of chunks.

A histogram is a vector of non-negative integer counts, one per bin of its layout.
Counts of disjoint chunks add up exactly to the counts of their union, so any input can be
streamed in batches with memory bounded by the number of bins, not the number of rows.
"""

from __future__ import annotations

import ctypes
import functools
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from driftmon.core import textmatch
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
        if n_bins < 1:
            raise ValueError("histogram counts must be a non-empty 1-d array of counts >= 0")
        return cls._valid(np.zeros(n_bins, dtype=np.int64))

    @classmethod
    def _valid(cls, counts: Counts) -> Histogram:
        """A histogram of counts known to be valid and owned by no one else: no copy, no
        check (a run merges hundreds of them per batch)."""
        counts.setflags(write=False)
        h = object.__new__(cls)
        object.__setattr__(h, "counts", counts)
        return h

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def __add__(self, other: Histogram) -> Histogram:
        if self.counts.shape != other.counts.shape:
            raise ValueError(
                f"cannot merge histograms of {self.counts.size} and {other.counts.size} bins"
            )
        return Histogram._valid(self.counts + other.counts)

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
            shown = values.type
            if pa.types.is_dictionary(shown):  # e.g. text read from Parquet as a dictionary
                shown = shown.value_type
            raise ColumnTypeError(f"expected numbers, got Arrow type {shown}")
        # Unsafe: integers beyond ±2**53 round to the nearest float, which binning allows.
        arr = pc.cast(values, pa.float64(), safe=False)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
    if isinstance(values, pd.Series | pd.Index):
        if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
            return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan))
        if values.dtype == object:
            try:
                # pandas-stubs has no Index overload of to_numeric; pandas accepts one.
                numbers = pd.to_numeric(values, errors="raise")  # type: ignore[call-overload]
                return np.asarray(numbers, dtype=np.float64)
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
    bad = pd.to_numeric(values, errors="coerce").isna() & values.notna()  # type: ignore[call-overload]
    example = values[bad][:3].tolist()
    return f"non-numeric values such as {example!r}"


def category_value_counts(values: Any) -> tuple[dict[str, int], int]:
    """Count distinct categories as text, and missing values separately.

    Every input type goes through Arrow's string cast, so a category is spelled the same
    way in the reference and in a live window (``true``/``false`` for booleans).
    """
    texts, counts, n_missing = _text_counts(values)
    return dict(zip(texts.to_pylist(), counts.tolist(), strict=True)), n_missing


def text_counts(values: Any) -> tuple[pa.Array, Counts, int]:
    """Distinct non-missing category texts of a column, their counts, and the number of
    missing values: the tally ``category_value_counts`` gives, as Arrow and NumPy arrays."""
    return _text_counts(values)


def merge_text_counts(
    parts: list[tuple[pa.Array, Counts, int]],
) -> tuple[pa.Array, Counts, int]:
    """Tallies of disjoint chunks (``text_counts``) merged into the tally of their union."""
    return _merge_text_counts(parts)


def _text_counts(values: Any, sample: _ObjectSample | None = None) -> tuple[pa.Array, Counts, int]:
    """Distinct non-missing texts of a column, their counts, and the number of missing values.

    A text is the column's value through ``_to_arrow`` and Arrow's string cast (nulls for
    missing values). Equal to ``value_counts`` of those texts, but counts before it
    converts where that is exact and cheaper: dictionary indices instead of decoded
    strings, integers and booleans before their cast, and the distinct objects of an
    object column instead of every row (see ``_object_text_counts``; ``sample``: that
    column's ``_sample_objects``, when the caller has taken it already).
    """
    if isinstance(values, pa.ChunkedArray):
        return _chunked_text_counts(values)
    if isinstance(values, pa.Array):
        return _arrow_text_counts(values)
    if isinstance(values, pd.Series) and values.dtype == object:
        found = _object_text_counts(values.to_numpy(), as_series=True, sample=sample)
    elif not isinstance(values, pd.Series):
        arr = np.asarray(values)
        is_object = arr.dtype == object
        found = _object_text_counts(arr, as_series=False, sample=sample) if is_object else None
    else:
        found = None
    if found is not None:
        return found
    converted = _to_arrow(values)
    if isinstance(converted, pa.ChunkedArray):
        return _chunked_text_counts(converted)
    return _arrow_text_counts(converted)


def _chunked_text_counts(values: pa.ChunkedArray) -> tuple[pa.Array, Counts, int]:
    """Chunk by chunk, merged by text; as counting the combined chunks would.

    Combining dictionary chunks unifies their dictionaries by value equality, which for
    floats merges texts that differ (0.0 and -0.0): those chunks are combined first.
    """
    t = values.type
    if pa.types.is_dictionary(t) and not _is_exact_text_type(t.value_type):
        return _arrow_text_counts(values.combine_chunks())
    return _merge_text_counts([_arrow_text_counts(c) for c in values.chunks])


def _is_exact_text_type(t: pa.DataType) -> bool:
    """Types whose values are equal exactly when their spellings are."""
    return bool(
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_integer(t)
        or pa.types.is_boolean(t)
    )


def _to_arrow(values: Any) -> pa.Array | pa.ChunkedArray:
    """A pandas or NumPy column as Arrow; ``str()`` of each value when Arrow cannot type it."""
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    try:
        return pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        mask = series.isna().to_numpy()
        cache: dict[tuple[type, Any, float], str] = {}
        texts = [None if m else _spell(v, cache) for v, m in zip(series, mask, strict=True)]
        return pa.array(texts, type=pa.string())


def _spell(value: Any, cache: dict[tuple[type, Any, float], str]) -> str:
    """One value of a mixed-type column spelled as a column of its own type would be
    (``true`` for True, ``1`` for 1.0), so mixed and typed columns agree on categories."""
    try:
        # The sign tells 0.0 from -0.0, which are equal (same key) but spelled 0 and -0.
        sign = math.copysign(1.0, value) if isinstance(value, float) else 1.0
        key = (type(value), value, sign)
        hit = cache.get(key)
    except TypeError:  # unhashable: spell it afresh
        key, hit = None, None
    if hit is not None:
        return hit
    text: str | None
    try:
        single = pa.array([value], from_pandas=True)
        text = _cast_to_text(single)[0].as_py()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ColumnTypeError):
        text = None
    if text is None:
        text = str(value)
    if key is not None:
        cache[key] = text
    return text


# A fraction's trailing zeros (and a bare point), before an optional UTC "Z" or offset.
_FRACTION_ZEROS = r"(\.[0-9]*?)0+((?:Z|[+-][0-9:]+)?)$"
_BARE_POINT = r"\.((?:Z|[+-][0-9:]+)?)$"
_FRACTION_ZEROS_RE = re.compile(_FRACTION_ZEROS)
_BARE_POINT_RE = re.compile(_BARE_POINT)


def canonical_label(text: str) -> str:
    """A timestamp's or decimal's category spelled without its unit's or scale's trailing
    zeros: ``12:00:00.000Z`` is ``12:00:00Z``, ``1.50`` is ``1.5``, ``2.00`` is ``2``. So a
    column stored in seconds and one in milliseconds (a Parquet round trip, pandas'
    nanoseconds), or at scale 2 and 3, name the same value the same category."""
    return _BARE_POINT_RE.sub(r"\1", _FRACTION_ZEROS_RE.sub(r"\1\2", text))


def _canonical_labels(arr: pa.Array) -> pa.Array:
    """``canonical_label`` of every text of ``arr``, in Arrow."""
    arr = pc.replace_substring_regex(arr, pattern=_FRACTION_ZEROS, replacement=r"\1\2")
    return pc.replace_substring_regex(arr, pattern=_BARE_POINT, replacement=r"\1")


def _cast_to_text(arr: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_timestamp(arr.type) or pa.types.is_decimal(arr.type):
        return _canonical_labels(pc.cast(arr, pa.string()))
    if pa.types.is_floating(arr.type) and arr.null_count < len(arr):
        # NaN is a missing value, as pandas and the numeric path read it, not a category.
        arr = pc.if_else(pc.is_nan(arr), pa.scalar(None, arr.type), arr)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        try:
            arr = pc.cast(arr, pa.string())
        except pa.ArrowInvalid as exc:
            if not _is_bytes_type(arr.type):
                raise ColumnTypeError(f"cannot read Arrow type {arr.type} as categories") from exc
            arr = _bytes_as_text(arr)
        except pa.ArrowNotImplementedError as exc:
            raise ColumnTypeError(f"cannot read Arrow type {arr.type} as categories") from exc
    return arr


def _is_bytes_type(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
    )


def _bytes_as_text(arr: pa.Array) -> pa.Array:
    """Bytes that are not all UTF-8 as text, invalid sequences as U+FFFD (as a CSV with a
    stray Latin-1 byte reads), decoding each distinct value once."""
    encoded = pc.dictionary_encode(arr)
    texts = [b.decode("utf-8", "replace") for b in encoded.dictionary.to_pylist()]
    return pc.take(pa.array(texts, pa.string()), encoded.indices)


def _arrow_text_counts(arr: pa.Array) -> tuple[pa.Array, Counts, int]:
    """``_text_counts`` of one Arrow array."""
    t = arr.type
    if pa.types.is_dictionary(t):
        # Count the indices, then spell the dictionary: decoding would copy every row.
        k = len(arr.dictionary)
        idx = arr.indices.fill_null(k).to_numpy(zero_copy_only=False)
        per_entry = np.bincount(idx, minlength=k + 1)[:k].astype(np.int64)
        return _tally(_cast_to_text(arr.dictionary), per_entry, int(arr.indices.null_count))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        texts, counts = _value_counts(arr)
        return texts, counts, int(arr.null_count)
    if _is_exact_text_type(t):
        # Distinct integers (booleans) have distinct spellings: count, then cast the few.
        values, counts = _value_counts(arr)
        return _cast_to_text(values), counts, int(arr.null_count)
    text = _cast_to_text(arr)
    texts, counts = _value_counts(text)
    return texts, counts, int(text.null_count)


def _value_counts(arr: pa.Array) -> tuple[pa.Array, Counts]:
    """Distinct non-null values and their counts."""
    vc = pc.value_counts(arr)
    values = vc.field("values")
    counts = vc.field("counts").to_numpy(zero_copy_only=False).astype(np.int64)
    if values.null_count:
        valid = values.is_valid()
        return values.filter(valid), counts[valid.to_numpy(zero_copy_only=False)]
    return values, counts


def _tally(texts: pa.Array, counts: Counts, n_missing: int) -> tuple[pa.Array, Counts, int]:
    """Sum ``counts`` per distinct text; null texts are missing values."""
    valid = texts.is_valid().to_numpy(zero_copy_only=False)
    n_missing += int(counts[~valid].sum())
    keep = valid & (counts > 0)
    encoded = pc.dictionary_encode(texts.filter(pa.array(keep)))
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    totals = np.zeros(len(encoded.dictionary), dtype=np.int64)
    np.add.at(totals, codes, counts[keep])
    return encoded.dictionary, totals, n_missing


def _merge_text_counts(parts: list[tuple[pa.Array, Counts, int]]) -> tuple[pa.Array, Counts, int]:
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return pa.array([], type=pa.string()), np.zeros(0, dtype=np.int64), 0
    texts = pa.concat_arrays([p[0].cast(pa.large_string()) for p in parts])
    counts = np.concatenate([p[1] for p in parts])
    return _tally(texts, counts, sum(p[2] for p in parts))


# An object column holding mostly repeats of a few objects (the usual categorical column)
# is counted by object address; one with many distinct objects is left to Arrow.
_ADDRESS_SAMPLE = 1 << 16
_MAX_DISTINCT_IN_SAMPLE = 1 << 12


def _object_text_counts(
    objects: npt.NDArray[Any], as_series: bool, sample: _ObjectSample | None = None
) -> tuple[pa.Array, Counts, int] | None:
    """``_text_counts`` of an object column, or None to leave it to the row-by-row rule.

    Rows holding the same object have the same text, so the column is counted by object
    address (a fast integer hash), and only one row per distinct object is converted, by
    the same rule as the whole column (Arrow's type inference sees the same set of types
    and values either way). Equal objects at different addresses are merged by text.
    A column of mostly distinct objects (e.g. strings made row by row by a database
    driver) is counted by value instead, if it holds only text.
    """
    sample = sample or _sample_objects(objects)
    if sample is None:
        return None
    flat, addresses, n = sample.flat, sample.addresses, sample.flat.size
    if sample.mostly_distinct:
        return _hashed_text_counts(flat)
    codes, distinct = pd.factorize(addresses)
    counts = np.bincount(codes, minlength=distinct.size).astype(np.int64)
    # One row per distinct object (any will do). Codes number objects in order of first
    # appearance, so a prefix whose largest code is the last one holds every object.
    prefix = min(n, _ADDRESS_SAMPLE)
    while int(codes[:prefix].max()) < distinct.size - 1:
        prefix = min(n, 4 * prefix)
    one_row = np.empty(distinct.size, dtype=np.intp)
    one_row[codes[:prefix]] = np.arange(prefix)
    reps = flat[one_row]
    converted = _to_arrow(pd.Series(reps, dtype=object) if as_series else reps)
    if isinstance(converted, pa.ChunkedArray):
        converted = converted.combine_chunks()
    return _tally(_cast_to_text(converted), counts, 0)


@dataclass(frozen=True)
class _ObjectSample:
    """An object column's PyObject pointers and whether a sample of them is mostly
    distinct (strings made row by row, e.g. by a database driver) rather than repeats of a
    few objects, which counting by object address pays for."""

    flat: npt.NDArray[Any]  # the contiguous column; it keeps the objects alive
    addresses: npt.NDArray[np.intp]
    mostly_distinct: bool


def _sample_objects(objects: npt.NDArray[Any]) -> _ObjectSample | None:
    """``_ObjectSample`` of an object column; None for an empty one."""
    flat = np.ascontiguousarray(objects.ravel())
    n = flat.size
    if n == 0 or flat.itemsize != ctypes.sizeof(ctypes.c_void_p):
        return None
    # The array's buffer holds one PyObject pointer per row.
    raw = (ctypes.c_char * (n * flat.itemsize)).from_address(flat.ctypes.data)
    addresses = np.frombuffer(memoryview(raw), dtype=np.intp)
    distinct = pd.unique(addresses[:_ADDRESS_SAMPLE]).size > _MAX_DISTINCT_IN_SAMPLE
    return _ObjectSample(flat, addresses, bool(distinct))


def _hashed_text_counts(flat: npt.NDArray[Any]) -> tuple[pa.Array, Counts, int] | None:
    """Counts of an object column of distinct ``str`` objects by value; None if not all str.

    For text, Python equality is text equality, and every missing-value marker that can
    sit in a text column (None, NaN, NA, NaT) is missing under both pandas and the Arrow
    rule, so pandas' hash count is the definition's. Other types could merge values with
    different spellings (``1 == 1.0 == True``): those columns are declined.
    """
    # dropna=False: the NA keys are sorted out below, saving pandas a slow isna pass.
    vc = pd.Series(flat, dtype=object, copy=False).value_counts(sort=False, dropna=False)
    keys = vc.index.to_numpy(dtype=object)
    counts: Counts = np.asarray(vc.to_numpy(), dtype=np.int64)
    is_text = np.zeros(keys.size, dtype=np.bool_)
    for i, k in enumerate(keys):
        if type(k) is str:
            is_text[i] = True
        elif pd.isna(k) is not True:
            return None
    texts = pa.array(keys[is_text], type=pa.string())
    return texts, counts[is_text], int(counts[~is_text].sum())


def numeric_histogram(values: Any, bins: NumericBins) -> Histogram:
    """Count a numeric column into ``bins`` (see ``driftmon.core.bins`` for the rules)."""
    return Histogram(count_into_edges(numeric_values(values), bins.edges))


def categorical_histogram(values: Any, bins: CategoricalBins) -> Histogram:
    """Count a categorical column into ``bins``; unseen categories land in "other"."""
    if isinstance(values, pd.Series) and values.dtype != object:
        values = _to_arrow(values)  # as _text_counts would; Arrow's text can be matched
    sample, matched = None, None
    if isinstance(values, pd.Series | np.ndarray) and values.dtype == object:
        # One str object per row: the compiled count; repeated objects: by address (below).
        sample = _sample_objects(np.asarray(values)) if textmatch.available() else None
        if sample is not None and sample.mostly_distinct:
            matched = textmatch.match_object_counts(sample.flat, bins.categories)
    else:
        matched = textmatch.match_counts(values, bins.categories)
    if matched is not None:
        per_category, n_other, n_missing = matched
        counts = np.zeros(bins.n_bins, dtype=np.int64)
        counts[: len(per_category)] = per_category
        counts[bins.other_index] += n_other
        counts[bins.missing_index] += n_missing
        return Histogram._valid(counts)
    texts, n, n_missing = _text_counts(values, sample)
    counts = np.zeros(bins.n_bins, dtype=np.int64)
    counts[bins.missing_index] = n_missing
    if bins.categories and len(texts):
        idx = pc.index_in(texts, value_set=_category_array(bins.categories, texts.type))
        pos = idx.fill_null(bins.other_index).to_numpy(zero_copy_only=False).astype(np.intp)
        np.add.at(counts, pos, n)
    else:
        counts[bins.other_index] += int(n.sum())
    return Histogram(counts)


@functools.lru_cache(maxsize=4096)
def _category_array(categories: tuple[str, ...], type_: pa.DataType) -> pa.Array:
    """A layout's categories as Arrow text, made once per layout, not per batch."""
    return pa.array(categories, type=type_)


def histogram(values: Any, bins: Bins) -> Histogram:
    """Count a column into either kind of layout."""
    if isinstance(bins, NumericBins):
        return numeric_histogram(values, bins)
    return categorical_histogram(values, bins)
