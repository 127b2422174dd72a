r"""Calibration of the calibrated policy: bootstrap null distribution of KL.

``calibrated``: the thresholds are quantiles of KL between windows of n rows and the
reference when nothing drifted, simulated by bootstrap from the reference histogram: a
window is a multinomial draw of n rows from the reference proportions (exactly resampling
n reference rows and binning them) and, when the reference is itself a sample, the
reference is redrawn too (N rows), so the null includes the reference's own sampling noise,
as a live window drawn from the true distribution sees it. Without that second draw the
thresholds are too low once n is not small against N (the null KL is ∝ 1/n + 1/N, not 1/n).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from driftmon.core.divergence import DEFAULT_SMOOTHING
from driftmon.core.stats import expected_null_kl
from driftmon.core.thresholds.policies import KL_FLOOR, CalibratedPolicy, _tail_windows

MIN_REFERENCE_ROWS_PER_BIN = 10
"""Calibration needs at least this many reference rows per non-empty reference bin."""
RECALIBRATION_RANGE = (0.8, 1.25)
"""Live rows / calibrated rows outside this range: recalibrate (inside: thresholds rescaled)."""

CALIBRATION_FORMAT = 1


@dataclass(frozen=True)
class Calibration:
    """The no-drift KL quantiles of one feature at one window size, fitted on its reference.

    ``quantiles`` maps each calibrated level (e.g. 0.99) to its KL threshold in nats.
    """

    window_rows: int
    reference_rows: int
    bins_used: int
    windows: int
    seed: int
    smoothing: float
    reference_is_sample: bool
    quantiles: Mapping[float, float]

    def kl_at(self, level: float, live_rows: int | None = None) -> float:
        """KL threshold at ``level``, rescaled to ``live_rows`` when given.

        The null KL scales as E[KL] ∝ (1/n + 1/N) (``expected_null_kl``), so a threshold
        calibrated at n₀ rows is moved to n rows by the factor E[KL](n)/E[KL](n₀); accurate
        within ``RECALIBRATION_RANGE``, outside which the caller must recalibrate.
        """
        if level not in self.quantiles:
            raise ValueError(
                f"quantile {level:g} was not calibrated (have {sorted(self.quantiles)})"
            )
        kl = self.quantiles[level]
        if live_rows is not None and live_rows != self.window_rows:
            kl *= self._null_scale(live_rows) / self._null_scale(self.window_rows)
        return max(kl, KL_FLOOR)

    def _null_scale(self, rows: int) -> float:
        big_n = self.reference_rows if self.reference_is_sample else None
        return expected_null_kl(rows, max(self.bins_used, 2), big_n)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; quantile levels become a list of [level, kl] pairs."""
        return {
            "format": CALIBRATION_FORMAT,
            "window_rows": self.window_rows,
            "reference_rows": self.reference_rows,
            "bins_used": self.bins_used,
            "windows": self.windows,
            "seed": self.seed,
            "smoothing": self.smoothing,
            "reference_is_sample": self.reference_is_sample,
            "quantiles": [[level, kl] for level, kl in sorted(self.quantiles.items())],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        if data.get("format") != CALIBRATION_FORMAT:
            raise ValueError(f"unsupported calibration format {data.get('format')!r}")
        return cls(
            window_rows=int(data["window_rows"]),
            reference_rows=int(data["reference_rows"]),
            bins_used=int(data["bins_used"]),
            windows=int(data["windows"]),
            seed=int(data["seed"]),
            smoothing=float(data["smoothing"]),
            reference_is_sample=bool(data["reference_is_sample"]),
            quantiles={float(level): float(kl) for level, kl in data["quantiles"]},
        )


def kl_rows(
    live_counts: npt.ArrayLike,
    reference_counts: npt.ArrayLike,
    smoothing: float = DEFAULT_SMOOTHING,
) -> npt.NDArray[np.float64]:
    """KL(P‖Q) of each row of live counts against reference counts (one row or one per row).

    Same formula and smoothing as ``driftmon.core.drift.score`` (see
    ``driftmon.core.divergence``): α added to reference bins that are empty but hold live
    mass, terms with p = 0 dropped, clipped at 0; vectorised over windows.
    """
    if smoothing <= 0 or not math.isfinite(smoothing):
        raise ValueError(f"smoothing must be a positive number of rows, got {smoothing}")
    live = np.atleast_2d(np.asarray(live_counts, dtype=np.float64))
    ref = np.atleast_2d(np.asarray(reference_counts, dtype=np.float64))
    has = live > 0
    ref = ref + smoothing * ((ref == 0) & has)
    n = live.sum(axis=1, keepdims=True)
    p = np.divide(live, n, out=np.zeros_like(live), where=n > 0)
    q = ref / ref.sum(axis=1, keepdims=True)
    ratio = np.divide(p, q, out=np.ones_like(p), where=has)
    kl: npt.NDArray[np.float64] = np.maximum((p * np.log(ratio)).sum(axis=1), 0.0)
    return kl


def calibrate(
    reference_counts: npt.ArrayLike,
    window_rows: int,
    policy: CalibratedPolicy,
    smoothing: float = DEFAULT_SMOOTHING,
    seed: int = 0,
    *,
    reference_is_sample: bool = True,
) -> Calibration:
    """Null KL quantiles for windows of ``window_rows`` rows, by bootstrap from the reference.

    Each of ``policy.windows`` simulated windows is Multinomial(n, Q̂) with Q̂ the reference
    proportions; with ``reference_is_sample`` the reference is redrawn as Multinomial(N, Q̂)
    beside it (see the module docstring). The threshold at level q is the r-th largest
    simulated KL, r = floor((1-q)·(W+1)), so that a fresh null window exceeds it with
    probability r/(W+1) ≤ 1-q. Raises ValueError when the reference has fewer than
    ``MIN_REFERENCE_ROWS_PER_BIN`` rows per non-empty bin or the window size is not positive.
    """
    ref = np.asarray(reference_counts)
    if ref.ndim != 1 or ref.size == 0 or np.any(ref < 0) or not np.all(np.isfinite(ref)):
        raise ValueError("reference_counts must be a non-empty 1-d array of counts >= 0")
    if isinstance(window_rows, bool) or int(window_rows) != window_rows or window_rows < 1:
        raise ValueError(f"window_rows must be a positive integer, got {window_rows!r}")
    counts = ref.astype(np.int64)[ref > 0]
    big_n, k = int(counts.sum()), int(counts.size)
    needed = max(MIN_REFERENCE_ROWS_PER_BIN * k, 2 * MIN_REFERENCE_ROWS_PER_BIN)
    if big_n < needed:
        raise ValueError(
            f"reference too small to calibrate: {big_n} rows over {k} non-empty bins, "
            f"need at least {needed} ({MIN_REFERENCE_ROWS_PER_BIN} per bin)"
        )
    rng = np.random.default_rng(seed)
    q_hat = counts / big_n
    windows = policy.windows
    live = rng.multinomial(int(window_rows), q_hat, size=windows)
    refs = rng.multinomial(big_n, q_hat, size=windows) if reference_is_sample else counts
    kl = np.sort(kl_rows(live, refs, smoothing))
    levels = (policy.quantile_warning, policy.quantile_critical)
    quantiles = {lv: float(kl[windows - _tail_windows(lv, windows)]) for lv in levels}
    return Calibration(
        window_rows=int(window_rows),
        reference_rows=big_n,
        bins_used=k,
        windows=windows,
        seed=seed,
        smoothing=float(smoothing),
        reference_is_sample=reference_is_sample,
        quantiles=quantiles,
    )


def needs_recalibration(
    calibration: Calibration, live_rows: int, policy: CalibratedPolicy | None = None
) -> bool:
    """True when ``live_rows`` is outside ``RECALIBRATION_RANGE`` × the calibrated size.

    Inside the range the thresholds are rescaled by E[KL] (``Calibration.kl_at``), which is
    accurate to a few percent of the threshold; outside it the small-window shape of the
    null changes too much. With ``policy``, also True when the calibration does not hold the
    policy's quantiles or window count (``policy.window_rows`` only sizes the first
    calibration: a recalibration follows the live windows).
    """
    lo, hi = RECALIBRATION_RANGE
    ratio = live_rows / calibration.window_rows
    if not lo <= ratio <= hi:
        return True
    if policy is None:
        return False
    return (
        policy.quantile_warning not in calibration.quantiles
        or policy.quantile_critical not in calibration.quantiles
        or policy.windows != calibration.windows
    )
