"""Scores of one live histogram against its reference: the numbers stored per feature."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from driftmon.core.divergence import DEFAULT_SMOOTHING, PSI_EPSILON
from driftmon.core.histogram import Histogram
from driftmon.core.stats import expected_null_kl

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DriftScores:
    """Every divergence and test statistic of one feature in one window; all finite.

    ``g_statistic`` is the exact G of the G-test; ``p_value`` is the Williams-corrected
    KL-space form of that test (``driftmon.core.stats.kl_g_test``), the one the
    significance policy decides with (which may replace it with the p-value of its
    minimum-effect test, see ``driftmon.core.thresholds.decision``).
    """

    kl_divergence: float
    entropy: float
    cross_entropy: float
    js_divergence: float
    psi: float
    g_statistic: float
    degrees_of_freedom: int
    p_value: float
    expected_kl: float
    live_rows: int
    reference_rows: int


def score(
    live: Histogram,
    reference: Histogram,
    smoothing: float = DEFAULT_SMOOTHING,
    reference_is_sample: bool = True,
) -> DriftScores | None:
    """Score ``live`` against ``reference``; None when either holds no rows at all.

    The G-test is two-sample when the reference is a sample (the usual case: training
    data), else one-sample against the smoothed reference probabilities. KL, entropy and
    cross-entropy use the smoothed reference (KL must stay finite); JS and PSI the raw
    reference proportions, so they do not move with the reference's row count. The
    formulas, one feature at a time, are those of ``driftmon.core.divergence`` and
    ``driftmon.core.stats``; this is ``score_all`` of one feature.
    """
    return score_all([(live, reference, smoothing)], reference_is_sample)[0]


def score_all(
    features: Sequence[tuple[Histogram, Histogram, float]],
    reference_is_sample: bool = True,
) -> list[DriftScores | None]:
    """``score`` of many ``(live, reference, smoothing)`` at once, in their order.

    A run scores hundreds of features of a few dozen bins each, where NumPy's per-call
    overhead, not arithmetic, was the cost (~60 small calls a feature). Features with the
    same number of bins are scored together as the rows of one matrix, so a feature's
    scores depend only on its own counts, never on the others in the call.
    """
    out: list[DriftScores | None] = [None] * len(features)
    by_size: dict[int, list[int]] = {}
    for i, (live_hist, ref_hist, smoothing) in enumerate(features):
        if live_hist.counts.shape != ref_hist.counts.shape:
            raise ValueError(
                f"live histogram has {live_hist.counts.size} bins, "
                f"reference has {ref_hist.counts.size}"
            )
        if smoothing <= 0 or not math.isfinite(smoothing):
            raise ValueError(f"smoothing must be a positive number of rows, got {smoothing}")
        by_size.setdefault(live_hist.counts.size, []).append(i)
    for rows in by_size.values():
        live = np.stack([features[i][0].counts for i in rows]).astype(np.float64)
        ref = np.stack([features[i][1].counts for i in rows]).astype(np.float64)
        alpha = np.array([features[i][2] for i in rows])
        for i, scores in zip(rows, _score_rows(live, ref, alpha, reference_is_sample), strict=True):
            out[i] = scores
    return out


def _score_rows(
    live: Floats, ref: Floats, alpha: Floats, reference_is_sample: bool
) -> list[DriftScores | None]:
    """The scores of each row of ``live`` against the same row of ``ref`` (see ``score``)."""
    n = live.sum(axis=1)
    big_n = ref.sum(axis=1)
    ok = (n > 0) & (big_n > 0)
    n_col, big_n_col = n[:, None], big_n[:, None]
    has_live, has_ref = live > 0, ref > 0
    used = has_live | has_ref  # the bins that hold rows on either side
    p = np.divide(live, n_col, out=np.zeros_like(live), where=n_col > 0)
    q_raw = np.divide(ref, big_n_col, out=np.zeros_like(ref), where=big_n_col > 0)
    smoothed = ref + alpha[:, None] * ((ref == 0) & has_live)
    total_s = smoothed.sum(axis=1, keepdims=True)
    q = np.divide(smoothed, total_s, out=np.zeros_like(smoothed), where=total_s > 0)

    # Term by term the operations of driftmon.core.divergence, so one feature's numbers are
    # theirs (up to the order of summation).
    log_p = _log_where(p, has_live)
    entropy = -_sum_where(p * log_p, has_live)
    cross_entropy = -_sum_where(p * _log_where(q, has_live), has_live)  # q > 0 where p > 0
    kl = _kl_rows(p, q, has_live)
    m = 0.5 * (p + q_raw)
    js = np.maximum(0.5 * _kl_rows(p, m, has_live) + 0.5 * _kl_rows(q_raw, m, has_ref), 0.0)
    pp = np.maximum(p, PSI_EPSILON)
    qq = np.maximum(q_raw, PSI_EPSILON)
    ratio = np.divide(pp, qq, out=np.ones_like(pp), where=used)
    psi = np.maximum(_sum_where((pp - qq) * np.log(ratio), used), 0.0)

    k = used.sum(axis=1)
    if reference_is_sample:  # two-sample G-test of homogeneity on the 2 x k table
        col = live + ref
        total = np.where(n + big_n > 0, n + big_n, 1.0)[:, None]
        g = _g_terms(live, n_col * col / total, has_live)
        g += _g_terms(ref, big_n_col * col / total, has_ref)
        dof = k - 1
    else:  # one-sample: goodness of fit to the smoothed reference
        g = _g_terms(live, n_col * q, has_live)
        dof = (q > 0).sum(axis=1) - 1
    g = np.maximum(2.0 * g, 0.0)
    p_values = _kl_test_p_values(kl, n, big_n, dof, reference_is_sample)

    result: list[DriftScores | None] = []
    for r in range(live.shape[0]):
        if not ok[r]:
            result.append(None)
            continue
        n_r, big_n_r, k_r = int(n[r]), int(big_n[r]), int(k[r])
        result.append(
            DriftScores(
                kl_divergence=float(kl[r]),
                entropy=float(entropy[r]),
                cross_entropy=float(cross_entropy[r]),
                js_divergence=float(js[r]),
                psi=float(psi[r]),
                g_statistic=float(g[r]),
                degrees_of_freedom=int(dof[r]),
                p_value=float(p_values[r]),
                expected_kl=expected_null_kl(n_r, k_r, big_n_r if reference_is_sample else None),
                live_rows=n_r,
                reference_rows=big_n_r,
            )
        )
    return result


def _kl_rows(p: Floats, q: Floats, support: npt.NDArray[np.bool_]) -> Floats:
    """KL(P‖Q) of each row over ``support`` (where p > 0), clipped at 0 against rounding."""
    ratio = np.divide(p, q, out=np.ones_like(p), where=support)
    return np.maximum(_sum_where(p * np.log(ratio), support), 0.0)


def _g_terms(observed: Floats, expected: Floats, nz: npt.NDArray[np.bool_]) -> Floats:
    """Σ O·ln(O/E) of each row over ``nz`` (where O > 0), as driftmon.core.stats sums it."""
    ratio = np.divide(observed, expected, out=np.ones_like(observed), where=nz)
    return _sum_where(observed * np.log(ratio), nz)


def _log_where(x: Floats, mask: npt.NDArray[np.bool_]) -> Floats:
    """ln x where ``mask``, 0 elsewhere (no warning for the zeros left out)."""
    out: Floats = np.log(x, out=np.zeros_like(x), where=mask)
    return out


def _sum_where(x: Floats, mask: npt.NDArray[np.bool_]) -> Floats:
    """Row sums of ``x`` over ``mask`` only."""
    out: Floats = np.where(mask, x, 0.0).sum(axis=1)
    return out


def _kl_test_p_values(
    kl: Floats, n: Floats, big_n: Floats, dof: npt.NDArray[np.integer], reference_is_sample: bool
) -> Floats:
    """``kl_g_test(...).p_value`` of each row (Williams-corrected G-test in KL space)."""
    from scipy.special import chdtrc

    k = dof + 1
    safe_n = np.where(n > 0, n, 1.0)
    safe_big_n = np.where(big_n > 0, big_n, 1.0)
    if reference_is_sample:
        n_eff = safe_n * safe_big_n / (safe_n + safe_big_n)
        williams = 1.0 + (k + 1) / 6.0 * (
            1.0 / safe_n + 1.0 / safe_big_n - 1.0 / (safe_n + safe_big_n)
        )
    else:
        n_eff = safe_n
        williams = 1.0 + (k + 1) / (6.0 * safe_n)
    statistic = 2.0 * n_eff * kl / williams
    tail = chdtrc(np.maximum(dof, 1), np.maximum(statistic, 0.0))
    p: Floats = np.where((dof <= 0) | (statistic <= 0.0), 1.0, np.clip(tail, 0.0, 1.0))
    return p
