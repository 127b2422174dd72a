"""False-alarm rate and detection power of driftmon's threshold policies, by simulation.

Run by hand (not part of the test suite):

    .venv/bin/python benchmarks/simulate_thresholds.py            # full run, a few minutes
    .venv/bin/python benchmarks/simulate_thresholds.py --quick    # smoke run, seconds

Set-up, mirroring production: a reference of 200,000 rows is drawn from the true
distribution and fitted with ``driftmon.core.profile.build_feature_profile`` (numeric:
N(0, 1) with k quantile bins; categorical: Zipf(s=1.1) over 200 categories, keeping the top
k-1 so that "other", the long tail, is the k-th bin; categorical closed: Zipf(s=1.1) over
exactly k categories, all kept, so "other" is empty in the reference). The calibrated policy
is calibrated on that reference profile only. Live windows are drawn from the TRUE
distribution, independent of the reference: as multinomial counts over the profile's bins
with the true bin probabilities (normal CDF at the fitted edges; Zipf weights per kept
category, the rest in "other"), which is exactly the distribution of n fresh rows binned by
driftmon. A cross-check draws real N(0, 1) rows and bins them with the profile
(``driftmon.core.histogram``). Every window is scored with
``driftmon.core.drift.score`` and classified with ``driftmon.core.thresholds.decide``.

Several independent references per configuration are used, because with a fixed reference
the false-alarm rate is conditional on that reference's own sampling error (noticeably so
when n is comparable to N); the rate reported is the average over references, with the
per-reference range beside it.

The "defaults" column and table use what a monitor gets with no ``thresholds`` and no
``min_rows`` key: the policy is read from a validated configuration
(``driftmon.config`` → ``driftmon.service.thresholds.policy_for``), not restated here.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy
from scipy import stats

from driftmon.config import config_from_dict
from driftmon.core.bins import CategoricalBins, NumericBins
from driftmon.core.drift import DriftScores, score
from driftmon.core.histogram import Histogram
from driftmon.core.profile import FeatureProfile, FeatureSpec, build_feature_profile
from driftmon.core.status import Status
from driftmon.core.thresholds import (
    CalibratedPolicy,
    Calibration,
    PolicyInput,
    SignificancePolicy,
    StaticPolicy,
    ThresholdPolicy,
    calibrate,
    decide,
)
from driftmon.service.thresholds import policy_for

Floats = npt.NDArray[np.float64]
REFERENCE_ROWS = 200_000
WINDOW_SIZES = (100, 1_000, 10_000, 100_000)
BIN_COUNTS = (10, 30)
ZIPF_S, ZIPF_CATEGORIES = 1.1, 200
MEAN_SHIFTS = (0.1, 0.25, 0.5)
NEW_CATEGORY_SHARE = 0.05

SIGNIFICANCE = SignificancePolicy(alpha_warning=0.01, alpha_critical=0.001)
CALIBRATED = CalibratedPolicy(quantile_warning=0.99, quantile_critical=0.999, windows=10_000)
STATIC = StaticPolicy(warning=0.05, critical=0.1)


def configured_defaults() -> tuple[ThresholdPolicy, int]:
    """The threshold policy and min_rows of a monitor whose config gives neither."""
    monitor = {
        "name": "defaults",
        "schedule": {"every": "1h"},
        "reference": {"path": "reference.parquet"},
        "live": {"path": "live.parquet"},
        "features": [{"name": "x"}],
    }
    cfg = config_from_dict({"monitors": [monitor]}, base_dir=Path("."), environ={})
    m = cfg.monitors[0]
    return policy_for(m, m.features[0]), m.live.min_rows


def describe_policy(policy: ThresholdPolicy) -> str:
    """``significance, alpha 0.01 / 0.001, min_effect 0, correction none`` and the like."""
    fields = ", ".join(
        f"{f.name} {getattr(policy, f.name):g}"
        if isinstance(getattr(policy, f.name), float)
        else f"{f.name} {getattr(policy, f.name)}"
        for f in dataclasses.fields(policy)
    )
    return f"policy {policy.name}: {fields}"


DEFAULT_POLICY, DEFAULT_MIN_ROWS = configured_defaults()
DEFAULTS_TARGET = 0.02
"""Issue 9: out of the box, at most 2% of no-drift windows may alarm (warning or critical)."""

OUT = Path(__file__).with_name("thresholds.md")


@dataclass(frozen=True)
class Schedule:
    """How a row's windows are spread over independent references."""

    references: int
    null_windows: int  # no-drift windows per reference
    power_windows: int  # windows per reference per shifted scenario

    @property
    def null_total(self) -> int:
        return self.references * self.null_windows

    @property
    def power_total(self) -> int:
        return self.references * self.power_windows


