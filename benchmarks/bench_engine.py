"""Benchmark of driftmon's drift engine against a straightforward pandas/NumPy script.

Run by hand, not in the test suite::

    .venv/bin/python benchmarks/bench_engine.py                 # 1M and 10M rows, all cases
    .venv/bin/python benchmarks/bench_engine.py --rows 1000000 --cases live kernels

Cases:

* ``profile``   building the reference profile (bins + reference counts) of 25 columns;
* ``live``      with the profile built: live histograms + divergences of the 25 columns;
* ``kernels``   one column at a time: numeric quantile/uniform bins, categorical columns;
* ``streaming`` a Parquet file of ``--stream-rows`` rows read in record batches by a
  subprocess, whose peak RSS is the figure reported;
* ``threads``   profile and live cases with each of ``--threads`` counting threads
  (``driftmon.core.parallel.ColumnPool``), interleaved run by run so that every thread
  count sees the same neighbours; median and best wall time, median CPU time of the
  process (all threads), and the load average.

Times are the best of ``--repeat`` runs (the machine is shared; the best run is the one
least disturbed). Peak memory is measured in a separate, untimed run: the peak of
tracemalloc (Python and NumPy allocations) plus the peak of a fresh Arrow memory pool
(Arrow allocations, which tracemalloc does not see), both above the level at the start.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from driftmon.core import fastbin
from driftmon.core.bins import CategoricalBins, NumericBins
from driftmon.core.columns import profile_columns, score_columns
from driftmon.core.drift import DriftScores, score
from driftmon.core.fastbin import count_into_edges
from driftmon.core.histogram import Histogram, categorical_histogram, histogram
from driftmon.core.parallel import ColumnPool
from driftmon.core.profile import FeatureSpec, ReferenceProfile

SEED = 20240611
DATA_DIR = Path(__file__).parent / "data"
N_NUMERIC = 20
CATEGORY_COUNTS = (10, 50, 100, 500, 1000)
UNIFORM_COLUMNS = {"uniform", "uniform_nan", "beta", "bimodal"}
SMOOTHING = 0.5

# --- data ------------------------------------------------------------------------------------

# name -> generator of n values; `shift` > 0 moves the live distribution for shifted columns.
NumericGen = Callable[[np.random.Generator, int, float], npt.NDArray[Any]]


def _with_nan(x: npt.NDArray[np.float64], rng: np.random.Generator, frac: float) -> Any:
    x[rng.random(x.size) < frac] = np.nan
    return x


NUMERIC: dict[str, NumericGen] = {
    "normal": lambda r, n, s: r.normal(0.3 * s, 1.0, n),
    "normal_nan": lambda r, n, s: _with_nan(r.normal(10, 2, n), r, 0.02),
    "lognormal": lambda r, n, s: r.lognormal(0, 1 + 0.5 * s, n),
    "lognormal_nan": lambda r, n, s: _with_nan(r.lognormal(3, 0.7, n), r, 0.05),
    "zero_inflated": lambda r, n, s: np.where(
        r.random(n) < 0.7 - 0.2 * s, 0.0, r.lognormal(2, 1, n)
    ),
    "zero_inflated_nan": lambda r, n, s: _with_nan(
        np.where(r.random(n) < 0.5, 0.0, r.gamma(2, 30, n)), r, 0.03
    ),
    "poisson_3": lambda r, n, s: r.poisson(3 + 0.5 * s, n),  # int64 column
    "poisson_20": lambda r, n, s: r.poisson(20, n),
    "uniform": lambda r, n, s: r.uniform(0, 100, n),
    "uniform_nan": lambda r, n, s: _with_nan(r.uniform(-1, 1, n), r, 0.01),
    "exponential": lambda r, n, s: r.exponential(5 * (1 + s), n),
    "student_t": lambda r, n, s: r.standard_t(3, n),
    "normal_outliers": lambda r, n, s: np.where(r.random(n) < 0.001, 1e9, r.normal(50, 5, n)),
    "bimodal": lambda r, n, s: np.where(
        r.random(n) < 0.5 + 0.2 * s, r.normal(-2, 1, n), r.normal(3, 1, n)
    ),
    "geometric": lambda r, n, s: r.geometric(0.2, n),  # int64 column
    "beta": lambda r, n, s: r.beta(2, 5, n),
    "gamma": lambda r, n, s: r.gamma(2, 2, n),
    "large_magnitude": lambda r, n, s: 1e6 + r.normal(0, 10, n),
    "prices": lambda r, n, s: np.round(r.lognormal(3, 1, n), 2),
    "binary": lambda r, n, s: (r.random(n) < 0.3 + 0.1 * s).astype(np.int64),
}
assert len(NUMERIC) == N_NUMERIC
SHIFTED = {
    "normal",
    "lognormal",
    "zero_inflated",
    "poisson_3",
    "bimodal",
    "binary",
    "cat_10",
    "cat_500",
}


def _categorical(rng: np.random.Generator, n: int, n_cats: int, shift: float) -> pd.Series:
    names = np.array([f"{'abcdefgh'[i % 8]}_category_{i:05d}" for i in range(n_cats)], dtype=object)
    # Zipf-like frequencies; a shifted live window flattens them and adds unseen categories.
    weights = 1.0 / np.arange(1, n_cats + 1) ** (1.1 - 0.5 * shift)
    codes = rng.choice(n_cats, size=n, p=weights / weights.sum())
    values = names[codes]
    if shift:
        values[rng.random(n) < 0.02] = "never_seen_in_reference"
    values[rng.random(n) < 0.01] = None
    return pd.Series(values, dtype="str")  # pandas' default string dtype (Arrow-backed)


def make_frame(n: int, seed: int, live: bool) -> pd.DataFrame:
    """25 columns: 20 numeric of mixed shapes, 5 string columns of 10 to 1000 categories."""
    rng = np.random.default_rng([seed, int(live)])
    cols: dict[str, Any] = {}
    for name, gen in NUMERIC.items():
        cols[name] = gen(rng, n, 1.0 if live and name in SHIFTED else 0.0)
    for k in CATEGORY_COUNTS:
        name = f"cat_{k}"
        cols[name] = _categorical(rng, n, k, 1.0 if live and name in SHIFTED else 0.0)
    return pd.DataFrame(cols)


def feature_specs() -> list[FeatureSpec]:
    specs = [
        FeatureSpec(name, "numeric", strategy="uniform" if name in UNIFORM_COLUMNS else "quantile")
        for name in NUMERIC
    ]
    specs += [FeatureSpec(f"cat_{k}", "categorical") for k in CATEGORY_COUNTS]
    return specs


# --- driftmon and the baseline --------------------------------------------------------------


# Threads counting columns (--threads); one pool for the whole run, as the daemon keeps one.
POOL = ColumnPool(1)


def driftmon_profile(df: pd.DataFrame, specs: list[FeatureSpec]) -> ReferenceProfile:
    return profile_columns(df, specs, POOL)


def driftmon_live(df: pd.DataFrame, profile: ReferenceProfile) -> list[DriftScores | None]:
    return score_columns(df, profile, POOL)


@dataclass
class BaselineFeature:
    name: str
    edges: npt.NDArray[np.float64] | None
    categories: pd.Index | None
    counts: npt.NDArray[np.int64]


def _baseline_numeric_counts(x: npt.NDArray[np.float64], edges: npt.NDArray[np.float64]) -> Any:
    counts = np.bincount(np.searchsorted(edges, x, side="right"), minlength=edges.size + 1)
    n_nan = int(np.isnan(x).sum())
    counts[-1] -= n_nan
    return np.append(counts, n_nan)


def baseline_profile(df: pd.DataFrame, specs: list[FeatureSpec]) -> list[BaselineFeature]:
    """What one writes first: np.quantile edges + searchsorted, pandas value_counts."""
    out = []
    for s in specs:
        col = df[s.name]
        if s.kind == "numeric":
            x = col.to_numpy(dtype=np.float64, na_value=np.nan)
            finite = x[np.isfinite(x)]
            if s.strategy == "uniform":
                edges = np.linspace(finite.min(), finite.max(), s.bins + 1)[1:-1]
            else:
                edges = np.unique(np.quantile(finite, np.arange(1, s.bins) / s.bins))
            out.append(BaselineFeature(s.name, edges, None, _baseline_numeric_counts(x, edges)))
        else:
            vc = col.value_counts()
            top = vc.index[: s.max_categories]
            counts = np.append(
                vc.to_numpy()[: s.max_categories],
                [vc.to_numpy()[s.max_categories :].sum(), col.isna().sum()],
            )
            out.append(BaselineFeature(s.name, None, top, counts.astype(np.int64)))
    return out


def _kl(live: npt.NDArray[np.int64], ref: npt.NDArray[np.int64]) -> float:
    p = live / live.sum()
    q = ref + SMOOTHING * ((ref == 0) & (live > 0))
    q = q / q.sum()
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] / q[nz])))


def baseline_live(df: pd.DataFrame, features: list[BaselineFeature]) -> list[float]:
    out = []
    for f in features:
        col = df[f.name]
        if f.edges is not None:
            counts = _baseline_numeric_counts(
                col.to_numpy(dtype=np.float64, na_value=np.nan), f.edges
            )
        else:
            assert f.categories is not None
            vc = col.value_counts()
            kept = vc.reindex(f.categories, fill_value=0).to_numpy()
            n_missing = int(col.isna().sum())
            counts = np.append(kept, [len(col) - n_missing - kept.sum(), n_missing])
        out.append(_kl(counts, f.counts))
    return out


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Measure:
    seconds: float
    peak_bytes: int


def best_time(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: imports, caches, first-touch of pages
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def peak_memory(fn: Callable[[], object]) -> int:
    """Peak bytes above the start: tracemalloc (Python + NumPy) plus a fresh Arrow pool."""
    old_pool = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(old_pool)
    pa.set_memory_pool(pool)
    tracemalloc.start()
    try:
        fn()
        _, traced_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(old_pool)
    return int(traced_peak) + int(pool.max_memory())


def measure(fn: Callable[[], object], repeat: int) -> Measure:
    return Measure(best_time(fn, repeat), peak_memory(fn))


def mb(n: float) -> str:
    return f"{n / 1e6:.0f} MB"


def rate(values: int, seconds: float) -> str:
    return f"{values / seconds / 1e6:.0f} M/s"


Row = dict[str, str]


def run_frame_cases(n: int, cases: set[str], repeat: int) -> Iterator[Row]:
    specs = feature_specs()
    t0 = time.perf_counter()
    ref = make_frame(n, SEED, live=False)
    live = make_frame(n, SEED, live=True)
    print(
        f"  generated 2 x {n:,} rows x {len(specs)} columns in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    values = n * len(specs)
    profile = driftmon_profile(ref, specs)
    base = baseline_profile(ref, specs)
    _check_agreement(profile, base, live)
    if "profile" in cases:
        builders: list[tuple[str, Callable[[], object]]] = [
            ("driftmon", partial(driftmon_profile, ref, specs)),
            ("baseline", partial(baseline_profile, ref, specs)),
        ]
        for who, fn in builders:
            m = measure(fn, repeat)
            yield {
                "case": "profile build, 25 cols",
                "rows": f"{n:,}",
                "who": who,
                "wall": f"{m.seconds:.3f} s",
                "throughput": rate(values, m.seconds),
                "peak memory": mb(m.peak_bytes),
            }
    if "live" in cases:
        scorers: list[tuple[str, Callable[[], object]]] = [
            ("driftmon", partial(driftmon_live, live, profile)),
            ("baseline", partial(baseline_live, live, base)),
        ]
        for who, fn in scorers:
            m = measure(fn, repeat)
            yield {
                "case": "live hist + divergence, 25 cols",
                "rows": f"{n:,}",
                "who": who,
                "wall": f"{m.seconds:.3f} s",
                "throughput": rate(values, m.seconds),
                "peak memory": mb(m.peak_bytes),
            }
    if "kernels" in cases:
        yield from run_kernels(n, ref, live, profile, repeat)


def _check_agreement(
    profile: ReferenceProfile, base: list[BaselineFeature], live: pd.DataFrame
) -> None:
    """Both sides must count the same thing, or the comparison means nothing."""
    for f, _ in zip(profile.features, base, strict=True):
        col = live[f.name]
        ours = f.live_histogram(col).counts
        if isinstance(f.bins, NumericBins):
            x = col.to_numpy(dtype=np.float64, na_value=np.nan)
            theirs = _baseline_numeric_counts(x, np.asarray(f.bins.edges))
        else:
            vc = col.value_counts()
            kept = vc.reindex(list(f.bins.categories), fill_value=0).to_numpy()
            n_missing = int(col.isna().sum())
            theirs = np.append(kept, [len(col) - n_missing - kept.sum(), n_missing])
        assert np.array_equal(ours, theirs), f.name


def _kernel_name(edges: npt.NDArray[np.float64]) -> str:
    """Which count_into_edges kernel a layout takes (mirrors its dispatch)."""
    if edges.size < fastbin._MIN_UNIFORM_EDGES:
        return "thresholds"
    if fastbin._Uniform.build(edges) is not None:
        return "uniform"
    return "thresholds" if edges.size <= fastbin._MAX_THRESHOLD_EDGES else "grid"


def _plain_searchsorted(x: npt.NDArray[np.float64], edges: npt.NDArray[np.float64]) -> Any:
    return np.bincount(np.searchsorted(edges, x, side="right"))


def run_kernels(
    n: int, ref: pd.DataFrame, live: pd.DataFrame, profile: ReferenceProfile, repeat: int
) -> Iterator[Row]:
    x = live["normal"].to_numpy(dtype=np.float64)
    finite = ref["normal"].to_numpy(dtype=np.float64)
    for n_bins in (10, 20, 50, 100):
        quantile = np.unique(np.quantile(finite, np.arange(1, n_bins) / n_bins))
        uniform = np.linspace(finite.min(), finite.max(), n_bins + 1)[1:-1]
        for label, edges in (("numeric quantile", quantile), ("numeric uniform", uniform)):
            t_ours = best_time(partial(count_into_edges, x, edges), repeat)
            t_plain = best_time(partial(_plain_searchsorted, x, edges), repeat)
            note = (
                f"{_kernel_name(edges)} kernel; plain searchsorted + bincount: {rate(n, t_plain)}"
            )
            yield {
                "case": f"kernel: {label}, {n_bins} bins",
                "rows": f"{n:,}",
                "who": "driftmon",
                "wall": f"{t_ours * 1e3:.1f} ms",
                "throughput": rate(n, t_ours),
                "note": note,
            }
    for k in CATEGORY_COUNTS[::2]:
        name = f"cat_{k}"
        bins = profile.feature(name).bins
        assert isinstance(bins, CategoricalBins)
        col = live[name]
        forms: dict[str, Any] = {
            "pandas str": col,
            # Objects shared between rows (as when built from a list of labels) ...
            "pandas object, shared": col.astype("category").astype(object),
            # ... and one object per row (as a database driver returns them).
            "pandas object, distinct": col.astype(object),
            "pyarrow string": pa.array(col),
            "pyarrow dictionary": pa.array(col).dictionary_encode(),
        }
        for form, values in forms.items():
            t_ours = best_time(partial(categorical_histogram, values, bins), repeat)
            note = ""
            if isinstance(values, pd.Series):
                t_vc = best_time(partial(values.value_counts, dropna=False), repeat)
                note = f"pandas value_counts alone: {rate(n, t_vc)}"
            yield {
                "case": f"kernel: categorical {k} cats, {form}",
                "rows": f"{n:,}",
                "who": "driftmon",
                "wall": f"{t_ours * 1e3:.1f} ms",
                "throughput": rate(n, t_ours),
                "note": note,
            }


# --- threads: A/B of thread counts, interleaved -------------------------------------------------


def run_threads(n: int, threads: list[int], repeat: int) -> Iterator[Row]:
    specs = feature_specs()
    ref = make_frame(n, SEED, live=False)
    live = make_frame(n, SEED, live=True)
    profile = profile_columns(ref, specs)
    pools = {t: ColumnPool(t) for t in threads}
    cases: dict[str, Callable[[ColumnPool], object]] = {
        "profile build, 25 cols": lambda pool: profile_columns(ref, specs, pool),
        "live hist + divergence, 25 cols": lambda pool: score_columns(live, profile, pool),
    }
    times: dict[tuple[str, int], list[tuple[float, float]]] = {}
    loads: list[float] = []
    for i in range(repeat + 1):  # the first round warms up and is dropped
        for case, fn in cases.items():
            for t, pool in pools.items():
                w0, c0 = time.perf_counter(), time.process_time()
                fn(pool)
                w, c = time.perf_counter() - w0, time.process_time() - c0
                if i:
                    times.setdefault((case, t), []).append((w, c))
        loads.append(os.getloadavg()[0])
    for pool in pools.values():
        pool.close()
    load = f"load {min(loads):.1f}-{max(loads):.1f}"
    for (case, t), runs in times.items():
        walls = sorted(w for w, _ in runs)
        cpu = sorted(c for _, c in runs)[len(runs) // 2]
        median = walls[len(walls) // 2]
        yield {
            "case": f"{case}, {t} thread{'s' if t > 1 else ''}",
            "rows": f"{n:,}",
            "who": "driftmon",
            "wall": f"{median:.4f} s median, {walls[0]:.4f} best",
            "throughput": rate(n * len(specs), median),
            "note": f"CPU {cpu:.4f} s median; {len(runs)} runs; {load}",
        }


# --- streaming --------------------------------------------------------------------------------


def write_parquet(path: Path, rows: int, row_group_size: int, chunk: int = 1_000_000) -> None:
    """The live frame, generated and written a million rows at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    writer: pq.ParquetWriter | None = None
    for i, start in enumerate(range(0, rows, chunk)):
        table = pa.Table.from_pandas(
            make_frame(min(chunk, rows - start), SEED + 1 + i, live=True), preserve_index=False
        )
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema, compression="snappy")
        writer.write_table(table, row_group_size=row_group_size)
    assert writer is not None
    writer.close()
    tmp.rename(path)


