r"""Threshold policies: which KL values make a feature warning or critical in one window.

Three policies, each a small frozen dataclass; ``decide`` turns the scores of all features of
one run into statuses and the KL thresholds (nats) actually applied, so that whatever the
policy, ``status == Thresholds.classify(KL)`` holds exactly for every scored feature.

``static``: fixed KL cut-offs.

``significance``: alert when drift is both statistically real and large enough to matter.
The test is the G-test written in KL space. For live n rows and reference N rows,

    G ≈ 2·n_eff·KL(P̂‖Q̂),   n_eff = n·N/(n+N)   (two-sample; n_eff = n when Q is exact)

(second-order Taylor expansion of the likelihood-ratio statistic around P = Q; exact for the
one-sample test), and G/q_W is referred to χ² with k-1 degrees of freedom, where q_W is
Williams' small-sample correction (Williams 1976, "Improved likelihood ratio tests for
complete contingency tables", Biometrika 63:33-37; Sokal & Rohlf, *Biometry*, 3rd ed.,
ch. 17) for the 2×k table, taking the bins as equally likely since only k is known here:

    q_W = 1 + (k+1)/6 · (1/n + 1/N - 1/(n+N))          (1 + (k+1)/(6n) when Q is exact)

so the p-value is ``chi2.sf(2·n_eff·KL/q_W, k-1)``. It equals ``DriftScores.p_value`` up
to the Taylor remainder and q_W (exactly, with q_W = 1, for the one-sample test). A severity
fires when that p-value, after the run's Bonferroni or Benjamini–Hochberg adjustment, is at
most alpha **and** KL - E[KL | no drift] ≥ min_effect. Both conditions are thresholds on KL:

    threshold = max(q_W·χ²_{k-1}.isf(α_eff) / (2·n_eff),  expected_kl + min_effect)

with α_eff the raw-p cut-off equivalent to the adjustment (α/m for Bonferroni; α·R/m for
Benjamini–Hochberg with R rejections at level α, α·(R+1)/m for a feature not rejected,
which is the p-value it would have needed). The status is decided on that KL threshold.
Measured (``benchmarks/thresholds.md``): without q_W, 30 equal bins at n = 100 give 2.5%
false alarms at α = 1%; with it 1.4%. q_W assumes equally likely bins, so on sparse tables
(many bins expecting < 1 row) the test is conservative (≈0.45% at α = 1% for 30 Zipf bins at
n = 100); the calibrated policy has no such bias.

``calibrated``: the thresholds are quantiles of KL between windows of n rows and the
reference when nothing drifted, simulated by bootstrap from the reference histogram: a
window is a multinomial draw of n rows from the reference proportions (exactly resampling
n reference rows and binning them) and, when the reference is itself a sample, the
reference is redrawn too (N rows), so the null includes the reference's own sampling noise,
as a live window drawn from the true distribution sees it. Without that second draw the
thresholds are too low once n is not small against N (the null KL is ∝ 1/n + 1/N, not 1/n).

A window is ``insufficient_data`` under the significance and calibrated policies when it
holds fewer than max(``MIN_LIVE_ROWS``, ``MIN_ROWS_PER_BIN``·k) rows for k used bins (20
rows, 2 per bin): too few for the χ² approximation and for any drift short of a landslide
to show. The static policy keeps classifying KL whatever the window size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from driftmon.core.divergence import DEFAULT_SMOOTHING
from driftmon.core.drift import DriftScores
from driftmon.core.stats import expected_null_kl
from driftmon.core.status import Status, Thresholds

Correction = Literal["none", "bonferroni", "bh"]
CORRECTIONS: tuple[Correction, ...] = ("none", "bonferroni", "bh")

MIN_ROWS_PER_BIN = 2.0
"""Fewer live rows than this per used bin is ``insufficient_data`` (significance, calibrated)."""
MIN_LIVE_ROWS = 20
"""Fewer live rows than this is ``insufficient_data`` whatever the bin count."""
MIN_TAIL_WINDOWS = 10
"""A calibrated quantile q needs floor((1-q)·(windows+1)) ≥ this many windows beyond it."""
MIN_REFERENCE_ROWS_PER_BIN = 10
"""Calibration needs at least this many reference rows per non-empty reference bin."""
RECALIBRATION_RANGE = (0.8, 1.25)
"""Live rows / calibrated rows outside this range: recalibrate (inside: thresholds rescaled)."""
KL_FLOOR = 1e-12
"""No KL below this (float rounding of an exact match) is ever an alert."""


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_unit_interval(name: str, value: float) -> None:
    if not _finite(value) or not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")


# --- policies -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StaticPolicy:
    """Fixed KL cut-offs in nats: warning when KL ≥ warning, critical when KL ≥ critical."""

    warning: float
    critical: float

    name = "static"

    def __post_init__(self) -> None:
        for field in ("warning", "critical"):
            v = getattr(self, field)
            if not _finite(v) or v < 0:
                raise ValueError(f"{field} must be a finite KL value >= 0 nats, got {v!r}")
        if self.warning > self.critical:
            raise ValueError(
                f"warning ({self.warning:g}) must not be above critical ({self.critical:g})"
            )


@dataclass(frozen=True)
class SignificancePolicy:
    """G-test p-value (adjusted across the run) ≤ alpha and KL - E[KL] ≥ min_effect."""

    alpha_warning: float
    alpha_critical: float
    min_effect: float = 0.0
    correction: Correction = "none"

    name = "significance"

    def __post_init__(self) -> None:
        _check_unit_interval("alpha_warning", self.alpha_warning)
        _check_unit_interval("alpha_critical", self.alpha_critical)
        if self.alpha_critical > self.alpha_warning:
            raise ValueError(
                f"alpha_critical ({self.alpha_critical:g}) must not be above alpha_warning "
                f"({self.alpha_warning:g}): critical is the stricter level"
            )
        if not _finite(self.min_effect) or self.min_effect < 0:
            raise ValueError(f"min_effect must be a finite KL >= 0 nats, got {self.min_effect!r}")
        if self.correction not in CORRECTIONS:
            raise ValueError(
                f"correction must be one of {', '.join(CORRECTIONS)}, got {self.correction!r}"
            )


@dataclass(frozen=True)
class CalibratedPolicy:
    """Thresholds at quantiles of the no-drift KL of ``window_rows``-row windows.

    ``window_rows`` None: calibrate at the live window size of the first run.
    """

    quantile_warning: float
    quantile_critical: float
    windows: int = 1000
    window_rows: int | None = None

    name = "calibrated"

    def __post_init__(self) -> None:
        _check_unit_interval("quantile_warning", self.quantile_warning)
        _check_unit_interval("quantile_critical", self.quantile_critical)
        if self.quantile_warning > self.quantile_critical:
            raise ValueError(
                f"quantile_warning ({self.quantile_warning:g}) must not be above "
                f"quantile_critical ({self.quantile_critical:g})"
            )
        if isinstance(self.windows, bool) or not isinstance(self.windows, int) or self.windows < 1:
            raise ValueError(f"windows must be a positive integer, got {self.windows!r}")
        if self.window_rows is not None and (
            isinstance(self.window_rows, bool)
            or not isinstance(self.window_rows, int)
            or self.window_rows < 1
        ):
            raise ValueError(
                f"window_rows must be a positive integer or None, got {self.window_rows!r}"
            )
        for field in ("quantile_warning", "quantile_critical"):
            q = getattr(self, field)
            if _tail_windows(q, self.windows) < MIN_TAIL_WINDOWS:
                raise ValueError(
                    f"{field} {q:g} is not resolvable from {self.windows} windows: it needs "
                    f"at least {min_windows(q)} (so that {MIN_TAIL_WINDOWS} simulated windows "
                    "lie beyond it); raise windows"
                )


ThresholdPolicy = StaticPolicy | SignificancePolicy | CalibratedPolicy


def _tail_windows(quantile: float, windows: int) -> int:
    """r = floor((1-q)·(W+1)): the threshold is the r-th largest of W simulated KLs."""
    return math.floor((1.0 - quantile) * (windows + 1) + 1e-9)


def min_windows(quantile: float) -> int:
    """Fewest calibration windows that resolve ``quantile`` (``MIN_TAIL_WINDOWS`` beyond it)."""
    return math.ceil(MIN_TAIL_WINDOWS / (1.0 - quantile) - 1 - 1e-9)


# --- calibration --------------------------------------------------------------------------

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


# --- multiple testing ---------------------------------------------------------------------


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


# --- the decision ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyInput:
    """One feature of a run: its policy, its scores (None: no rows) and its calibration.

    ``reference_is_sample`` must be what ``driftmon.core.drift.score`` was given.
    """

    feature: str
    policy: ThresholdPolicy
    scores: DriftScores | None
    calibration: Calibration | None = None
    reference_is_sample: bool = True


@dataclass(frozen=True)
class Decision:
    """A feature's status, the KL thresholds applied and why.

    ``thresholds`` is None only when no KL threshold can be stated: no rows under the
    significance policy, or no usable calibration (status ``error``, ``detail`` says why).
    ``p_value_adjusted`` is set for significance features that were tested.
    """

    feature: str
    status: Status
    thresholds: Thresholds | None
    p_value_adjusted: float | None
    detail: str


@dataclass(frozen=True)
class KLTest:
    """The G-test of one window written in KL space (see the module docstring)."""

    n_eff: float
    dof: int
    williams: float
    p_value: float

    def kl_threshold(self, alpha: float) -> float:
        """Smallest KL whose p-value is ≤ alpha: q_W·χ²_{dof}.isf(α) / (2·n_eff)."""
        return float(self.williams * stats.chi2.isf(alpha, max(self.dof, 1)) / (2 * self.n_eff))


def kl_test(scores: DriftScores, reference_is_sample: bool = True) -> KLTest:
    """p = χ²_{k-1}.sf(2·n_eff·KL / q_W), Williams-corrected (see the module docstring)."""
    n, big_n = scores.live_rows, scores.reference_rows
    dof = scores.degrees_of_freedom
    k = dof + 1
    if reference_is_sample:
        n_eff = n * big_n / (n + big_n)
        williams = 1.0 + (k + 1) / 6.0 * (1.0 / n + 1.0 / big_n - 1.0 / (n + big_n))
    else:
        n_eff = float(n)
        williams = 1.0 + (k + 1) / (6.0 * n)
    statistic = 2.0 * n_eff * scores.kl_divergence / williams
    p = float(stats.chi2.sf(statistic, dof)) if dof > 0 else 1.0
    return KLTest(n_eff, dof, williams, min(1.0, max(0.0, p)))


def insufficiency(scores: DriftScores, reference_is_sample: bool = True) -> str | None:
    """Why a window is too small to test (None when it is not).

    Too small: fewer than ``MIN_LIVE_ROWS`` live rows, or fewer than ``MIN_ROWS_PER_BIN``
    rows per used bin (a bin holding live or reference rows) in the live window or, when
    the reference is a sample, in the reference.
    """
    k = scores.degrees_of_freedom + 1
    need = max(MIN_LIVE_ROWS, math.ceil(MIN_ROWS_PER_BIN * k))
    if scores.live_rows < need:
        return (
            f"{scores.live_rows} live rows over {k} used bins: fewer than {need} "
            f"(at least {MIN_LIVE_ROWS}, {MIN_ROWS_PER_BIN:g} per bin)"
        )
    if reference_is_sample and scores.reference_rows < need:
        return f"{scores.reference_rows} reference rows over {k} used bins: fewer than {need}"
    return None


def _significance_thresholds(
    scores: DriftScores, test: KLTest, policy: SignificancePolicy, alphas: tuple[float, float]
) -> Thresholds:
    floor = scores.expected_kl + policy.min_effect
    warning = max(test.kl_threshold(alphas[0]), floor, KL_FLOOR)
    critical = max(test.kl_threshold(alphas[1]), floor, KL_FLOOR, warning)
    return Thresholds(warning=warning, critical=critical, policy=policy.name)


def _fmt_thresholds(t: Thresholds) -> str:
    return f"warning {t.warning:.4g} / critical {t.critical:.4g} nats"


def decide(inputs: Sequence[PolicyInput]) -> list[Decision]:
    """Status and applied KL thresholds of every feature of one run, in input order.

    Significance features with a correction form one family across the run (those with
    enough data to test); each is adjusted by its own method over that family.
    """
    tests: list[KLTest | None] = []
    for x in inputs:
        ok = (
            isinstance(x.policy, SignificancePolicy)
            and x.scores is not None
            and insufficiency(x.scores, x.reference_is_sample) is None
        )
        tests.append(kl_test(x.scores, x.reference_is_sample) if ok and x.scores else None)
    family = [
        i
        for i, (x, t) in enumerate(zip(inputs, tests, strict=True))
        if t is not None and isinstance(x.policy, SignificancePolicy)
        if x.policy.correction != "none"
    ]
    family_p = np.array([t.p_value for i in family if (t := tests[i]) is not None])
    position = {i: j for j, i in enumerate(family)}
    out: list[Decision] = []
    for i, x in enumerate(inputs):
        if isinstance(x.policy, StaticPolicy):
            out.append(_decide_static(x, x.policy))
        elif isinstance(x.policy, SignificancePolicy):
            out.append(_decide_significance(x, x.policy, tests[i], family_p, position.get(i)))
        else:
            out.append(_decide_calibrated(x, x.policy))
    return out


def _decide_static(x: PolicyInput, policy: StaticPolicy) -> Decision:
    t = Thresholds(warning=policy.warning, critical=policy.critical, policy=policy.name)
    if x.scores is None:
        return Decision(x.feature, Status.INSUFFICIENT_DATA, t, None, "no rows to score")
    kl = x.scores.kl_divergence
    return Decision(x.feature, t.classify(kl), t, None, f"KL {kl:.4g} vs {_fmt_thresholds(t)}")


def _decide_significance(
    x: PolicyInput,
    policy: SignificancePolicy,
    test: KLTest | None,
    family_p: npt.NDArray[np.float64],
    position: int | None,
) -> Decision:
    s = x.scores
    if s is None:
        return Decision(x.feature, Status.INSUFFICIENT_DATA, None, None, "no rows to score")
    if test is None:
        why = insufficiency(s, x.reference_is_sample) or "not testable"
        t = _significance_thresholds(
            s,
            kl_test(s, x.reference_is_sample),
            policy,
            (policy.alpha_warning, policy.alpha_critical),
        )
        return Decision(x.feature, Status.INSUFFICIENT_DATA, t, None, why)
    if position is None:
        alphas = (policy.alpha_warning, policy.alpha_critical)
        p_adj = test.p_value
    else:
        alphas = (
            raw_p_cutoff(family_p, position, policy.alpha_warning, policy.correction),
            raw_p_cutoff(family_p, position, policy.alpha_critical, policy.correction),
        )
        p_adj = float(adjust_p_values(family_p, policy.correction)[position])
    t = _significance_thresholds(s, test, policy, alphas)
    correction = "" if position is None else f", {policy.correction} over {family_p.size}"
    detail = (
        f"KL {s.kl_divergence:.4g} vs {_fmt_thresholds(t)}; G-test p {test.p_value:.3g} "
        f"(adjusted {p_adj:.3g}{correction}), dof {test.dof}, n_eff {test.n_eff:.6g}, "
        f"Williams q {test.williams:.4f}, expected KL {s.expected_kl:.4g}"
    )
    return Decision(x.feature, t.classify(s.kl_divergence), t, p_adj, detail)


def _decide_calibrated(x: PolicyInput, policy: CalibratedPolicy) -> Decision:
    cal, s = x.calibration, x.scores
    if cal is None:
        return Decision(
            x.feature, Status.ERROR, None, None, "no calibration for the calibrated policy"
        )
    levels = (policy.quantile_warning, policy.quantile_critical)
    stale = next(
        (
            why
            for bad, why in (
                (any(lv not in cal.quantiles for lv in levels), "lacks the policy's quantiles"),
                (cal.windows != policy.windows, f"used {cal.windows} windows"),
                (
                    cal.reference_is_sample != x.reference_is_sample,
                    "treats the reference differently (sample vs exact)",
                ),
                (
                    s is not None and s.reference_rows != cal.reference_rows,
                    f"was fitted on {cal.reference_rows} reference rows",
                ),
            )
            if bad
        ),
        None,
    )
    if stale is not None:
        return Decision(x.feature, Status.ERROR, None, None, f"recalibrate: calibration {stale}")
    if s is None:
        t = Thresholds(cal.kl_at(levels[0]), cal.kl_at(levels[1]), policy.name)
        return Decision(x.feature, Status.INSUFFICIENT_DATA, t, None, "no rows to score")
    in_range = not needs_recalibration(cal, s.live_rows)
    t_or_none = (
        Thresholds(
            cal.kl_at(levels[0], s.live_rows), cal.kl_at(levels[1], s.live_rows), policy.name
        )
        if in_range
        else None
    )
    why = insufficiency(s, x.reference_is_sample)
    if why is not None:
        return Decision(x.feature, Status.INSUFFICIENT_DATA, t_or_none, None, why)
    if t_or_none is None:
        return Decision(
            x.feature,
            Status.ERROR,
            None,
            None,
            f"recalibrate: calibration is for {cal.window_rows}-row windows, "
            f"this window has {s.live_rows} rows",
        )
    t = t_or_none
    detail = (
        f"KL {s.kl_divergence:.4g} vs {_fmt_thresholds(t)} (null quantiles "
        f"{levels[0]:g}/{levels[1]:g} of {cal.windows} windows of {cal.window_rows} rows"
        f"{'' if s.live_rows == cal.window_rows else f', rescaled to {s.live_rows}'})"
    )
    return Decision(x.feature, t.classify(s.kl_divergence), t, None, detail)