@dataclass(frozen=True)
class Plan:
    small: Schedule  # n <= 10,000
    large: Schedule  # n = 100,000, where the reference's own noise matters most
    row_windows: int  # real-row cross-check windows per n
    seeds: int  # calibration seeds for the windows=1000 noise study

    def schedule(self, n: int) -> Schedule:
        return self.large if n >= 100_000 else self.small


FULL = Plan(Schedule(40, 250, 25), Schedule(200, 50, 5), row_windows=2_000, seeds=20)
QUICK = Plan(Schedule(2, 100, 20), Schedule(4, 50, 10), row_windows=50, seeds=3)


# --- the truth, the reference and its profile ----------------------------------------------


@dataclass(frozen=True)
class World:
    """One reference profile and the true bin probabilities of each live scenario."""

    profile: FeatureProfile
    scenarios: dict[str, Floats]  # scenario name -> true probabilities over the profile bins


CATEGORY_NAMES = np.array([f"c{i:03d}" for i in range(ZIPF_CATEGORIES)], dtype=object)


def numeric_world(rng: np.random.Generator, k: int) -> World:
    values = rng.standard_normal(REFERENCE_ROWS)
    profile = build_feature_profile(values, FeatureSpec("x", "numeric", bins=k))
    assert isinstance(profile.bins, NumericBins)
    edges = np.asarray(profile.bins.edges)

    def probs(shift: float) -> Floats:
        cdf: Floats = stats.norm.cdf(edges - shift)
        p: Floats = np.concatenate([[cdf[0]], np.diff(cdf), [1.0 - cdf[-1]], [0.0]])
        out: Floats = p / p.sum()
        return out

    scenarios = {"no drift": probs(0.0)}
    scenarios |= {f"mean +{s:g} SD": probs(s) for s in MEAN_SHIFTS}
    return World(profile, scenarios)


def categorical_world(rng: np.random.Generator, k: int, closed: bool = False) -> World:
    """Zipf categories: 200 with the top k-1 kept (open), or exactly k, all kept (closed).

    Open: "other" holds the long tail in the reference, so a new category adds to an
    already large bin. Closed: "other" is empty in the reference, so a new category lands
    in a bin the reference never saw (KL smoothing, see ``driftmon.core.divergence``).
    """
    n_cats = k if closed else ZIPF_CATEGORIES
    w = 1.0 / np.arange(1, n_cats + 1) ** ZIPF_S
    w /= w.sum()
    values = CATEGORY_NAMES[rng.choice(n_cats, size=REFERENCE_ROWS, p=w)]
    spec = FeatureSpec("c", "categorical", max_categories=k if closed else k - 1)
    profile = build_feature_profile(values, spec)
    bins = profile.bins
    assert isinstance(bins, CategoricalBins)
    index = {name: i for i, name in enumerate(CATEGORY_NAMES)}
    p = np.zeros(bins.n_bins)
    for j, cat in enumerate(bins.categories):
        p[j] = w[index[cat]]
    p[bins.other_index] = max(0.0, 1.0 - p.sum())
    p /= p.sum()
    shifted = (1.0 - NEW_CATEGORY_SHARE) * p
    shifted[bins.other_index] += NEW_CATEGORY_SHARE  # a category never seen lands in "other"
    return World(profile, {"no drift": p, f"new category {NEW_CATEGORY_SHARE:.0%}": shifted})


def closed_categorical_world(rng: np.random.Generator, k: int) -> World:
    return categorical_world(rng, k, closed=True)


# --- flags per policy --------------------------------------------------------------------

FLAGS = (
    "significance",
    "significance critical",
    "calibrated",
    "calibrated critical",
    "G-test p<0.01, no correction",
    "calibrated, window-only bootstrap",
    "static KL>=0.05",
    "KL>=0.1 (fixed cut-off)",
    "PSI>=0.1",
    "PSI>=0.25",
    "defaults",
)
DEFAULTS_COLUMN = FLAGS.index("defaults")
DRIFT = {Status.WARNING, Status.CRITICAL}