def peak_rss() -> int:
    """VmHWM of this process in bytes. (ru_maxrss is not used: Linux carries it over from
    the forking parent across exec, so a child would report the parent's peak.)"""
    status = Path("/proc/self/status").read_text()
    return next(int(ln.split()[1]) * 1024 for ln in status.splitlines() if ln.startswith("VmHWM"))


def stream_worker(path: str, profile_path: str, batch_size: int) -> None:
    """Subprocess body: stream the file through the profile; print timings and peak RSS."""
    t0 = time.perf_counter()
    profile = ReferenceProfile.from_dict(json.loads(Path(profile_path).read_text()))
    categorical = [f.name for f in profile.features if isinstance(f.bins, CategoricalBins)]
    # Bounded reading: pre_buffer=False + a small buffer_size read each column chunk through
    # a 256 KiB buffer instead of fetching whole row groups up front (pre_buffer is on by
    # default), and use_threads=False keeps Arrow's decoding threads (and their allocator
    # arenas) out of the picture; on 2 cores it costs little time.
    pf = pq.ParquetFile(path, read_dictionary=categorical, pre_buffer=False, buffer_size=256 * 1024)
    totals = {f.name: Histogram.empty(f.bins.n_bins) for f in profile.features}
    rows = 0
    for batch in pf.iter_batches(batch_size=batch_size, columns=list(totals), use_threads=False):
        rows += batch.num_rows
        for f in profile.features:
            totals[f.name] = totals[f.name] + histogram(batch.column(f.name), f.bins)
    scores = [score(totals[f.name], f.reference) for f in profile.features]
    elapsed = time.perf_counter() - t0
    assert all(s is not None for s in scores)
    hwm = peak_rss()
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": elapsed,
                "peak_rss": hwm,
            }
        )
    )


