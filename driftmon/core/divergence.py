r"""Divergences between a live histogram P and a reference histogram Q, in nats.

With P = live and Q = reference bin probabilities:

    H(P)     = -Σ p·ln p                       entropy of the live window
    H(P, Q)  = -Σ p·ln q                       cross-entropy
    KL(P‖Q)  =  Σ p·ln(p/q) = H(P, Q) - H(P)   ≥ 0, = 0 iff P = Q, not symmetric

Terms with p = 0 contribute 0. KL is finite only if q > 0 wherever p > 0, so reference
bins that are empty but hold live mass get an additive pseudo-count α (``smoothing``,
default 0.5 of a row) before normalising:

    q_i = (c_i + α·[c_i = 0 and p_i > 0]) / (N + α·#{i : c_i = 0 and p_i > 0})

Only those bins are touched, so when live and reference agree bin for bin (including in
where they are empty) KL is exactly 0 and the smoothing changes nothing. α is in rows of
the reference, so its effect shrinks as the reference grows: with N = 10⁶ and 10% of the
live window in a never-seen category, that bin alone contributes 0.1·ln(0.1·2·10⁶) ≈ 1.2.

Entropy, cross-entropy and KL are computed against the smoothed Q. Jensen–Shannon and PSI
need no pseudo-count and take the raw reference proportions: JS is finite because its
mixture M = ½(P+Q) is positive wherever P or Q is, and PSI floors both sides at ε = 10⁻⁴
(see ``psi``). Both therefore depend only on the two histograms' proportions, not on how
many reference rows there are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
DEFAULT_SMOOTHING = 0.5


def probabilities(counts: npt.ArrayLike) -> Floats:
    """Counts normalised to sum 1; an all-zero vector stays all zero."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    return c / total if total > 0 else np.zeros_like(c)


def smoothed_reference(
    reference_counts: npt.ArrayLike,
    live_counts: npt.ArrayLike,
    smoothing: float = DEFAULT_SMOOTHING,
) -> Floats:
    """Reference probabilities Q with α added to empty bins that hold live mass (see module)."""
    if smoothing <= 0 or not np.isfinite(smoothing):
        raise ValueError(f"smoothing must be a positive number of rows, got {smoothing}")
    ref = np.asarray(reference_counts, dtype=np.float64)
    live = np.asarray(live_counts, dtype=np.float64)
    if ref.shape != live.shape:
        raise ValueError(f"reference has {ref.size} bins, live has {live.size}")
    return probabilities(ref + smoothing * ((ref == 0) & (live > 0)))


def entropy(p: Floats) -> float:
    """H(P) = -Σ p·ln p, with 0·ln 0 = 0."""
    nz = p > 0
    return float(-np.sum(p[nz] * np.log(p[nz])))


def cross_entropy(p: Floats, q: Floats) -> float:
    """H(P, Q) = -Σ p·ln q over bins with p > 0 (q must be > 0 there)."""
    nz = p > 0
    return float(-np.sum(p[nz] * np.log(q[nz])))


def kl_divergence(p: Floats, q: Floats) -> float:
    """KL(P‖Q) = Σ p·ln(p/q) over bins with p > 0; clipped at 0 against rounding."""
    nz = p > 0
    return max(0.0, float(np.sum(p[nz] * np.log(p[nz] / q[nz]))))


def js_divergence(p: Floats, q: Floats) -> float:
    """Jensen–Shannon divergence ½KL(P‖M) + ½KL(Q‖M), M = ½(P+Q); in [0, ln 2], symmetric.

    Finite for any two probability vectors (M > 0 wherever P or Q is): no smoothing needed.
    """
    m = 0.5 * (p + q)
    return max(0.0, 0.5 * kl_divergence(p, m) + 0.5 * kl_divergence(q, m))


PSI_EPSILON = 1e-4
"""Floor of a PSI bin's proportion on either side (the usual convention in PSI tools)."""


def psi(p: Floats, q: Floats, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index Σ (p' - q')·ln(p'/q'), the symmetrised KL of credit scoring.

    p' = max(p, ε) and q' = max(q, ε) on every bin that holds rows on either side, with the
    raw (unsmoothed) proportions, so PSI stays finite; bins empty on both sides contribute
    nothing.
    """
    used = (p > 0) | (q > 0)
    pp = np.maximum(p[used], epsilon)
    qq = np.maximum(q[used], epsilon)
    return max(0.0, float(np.sum((pp - qq) * np.log(pp / qq))))


DivergenceFn = Callable[[Floats, Floats], float]


@dataclass(frozen=True)
class Divergence:
    """A named divergence of live P from reference Q (both probability vectors)."""

    name: str
    fn: DivergenceFn
    description: str


DIVERGENCES: dict[str, Divergence] = {
    d.name: d
    for d in (
        Divergence(
            "kl_divergence", kl_divergence, "KL(live‖reference) in nats; the primary signal"
        ),
        Divergence("js_divergence", js_divergence, "Jensen–Shannon divergence in nats, ≤ ln 2"),
        Divergence("psi", psi, "population stability index (symmetrised KL, ε-floored bins)"),
    )
}
