"""Wall and CPU time of pytest runs, alternating between variants (A/B on a shared machine).

Run by hand, not in the test suite (results and commands: ``benchmarks/README.md``, section
"Test suite")::

    .venv/bin/python benchmarks/bench_tests.py --repeat 2 \\
        --variant serial= --variant xdist="-n 2 --dist loadfile" -- tests/faults tests/core

Every variant runs the same pytest arguments (after ``--``), one after the other, ``--repeat``
rounds, so that a neighbour's load falls on all variants alike. Printed per run: wall time,
the user + system CPU time of pytest and everything it waited for (daemons, subprocesses;
not the PostgreSQL server), the load average before and after, and pytest's last line (its
whole output is kept under ``--out``, by default ``benchmarks/data/tests/``).
DRIFTMON_TEST_POSTGRES_URL and CI are passed through from the environment.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _variant(text: str) -> tuple[str, list[str]]:
    name, sep, args = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=PYTEST ARGS, got {text!r}")
    return name, shlex.split(args)


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_once(extra: list[str], args: list[str], out: Path) -> tuple[float, float, int, str]:
    """Wall s, CPU s (pytest and its waited-for descendants), exit code, last output line;
    pytest's whole output goes to ``out``."""
    before = os.times()
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.monotonic() - t0
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    out.write_text(done.stdout + done.stderr)
    lines = done.stdout.strip().splitlines()
    return wall, cpu, done.returncode, lines[-1] if lines else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", type=_variant, action="append", required=True)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/data/tests"), help="pytest output files"
    )
    parser.add_argument("args", nargs="+", help="pytest arguments (after --)")
    opts = parser.parse_args()
    cpus = os.cpu_count()
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    opts.out.mkdir(parents=True, exist_ok=True)
    print(f"# nproc {cpus}, {model}; pytest {' '.join(opts.args)}", flush=True)
    for round_no in range(1, opts.repeat + 1):
        for name, extra in opts.variant:
            load = _load()
            out = opts.out / f"round{round_no}-{name}.txt"
            wall, cpu, code, last = run_once(extra, opts.args, out)
            print(
                f"round {round_no} {name:>8}: wall {wall:7.1f} s  cpu {cpu:7.1f} s  exit {code}  "
                f"load {load} -> {_load()}  | {last} ({out})",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
