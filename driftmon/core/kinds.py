"""Column kinds, and the lossless mappings that let a live column of another kind be scored.

A column's kind is read from its Arrow type: ``bool``, ``integer``, ``float``, ``decimal``,
``text`` (strings and bytes, which CSV sources mix; their views too, as polars hands them
over), ``date``, ``timestamp``, or ``other`` (durations, times, lists, ...). Arrow's null
type (a batch holding only missing values) has no kind. The reference profile records the
kind of each reference column, so a live column of another kind is never binned as if
nothing had changed: it is either mapped losslessly onto the reference's kind (and scored,
with a note naming both kinds), or rejected with ``KindMismatch`` naming both.

Lossless mappings, by how the feature is binned:

numeric features (values are read as numbers either way)
    integer, float and decimal against each other: compared as numbers, unchanged;
    bool live against a number reference: false and true are 0 and 1;
    integer or float live against a bool reference: only if every value is 0 or 1.
categorical features (values are compared by their text)
    bool reference: integer or float live values 0 and 1 read as false and true;
    integer reference: bool as 0 and 1, floats only if every value is integral;
    float reference: bool as 0 and 1, integers only if every value is an exact float;
    text reference: integers, spelled as text.

A value that does not survive its mapping (2 against a bool reference, 1.5 against an
integer one) is not binned anywhere: ``to_reference_kind`` raises ``KindMismatch`` naming
it. Decimals, dates and timestamps are spelled by their own rules (a timestamp or decimal
without its unit's or scale's trailing zeros: ``histogram.canonical_label``), so a
categorical feature maps none of them to or from another kind; a timestamp in seconds and
one in nanoseconds, or a decimal at scale 2 and at scale 6, need no mapping.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from driftmon.core.histogram import ColumnTypeError

ColumnKind = Literal["bool", "integer", "float", "decimal", "text", "date", "timestamp", "other"]
COLUMN_KINDS: Final[tuple[ColumnKind, ...]] = get_args(ColumnKind)

_NUMBERS: Final = frozenset({"integer", "float", "decimal"})


class KindMismatch(ColumnTypeError):  # noqa: N818 - reads as the condition it reports
    """Live values of another kind than the reference's, with no lossless mapping."""


def column_kind(t: pa.DataType) -> ColumnKind | None:
    """The kind of an Arrow type; None for the null type, which holds no values."""
    if pa.types.is_dictionary(t):
        return column_kind(t.value_type)
    if pa.types.is_null(t):
        return None
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_decimal(t):
        return "decimal"
    if (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_string_view(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_binary_view(t)
        or pa.types.is_fixed_size_binary(t)
    ):
        return "text"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    return "other"


def kind_of(values: Any) -> ColumnKind | None:
    """The kind of a column: from its Arrow type, or from a plain NumPy dtype.

    Columns without a declared element type (lists, pandas object or extension columns)
    have no kind (None), and are binned as before kinds were recorded.
    """
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return column_kind(values.type)
    dtype = getattr(values, "dtype", None)
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biufMmUS":
        return None
    try:
        return column_kind(pa.from_numpy_dtype(dtype))
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, TypeError):
        return None


@dataclass(frozen=True)
class KindMapping:
    """How live values of kind ``live`` are compared with a reference of kind ``reference``."""

    reference: ColumnKind
    live: ColumnKind
    target: pa.DataType | None
    """Live values are cast to this type (and must survive the round trip back);
    None: they are binned as they are."""
    how: str

    def note(self) -> str:
        """The message of a feature scored through this mapping."""
        return (
            f"column kind changed: reference {self.reference}, live {self.live}; "
            f"compared with {self.how}"
        )


def kind_mapping(
    reference: ColumnKind,
    live: ColumnKind,
    *,
    numeric: bool,
    live_type: pa.DataType | None = None,
) -> KindMapping:
    """The lossless mapping from ``live`` to ``reference`` kind; KindMismatch if there is none
    (naming ``live_type``, the live column's Arrow type, when given)."""
    target: pa.DataType | None
    if numeric:
        if reference in _NUMBERS and live in _NUMBERS:
            target, how = None, "both read as numbers"
        elif reference in _NUMBERS and live == "bool":
            target, how = None, "false and true read as 0 and 1"
        elif reference == "bool" and live in _NUMBERS:
            target, how = pa.bool_(), "0 and 1 read as false and true"
        else:
            raise _no_mapping(reference, live, live_type, "numeric")
    else:
        found = _CATEGORICAL.get((reference, live))
        if found is None:
            raise _no_mapping(reference, live, live_type, "categorical")
        target, how = found
    return KindMapping(reference, live, target, how)