def flags(s: DriftScores, cal: Calibration, naive: Calibration) -> list[bool]:
    """Whether each column of FLAGS alerts on one scored window."""
    sig, calib, static, default = decide(
        [
            PolicyInput("x", SIGNIFICANCE, s),
            PolicyInput("x", CALIBRATED, s, cal),
            PolicyInput("x", STATIC, s),
            PolicyInput("x", DEFAULT_POLICY, s),
        ]
    )
    for d in (sig, calib):
        assert d.status in DRIFT | {Status.OK}, d.detail
    # The plain χ² G-test without Williams' correction (DriftScores.p_value has it).
    plain_p = float(stats.chi2.sf(s.g_statistic, s.degrees_of_freedom))
    return [
        sig.status in DRIFT,
        sig.status is Status.CRITICAL,
        calib.status in DRIFT,
        calib.status is Status.CRITICAL,
        plain_p <= 0.01,
        s.kl_divergence >= naive.kl_at(CALIBRATED.quantile_warning, s.live_rows),
        static.status in DRIFT,
        static.status is Status.CRITICAL,
        s.psi >= 0.1,
        s.psi >= 0.25,
        s.live_rows >= DEFAULT_MIN_ROWS and default.status in DRIFT,
    ]


def rates(
    world: World, counts: npt.NDArray[np.int64], cal: Calibration, naive: Calibration
) -> Floats:
    ref = world.profile.reference
    out = np.zeros(len(FLAGS))
    for row in counts:
        s = score(Histogram(row), ref, reference_is_sample=True)
        assert s is not None
        out += flags(s, cal, naive)
    return out / len(counts)


# --- the simulation ----------------------------------------------------------------------

Key = tuple[str, int, str, int]  # kind, bins, scenario, n
KINDS = (
    ("numeric", numeric_world),
    ("categorical", categorical_world),
    ("categorical closed", closed_categorical_world),
)


def simulate_config(plan: Plan, kind_index: int, k: int, seed: int) -> dict[Key, list[Floats]]:
    """One feature kind and bin count: per (scenario, n), one vector of flag rates per reference."""
    kind, build = KINDS[kind_index]
    rng = np.random.default_rng(seed)
    results: dict[Key, list[Floats]] = {}
    t0 = time.perf_counter()
    for r in range(max(plan.small.references, plan.large.references)):
        world = build(rng, k)
        ref_counts = world.profile.reference.counts
        for n in WINDOW_SIZES:
            sched = plan.schedule(n)
            if r >= sched.references:
                continue
            cal_seed = int(rng.integers(2**32))
            cal = calibrate(ref_counts, n, CALIBRATED, seed=cal_seed)
            naive = calibrate(ref_counts, n, CALIBRATED, seed=cal_seed, reference_is_sample=False)
            for name, p in world.scenarios.items():
                w = sched.null_windows if name == "no drift" else sched.power_windows
                counts = rng.multinomial(n, p, size=w)
                results.setdefault((kind, k, name, n), []).append(rates(world, counts, cal, naive))
    print(f"  {kind:18} {k:2} bins: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return results


def default_alarm_rate(world: World, counts: npt.NDArray[np.int64]) -> float:
    """Share of windows the out-of-the-box configuration alarms on (warning or critical)."""
    alarms = 0
    for row in counts:
        s = score(Histogram(row), world.profile.reference, reference_is_sample=True)
        assert s is not None
        (d,) = decide([PolicyInput("x", DEFAULT_POLICY, s)])
        alarms += s.live_rows >= DEFAULT_MIN_ROWS and d.status in DRIFT
    return alarms / len(counts)


def simulate_defaults_config(
    plan: Plan, kind_index: int, k: int, seed: int
) -> dict[Key, list[float]]:
    """``--defaults-only``: the no-drift windows of one configuration, defaults only."""
    kind, build = KINDS[kind_index]
    rng = np.random.default_rng(seed)
    results: dict[Key, list[float]] = {}
    t0 = time.perf_counter()
    for r in range(max(plan.small.references, plan.large.references)):
        world = build(rng, k)
        for n in WINDOW_SIZES:
            sched = plan.schedule(n)
            if r < sched.references:
                counts = rng.multinomial(n, world.scenarios["no drift"], size=sched.null_windows)
                results.setdefault((kind, k, "no drift", n), []).append(
                    default_alarm_rate(world, counts)
                )
    print(f"  {kind:18} {k:2} bins: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return results


def simulate(
    plan: Plan, seed: int, workers: int, task: Callable[..., dict[Key, Any]] | None = None
) -> dict[Key, Any]:
    """Every configuration, spread over ``workers`` processes (independent seeds)."""
    configs = [(i, k) for i in range(len(KINDS)) for k in BIN_COUNTS]
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(len(configs))]
    results: dict[Key, Any] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(task or simulate_config, plan, i, k, s)
            for (i, k), s in zip(configs, seeds, strict=True)
        ]
        for f in futures:
            results |= f.result()
    return results


