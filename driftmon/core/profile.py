"""The fitted reference as plain data: bin layouts and reference counts per feature.

A profile is built once from the reference data, stored (``to_dict`` gives JSON-ready
data) and reused to score every live window without touching the reference again.

Format 2 records each reference column's kind (``driftmon.core.kinds``); a format-1
profile loads with every kind unknown (None), and ``ReferenceProfile.format`` tells the
caller to rebuild it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from driftmon.core.bins import (
    Bins,
    CategoricalBins,
    NumericBins,
    NumericStrategy,
    bins_from_dict,
    explicit_numeric_bins,
    fit_categorical_bins,
    fit_numeric_bins,
)
from driftmon.core.histogram import (
    Histogram,
    canonical_label,
    category_value_counts,
    histogram,
    numeric_values,
)
from driftmon.core.kinds import (
    COLUMN_KINDS,
    ColumnKind,
    kind_note,
    kind_of,
    to_reference_kind,
)

FeatureKind = Literal["numeric", "categorical"]
PROFILE_FORMAT = 2
_READABLE_FORMATS = (1, 2)


class ReferenceValuesError(ValueError):
    """A reference column with rows but no value to fit bins to (all missing, or no finite
    number in a numeric feature)."""


@dataclass(frozen=True)
class FeatureSpec:
    """How to bin one feature: the pure-core view of a feature's configuration."""

    name: str
    kind: FeatureKind = "numeric"
    bins: int = 10
    strategy: NumericStrategy = "quantile"
    edges: tuple[float, ...] | None = None
    max_categories: int = 50


@dataclass(frozen=True)
class FeatureProfile:
    """One feature's fixed bins, its reference histogram over them, and the reference
    column's kind (None: unknown, for a profile of format 1 or a reference without rows)."""

    name: str
    bins: Bins
    reference: Histogram
    column_kind: ColumnKind | None = None

    def __post_init__(self) -> None:
        if self.reference.counts.size != self.bins.n_bins:
            raise ValueError(
                f"feature {self.name!r}: {self.reference.counts.size} reference counts "
                f"for {self.bins.n_bins} bins"
            )

    @property
    def kind(self) -> FeatureKind:
        return "numeric" if isinstance(self.bins, NumericBins) else "categorical"

    @property
    def reference_rows(self) -> int:
        return self.reference.total

    def live_histogram(self, values: Any) -> Histogram:
        """Histogram of live values on this profile's bins, after the lossless mapping onto
        the reference's column kind (``KindMismatch`` when there is none)."""
        numeric = self.kind == "numeric"
        return histogram(to_reference_kind(values, self.column_kind, numeric=numeric), self.bins)

    def kind_note(self, live_kinds: Iterable[ColumnKind]) -> str | None:
        """What to tell about live batches of other kinds than the reference's (None: same)."""
        return kind_note(self.column_kind, live_kinds, numeric=self.kind == "numeric")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "bins": self.bins.to_dict(),
            "counts": self.reference.to_list(),
            "column_kind": self.column_kind,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureProfile:
        kind = data.get("column_kind")
        if kind is not None and kind not in COLUMN_KINDS:
            raise ValueError(f"feature {data.get('name')!r}: unknown column kind {kind!r}")
        bins, counts = _respelled(
            bins_from_dict(dict(data["bins"])), np.asarray(data["counts"], dtype=np.int64), kind
        )
        return cls(
            name=str(data["name"]),
            bins=bins,
            reference=Histogram(counts),
            column_kind=kind,
        )


def _respelled(
    bins: Bins, counts: npt.NDArray[np.int64], kind: ColumnKind | None
) -> tuple[Bins, npt.NDArray[np.int64]]:
    """Timestamp and decimal categories as they are spelled now (``canonical_label``): a
    profile stored before spelled them with their unit's or scale's trailing zeros, which
    no live value would match any more. Categories that now read the same are merged."""
    if kind not in ("timestamp", "decimal") or not isinstance(bins, CategoricalBins):
        return bins, counts
    labels = [canonical_label(c) for c in bins.categories]
    if labels == list(bins.categories) or counts.size != bins.n_bins:
        return bins, counts  # already canonical; a size mismatch is reported by the caller
    merged: dict[str, int] = {}
    for label, n in zip(labels, counts[: len(labels)].tolist(), strict=True):
        merged[label] = merged.get(label, 0) + n
    rest = counts[len(labels) :].tolist()
    return CategoricalBins(tuple(merged)), np.asarray([*merged.values(), *rest], dtype=np.int64)