_CATEGORICAL: Final[dict[tuple[str, str], tuple[pa.DataType, str]]] = {
    ("bool", "integer"): (pa.bool_(), "0 and 1 read as false and true"),
    ("bool", "float"): (pa.bool_(), "0 and 1 read as false and true"),
    ("integer", "bool"): (pa.int64(), "false and true read as 0 and 1"),
    ("integer", "float"): (pa.int64(), "integral floats read as integers"),
    ("float", "bool"): (pa.float64(), "false and true read as 0 and 1"),
    ("float", "integer"): (pa.float64(), "integers read as floats"),
    ("text", "integer"): (pa.string(), "integers spelled as text"),
}


def _no_mapping(
    reference: ColumnKind, live: ColumnKind, live_type: pa.DataType | None, binning: str
) -> KindMismatch:
    found = (
        f"expected numbers, got {_described(live, live_type)} values"
        if binning == "numeric"
        else f"its values are {_described(live, live_type)}"
    )
    return KindMismatch(
        f"{found} but the reference's are {reference}, and a {binning} feature has no "
        f"lossless mapping from {live} to {reference}"
    )


def _described(kind: ColumnKind, t: pa.DataType | None) -> str:
    return f"{kind} (Arrow {t})" if t is not None else kind


def kind_note(
    reference: ColumnKind | None, live_kinds: Iterable[ColumnKind], *, numeric: bool
) -> str | None:
    """The note of a feature whose live batches came in other kinds than its reference's."""
    if reference is None:
        return None
    other = sorted(set(live_kinds) - {reference}, key=COLUMN_KINDS.index)
    if not other:
        return None
    notes = [kind_mapping(reference, live, numeric=numeric) for live in other]
    if len(notes) == 1:
        return notes[0].note()
    hows = "; ".join(f"{n.live}: {n.how}" for n in notes)
    return f"column kind changed: reference {reference}, live {' and '.join(other)}; {hows}"


def to_reference_kind(values: Any, reference: ColumnKind | None, *, numeric: bool) -> Any:
    """``values`` ready for a reference of kind ``reference``: unchanged when the kinds agree
    (or either is unknown), losslessly mapped when they differ, else KindMismatch."""
    live = kind_of(values)
    if reference is None or live is None or live == reference:
        return values
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
    mapping = kind_mapping(reference, live, numeric=numeric, live_type=arr.type)
    if mapping.target is None:
        return values
    return _cast_losslessly(arr, mapping.target, mapping)


def _cast_losslessly(
    arr: pa.Array | pa.ChunkedArray, target: pa.DataType, mapping: KindMapping
) -> Any:
    """``arr`` cast to ``target``; KindMismatch naming values that change on the way there
    and back (2 as a bool is true, which is 1)."""
    live_type = arr.type
    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, arr.type.value_type)
    if pa.types.is_decimal(arr.type):
        arr = pc.cast(arr, pa.float64(), safe=False)  # as numeric features read decimals
    if pa.types.is_floating(arr.type):
        arr = pc.if_else(pc.is_nan(arr), pa.scalar(None, arr.type), arr)  # NaN is missing
    mapped = pc.cast(arr, target, safe=False)
    back = pc.cast(mapped, arr.type, safe=False)
    lost = pc.fill_null(pc.not_equal(back, arr), False)
    if pc.any(lost).as_py():
        examples = pc.unique(arr.filter(lost)).to_pylist()
        shown = ", ".join(str(v) for v in examples[:3])
        more = f" (and {len(examples) - 3} more)" if len(examples) > 3 else ""
        raise KindMismatch(
            f"its values are {_described(mapping.live, live_type)} but the reference's are "
            f"{mapping.reference}, and values such as {shown}{more} cannot be read as "
            f"{mapping.reference} without loss (the mapping: {mapping.how})"
        )
    return mapped