@dataclass(frozen=True)
class RowCheck:
    n: int
    real: Floats  # flag rates, real rows
    multinomial: Floats  # flag rates, multinomial counts
    mean_kl: tuple[float, float]  # real, multinomial
    ks_p_value: float  # two-sample KS test of the two KL samples


def rows_cross_check(plan: Plan, seed: int) -> list[RowCheck]:
    """Numeric, 10 bins: real N(0,1) rows binned by driftmon vs the multinomial shortcut."""
    rng = np.random.default_rng(seed)
    world = numeric_world(rng, 10)
    ref = world.profile.reference
    out = []
    for n in WINDOW_SIZES:
        cal = calibrate(ref.counts, n, CALIBRATED, seed=n)
        naive = calibrate(ref.counts, n, CALIBRATED, seed=n, reference_is_sample=False)
        real = [
            world.profile.live_histogram(rng.standard_normal(n)) for _ in range(plan.row_windows)
        ]
        mult = [
            Histogram(c)
            for c in rng.multinomial(n, world.scenarios["no drift"], size=plan.row_windows)
        ]
        sides = []
        for hists in (real, mult):
            scored = [s for h in hists if (s := score(h, ref)) is not None]
            flagged = np.mean([flags(s, cal, naive) for s in scored], axis=0)
            sides.append((flagged, np.array([s.kl_divergence for s in scored])))
        (f_real, kl_real), (f_mult, kl_mult) = sides
        ks = stats.ks_2samp(kl_real, kl_mult)
        out.append(RowCheck(n, f_real, f_mult, (kl_real.mean(), kl_mult.mean()), float(ks.pvalue)))
    return out


def recalibration_check(seed: int, windows: int) -> list[tuple[str, int, int, float, float]]:
    """Calibrate at n0, score windows of 0.8·n0 and 1.25·n0 (thresholds rescaled)."""
    rng = np.random.default_rng(seed)
    out = []
    for kind, build in (("numeric", numeric_world), ("categorical", categorical_world)):
        world = build(rng, 30)
        ref = world.profile.reference
        p = world.scenarios["no drift"]
        for n0 in (100, 1_000, 10_000):
            cal = calibrate(ref.counts, n0, CALIBRATED, seed=n0)
            for n in (int(0.8 * n0), n0, int(1.25 * n0)):
                counts = rng.multinomial(n, p, size=windows)
                warn = crit = 0
                for row in counts:
                    s = score(Histogram(row), ref)
                    assert s is not None
                    (d,) = decide([PolicyInput("x", CALIBRATED, s, cal)])
                    warn += d.status in DRIFT
                    crit += d.status is Status.CRITICAL
                out.append((kind, n0, n, warn / windows, crit / windows))
    return out


def calibration_noise(plan: Plan, seed: int, windows: int) -> list[tuple[int, int, Floats]]:
    """Realised false-alarm rate of quantile 0.99 across calibration seeds, per window count."""
    rng = np.random.default_rng(seed)
    world = numeric_world(rng, 30)
    ref = world.profile.reference
    n = 1_000
    counts = rng.multinomial(n, world.scenarios["no drift"], size=windows)
    kls = np.array([s.kl_divergence for row in counts if (s := score(Histogram(row), ref))])
    out = []
    for cal_windows in (1_000, 10_000):
        policy = CalibratedPolicy(0.99, 0.99, windows=cal_windows)
        realised = [
            float(np.mean(kls >= calibrate(ref.counts, n, policy, seed=s).kl_at(0.99)))
            for s in range(plan.seeds)
        ]
        out.append((cal_windows, n, np.array(realised)))
    return out


