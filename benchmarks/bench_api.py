"""Benchmark of the Python API end to end: ``driftmon.compare`` on 25 columns.

Run by hand, not in the test suite::

    .venv/bin/python benchmarks/bench_api.py                       # 1M rows, 5 runs
    .venv/bin/python benchmarks/bench_api.py --rows 1000000 --repeat 7

The data is ``bench_engine.py``'s (same seed, the same 25 columns: 20 numeric of mixed
shapes, four with uniform bins, 5 string columns of 10 to 1000 categories; the live frame
shifts 8 of them). Cases, each timed over ``--repeat`` runs after one warm-up:

* ``compare(DataFrame)``: ``driftmon.compare(reference_df, live_df, features)``, everything
  included: pandas to Arrow, the bounded-memory reference fit (several passes over 64Ki-row
  batches), live counting, scoring and the report;
* ``Profile.fit(DataFrame)`` and ``Profile.compare(DataFrame)``: its two halves;
* ``compare(Table)``: the same from pyarrow Tables (no pandas conversion);
* ``compare(batches)``: from generators of 64Ki-row record batches (the reference spooled
  to a temporary Arrow file for its extra passes);
* ``--stream-rows N``: a subprocess compares two generators of N rows each, every 64Ki-row
  batch made on the fly (never the whole data in memory), and reports its peak RSS
  (``VmHWM``) beside that of a subprocess doing the same imports and one batch only.

Reported: the median and the minimum wall time, and the median CPU time of the process
(``time.process_time``: user + system of every thread), which moves less than wall time
on a shared machine. Load averages are printed before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import SEED, UNIFORM_COLUMNS, make_frame, peak_rss

import driftmon

BATCH = 65_536


def features(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The engine benchmark's specs: numeric columns with 10 quantile (or uniform) bins,
    string columns categorical with 50 kept categories."""
    out: list[dict[str, Any]] = []
    for name in frame.columns:
        if name.startswith("cat_"):
            out.append({"name": name, "type": "categorical", "max_categories": 50})
        elif name in UNIFORM_COLUMNS:
            out.append({"name": name, "type": "numeric", "strategy": "uniform"})
        else:
            out.append({"name": name, "type": "numeric"})
    return out


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], list[float]]:
    fn()  # warm-up: imports, caches
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return walls, cpus


def batches(table: pa.Table) -> Iterator[pa.RecordBatch]:
    return iter(table.to_batches(max_chunksize=BATCH))


def generated(rows: int, live: bool) -> Iterator[pa.RecordBatch]:
    """``rows`` rows of the benchmark's columns, made one 64Ki-row batch at a time."""
    for i, start in enumerate(range(0, rows, BATCH)):
        frame = make_frame(min(BATCH, rows - start), SEED + i, live=live)
        yield from pa.Table.from_pandas(frame, preserve_index=False).to_batches()


def stream_child(rows: int) -> None:
    """Subprocess body: compare two generated streams (rows = 0: one batch, no compare)."""
    w0, c0 = time.perf_counter(), time.process_time()
    specs = features(make_frame(10, SEED, live=False))
    if rows:
        report = driftmon.compare(generated(rows, False), generated(rows, True), specs)
        assert report.to_dict()["live_rows"] == rows
    else:
        next(generated(BATCH, False))
        driftmon.compare  # noqa: B018 - loads the API, as the run does
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    print(f"{peak_rss()} {wall} {cpu}")


def stream_case(rows: int) -> None:
    import subprocess

    def child(n: int) -> tuple[int, float, float]:
        out = subprocess.run(
            [sys.executable, __file__, "--stream-child", str(n)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        return int(out[0]), float(out[1]), float(out[2])

    base, _, _ = child(0)
    rss, wall, cpu = child(rows)
    print(
        f"| `compare(generated batches)`, subprocess | {rows:,} x 25 | {wall:.2f} s | | "
        f"{cpu:.2f} s | peak RSS {rss / 2**20:.0f} MiB (imports and one batch: "
        f"{base / 2**20:.0f} MiB) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--stream-rows", type=int, default=0)
    parser.add_argument("--stream-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stream_child is not None:
        stream_child(args.stream_child)
        return
    if args.stream_rows:
        print(f"# load average at start {os.getloadavg()}")
        stream_case(args.stream_rows)
        print(f"# load average at end {os.getloadavg()}")
        return

    print(f"# {platform.python_version()}, pandas {pd.__version__}, pyarrow {pa.__version__}")
    print(f"# nproc {os.cpu_count()}, load average at start {os.getloadavg()}")
    ref = make_frame(args.rows, SEED, live=False)
    live = make_frame(args.rows, SEED, live=True)
    specs = features(ref)
    ref_table = pa.Table.from_pandas(ref, preserve_index=False)
    live_table = pa.Table.from_pandas(live, preserve_index=False)
    profile = driftmon.Profile.fit(ref, specs)
    report = driftmon.compare(ref, live, specs)
    print(f"# {report!r}; drifted: {', '.join(report.drifted)}")

    cases: dict[str, Callable[[], Any]] = {
        "compare(DataFrame)": lambda: driftmon.compare(ref, live, specs),
        "Profile.fit(DataFrame)": lambda: driftmon.Profile.fit(ref, specs),
        "Profile.compare(DataFrame)": lambda: profile.compare(live),
        "compare(Table)": lambda: driftmon.compare(ref_table, live_table, specs),
        "compare(batches)": lambda: driftmon.compare(
            batches(ref_table), batches(live_table), specs
        ),
    }
    print("| case | rows x columns | wall median | wall min | CPU median |")
    print("|---|---|---|---|---|")
    for name, fn in cases.items():
        walls, cpus = timed(fn, args.repeat)
        print(
            f"| `{name}` | {args.rows:,} x {len(specs)} | {statistics.median(walls):.2f} s | "
            f"{min(walls):.2f} s | {statistics.median(cpus):.2f} s |"
        )
    print(f"# load average at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
