"""Multiple-testing corrections over the significance-tested features of one run.

Bonferroni or Benjamini–Hochberg adjustment of the run's p-values, and the raw-p cut-off
equivalent to each, so that a significance threshold can be stated in KL.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

Correction = Literal["none", "bonferroni", "bh"]
CORRECTIONS: tuple[Correction, ...] = ("none", "bonferroni", "bh")


def adjust_p_values(p_values: npt.ArrayLike, method: Correction) -> npt.NDArray[np.float64]:
    """Adjusted p-values over one family of m tests.

    Bonferroni: min(1, m·p). Benjamini–Hochberg (step-up, controls the false discovery rate):
    for p sorted ascending, p̃_(i) = min over j ≥ i of min(1, m·p_(j)/j)
    (``scipy.stats.false_discovery_control``). A test is rejected at level α exactly when its
    adjusted p-value is ≤ α.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if method == "none" or m == 0:
        return p.copy()
    if method == "bonferroni":
        return np.minimum(1.0, m * p)
    if method == "bh":
        from scipy.stats import false_discovery_control  # slow import; only needed here

        return np.asarray(false_discovery_control(p, method="bh"), dtype=np.float64)
    raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {method!r}")


def raw_p_cutoff(p_values: npt.ArrayLike, index: int, alpha: float, method: Correction) -> float:
    """The largest raw p-value test ``index`` could have and still be rejected at ``alpha``.

    The other tests' p-values stay as they are. none: α. Bonferroni: α/m.
    Benjamini–Hochberg rejects every p ≤ α·R/m, R = max{j : #{p ≤ j·α/m} ≥ j}; moving test
    i's p-value to x = j·α/m gets it rejected exactly when the *other* tests hold at least
    j - 1 p-values ≤ j·α/m, since x then completes the j needed. So the cut-off is α·J/m
    with J the largest such j (j = 1 always qualifies): α·R/m for a rejected test, and for
    one not rejected possibly more than α·(R+1)/m when its move lets rejections cascade
    (p = [0.04, 0.045, 0.9], α = 0.05: the third test's cut-off is 0.05). So
    p ≤ cutoff ⇔ adjusted p ≤ α.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if method == "none":
        return alpha
    if method == "bonferroni":
        return alpha / m
    if method != "bh":
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {method!r}")
    ranks = np.arange(1, m + 1)
    bounds = alpha * (ranks / m)
    at_or_below = np.searchsorted(np.sort(p), bounds, side="right")
    others = at_or_below - (p[index] <= bounds)
    qualifying = np.nonzero(others >= ranks - 1)[0]
    return float(bounds[qualifying[-1]])