@dataclass(frozen=True)
class ReferenceProfile:
    """All fitted features of a monitor's reference, in configuration order."""

    features: tuple[FeatureProfile, ...]
    rows: int
    metadata: Mapping[str, Any] = field(default_factory=dict)
    format: int = PROFILE_FORMAT
    """The format it was stored in; below PROFILE_FORMAT its column kinds are unknown."""

    def feature(self, name: str) -> FeatureProfile:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "rows": self.rows,
            "metadata": dict(self.metadata),
            "features": [f.to_dict() for f in self.features],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceProfile:
        version = data.get("format")
        if type(version) is not int or version not in _READABLE_FORMATS:
            raise ValueError(f"unsupported profile format {version!r}")
        return cls(
            features=tuple(FeatureProfile.from_dict(f) for f in data["features"]),
            rows=int(data["rows"]),
            metadata=dict(data.get("metadata", {})),
            format=int(version),
        )


def fit_bins(values: Any, spec: FeatureSpec) -> Bins:
    """Fix the bin layout of one feature from its reference values."""
    if spec.kind == "categorical":
        counts, _ = category_value_counts(values)
        return fit_categorical_bins(counts, spec.max_categories)
    if spec.edges is not None:
        return explicit_numeric_bins(spec.edges)
    return fit_numeric_bins(numeric_values(values), spec.bins, spec.strategy)


def build_feature_profile(values: Any, spec: FeatureSpec) -> FeatureProfile:
    """Fit bins from ``values`` and count them: the reference profile of one feature.

    Categorical columns are tallied once: the same category counts fix the kept categories
    and give the reference histogram (kept categories, then "other", then missing).
    A column with rows but no value to fit (``ReferenceValuesError``) has no profile; one
    without rows has an empty profile of unknown kind.
    """
    kind = kind_of(values) if len(values) else None
    if spec.kind == "categorical":
        tally, n_missing = category_value_counts(values)
        return categorical_profile(spec, tally, n_missing, kind)
    x = numeric_values(values)
    if x.size and not np.isfinite(x).any():
        raise ReferenceValuesError(_no_finite_value(x))
    bins = explicit_numeric_bins(spec.edges) if spec.edges is not None else None
    if bins is None:
        bins = fit_numeric_bins(x, spec.bins, spec.strategy)
    return FeatureProfile(spec.name, bins, histogram(x, bins), kind)


def categorical_profile(
    spec: FeatureSpec, tally: Mapping[str, int], n_missing: int, kind: ColumnKind | None
) -> FeatureProfile:
    """The profile of a categorical feature from its reference category counts."""
    if n_missing and not any(tally.values()):
        raise ReferenceValuesError(f"all {n_missing} rows are missing")
    cats = fit_categorical_bins(dict(tally), spec.max_categories)
    kept = [tally[c] for c in cats.categories]
    other = sum(tally.values()) - sum(kept)
    counts = np.array([*kept, other, n_missing], dtype=np.int64)
    return FeatureProfile(spec.name, cats, Histogram(counts), kind)


def _no_finite_value(x: npt.NDArray[np.float64]) -> str:
    return no_finite_value_message(
        x.size,
        int(np.count_nonzero(x == np.inf)),
        int(np.count_nonzero(x == -np.inf)),
        int(np.count_nonzero(np.isnan(x))),
    )


def no_finite_value_message(rows: int, pos_inf: int, neg_inf: int, missing: int) -> str:
    """Why a numeric reference column without a finite value has no profile."""
    parts = [
        f"{n} {label}"
        for n, label in ((pos_inf, "+inf"), (neg_inf, "-inf"), (missing, "missing"))
        if n
    ]
    return f"no finite value in its {rows} rows ({', '.join(parts)}) to compare live data with"


def accumulate(bins: Bins, batches: Iterable[Any]) -> Histogram:
    """Histogram of a column streamed in batches; memory is bounded by the bin count."""
    total = Histogram.empty(bins.n_bins)
    for batch in batches:
        total = total + histogram(batch, bins)
    return total
