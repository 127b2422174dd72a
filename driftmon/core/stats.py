r"""Sample-size-aware statistics for a live histogram against a reference histogram.

Plug-in KL on n live rows over k bins is biased upward even with no drift: under
H0 (live drawn from Q), G = 2·n·KL(P̂‖Q) is asymptotically χ² with k-1 degrees of freedom,
so E[KL] ≈ (k-1)/(2n). When the reference is itself a sample of N rows, the right test is
the two-sample G-test (likelihood-ratio test of homogeneity on the 2×k table), with
E[KL(P̂‖Q̂)] ≈ (k-1)/2·(1/n + 1/N).

The p-value driftmon reports and decides with is that G-test written in KL space,
G ≈ 2·n_eff·KL with Williams' small-sample correction (``kl_g_test``; the derivation is in
``driftmon.core.thresholds.decision``), so that a p-value and a KL threshold are two views
of one test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class GTest:
    """G statistic, its degrees of freedom and the χ² upper-tail p-value."""

    statistic: float
    dof: int
    p_value: float


def chi2_sf(x: float, dof: float) -> float:
    """P(χ²_dof > x), the upper tail: the same number ``scipy.stats.chi2.sf`` returns.

    ``scipy.special.chdtrc`` is what ``scipy.stats.chi2`` calls underneath; importing only
    ``scipy.special``, and only on first use, keeps ``scipy.stats`` (about a second) out of
    every command's start-up.
    """
    from scipy.special import chdtrc

    return 1.0 if x <= 0.0 else float(chdtrc(dof, x))


def chi2_isf(p: float, dof: float) -> float:
    """The x with P(χ²_dof > x) = p: the same number ``scipy.stats.chi2.isf`` returns."""
    from scipy.special import chdtri

    return float(chdtri(dof, p))


def _chi2_sf(g: float, dof: int) -> float:
    if dof <= 0:
        return 1.0
    return min(1.0, max(0.0, chi2_sf(g, dof)))


def g_test_one_sample(live_counts: npt.ArrayLike, q: npt.ArrayLike) -> GTest:
    """Goodness of fit of live counts to fixed probabilities q: G = 2·Σ O·ln(O / n·q)."""
    o = np.asarray(live_counts, dtype=np.float64)
    qq = np.asarray(q, dtype=np.float64)
    n = o.sum()
    support = qq > 0
    nz = o > 0
    if np.any(nz & ~support):
        raise ValueError("q must be positive wherever live counts are")
    g = 2.0 * float(np.sum(o[nz] * np.log(o[nz] / (n * qq[nz])))) if n > 0 else 0.0
    dof = int(support.sum()) - 1
    return GTest(max(g, 0.0), dof, _chi2_sf(g, dof))


def g_test_two_sample(live_counts: npt.ArrayLike, reference_counts: npt.ArrayLike) -> GTest:
    """Homogeneity of two samples on the same bins (2×k contingency table, no Yates).

    Bins empty in both samples carry no information and are dropped, so dof = k' - 1 for
    the k' bins that hold any row.
    """
    a = np.asarray(live_counts, dtype=np.float64)
    b = np.asarray(reference_counts, dtype=np.float64)
    used = (a + b) > 0
    a, b = a[used], b[used]
    na, nb = a.sum(), b.sum()
    if na == 0 or nb == 0:
        return GTest(0.0, 0, 1.0)
    col = a + b
    total = na + nb
    g = 0.0
    for obs, row in ((a, na), (b, nb)):
        expected = row * col / total
        nz = obs > 0
        g += float(np.sum(obs[nz] * np.log(obs[nz] / expected[nz])))
    g *= 2.0
    dof = int(used.sum()) - 1
    return GTest(max(g, 0.0), dof, _chi2_sf(g, dof))


def expected_null_kl(n_live: int, k_bins: int, n_reference: int | None = None) -> float:
    """Expected plug-in KL under no drift: (k-1)/(2n), plus (k-1)/(2N) for a sampled reference."""
    if n_live <= 0 or k_bins <= 1:
        return 0.0
    bias = (k_bins - 1) / (2.0 * n_live)
    if n_reference:
        bias += (k_bins - 1) / (2.0 * n_reference)
    return bias


@dataclass(frozen=True)
class KLTest:
    """The G-test of one window in KL space: T = 2·n_eff·KL / q_W against χ²(dof).

    ``p_value`` is the ordinary test (H0: no drift). With a minimum effect δ > 0 nats the
    null is "true KL ≤ δ" instead, and T at the boundary is referred to the non-central
    χ²(dof, λ) with λ = 2·n_eff·δ / q_W (the local-alternative law of G), so a window is
    flagged only when the data show, at level α, a drift larger than δ.
    """

    n_eff: float
    dof: int
    williams: float
    p_value: float

    def statistic(self, kl: float) -> float:
        """T = 2·n_eff·KL / q_W."""
        return 2.0 * self.n_eff * kl / self.williams

    def noncentrality(self, min_effect: float) -> float:
        """λ = 2·n_eff·δ / q_W: T's non-centrality when the true KL is δ."""
        return 2.0 * self.n_eff * min_effect / self.williams

    def p_value_at(self, kl: float, min_effect: float = 0.0) -> float:
        """p-value of KL under H0: true KL ≤ ``min_effect`` (``p_value`` when it is 0)."""
        if min_effect <= 0.0 or self.dof <= 0:
            return _chi2_sf(self.statistic(kl), self.dof)
        from scipy.stats import ncx2  # scipy.stats is slow to import; only needed here

        sf = float(ncx2.sf(max(self.statistic(kl), 0.0), self.dof, self.noncentrality(min_effect)))
        return min(1.0, max(0.0, sf))

    def kl_threshold(self, alpha: float, min_effect: float = 0.0) -> float:
        """Smallest KL whose p-value (``p_value_at``) is ≤ alpha.

        q_W·χ²_{dof}.isf(α) / (2·n_eff), or with the non-central χ² when ``min_effect`` > 0;
        strictly decreasing in alpha, so a larger warning alpha gives a lower threshold.
        """
        dof = max(self.dof, 1)
        if min_effect <= 0.0:
            quantile = chi2_isf(alpha, dof)
        else:
            from scipy.stats import ncx2  # scipy.stats is slow to import; only needed here

            quantile = float(ncx2.isf(alpha, dof, self.noncentrality(min_effect)))
        return self.williams * quantile / (2.0 * self.n_eff)


def kl_g_test(
    kl: float, live_rows: int, reference_rows: int, dof: int, reference_is_sample: bool = True
) -> KLTest:
    """p = χ²_{dof}.sf(2·n_eff·KL / q_W), Williams-corrected, k = dof + 1 bins.

    Two-sample: n_eff = nN/(n+N), q_W = 1 + (k+1)/6·(1/n + 1/N - 1/(n+N)); against an exact
    reference: n_eff = n, q_W = 1 + (k+1)/(6n).
    """
    n, big_n = live_rows, reference_rows
    k = dof + 1
    if reference_is_sample:
        n_eff = n * big_n / (n + big_n)
        williams = 1.0 + (k + 1) / 6.0 * (1.0 / n + 1.0 / big_n - 1.0 / (n + big_n))
    else:
        n_eff = float(n)
        williams = 1.0 + (k + 1) / (6.0 * n)
    return KLTest(n_eff, dof, williams, _chi2_sf(2.0 * n_eff * kl / williams, dof))
