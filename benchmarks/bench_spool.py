"""What the durable spool costs: writing a run (fsync included), opening a full spool at
start-up, and replaying it into the results database.

For runs of ``--features`` features × 10 bins each (scored, with counts and labels), writes
``--runs`` runs one by one through ``Spool.write`` (temporary file, fsync, rename, fsync of
the folder), then opens the spool in a new ``PendingRuns`` (every file read back and
checked) and flushes it into a fresh SQLite file or, with ``--postgres-url``, a throw-away
PostgreSQL database. Prints medians and totals as JSON. Put ``--dir`` on the disk the
daemon's spool would use: on tmpfs fsync costs nothing.

    nice python benchmarks/bench_spool.py --dir benchmarks/data/spool --features 25 200 \\
        --runs 500 [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from driftmon.core.drift import DriftScores
from driftmon.core.status import Status, Thresholds
from driftmon.results import FeatureResult, RunResult
from driftmon.service.pending import PendingRuns
from driftmon.spool import Spool
from driftmon.storage import Store

START = datetime(2026, 1, 1, tzinfo=UTC)


def a_run(i: int, features: int) -> RunResult:
    end = START + timedelta(minutes=i)
    scores = DriftScores(0.01, 2.1, 2.11, 0.003, 0.02, 12.0, 9, 0.3, 0.004, 5000, 100000)
    feats = tuple(
        FeatureResult(
            feature=f"feature_{k:03d}",
            status=Status.OK,
            thresholds=Thresholds(0.004, 0.006, "significance"),
            live_rows=5000,
            missing_rows=12,
            scores=scores,
            live_counts=tuple(490 + j for j in range(11)),
            bin_labels=(*(f"[{j}, {j + 1})" for j in range(10)), "(missing)"),
        )
        for k in range(features)
    )
    return RunResult("bench", end - timedelta(minutes=1), end, end, end, Status.OK, 5000,
                     100000, feats)  # fmt: skip


def measure(folder: Path, features: int, runs: int, url: str) -> dict[str, Any]:
    shutil.rmtree(folder, ignore_errors=True)
    spool = Spool(folder)
    spool.open()
    made = [a_run(i, features) for i in range(runs)]
    writes = []
    for run in made:
        t0 = time.perf_counter()
        spool.write(run, datetime.now(UTC))
        writes.append(time.perf_counter() - t0)
    size = sum(p.stat().st_size for p in folder.glob("*.run")) / runs
    store = Store(url)
    store.upgrade()
    pending = PendingRuns(store, spool=Spool(folder), limit=runs)
    t0 = time.perf_counter()
    pending.open()
    opened = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    pending.flush()
    replay, replay_cpu = time.perf_counter() - t0, time.process_time() - c0
    assert pending.state().pending == 0
    assert len(store.runs("bench", limit=runs + 1)) == runs
    store.dispose()
    return {
        "features": features,
        "runs": runs,
        "file_kib": round(size / 1024, 1),
        "write_ms_median": round(statistics.median(writes) * 1e3, 2),
        "write_ms_p95": round(sorted(writes)[int(0.95 * runs) - 1] * 1e3, 2),
        "open_s": round(opened, 3),
        "replay_s": round(replay, 3),
        "replay_cpu_s": round(replay_cpu, 3),
        "replay_runs_per_s": round(runs / replay, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--features", type=int, nargs="+", default=[25, 200])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--postgres-url")
    args = parser.parse_args()
    results = []
    for features in args.features:
        if args.postgres_url:
            from load_pg import temporary_database

            with temporary_database(args.postgres_url) as url:
                result = measure(args.dir / "spool", features, args.runs, url)
            result["database"] = "postgresql"
        else:
            db = args.dir / "results.db"
            db.unlink(missing_ok=True)
            result = measure(args.dir / "spool", features, args.runs, f"sqlite:///{db}")
            result["database"] = "sqlite"
        results.append(result)
        print(json.dumps(result), flush=True)
    shutil.rmtree(args.dir, ignore_errors=True)
    print(json.dumps({"load": os.getloadavg(), "results": results}))


if __name__ == "__main__":
    main()
