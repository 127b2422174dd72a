"""Exact counts of a text column against a layout's categories, in one compiled pass.

A live categorical column only needs, per reference category, how many rows spell it,
plus the rows that spell none (the "other" bin) and the missing ones. Arrow's
``value_counts`` finds every distinct text first, ~12 ns a row in its generic hash table;
the C loop in ``_textmatch.c`` looks each row up in a small table of the categories
instead (~6 ns a row) and releases the GIL while it does, so a column pool's other thread
counts meanwhile. ``string`` and ``large_string`` columns qualify, and object columns of
one ``str`` per row (``match_object_counts``: ~15 ns a row, reading the objects, against
~24 for pandas' hash by value); every other type is spelled as text first
(``core.histogram``), and there the spelling is the cost.

The compiled module is optional (the install builds it when a C compiler is there):
without it both functions return None and the caller counts as before (Arrow's
``value_counts``, pandas' hash), with the same result.
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

Counts = npt.NDArray[np.int64]


def _compiled() -> ModuleType | None:
    try:
        return importlib.import_module("driftmon.core._textmatch")
    except ImportError:  # installed without a C compiler: Arrow counts instead
        return None


_textmatch = _compiled()


def available() -> bool:
    """Whether the compiled count is installed."""
    return _textmatch is not None


def match_counts(values: Any, categories: tuple[str, ...]) -> tuple[Counts, int, int] | None:
    """Rows per category (in ``categories``' order), rows matching none, and null rows of a
    ``string`` or ``large_string`` Arrow array or chunked array; None for any other input,
    or when the compiled count is not installed.

    A category matches a row when their UTF-8 bytes are equal, as ``pc.index_in`` decides.
    """
    if _textmatch is None or not categories:
        return None
    if isinstance(values, pa.ChunkedArray):
        chunks = values.chunks
    elif isinstance(values, pa.Array):
        chunks = [values]
    else:
        return None
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return None
    offset_size = 8 if pa.types.is_large_string(values.type) else 4
    cat_offsets, cat_data = _spelled(categories)
    counts = np.zeros(len(categories), dtype=np.int64)
    other = missing = 0
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        validity, offsets, data = chunk.buffers()
        chunk_other, chunk_missing = _textmatch.count(
            offsets,
            offset_size,
            b"" if data is None else data,
            validity if chunk.null_count else None,
            chunk.offset,
            len(chunk),
            cat_offsets,
            cat_data,
            counts,
        )
        other += chunk_other
        missing += chunk_missing
    return counts, other, missing


def match_object_counts(
    objects: npt.NDArray[Any], categories: tuple[str, ...]
) -> tuple[Counts, int, int] | None:
    """As ``match_counts``, for an object column holding only ``str``, None and NaN (one
    Python object per row, as a database driver makes them): the text of a ``str`` is its
    UTF-8 bytes, None and NaN are missing. None for any other column (numbers, ``pd.NA``,
    a ``str`` subclass, lone surrogates) or without the compiled count: the caller's rule
    counts it. Holds the GIL (it reads Python objects), unlike ``match_counts``.
    """
    if _textmatch is None or not categories or objects.dtype != object:
        return None
    # One PyObject pointer per row; `flat` keeps them alive during the call.
    flat = np.ascontiguousarray(objects.ravel())
    cat_offsets, cat_data = _spelled(categories)
    counts = np.zeros(len(categories), dtype=np.int64)
    found = _textmatch.count_objects(flat.ctypes.data, flat.size, cat_offsets, cat_data, counts)
    if found is None:
        return None
    other, missing = found
    return counts, other, missing


@functools.lru_cache(maxsize=4096)
def _spelled(categories: tuple[str, ...]) -> tuple[npt.NDArray[np.int64], bytes]:
    """A layout's categories as one UTF-8 buffer and its offsets, made once per layout."""
    encoded = [c.encode("utf-8") for c in categories]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return offsets, b"".join(encoded)
