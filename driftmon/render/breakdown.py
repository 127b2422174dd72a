r"""Where a feature's KL comes from: per-bin probabilities and contributions, pure numbers.

With P the live and Q the smoothed reference bin probabilities (the same smoothing the
scores used, ``driftmon.core.divergence.smoothed_reference``), bin i contributes

    p_i·ln(p_i/q_i)      (0 when p_i = 0; negative where the live share is below q_i)

and the contributions add up to KL(P‖Q) = H(P,Q) − H(P), the stored ``kl_divergence``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from driftmon.core.bins import CategoricalBins
from driftmon.core.divergence import (
    cross_entropy,
    entropy,
    kl_divergence,
    probabilities,
    smoothed_reference,
)
from driftmon.core.histogram import canonical_label
from driftmon.core.profile import FeatureProfile
from driftmon.results import FeatureResult

KL_AGREEMENT = 1e-9
"""Relative difference above which a recomputed KL no longer matches the stored one."""


@dataclass(frozen=True)
class BinRow:
    """One bin of a feature: its label, both counts, both shares and its KL contribution."""

    label: str
    kind: str
    """"value", "other" or "missing"."""
    reference_count: int
    live_count: int
    reference_share: float
    """Raw reference proportion (what the bars show)."""
    live_share: float
    q: float
    """Smoothed reference probability, the Q of KL."""
    smoothed: bool
    """True when the pseudo-count was added to this bin (empty reference, live rows)."""
    contribution: float
    """p·ln(p/q) in nats."""


@dataclass(frozen=True)
class Breakdown:
    """One feature's bins and the written-out KL identity, in nats."""

    bins: tuple[BinRow, ...]
    smoothing: float
    entropy: float
    cross_entropy: float
    kl: float
    """Σ p·ln(p/q) over the bins, as ``driftmon.core.divergence.kl_divergence`` computes it."""

    @property
    def reference_rows(self) -> int:
        return sum(b.reference_count for b in self.bins)

    @property
    def live_rows(self) -> int:
        return sum(b.live_count for b in self.bins)


def profile_mismatch(result: FeatureResult, profile: FeatureProfile | None) -> str | None:
    """Why ``profile`` cannot be the reference ``result`` was scored on; None when it can.

    The store keeps only the current profile: a run scored before the reference was
    rebuilt with other bins must not be drawn against the new ones.
    """
    if profile is None:
        return "the results database holds no reference profile for this feature"
    labels = tuple(profile.bins.labels())
    if labels != _respelled_labels(result.bin_labels, profile):
        return (
            f"the stored reference profile's {len(labels)} bins are not the "
            f"{len(result.bin_labels)} bins this run was scored on (the reference was rebuilt "
            "since)"
        )
    if len(result.live_counts) != len(labels):
        return f"this run stored {len(result.live_counts)} live counts for {len(labels)} bins"
    return None


def _respelled_labels(labels: tuple[str, ...], profile: FeatureProfile) -> tuple[str, ...]:
    """A run's bin labels as the profile spells them now: a timestamp or decimal category
    stored before categories were spelled canonically kept its trailing zeros
    (``12:00:00.000Z``), which the profile, re-spelled when read, no longer has."""
    if profile.column_kind not in ("timestamp", "decimal"):
        return labels
    return tuple(canonical_label(label) for label in labels)


def breakdown(result: FeatureResult, profile: FeatureProfile, smoothing: float) -> Breakdown:
    """Per-bin shares and contributions of ``result`` against ``profile`` (check
    ``profile_mismatch`` first: the bins must be the ones the run was scored on)."""
    ref = profile.reference.counts.astype(np.int64)
    live = np.asarray(result.live_counts, dtype=np.int64)
    p = probabilities(live)
    q = smoothed_reference(ref, live, smoothing)
    q_raw = probabilities(ref)
    nz = p > 0
    contrib = np.zeros_like(p)
    contrib[nz] = p[nz] * np.log(p[nz] / q[nz])
    n = len(result.bin_labels)
    other = profile.bins.other_index if isinstance(profile.bins, CategoricalBins) else -1
    rows = tuple(
        BinRow(
            label=label,
            kind="missing" if i == n - 1 else "other" if i == other else "value",
            reference_count=int(ref[i]),
            live_count=int(live[i]),
            reference_share=float(q_raw[i]),
            live_share=float(p[i]),
            q=float(q[i]),
            smoothed=bool(ref[i] == 0 and live[i] > 0),
            contribution=float(contrib[i]),
        )
        # A past run's labels spelled as the profile spells them now, as they were matched.
        for i, label in enumerate(_respelled_labels(result.bin_labels, profile))
    )
    return Breakdown(
        bins=rows,
        smoothing=smoothing,
        entropy=entropy(p) + 0.0,  # + 0.0: a one-bin window's -0.0 reads as 0
        cross_entropy=cross_entropy(p, q) + 0.0,
        kl=kl_divergence(p, q),
    )


def matches_stored(b: Breakdown, result: FeatureResult) -> bool:
    """True when the recomputed KL is the stored one (same reference counts and smoothing)."""
    if result.scores is None:
        return True
    stored = result.scores.kl_divergence
    return math.isclose(b.kl, stored, rel_tol=KL_AGREEMENT, abs_tol=1e-12)