def run_streaming(
    rows: int, profile_rows: int, batch_size: int, row_group_size: int
) -> Iterator[Row]:
    path = DATA_DIR / f"live_{rows}_rg{row_group_size}_{SEED}.parquet"
    if not path.exists():
        t0 = time.perf_counter()
        write_parquet(path, rows, row_group_size)
        size = path.stat().st_size / 1e6
        print(
            f"  wrote {path} ({size:.0f} MB) in {time.perf_counter() - t0:.1f} s", file=sys.stderr
        )
    profile_path = DATA_DIR / f"profile_{profile_rows}_{SEED}.json"
    profile = driftmon_profile(make_frame(profile_rows, SEED, live=False), feature_specs())
    profile_path.write_text(json.dumps(profile.to_dict()))
    idle = subprocess.run(
        [
            sys.executable,
            "-c",
            "import driftmon.core.drift, driftmon.core.profile, pyarrow.parquet, sys; "
            "sys.path.insert(0, sys.argv[1]); import bench_engine; "
            "print(bench_engine.peak_rss())",
            str(Path(__file__).parent),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--stream-worker",
            str(path),
            str(profile_path),
            str(batch_size),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    res = json.loads(out.stdout)
    yield {
        "case": f"streaming Parquet, 25 cols, batches of {batch_size:,}",
        "rows": f"{res['rows']:,}",
        "who": "driftmon",
        "wall": f"{res['seconds']:.2f} s",
        "throughput": rate(res["rows"] * 25, res["seconds"]),
        "peak memory": f"{mb(res['peak_rss'])} peak RSS",
        "note": f"whole subprocess; its imports alone: {mb(int(idle.stdout))} RSS",
    }


# --- report ---------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(
            line
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        ram = f"{int(mem.split()[1]) / 1e6:.1f} GB"
    except (OSError, StopIteration):
        ram = "unknown"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "pyarrow": pa.__version__,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        "load average at start": " ".join(f"{v:.2f}" for v in os.getloadavg()),
    }


def print_table(rows: list[Row]) -> None:
    cols = ["case", "rows", "who", "wall", "throughput", "peak memory", "note"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---" for _ in cols) + "|")
    for r in rows:
        print("| " + " | ".join(r.get(c, "") for c in cols) + " |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[1_000_000, 10_000_000], help="rows per frame"
    )
    parser.add_argument(
        "--cases",
        nargs="+",
        default=["profile", "live", "kernels", "streaming"],
        choices=["profile", "live", "kernels", "streaming", "threads"],
    )
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[1, 2],
        help="thread counts compared by the threads case",
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="timed runs per measurement (best is kept)"
    )
    parser.add_argument("--stream-rows", type=int, default=10_000_000)
    parser.add_argument("--batch-size", type=int, default=64 * 1024)
    parser.add_argument(
        "--row-group-size", type=int, default=1024 * 1024, help="rows per Parquet row group"
    )
    parser.add_argument("--json", type=Path, help="also write the rows and machine info here")
    parser.add_argument("--stream-worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stream_worker:
        stream_worker(args.stream_worker[0], args.stream_worker[1], int(args.stream_worker[2]))
        return
    info = machine()
    for k, v in info.items():
        print(f"- {k}: {v}")
    print(f"- command: {' '.join([Path(sys.executable).name, *sys.argv])}\n")
    rows: list[Row] = []
    cases = set(args.cases)
    for n in args.rows:
        if "threads" in cases:
            print(f"{n:,} rows, threads {args.threads} ...", file=sys.stderr)
            rows.extend(run_threads(n, args.threads, args.repeat))
        if cases & {"profile", "live", "kernels"}:
            print(f"{n:,} rows ...", file=sys.stderr)
            rows.extend(
                run_frame_cases(
                    n, cases, args.repeat if n <= 2_000_000 else max(1, args.repeat // 2)
                )
            )
    if "streaming" in cases:
        print(f"streaming {args.stream_rows:,} rows ...", file=sys.stderr)
        rows.extend(
            run_streaming(args.stream_rows, min(args.rows), args.batch_size, args.row_group_size)
        )
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
