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
    for p sorted ascending, p̃_(i) = min over j ≥ i of min(1, m·p_(j)/j). A test is rejected
    at level α exactly when its adjusted p-value is ≤ α.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if method == "none" or m == 0:
        return p.copy()
    if method == "bonferroni":
        return np.minimum(1.0, m * p)
    if method == "bh":
        order = np.argsort(p, kind="stable")
        scaled = m * p[order] / np.arange(1, m + 1)
        stepped = np.minimum.accumulate(scaled[::-1])[::-1]
        out = np.empty(m)
        out[order] = np.minimum(1.0, stepped)
        return out
    raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {method!r}")


def raw_p_cutoff(p_values: npt.ArrayLike, index: int, alpha: float, method: Correction) -> float:
    """The raw p-value at or below which test ``index`` of the family is rejected at ``alpha``.

    none: α. Bonferroni: α/m. Benjamini–Hochberg: with R = max{j : p_(j) ≤ j·α/m}
    rejections, α·R/m for a rejected test and α·(R+1)/m for one not rejected (the p-value
    it would have needed, the others unchanged). So p ≤ cutoff ⇔ adjusted p ≤ α.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if method == "none":
        return alpha
    if method == "bonferroni":
        return alpha / m
    ranked = np.sort(p)
    passing = np.nonzero(ranked <= alpha * np.arange(1, m + 1) / m)[0]
    r = int(passing[-1]) + 1 if passing.size else 0
    return alpha * r / m if r and p[index] <= alpha * r / m else alpha * (r + 1) / m
