"""Load benchmark of the driftmon daemon: many wide monitors, scrapes, memory, retention.

Run by hand, not in the test suite (results and commands: ``benchmarks/README.md``,
section "The daemon under load"); the
default run takes about 10 minutes on 2 cores with ``--postgres-url``, 6 without::

    .venv/bin/python benchmarks/bench_load.py
    .venv/bin/python benchmarks/bench_load.py \\
        --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/bench_load.py --cases fleet --monitors 5 --scrape-seconds 20

Cases (``--cases``, default all):

* ``fleet``     20 monitors x 200 features on one ``driftmon run`` subprocess, every 10 s:
  do the scheduled runs keep up (lag = finished_at - window_end, windows missed), and the
  latency of ``/metrics`` while 10 loopback scrapers hit it for 60 s;
* ``memory``    1,000 consecutive ``MonitorRunner.run`` calls in this process over the same
  monitors, with a scrape (snapshot + render) after every round: RSS after warm-up vs end;
* ``window``    one live window of 10 million rows from Parquet and from PostgreSQL, each
  scored in its own subprocess: peak RSS (VmHWM) and wall time (``load_window.py``);
* ``retention`` 5,000 simulated runs over ~10 simulated days with ``max_age: 3d`` and the
  hourly ``Store.prune``: row counts over time (``load_retention.py``).

With ``--postgres-url`` the fleet and retention cases also run against PostgreSQL and the
window case reads from it; every PostgreSQL database used is created for the purpose
(``driftmon_bench_<random>``) and dropped at the end. Seeds are fixed; only the wall clock
(which the daemon's schedule follows) differs between runs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import signal
import sqlite3
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load_fleet
import load_memory
import load_pg
import load_retention
import load_window
from load_report import say

CASES = ("fleet", "memory", "window", "retention")
LIBRARIES = (
    "driftmon",
    "numpy",
    "pyarrow",
    "pandas",
    "SQLAlchemy",
    "psycopg",
    "prometheus_client",
    "APScheduler",
)


def machine() -> dict[str, Any]:
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    libs = {}
    for name in LIBRARIES:
        try:
            libs[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            libs[name] = "-"
    import driftmon

    return {
        "driftmon_path": str(Path(driftmon.__file__).parent),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "libraries": libs,
        "loadavg_at_start": os.getloadavg(),
    }


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    p.add_argument("--postgres-url", help="server for PostgreSQL runs (a database is created)")
    p.add_argument("--workdir", type=Path, help="keep data and logs here (default: a temp dir)")
    p.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    g = p.add_argument_group("fleet and memory")
    g.add_argument("--monitors", type=int, default=20)
    g.add_argument("--features", type=int, default=200)
    g.add_argument("--every", type=int, default=10, help="schedule interval and window, seconds")
    g.add_argument("--rows-per-second", type=int, default=100, help="live rows per second of ts")
    g.add_argument("--reference-rows", type=int, default=20_000)
    g.add_argument("--warmup-timeout", type=float, default=180.0)
    g.add_argument("--quiet-seconds", type=float, default=30.0, help="schedule only, no scrapes")
    g.add_argument("--scrape-seconds", type=float, default=60.0)
    g.add_argument("--scrapers", type=int, default=10)
    g.add_argument(
        "--engine-processes", type=int, help="engine.processes (default: the daemon's own)"
    )
    g.add_argument("--max-requests", type=int, default=100_000)
    g.add_argument("--memory-runs", type=int, default=1000)
    g.add_argument("--memory-warmup", type=int, default=100, help="runs before the baseline")
    g.add_argument("--tracemalloc", action="store_true", help="trace allocations afterwards")
    g.add_argument("--trace-rounds", type=int, default=6)
    g = p.add_argument_group("window")
    g.add_argument("--window-rows", type=int, default=10_000_000)
    g = p.add_argument_group("retention")
    g.add_argument("--retention-runs", type=int, default=5000)
    g.add_argument("--retention-monitors", type=int, default=5)
    g.add_argument("--retention-features", type=int, default=20)
    g.add_argument("--retention-every-min", type=int, default=15)
    g.add_argument("--retention-max-age-days", type=float, default=3.0)
    return p.parse_args(argv)


def _terminate(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds through every cleanup below


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    info = machine()
    if args.postgres_url:
        info["postgresql"] = load_pg.server_version(args.postgres_url)
    say("# driftmon load benchmark")
    say(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    say(f"machine: {json.dumps(info)}")
    results: dict[str, Any] = {"machine": info, "argv": sys.argv}
    t0 = time.monotonic()
    with (
        nullcontext(args.workdir)
        if args.workdir
        else tempfile.TemporaryDirectory(prefix="driftmon_load_")
    ) as wd:
        workdir = Path(wd)
        workdir.mkdir(parents=True, exist_ok=True)
        steps = {
            "fleet": load_fleet.case_fleet,
            "memory": load_memory.case_memory,
            "window": load_window.case_window,
            "retention": load_retention.case_retention,
        }
        for case in CASES:
            if case in args.cases:
                t = time.monotonic()
                steps[case](args, workdir, results)
                results.setdefault("case_seconds", {})[case] = time.monotonic() - t
                say(f"({case}: {time.monotonic() - t:.0f}s)")
    results["total_seconds"] = time.monotonic() - t0
    say(f"\ntotal {results['total_seconds']:.0f}s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--window-child":
        sys.exit(load_window.child_main(sys.argv[2:]))
    try:
        sys.exit(main())
    except KeyboardInterrupt as exc:
        print(f"interrupted ({exc or 'SIGINT'}); daemons stopped, temporary databases dropped")
        sys.exit(130)
