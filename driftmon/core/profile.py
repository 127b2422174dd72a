"""The fitted reference as plain data: bin layouts and reference counts per feature.

A profile is built once from the reference data, stored (``to_dict`` gives JSON-ready
data) and reused to score every live window without touching the reference again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from driftmon.core.bins import (
    Bins,
    NumericBins,
    NumericStrategy,
    bins_from_dict,
    explicit_numeric_bins,
    fit_categorical_bins,
    fit_numeric_bins,
)
from driftmon.core.histogram import (
    Histogram,
    category_value_counts,
    histogram,
    numeric_values,
)

FeatureKind = Literal["numeric", "categorical"]
PROFILE_FORMAT = 1


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
    """One feature's fixed bins and its reference histogram over them."""

    name: str
    bins: Bins
    reference: Histogram

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
        """Histogram of live values on this profile's bins."""
        return histogram(values, self.bins)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "bins": self.bins.to_dict(), "counts": self.reference.to_list()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureProfile:
        return cls(
            name=str(data["name"]),
            bins=bins_from_dict(dict(data["bins"])),
            reference=Histogram(np.asarray(data["counts"], dtype=np.int64)),
        )


@dataclass(frozen=True)
class ReferenceProfile:
    """All fitted features of a monitor's reference, in configuration order."""

    features: tuple[FeatureProfile, ...]
    rows: int
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def feature(self, name: str) -> FeatureProfile:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PROFILE_FORMAT,
            "rows": self.rows,
            "metadata": dict(self.metadata),
            "features": [f.to_dict() for f in self.features],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceProfile:
        if data.get("format") != PROFILE_FORMAT:
            raise ValueError(f"unsupported profile format {data.get('format')!r}")
        return cls(
            features=tuple(FeatureProfile.from_dict(f) for f in data["features"]),
            rows=int(data["rows"]),
            metadata=dict(data.get("metadata", {})),
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
    """
    if spec.kind == "categorical":
        tally, n_missing = category_value_counts(values)
        cats = fit_categorical_bins(tally, spec.max_categories)
        kept = [tally[c] for c in cats.categories]
        other = sum(tally.values()) - sum(kept)
        counts = np.array([*kept, other, n_missing], dtype=np.int64)
        return FeatureProfile(spec.name, cats, Histogram(counts))
    bins = fit_bins(values, spec)
    return FeatureProfile(spec.name, bins, histogram(values, bins))


def accumulate(bins: Bins, batches: Iterable[Any]) -> Histogram:
    """Histogram of a column streamed in batches; memory is bounded by the bin count."""
    total = Histogram.empty(bins.n_bins)
    for batch in batches:
        total = total + histogram(batch, bins)
    return total