# --- reporting ----------------------------------------------------------------------------


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def false_alarm_table(results: dict[Key, list[Floats]]) -> tuple[str, list[str]]:
    """Mean rate over references; ± one standard error across references for two columns."""
    header = ["feature", "bins", "n", *FLAGS]
    rows, misses = [], []
    for (kind, k, name, n), per_ref in sorted(results.items(), key=_order):
        if name != "no drift":
            continue
        mean = np.mean(per_ref, axis=0)
        se = np.std(per_ref, axis=0, ddof=1) / np.sqrt(len(per_ref))
        cells = [
            f"{pct(m)} ± {100 * e:.2f}" if col in (0, 2) else pct(m)
            for col, (m, e) in enumerate(zip(mean, se, strict=True))
        ]
        rows.append([kind, str(k), f"{n:,}", *cells])
        for col in (0, 2):
            if not 0.005 <= mean[col] <= 0.02:
                misses.append(
                    f"{FLAGS[col]}, {kind}, {k} bins, n={n:,}: {pct(mean[col])} "
                    f"(± {100 * se[col]:.2f} standard error)"
                )
    return table(header, rows), misses


def defaults_table(results: dict[Key, list[float]], plan: Plan) -> tuple[str, str]:
    """False alarms (warning or critical) of the out-of-the-box configuration, and a verdict.

    ``results``: per no-drift cell, the defaults' alarm rate on each reference.
    """
    header = ["feature", "bins", "n", "windows", "false alarms (± standard error)", "≤ 2%"]
    rows, worst = [], (0.0, 0.0, "")
    for (kind, k, name, n), per_ref in sorted(results.items(), key=_order):
        if name != "no drift":
            continue
        rates = np.array(per_ref)
        mean, se = float(rates.mean()), float(rates.std(ddof=1) / np.sqrt(rates.size))
        rows.append(
            [
                kind,
                str(k),
                f"{n:,}",
                f"{plan.schedule(n).null_total:,}",
                f"{pct(mean)} ± {100 * se:.2f}",
                _yes(mean, se),
            ]
        )
        if mean > worst[0]:
            worst = (mean, se, f"{kind}, {k} bins, n = {n:,}")
    mean, se, where = worst
    verdict = f"Highest cell: {pct(mean)} ± {100 * se:.2f} ({where}); " + (
        f"every cell is at most {pct(DEFAULTS_TARGET)}."
        if all(r[-1] != "no" for r in rows)
        else f"some cells exceed {pct(DEFAULTS_TARGET)}."
    )
    return table(header, rows), verdict


def defaults_report(defaults: dict[Key, list[float]], plan: Plan) -> str:
    """The "Defaults" section of the report."""
    md, verdict = defaults_table(defaults, plan)
    small, large = plan.small, plan.large
    return f"""\
## Defaults: no `thresholds` and no `min_rows` in the configuration

What a monitor does out of the box, read from a validated configuration without those keys:

    {describe_policy(DEFAULT_POLICY)}; min_rows {DEFAULT_MIN_ROWS}

A warning counts as an alarm. No-drift windows as in the false-alarm table (n ≤ 10,000:
{small.null_total:,} per row over {small.references} references; n = 100,000:
{large.null_total:,} over {large.references}). Target: at most {pct(DEFAULTS_TARGET)}; "yes"
means below it by more than two standard errors (across references).

{md}

{verdict}"""


def _yes(mean: float, se: float) -> str:
    """'yes' when the rate is below the target by more than two standard errors."""
    if mean + 2 * se < DEFAULTS_TARGET:
        return "yes"
    return "no" if mean > DEFAULTS_TARGET else "within 2 SE"


POWER_COLUMNS = (0, 2, 4, 6, 7, 8, 9)


def power_table(results: dict[Key, list[Floats]]) -> str:
    header = ["feature", "bins", "shift", "n", *(FLAGS[c] for c in POWER_COLUMNS)]
    rows = []
    for (kind, k, name, n), per_ref in sorted(results.items(), key=_order):
        if name == "no drift":
            continue
        mean = np.mean(per_ref, axis=0)
        rows.append([kind, str(k), name, f"{n:,}", *(pct(mean[c]) for c in POWER_COLUMNS)])
    return table(header, rows)


def _order(item: tuple[Key, Any]) -> tuple[int, int, str, int]:
    kind, k, name, n = item[0]
    return ([kd for kd, _ in KINDS].index(kind), k, name, n)


