"""A/B of the engine between two exported trees, interleaved round by round.

Each side is a clean export of one commit (``git archive <commit> driftmon benchmarks
pyproject.toml | tar -x -C DIR``); every (side, round) runs in a fresh subprocess with
``PYTHONPATH=DIR`` and the tree's own ``benchmarks/bench_engine.py`` data, so both sides
count the same frames. Sides alternate within each round, so that each sees the same
neighbours on a shared machine. Reported per case (``CASES``): median and best wall time,
median CPU time of the process (all threads), and the load average::

    .venv/bin/python benchmarks/ab_engine.py --side before=/tmp/tree-before:1 \\
        --side "after, 1 thread=/tmp/tree-after:1" --side "after, 2 threads=/tmp/tree-after:2" \\
        --rows 1000000 --rounds 4 --reps 5

A tree without ``driftmon.core.parallel`` (before issue 14) is measured the way its
``bench_engine.py`` did: one column after another, and only with 1 thread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CASES = ("profile", "live", "live, from Parquet", "numeric")
"""Timed cases: the reference profile, live histograms + scores, and the live histograms of
the 20 numeric columns alone (where the GIL hand-overs of the numeric kernels show)."""


def worker(threads: int, rows: int, reps: int) -> None:
    """In the subprocess: time the profile and live cases ``reps`` times after a warm-up."""
    here = Path(__file__).resolve().parent  # not this checkout's bench_engine: the tree's
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    import bench_engine as be

    from driftmon.core.bins import NumericBins
    from driftmon.core.drift import score
    from driftmon.core.profile import ReferenceProfile, build_feature_profile

    specs = be.feature_specs()
    ref = be.make_frame(rows, be.SEED, live=False)
    live = be.make_frame(rows, be.SEED, live=True)
    # The live window as driftmon's FileSource reads it from a Parquet file (the tree's own
    # FileSource: since issue 14 text columns come as Arrow dictionaries); reading is not
    # timed, only the histograms and scores of the batch it yields.
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    from driftmon.sources import FileSource

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "live.parquet"
        pq.write_table(pa.Table.from_pandas(live, preserve_index=False), path)
        (parquet_batch,) = FileSource(path, batch_rows=rows).batches(list(live.columns))
    cases: dict[str, Callable[[], object]]
    try:
        from driftmon.core.columns import live_histograms, profile_columns, score_columns
        from driftmon.core.parallel import ColumnPool
    except ImportError:
        if threads != 1:
            raise SystemExit("this tree has no ColumnPool: only --side NAME=DIR:1") from None

        def build() -> ReferenceProfile:
            features = tuple(build_feature_profile(ref[s.name], s) for s in specs)
            return ReferenceProfile(features, rows=rows)

        profile = build()
        numeric = [f for f in profile.features if isinstance(f.bins, NumericBins)]
        cases = {
            "profile": build,
            "live": lambda: [
                score(f.live_histogram(live[f.name]), f.reference) for f in profile.features
            ],
            "live, from Parquet": lambda: [
                score(f.live_histogram(parquet_batch[f.name]), f.reference)
                for f in profile.features
            ],
            "numeric": lambda: [f.live_histogram(live[f.name]) for f in numeric],
        }
    else:
        pool = ColumnPool(threads)
        profile = profile_columns(ref, specs, pool)
        numeric = [f for f in profile.features if isinstance(f.bins, NumericBins)]
        cases = {
            "profile": lambda: profile_columns(ref, specs, pool),
            "live": lambda: score_columns(live, profile, pool),
            "live, from Parquet": lambda: score_columns(parquet_batch, profile, pool),
            "numeric": lambda: live_histograms(live, numeric, pool),
        }
    out: dict[str, Any] = {case: [] for case in cases}
    for i in range(reps + 1):
        for case, fn in cases.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            if i:  # the first round warms up
                out[case].append((time.perf_counter() - w0, time.process_time() - c0))
    out["load"] = os.getloadavg()[0]
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--side",
        action="append",
        default=[],
        help="NAME=TREE_DIR:THREADS, in the order they alternate",
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--reps", type=int, default=5, help="timed runs per subprocess")
    parser.add_argument("--worker", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    if not args.side:
        parser.error("give at least one --side NAME=TREE_DIR:THREADS")
    sides = []
    for spec in args.side:
        name, _, rest = spec.partition("=")
        tree, _, threads = rest.rpartition(":")
        sides.append((name, Path(tree), int(threads)))
    results: dict[str, dict[str, list[Any]]] = {
        name: {case: [] for case in (*CASES, "load")} for name, _, _ in sides
    }
    for _ in range(args.rounds):
        for name, tree, threads in sides:
            env = dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{tree / 'benchmarks'}")
            cmd = [sys.executable, __file__, "--worker", str(threads), str(args.rows)]
            proc = subprocess.run(
                [*cmd, str(args.reps)], env=env, capture_output=True, text=True, check=True
            )
            out = json.loads(proc.stdout)
            for case in CASES:
                results[name][case] += out[case]
            results[name]["load"].append(out["load"])
    print("| case | rows | variant | wall median | wall best | CPU median | runs | load |")
    print("|---|---|---|---|---|---|---|---|")
    for case in CASES:
        for name, data in results.items():
            walls = [w for w, _ in data[case]]
            cpus = [c for _, c in data[case]]
            load = f"{min(data['load']):.1f}-{max(data['load']):.1f}"
            print(
                f"| {case} | {args.rows:,} | {name} | {statistics.median(walls):.4f} s | "
                f"{min(walls):.4f} s | {statistics.median(cpus):.4f} s | {len(walls)} | {load} |"
            )


if __name__ == "__main__":
    main()
