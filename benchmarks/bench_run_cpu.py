"""CPU per run of the fleet benchmark's monitors, one process, A/B of exported trees.

The fleet (``bench_load.py --cases fleet``: 20 monitors x 200 features every 10 s) is
bounded by the CPU a run costs: ~20 runs fall due at once. This measures that cost apart
from scheduling and from the machine's other load: ``MonitorRunner.score`` of the same
windows of the fleet's data (``load_data``'s wide reference and live files), in one
thread, CPU time of the process (``time.process_time``) per run. Each side is a clean
export of one commit (``git archive <commit> driftmon migrations pyproject.toml | tar -x -C
DIR``); sides alternate round by round in fresh subprocesses, so both see the same
neighbours::

    .venv/bin/python benchmarks/bench_run_cpu.py --side before=/tmp/tree-before \\
        --side after=/tmp/tree-after --rounds 4

Storing the run (the daemon's part) is not included: see ``--store`` for it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SEED = 20260611


def prepare(workdir: Path, features: int) -> Path:
    """The fleet's reference and live files and a one-monitor config (SQLite results)."""
    sys.path.insert(0, str(HERE))
    import load_data
    import yaml

    workdir.mkdir(parents=True, exist_ok=True)
    ref, live = workdir / "reference.parquet", workdir / "live.parquet"
    start = datetime(2026, 11, 1, tzinfo=UTC)
    if not ref.exists():
        load_data.write_wide_reference(ref, features, 20_000, SEED)
    if not live.exists():
        load_data.write_wide_live(live, features, start, 600, 100, SEED + 1)
    cfg = load_data.wide_config(
        database_url=f"sqlite:///{workdir / 'results.db'}",
        n_monitors=1,
        n_features=features,
        reference=ref,
        live=live,
        every_s=10,
    )
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    (workdir / "start").write_text(start.isoformat())
    return path


def worker(config: Path, windows: int, store: bool) -> None:
    """In the subprocess: warm up (profile built and held), then time ``windows`` runs."""
    from driftmon.config import load_config
    from driftmon.core.parallel import ColumnPool
    from driftmon.service.runner import MonitorRunner
    from driftmon.storage import Store

    cfg = load_config(config)
    db = Store(cfg.database.url)
    db.upgrade()
    runner = MonitorRunner(cfg, db, pool=ColumnPool(1))
    monitor = cfg.monitors[0]
    start = datetime.fromisoformat((config.parent / "start").read_text())
    ends = [start + timedelta(seconds=20 + 10 * i) for i in range(windows + 1)]
    first = runner.score(monitor, ends[0])
    assert first.error is None, first.error
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for end in ends[1:]:
        result = runner.score(monitor, end)
        assert result.error is None, result.error
        if store:
            db.save_run(result)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    import driftmon

    tree = str(Path(driftmon.__file__).parent.parent)
    print(
        json.dumps({"cpu_ms": 1000 * cpu / windows, "wall_ms": 1000 * wall / windows, "tree": tree})
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", action="append", default=[], help="NAME=TREE (repeatable)")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--windows", type=int, default=40, help="runs timed per round")
    p.add_argument("--features", type=int, default=200)
    p.add_argument("--store", action="store_true", help="also store each run (SQLite)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/driftmon-bench-run-cpu"))
    p.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.worker, args.windows, args.store)
        return
    sides = [s.split("=", 1) for s in args.side] or [["this checkout", str(HERE.parent)]]
    config = prepare(args.workdir, args.features)
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in sides}
    loads: list[float] = []
    for _ in range(args.rounds):
        for name, tree in sides:
            (args.workdir / "results.db").unlink(missing_ok=True)
            loads.append(os.getloadavg()[0])
            env = {**os.environ, "PYTHONPATH": tree}
            cmd = [sys.executable, __file__, "--worker", str(config)]
            cmd += ["--windows", str(args.windows)] + (["--store"] if args.store else [])
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            measured = json.loads(out.stdout.strip().splitlines()[-1])
            if Path(measured["tree"]).resolve() != Path(tree).resolve():
                raise SystemExit(f"side {name!r} imported driftmon from {measured['tree']}")
            results[name].append(measured)
    print(f"machine: nproc {os.cpu_count()}, {_cpu_model()}, Python {sys.version.split()[0]}")
    print(f"load average (1 min) at the rounds' starts: {min(loads):.1f}-{max(loads):.1f}")
    print(f"{args.features} features, {args.windows} runs per round, {args.rounds} rounds")
    print("| side | CPU ms/run median | best | wall ms/run median | best |")
    print("|---|---|---|---|---|")
    for name, rows in results.items():
        cpu = [r["cpu_ms"] for r in rows]
        wall = [r["wall_ms"] for r in rows]
        print(
            f"| {name} | {statistics.median(cpu):.1f} | {min(cpu):.1f} "
            f"| {statistics.median(wall):.1f} | {min(wall):.1f} |"
        )


def _cpu_model() -> Any:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


if __name__ == "__main__":
    main()
