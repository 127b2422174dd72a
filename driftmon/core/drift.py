"""Scores of one live histogram against its reference: the numbers stored per feature."""

from __future__ import annotations

from dataclasses import dataclass

from driftmon.core.divergence import (
    DEFAULT_SMOOTHING,
    cross_entropy,
    entropy,
    js_divergence,
    kl_divergence,
    probabilities,
    psi,
    smoothed_reference,
)
from driftmon.core.histogram import Histogram
from driftmon.core.stats import (
    expected_null_kl,
    g_test_one_sample,
    g_test_two_sample,
    kl_g_test,
)


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
    reference proportions, so they do not move with the reference's row count.
    """
    if live.counts.shape != reference.counts.shape:
        raise ValueError(
            f"live histogram has {live.counts.size} bins, reference has {reference.counts.size}"
        )
    n, big_n = live.total, reference.total
    if n == 0 or big_n == 0:
        return None
    p = probabilities(live.counts)
    q = smoothed_reference(reference.counts, live.counts, smoothing)
    q_raw = probabilities(reference.counts)
    test = (
        g_test_two_sample(live.counts, reference.counts)
        if reference_is_sample
        else g_test_one_sample(live.counts, q)
    )
    k = int(((live.counts + reference.counts) > 0).sum())
    kl = kl_divergence(p, q)
    return DriftScores(
        kl_divergence=kl,
        entropy=entropy(p),
        cross_entropy=cross_entropy(p, q),
        js_divergence=js_divergence(p, q_raw),
        psi=psi(p, q_raw),
        g_statistic=test.statistic,
        degrees_of_freedom=test.dof,
        p_value=kl_g_test(kl, n, big_n, test.dof, reference_is_sample).p_value,
        expected_kl=expected_null_kl(n, k, big_n if reference_is_sample else None),
        live_rows=n,
        reference_rows=big_n,
    )
