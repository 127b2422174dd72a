"""Start-up time of the ``driftmon`` command: whole processes, several runs each.

Run by hand, not in the test suite (results and commands: ``benchmarks/README.md``,
section "Start-up")::

    .venv/bin/python benchmarks/bench_startup.py
    .venv/bin/python benchmarks/bench_startup.py --runs 21 --rows 1000000

Every case starts a fresh process and times it from ``fork`` to exit (wall clock, and the
child's user + system CPU time, which neighbours on a shared machine disturb less).
Printed: min / median / max over ``--runs`` runs after one warm-up run.

Cases:

* ``python -c pass`` and ``python -c "import pandas, pyarrow"``: the baselines;
* ``driftmon --version`` and ``driftmon --help``: target within 2x ``python -c pass``;
* ``driftmon check`` on ``config/example.yaml`` (the bundled 20k/5k-row example) and on
  the same example generated with ``--rows`` live and reference rows (``benchmarks/data/``):
  ``check --json`` reports each run's own duration, so "outside the run" (imports,
  configuration, opening the results database, exit) = wall time - run duration. Target:
  at most 0.3 s over ``import pandas, pyarrow``.

A throw-away SQLite results database per configuration; the warm-up run migrates it and
stores the reference profile, as in everyday use. driftmon's bytecode is written first, as an
installed copy has it.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "startup"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "examples"))


def timed(cmd: Sequence[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, child CPU seconds and stdout of one run of ``cmd``."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):  # check exits 1 when a feature is critical
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, out


def summary(values: list[float]) -> str:
    return f"{min(values):6.3f} {statistics.median(values):6.3f} {max(values):6.3f}"


def run_case(
    label: str, cmd: Sequence[str], runs: int, env: dict[str, str], *, check: bool = False
) -> dict[str, list[float]]:
    timed(cmd, env)  # warm-up: page cache, .pyc files, the database and reference profile
    result: dict[str, list[float]] = {"wall": [], "cpu": [], "outside": []}
    for _ in range(runs):
        wall, cpu, out = timed(cmd, env)
        result["wall"].append(wall)
        result["cpu"].append(cpu)
        if check:
            inside = sum(r["duration_seconds"] for r in json.loads(out))
            result["outside"].append(wall - inside)
    line = f"{label:<44} wall {summary(result['wall'])}   cpu {summary(result['cpu'])}"
    if check:
        line += f"   outside the run {summary(result['outside'])}"
    print(line, flush=True)
    return result


def big_example(rows: int) -> Path:
    """config/example.yaml over ``rows`` reference and live rows (generated once)."""
    from generate_data import make  # examples/generate_data.py

    folder = DATA / f"rows-{rows}"
    config = folder / "example.yaml"
    if config.is_file():
        return config
    folder.mkdir(parents=True, exist_ok=True)
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    make(rows, drift=False, seed=1, start=t0).to_parquet(folder / "reference.parquet")
    make(rows, drift=True, seed=2, start=t0 + timedelta(days=30)).to_parquet(
        folder / "live.parquet"
    )
    text = (ROOT / "config" / "example.yaml").read_text()
    text = text.replace("../examples/data/", "./")
    config.write_text(text)
    return config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=11, help="timed runs per case")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the big example")
    args = parser.parse_args(argv)
    # An installed driftmon has its bytecode (pip compiles it at install). A source checkout
    # run with PYTHONDONTWRITEBYTECODE=1 (the Dockerfile and some shells set it) would
    # compile driftmon's ~50 modules from source in every timed run (~0.09 s): write it once.
    compileall.compile_dir(ROOT / "driftmon", quiet=1)

    python, driftmon = str(BIN / "python"), str(BIN / "driftmon")
    print(f"{platform.platform()}; {os.cpu_count()} CPUs; Python {platform.python_version()}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{args.runs} runs per case after one warm-up; seconds: min median max\n")
    env = dict(os.environ)
    env.pop("DRIFTMON_CONFIG", None)

    bare = run_case("python -c pass", [python, "-c", "pass"], args.runs, env)
    version = run_case("driftmon --version", [driftmon, "--version"], args.runs, env)
    usage = run_case("driftmon --help", [driftmon, "--help"], args.runs, env)
    base = run_case(
        'python -c "import pandas, pyarrow"',
        [python, "-c", "import pandas, pyarrow"],
        args.runs,
        env,
    )
    checks: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, config in (
            ("check, example (20k/5k rows)", ROOT / "config" / "example.yaml"),
            (f"check, example ({args.rows:,} rows each)", big_example(args.rows)),
        ):
            env["DRIFTMON_DATABASE_URL"] = f"sqlite:///{tmp}/{len(checks)}.db"
            cmd = [driftmon, "check", "--json", "-c", str(config)]
            checks[name] = run_case(f"driftmon {name}", cmd, args.runs, env, check=True)

    med = statistics.median
    print("\nmedians:")
    for name, result in (("--version", version), ("--help", usage)):
        ratio = med(result["wall"]) / med(bare["wall"])
        print(f"  driftmon {name} / python -c pass: {ratio:.2f}x (target at most 2x)")
    for name, result in checks.items():
        extra = med(result["outside"]) - med(base["wall"])
        print(
            f"  {name}: outside the run - import pandas, pyarrow = {extra:+.3f} s "
            "(target at most 0.3 s)"
        )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