def machine() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        mem = f"{mem_kb / 2**20:.1f} GiB"
    except OSError:
        mem = "unknown"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return (
        f"{os.cpu_count()} CPUs (nproc), {cpu}, {mem} RAM; {platform.platform()}; "
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}; "
        f"driftmon at commit {commit or 'unknown'} (plus working tree)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few windows: a smoke run")
    parser.add_argument("--seed", type=int, default=20240605)
    parser.add_argument("--no-write", action="store_true", help=f"do not write {OUT.name}")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--defaults-only",
        action="store_true",
        help="only the defaults table (no calibration, no power): minutes, not tens of minutes; "
        "prints it, writes nothing",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    if args.defaults_only:
        defaults = simulate(plan, args.seed, args.workers, simulate_defaults_config)
        print(defaults_report(defaults, plan))
        print(f"total {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        return
    results = simulate(plan, args.seed, args.workers)
    t_sim = time.perf_counter() - t0
    fa, misses = false_alarm_table(results)
    defaults = {key: [float(r[DEFAULTS_COLUMN]) for r in v] for key, v in results.items()}
    power = power_table(results)
    row_check = rows_cross_check(plan, args.seed + 1)
    recal = recalibration_check(args.seed + 2, plan.small.null_total // 2)
    noise = calibration_noise(plan, args.seed + 3, plan.small.null_total)
    elapsed = time.perf_counter() - t0

    rows_md = table(
        [
            "n",
            "significance: rows / multinomial",
            "calibrated: rows / multinomial",
            "mean KL: rows / multinomial",
            "KS test p-value, KL rows vs multinomial",
        ],
        [
            [
                f"{c.n:,}",
                f"{pct(c.real[0])} / {pct(c.multinomial[0])}",
                f"{pct(c.real[2])} / {pct(c.multinomial[2])}",
                f"{c.mean_kl[0]:.3g} / {c.mean_kl[1]:.3g}",
                f"{c.ks_p_value:.2f}",
            ]
            for c in row_check
        ],
    )
    recal_md = table(
        ["feature (30 bins)", "calibrated at n0", "live n", "warning (0.99)", "critical (0.999)"],
        [[kd, f"{n0:,}", f"{n:,}", pct(w), pct(c)] for kd, n0, n, w, c in recal],
    )
    noise_md = table(
        ["calibration windows", "n", "seeds", "realised rate: mean", "min", "max"],
        [
            [f"{w:,}", f"{n:,}", str(r.size), pct(r.mean()), pct(r.min()), pct(r.max())]
            for w, n, r in noise
        ],
    )
    command = "cd /work/main && .venv/bin/python " + " ".join(
        shlex.quote(a) for a in ["benchmarks/simulate_thresholds.py", *sys.argv[1:]]
    )
    verdict = (
        "Outside [0.5%, 2%]: " + "; ".join(misses) + ". Why: see *Approximations and known "
        "limits* above."
        if misses
        else "All significance and calibrated warning rates are within [0.5%, 2%]."
    )
    small, large = plan.small, plan.large
    spread = (
        f"n ≤ 10,000: {small.null_total:,} windows per row over {small.references} references; "
        f"n = 100,000: {large.null_total:,} over {large.references} references"
    )
    spread_power = (
        f"n ≤ 10,000: {small.power_total:,} windows per row over {small.references} references; "
        f"n = 100,000: {large.power_total:,} over {large.references} references"
    )
    report = f"""\
## False-alarm rate (no drift)

{spread}.
The significance and calibrated columns show ± one standard error of the mean across
references.

Configured rate: 1% at warning (alpha 0.01 / quantile 0.99), 0.1% at critical (alpha 0.001 /
quantile 0.999). Target for significance and calibrated: 0.5%–2% at warning.

{fa}

{verdict}

{defaults_report(defaults, plan)}

## Detection power

{spread_power}.

Fraction of windows flagged (warning or worse; KL>=0.1 and PSI columns: that value or more).

{power}

## Cross-check: real rows binned by driftmon

Numeric, 10 bins, one reference, {plan.row_windows:,} windows per n.

{rows_md}

## Live windows of a size other than the calibrated one (thresholds rescaled by E[KL])

{recal_md}

## Calibration noise: realised false-alarm rate of quantile 0.99 across calibration seeds

(numeric, 30 bins, one reference, rate measured on {small.null_total:,} fixed no-drift windows)

{noise_md}
"""
    print(report)
    print(f"simulation {t_sim:.0f} s, total {elapsed:.0f} s", file=sys.stderr)
    if not args.no_write:
        OUT.write_text(
            _PREAMBLE.format(command=command, machine=machine(), elapsed=elapsed) + report
        )
        print(f"wrote {OUT}", file=sys.stderr)


_PREAMBLE = """\
# Threshold policies: false alarms and detection power

Generated by `benchmarks/simulate_thresholds.py` (issue 5); the tables below are rewritten by
each run, this preamble is part of the script.

- Command: `{command}`
- Machine: {machine}
- Wall time: {elapsed:.0f} s

## Set-up

- Reference: 200,000 rows drawn from the true distribution, profiled with
  `driftmon.core.profile.build_feature_profile`. *numeric*: N(0, 1), 10 or 30 quantile bins.
  *categorical*: Zipf(s = 1.1) over 200 categories, top 9 or 29 kept, the long tail in
  "other" (so 10 or 30 used bins). *categorical closed*: Zipf(1.1) over exactly 10 or 30
  categories, all kept ("other" empty in the reference).
- Live windows come from the **true** distribution, never from the reference histogram:
  multinomial counts with the true probabilities of the profile's bins (normal CDF at the
  fitted edges; Zipf weights), which is exactly the law of n fresh rows binned by driftmon.
  The cross-check table bins real N(0, 1) rows with `driftmon.core.histogram` instead and
  compares the two KL distributions (two-sample KS test; its p-value is uniform on [0, 1]
  when they are equal, so an occasional small one among four rows is expected).
- Each window is scored by `driftmon.core.drift.score` (two-sample, smoothing 0.5) and
  classified by `driftmon.core.thresholds.decide`. Policies: significance alpha 0.01 / 0.001,
  min_effect 0, no correction; calibrated quantile 0.99 / 0.999 with 10,000 bootstrap windows,
  calibrated on each reference profile at the window size; static 0.05 / 0.1. "Other tools'
  defaults": a fixed KL cut-off of 0.1 and PSI bands 0.1 / 0.25 (PSI as scored by driftmon:
  raw proportions floored at ε = 10⁻⁴ on both sides).
- "defaults" is what a monitor does with no `thresholds` and no `min_rows` key, the policy
  read from a validated configuration (today: significance, alpha 0.01 / 0.001).
- Ablations: "G-test p<0.01, no correction" is the plain χ² p-value of the exact G
  (`DriftScores.g_statistic`), without Williams' correction (`DriftScores.p_value` has it);
  "calibrated, window-only bootstrap" calibrates by resampling only the window from the
  reference histogram (`calibrate(..., reference_is_sample=False)`), i.e. treating the
  reference as exact.
- Many independent references per row: with one fixed reference, the reference's own
  sampling error acts like a small permanent drift shared by every window, so a monitor's
  false-alarm rate is conditional on its reference. The tables give the average over
  references (the per-feature rate a user can expect), with its standard error.

## Approximations and known limits

- Significance decides in KL space: G ≈ 2·n_eff·KL with n_eff = nN/(n+N), referred to χ²(k-1)
  after Williams' correction q = 1 + (k+1)/6·(1/n + 1/N - 1/(n+N)) (equal-bin form; only n, N
  and k reach `decide`). Status and exported threshold agree exactly by construction.
- Without Williams' correction the plain χ² G-test over-alarms on small windows with many
  bins (the "G-test p<0.01" column at 30 bins, n = 100). With it, sparse tables (Zipf bins
  expecting < 1 row at n = 100) are conservative: the χ² approximation of G is then itself
  conservative and the equal-bin q adds to it. The calibrated policy has no such bias.
- When n is not small against N (n = 100,000 vs N = 200,000) each reference's rate ranges from
  ~0% to several % (its sampling error is a fixed offset), so the mean over references has a
  larger standard error there; the window-only bootstrap ignores that noise and over-alarms
  (8–30%), which is why `calibrate` redraws the reference too. Keep N ≫ n (10× or more) for a
  rate that holds per monitor, not only on average.
- Calibration is a Monte Carlo estimate: with 1,000 windows the realised rate of the 0.99
  quantile varies by seed (table at the end); 10,000 windows make it tight and are needed
  anyway to resolve 0.999 (`calibrate` requires 10 simulated windows beyond a quantile).
- The new-category scenario on *categorical* (open) adds 5% to an "other" bin that already
  holds the reference's long tail, so it is a small relative change and hard to detect at
  small n for every policy; *categorical closed* shows the same shift into a bin the
  reference never saw.

"""


if __name__ == "__main__":
    main()
