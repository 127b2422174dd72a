"""One feature's reference profile built from batches, in memory bounded by the bin layout.

``build_feature_profile`` needs the whole column; ``FeatureFit`` is fed the column's batches
once per pass over the reference instead and gives the same profile, bit for bit:

1. **scan**: row count, the types of the batches, categories counted exactly (memory:
   the distinct categories), and for numbers the count of finite values, the minimum, the
   smallest value above it, the maximum, the counts of ±inf and missing values, and the
   first counting pass of the exact quantile selection (``driftmon.core.selection``);
2. **select** (quantile edges only): passes of the selection until every edge is known;
3. **count**: the reference histogram on the fitted edges.

Categorical features and explicit edges need only the scan. Batches of differing types are
unified to one type as for a whole column (``common_type``); when that changes values (other
than all-null batches) the scan is repeated on batches cast to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import Enum

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from driftmon.core.bins import (
    BinningError,
    Bins,
    NumericBins,
    constant_bins,
    explicit_numeric_bins,
    quantile_bins,
    quantile_probabilities,
    uniform_bins,
)
from driftmon.core.histogram import (
    ColumnTypeError,
    Counts,
    Histogram,
    histogram,
    merge_text_counts,
    numeric_values,
    text_counts,
)
from driftmon.core.kinds import ColumnKind, column_kind
from driftmon.core.profile import (
    FeatureProfile,
    FeatureSpec,
    ReferenceValuesError,
    categorical_profile,
    no_finite_value_message,
)
from driftmon.core.selection import RankSelector, float_keys, inverted_cdf_ranks


def common_type(types: Sequence[pa.DataType]) -> pa.DataType:
    """The one type batches of ``types`` are read as (Arrow's permissive promotion);
    ColumnTypeError when they have none."""
    distinct = list(dict.fromkeys(types))
    if len(distinct) == 1:
        return distinct[0]
    try:
        schemas = [pa.schema([("v", t)]) for t in distinct]
        return pa.unify_schemas(schemas, promote_options="permissive").field("v").type
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise disagreeing_types(distinct) from exc


def disagreeing_types(types: Sequence[pa.DataType]) -> ColumnTypeError:
    names = ", ".join(str(t) for t in dict.fromkeys(types))
    return ColumnTypeError(f"the files disagree on its type ({names})")


class _Phase(Enum):
    SCAN = "scan"
    SELECT = "select"
    COUNT = "count"
    DONE = "done"


class FeatureFit:
    """Fits one feature over passes; see the module docstring.

    While ``needs_pass``: ``feed`` every batch of the column, then ``end_pass``. Errors that
    make the feature unprofilable (``ColumnTypeError``, ``ValueError``) are raised by
    ``end_pass`` or ``feed``; the caller records them and stops feeding this fit.
    """

    def __init__(
        self, spec: FeatureSpec, *, count_budget: int = 1 << 16, value_budget: int = 1 << 16
    ) -> None:
        self.spec = spec
        self._count_budget = count_budget
        self._value_budget = value_budget
        self._phase = _Phase.SCAN
        self._types: list[pa.DataType] = []
        self._cast_to: pa.DataType | None = None
        self._kind: ColumnKind | None = None
        self._bins: Bins | None = None
        self._profile: FeatureProfile | None = None
        self._ranks: list[int] = []
        self._rows = 0
        self._rows_this_pass = 0
        self._deferred: ColumnTypeError | None = None
        self._tally: tuple[pa.Array, Counts, int] | None = None
        self._hist: Histogram | None = None
        self._selector: RankSelector | None = None
        self._reset_scan()

    @property
    def needs_pass(self) -> bool:
        return self._phase is not _Phase.DONE

    @property
    def peak_held(self) -> int:
        """Most quantile-selection counters and values held at once (bounded by budgets)."""
        return self._selector.peak_held if self._selector is not None else 0

    def profile(self) -> FeatureProfile:
        if self._profile is None:
            raise RuntimeError(f"feature {self.spec.name!r} needs more passes")
        return self._profile

    def feed(self, values: pa.Array) -> None:
        """One batch of the feature's column (every batch, in every pass)."""
        if self._phase is _Phase.SCAN and self._cast_to is None:
            self._types.append(values.type)
        if self._deferred is not None:
            return
        if self._cast_to is not None and values.type != self._cast_to:
            try:
                values = values.cast(self._cast_to)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
                raise disagreeing_types(self._types) from exc
        self._rows_this_pass += len(values)
        try:
            if self._phase is _Phase.SCAN:
                self._scan(values)
            elif self._phase is _Phase.SELECT:
                assert self._selector is not None
                self._selector.feed(float_keys(self._finite(values)))
            else:
                assert self._bins is not None
                self._add(histogram(numeric_values(values), self._bins))
        except ColumnTypeError as exc:
            if self._phase is not _Phase.SCAN:
                raise
            self._deferred = exc  # the batches' types may disagree: that error comes first

    def end_pass(self) -> None:
        if self._phase is _Phase.SCAN:
            self._end_scan()
        else:
            if self._rows_this_pass != self._rows:
                raise ValueError(
                    f"the reference changed while it was read: {self._rows} rows, "
                    f"then {self._rows_this_pass}"
                )
            if self._phase is _Phase.SELECT:
                assert self._selector is not None
                self._selector.end_pass()
                self._after_selection()
            else:
                self._finish()
        self._rows_this_pass = 0

    # -- scan ------------------------------------------------------------------------------

    def _reset_scan(self) -> None:
        self._rows = 0
        self._rows_this_pass = 0
        self._deferred = None
        self._tally = None
        self._finite_n = 0
        self._lo = math.inf
        self._above_lo = math.inf
        self._hi = -math.inf
        self._pos_inf = self._neg_inf = self._missing = 0
        self._hist = None
        fitted = self.spec.kind == "numeric" and self.spec.edges is None
        if fitted and self.spec.strategy == "quantile":
            self._selector = RankSelector(
                count_budget=self._count_budget, value_budget=self._value_budget
            )

    def _explicit_bins(self) -> NumericBins:
        assert self.spec.edges is not None
        return explicit_numeric_bins(self.spec.edges)

    def _scan(self, values: pa.Array) -> None:
        if self.spec.kind == "categorical":
            counted = text_counts(values)
            self._tally = (
                counted if self._tally is None else merge_text_counts([self._tally, counted])
            )
            return
        x = numeric_values(values)
        if self.spec.edges is not None:
            self._add(histogram(x, self._explicit_bins()))
        finite = x[np.isfinite(x)]
        self._pos_inf += int(np.count_nonzero(x == np.inf))
        self._neg_inf += int(np.count_nonzero(x == -np.inf))
        self._missing += int(np.count_nonzero(np.isnan(x)))
        if not finite.size:
            return
        self._finite_n += finite.size
        lo = float(finite.min())
        above = finite[finite > lo]
        candidates = [self._lo, self._above_lo, lo, float(above.min()) if above.size else math.inf]
        self._lo = min(candidates)
        self._above_lo = min((c for c in candidates if c > self._lo), default=math.inf)
        self._hi = max(self._hi, float(finite.max()))
        if self._selector is not None:
            self._selector.feed(float_keys(finite))

    def _end_scan(self) -> None:
        self._rows = self._rows_this_pass
        if len(self._types) > 1 and self._cast_to is None:
            common = common_type(self._types)
            self._kind = column_kind(common)
            valued = {t for t in self._types if not pa.types.is_null(t)}
            if len(valued) > 1:  # the cast may change values: scan them again, cast
                self._cast_to = common
                self._reset_scan()
                return
        elif self._types and self._cast_to is None:
            self._kind = column_kind(self._types[0])
        if self._deferred is not None:
            raise self._deferred
        if not self._rows:
            self._kind = None
        if self.spec.kind == "categorical":
            texts, counts, n_missing = self._tally or merge_text_counts([])
            tally = dict(zip(texts.to_pylist(), counts.tolist(), strict=True))
            self._profile = categorical_profile(self.spec, tally, n_missing, self._kind)
            self._phase = _Phase.DONE
            return
        if self._rows and not self._finite_n:
            raise ReferenceValuesError(
                no_finite_value_message(self._rows, self._pos_inf, self._neg_inf, self._missing)
            )
        if self.spec.edges is not None:
            self._bins = self._explicit_bins()
            self._finish()
            return
        if self.spec.bins < 1:
            raise BinningError(f"bins must be at least 1, got {self.spec.bins}")
        if not self._finite_n:
            self._bins = NumericBins(())
        elif self._lo == self._hi:
            self._bins = constant_bins(self._lo)
        elif self.spec.strategy == "uniform":
            self._bins = uniform_bins(self._lo, self._hi, self.spec.bins)
        else:
            probs = quantile_probabilities(self.spec.bins)
            self._ranks = [int(r) for r in inverted_cdf_ranks(self._finite_n, probs)]
            assert self._selector is not None
            self._selector.end_pass(self._ranks)
            self._after_selection()
            return
        self._start_count()

    # -- select and count ------------------------------------------------------------------

    def _finite(self, values: pa.Array) -> npt.NDArray[np.float64]:
        x = numeric_values(values)
        return x[np.isfinite(x)]

    def _after_selection(self) -> None:
        assert self._selector is not None
        if not self._selector.done:
            self._phase = _Phase.SELECT
            return
        quantiles = np.array(self._selector.values(self._ranks), dtype=np.float64)
        self._bins = quantile_bins(quantiles, self._lo, self._above_lo)
        self._start_count()

    def _add(self, counts: Histogram) -> None:
        self._hist = counts if self._hist is None else self._hist + counts

    def _start_count(self) -> None:
        self._hist = None
        self._phase = _Phase.COUNT

    def _finish(self) -> None:
        assert self._bins is not None
        hist = self._hist if self._hist is not None else Histogram.empty(self._bins.n_bins)
        self._profile = FeatureProfile(self.spec.name, self._bins, hist, self._kind)
        self._phase = _Phase.DONE
