"""The contract every source fulfils, so the runner never knows where data lives.

A source yields Arrow record batches of the requested columns, restricted to a time
window when one is given. Batches keep memory bounded by the batch size, not the row count;
the engine merges per-batch histograms exactly. A source that can count bins itself (SQL
push-down) also implements ``HistogramSource`` so rows never leave it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import pyarrow as pa

from driftmon.core.profile import FeatureSpec
from driftmon.sources.pushdown import PushedCounts, PushedFeature

if TYPE_CHECKING:
    from driftmon.sources.pushdown_reference import BuiltReference
    from driftmon.sources.timespan import TimeSpan

COLUMNS_SHOWN = 50
"""How many column names an error message lists before it says how many more there are."""


def column_list(names: Sequence[str], limit: int = COLUMNS_SHOWN) -> str:
    """Names for an error message: all of them, or the first ``limit`` and "… and N more"."""
    if not names:
        return "no columns"
    shown = ", ".join(names[:limit])
    rest = len(names) - limit
    return f"{shown}, … and {rest} more" if rest > 0 else shown


@dataclass(frozen=True)
class Window:
    """Half-open time window [start, end), timezone-aware UTC."""

    start: datetime
    end: datetime


@runtime_checkable
class Source(Protocol):
    """Reads rows for a monitor; see the module docstring."""

    def describe(self) -> str:
        """Where the data comes from, safe to log (passwords masked)."""
        ...

    def fingerprint(self) -> str:
        """Changes when the underlying data changes (files: names, sizes, mtimes; SQL: query)."""
        ...

    def columns(self) -> Sequence[str]:
        """Column names available in the source."""
        ...

    def batches(
        self, columns: Sequence[str], window: Window | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Record batches of ``columns``, only rows with window.start <= ts < window.end."""
        ...


@runtime_checkable
class TimeSpanSource(Protocol):
    """A windowed source that can tell which time range its timestamps span, cheaply."""

    def timestamp_span(self) -> TimeSpan | None:
        """Earliest and latest timestamp of all rows (None when no row has one)."""
        ...


@runtime_checkable
class HistogramSource(Protocol):
    """A source that counts bins itself, so rows never leave it (SQL push-down)."""

    def histograms(
        self, features: Mapping[str, PushedFeature], window: Window | None = None
    ) -> PushedCounts | None:
        """Per-feature histograms, live kinds and the window's row count; None when the
        counts cannot be computed exactly where the data lives (then read ``batches``)."""
        ...

    def reference_profile(
        self, specs: Sequence[tuple[str, FeatureSpec]], window: Window | None = None
    ) -> BuiltReference | None:
        """The profiles of ``(column, spec)`` built where the data lives, over the rows in
        ``window`` when one is given (a rolling reference); None: read rows."""
        ...


@contextmanager
def closing_source(source: Source) -> Iterator[Source]:
    """``source`` for one use, closed afterwards (if it can be) so pooled SQL connections
    don't pile up."""
    try:
        yield source
    finally:
        close = getattr(source, "close", None)
        if callable(close):
            close()
