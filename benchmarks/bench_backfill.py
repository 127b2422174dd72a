"""Backfill: ten windows scored by one ``driftmon check --from --to`` process against ten
``driftmon check --window-end`` processes, with a fixed and with a rolling reference.

Run by hand, not in the test suite (results and commands: ``benchmarks/README.md``,
section "Backfill")::

    .venv/bin/python benchmarks/bench_backfill.py
    .venv/bin/python benchmarks/bench_backfill.py --repeat 5 --window-rows 100000

Data (``benchmarks/data/backfill/``, generated once, fixed seed): 25 columns as in
``bench_engine.py`` (20 numeric, 5 categorical), a 1M-row reference file and a live file of
``--windows`` hourly windows of ``--window-rows`` rows each (sorted by time, one Parquet
row group per window). The fixed reference's profile is built once before timing and the
results database copied afresh for each timed run, so both ways score the same ten windows
against the same stored profile. The rolling monitor takes the hour before each window as
its reference (``from_live: {offset: 1h, window: 1h}``): a profile built per window.

Printed per case: wall seconds and the children's user + system CPU seconds, median (and
min / max) over ``--repeat`` runs, with the load average before the runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

DATA = Path(__file__).resolve().parent / "data" / "backfill"
DRIFTMON = str(Path(sys.executable).parent / "driftmon")
END = datetime(2026, 3, 1, 12, tzinfo=UTC)
NUMERIC, CATEGORICAL = 20, 5


def frame(rows: int, rng: np.random.Generator, shift: float = 0.0) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {}
    for i in range(NUMERIC):
        cols[f"n{i}"] = rng.normal(shift * (i % 3), 1.0 + i / 10, rows)
    for i in range(CATEGORICAL):
        k = (10, 50, 100, 500, 1000)[i]
        cols[f"c{i}"] = np.char.add("v", (rng.zipf(1.5, rows) % k).astype(str)).astype(object)
    return cols


def generate(windows: int, window_rows: int) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    ref, live = DATA / "reference.parquet", DATA / f"live-{windows}x{window_rows}.parquet"
    rng = np.random.default_rng(20261129)
    if not ref.exists():
        pq.write_table(pa.table(frame(1_000_000, rng)), ref, row_group_size=100_000)
    if live.exists():
        return
    writer = None
    for w in range(windows + 1):  # one more hour before the first: the rolling reference
        start = END - timedelta(hours=windows + 1 - w)
        cols: dict[str, object] = dict(frame(window_rows, rng, shift=0.05 * w))
        step = timedelta(hours=1) / window_rows
        cols["ts"] = pa.array([start + i * step for i in range(window_rows)])
        table = pa.table(cols)
        if writer is None:
            writer = pq.ParquetWriter(live, table.schema)
        writer.write_table(table, row_group_size=window_rows)
    assert writer is not None
    writer.close()


def config(path: Path, windows: int, window_rows: int, *, rolling: bool) -> Path:
    features: list[dict[str, object]] = [
        {"name": f"n{i}", "strategy": "uniform" if i % 5 == 0 else "quantile"}
        for i in range(NUMERIC)
    ]
    features += [
        {"name": f"c{i}", "type": "categorical", "max_categories": 50} for i in range(CATEGORICAL)
    ]
    reference: dict[str, object] = (
        {"from_live": {"offset": "1h", "window": "1h"}}
        if rolling
        else {"path": str(DATA / "reference.parquet")}
    )
    data = {
        "database": {"url": f"sqlite:///{path.parent / 'results.db'}"},
        "log": {"level": "WARNING"},
        "monitors": [
            {
                "name": "m",
                "schedule": {"every": "1h"},
                "reference": reference,
                "live": {
                    "path": str(DATA / f"live-{windows}x{window_rows}.parquet"),
                    "timestamp_column": "ts",
                    "window": "1h",
                },
                "features": features,
            }
        ],
    }
    path.write_text(yaml.safe_dump(data))
    return path


def run(cmd: Sequence[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {code}")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def case(
    cfg: Path, seed_db: Path | None, ends: list[datetime], one_process: bool
) -> tuple[float, float]:
    db = cfg.parent / "results.db"
    db.unlink(missing_ok=True)
    if seed_db is not None:
        shutil.copy(seed_db, db)
    if one_process:
        first, last = ends[0].isoformat(), ends[-1].isoformat()
        return run([DRIFTMON, "check", "-c", str(cfg), "--from", first, "--to", last])
    wall = cpu = 0.0
    for t in ends:
        w, c = run([DRIFTMON, "check", "-c", str(cfg), "--window-end", t.isoformat()])
        wall, cpu = wall + w, cpu + c
    return wall, cpu


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f} / {max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--window-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    generate(args.windows, args.window_rows)
    ends = [END - timedelta(hours=args.windows - 1 - i) for i in range(args.windows)]
    work = DATA / "run"
    work.mkdir(exist_ok=True)
    fixed = config(work / "fixed.yaml", args.windows, args.window_rows, rolling=False)
    rolling = config(work / "rolling.yaml", args.windows, args.window_rows, rolling=True)
    seed = work / "seed.db"
    (work / "results.db").unlink(missing_ok=True)
    run([DRIFTMON, "reference", "rebuild", "-c", str(fixed)])
    shutil.move(work / "results.db", seed)

    now = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    machine = f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs"
    print(f"# {machine}, Python {platform.python_version()}, {now}")
    print(f"# load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"# {args.windows} windows x {args.window_rows:,} rows, 25 columns; "
          f"median (min / max) of {args.repeat} runs")  # fmt: skip
    print("| reference | way | wall s | CPU s |")
    print("| --- | --- | --- | --- |")
    for name, cfg, seed_db in (
        ("fixed (stored)", fixed, seed),
        ("rolling (1h before)", rolling, None),
    ):
        for one in (False, True):
            walls, cpus = [], []
            for _ in range(args.repeat):
                wall, cpu = case(cfg, seed_db, ends, one)
                walls.append(wall)
                cpus.append(cpu)
            way = "one `check --from --to`" if one else f"{args.windows} × `check --window-end`"
            print(f"| {name} | {way} | {summary(walls)} | {summary(cpus)} |", flush=True)
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
