"""Load benchmark of the driftmon daemon: many wide monitors, scrapes, memory, retention.

Run by hand, not in the test suite (results and commands: ``benchmarks/load.md``); the
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
import gc
import importlib.metadata
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load_data
import load_pg
import load_retention
import load_window
from load_pg import results_databases
from load_report import fmt, say, table
from load_scrape import percentiles, scrape

SEED = 20260611
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


# -- small utilities ----------------------------------------------------------------------


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS, VmHWM (peak) and friends of a process, in kB, from /proc/PID/status."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key.startswith("Vm"):
                    out[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def mib(kb: float) -> float:
    return kb / 1024


def cpu_busy_s() -> float:
    """CPU seconds spent by the whole machine (all cores, not idle or iowait) since boot."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int | str = "self") -> float:
    """User + system CPU seconds of one process (all its threads)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuShare:
    """CPU seconds used by the daemon, by this process and by everything else over a span."""

    def __init__(self, daemon_pid: int) -> None:
        self.pid = daemon_pid
        self.start = (cpu_busy_s(), proc_cpu_s(daemon_pid), proc_cpu_s())

    def result(self, wall_s: float) -> dict[str, float]:
        total, daemon, me = (
            b - a
            for a, b in zip(
                self.start, (cpu_busy_s(), proc_cpu_s(self.pid), proc_cpu_s()), strict=True
            )
        )
        return {
            "cores_busy": total / wall_s,
            "daemon_cores": daemon / wall_s,
            "load_generator_cores": me / wall_s,
            "other_processes_cores": max(0.0, total - daemon - me) / wall_s,
        }


def listen_overflows() -> dict[str, int]:
    """System-wide TcpExt ListenOverflows/ListenDrops: SYNs dropped on a full accept queue."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for head, values in zip(lines[::2], lines[1::2], strict=False):
        if head.startswith("TcpExt:"):
            pairs = zip(head.split()[1:], values.split()[1:], strict=True)
            return {k: int(v) for k, v in pairs if k in ("ListenOverflows", "ListenDrops")}
    return {}


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


# -- case 1: a fleet of wide monitors on one daemon ----------------------------------------


class DaemonProcess:
    """``driftmon run -c CONFIG`` as a subprocess with JSON logs in a file."""

    def __init__(self, config: Path, log: Path) -> None:
        exe = Path(sys.executable).with_name("driftmon")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "driftmon.cli"]
        self.log_path = log
        self._log = log.open("wb")
        env = {k: v for k, v in os.environ.items() if k != "DRIFTMON_CONFIG"}
        self.proc = subprocess.Popen(
            [*cmd, "run", "-c", str(config)], stdout=self._log, stderr=subprocess.STDOUT, env=env
        )
        self._offset = 0
        self.events: list[dict[str, Any]] = []

    def poll_logs(self) -> list[dict[str, Any]]:
        """Log lines written since the last call (also kept in ``events``)."""
        with self.log_path.open("rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        new = []
        for line in data[:end].decode(errors="replace").splitlines():
            try:
                new.append(json.loads(line))
            except json.JSONDecodeError:
                new.append({"event": "<not json>", "line": line})
        self.events += new
        return new

    def wait_for(self, pred: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for e in self.events:
            if pred(e):
                return e
        while time.monotonic() < deadline:
            for e in self.poll_logs():
                if pred(e):
                    return e
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"daemon exited with {self.proc.returncode}; see {self.log_path}"
                )
            time.sleep(0.1)
        raise RuntimeError(
            f"timed out after {timeout}s waiting for the daemon; see {self.log_path}"
        )

    def stop(self, timeout: float = 60.0) -> tuple[int | None, float]:
        """SIGTERM, wait; SIGKILL if it does not stop in time. Returns (exit code, seconds)."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode, time.monotonic() - t0


class RssSampler:
    """Samples a process's VmRSS once a second in a background thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            rss = proc_status(self.pid).get("VmRSS")
            if rss is not None:
                self.samples.append((time.time(), rss))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def stored_runs(url: str) -> list[dict[str, Any]]:
    """Every stored run of the results database (window and timings as aware datetimes)."""
    from sqlalchemy import select

    from driftmon.storage import Store
    from driftmon.storage.models import Monitor, Run

    store = Store(url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(
                    Monitor.name,
                    Run.window_end,
                    Run.started_at,
                    Run.finished_at,
                    Run.status,
                    Run.live_rows,
                ).join(Monitor, Monitor.id == Run.monitor_id)
            ).all()
    finally:
        store.dispose()
    return [r._asdict() for r in rows]


def analyse_windows(
    runs: list[dict[str, Any]],
    monitors: list[str],
    every: float,
    phases: dict[str, tuple[float, float]],
) -> dict[str, dict[str, Any]]:
    """Per phase: windows expected (fire times in the phase), stored, missed, and the lag."""
    by_key = {(r["name"], r["window_end"].timestamp()): r for r in runs}
    out: dict[str, dict[str, Any]] = {}
    for phase, (lo, hi) in phases.items():
        # Fire times (= window ends) in [lo, hi): multiples of the interval since the epoch.
        first = -(-lo // every) * every
        ends = [first + i * every for i in range(int((hi - first) // every) + 1)]
        ends = [e for e in ends if e < hi]
        lag, delay, dur, missed = [], [], [], []
        statuses: Counter[str] = Counter()
        for e in ends:
            for m in monitors:
                r = by_key.get((m, e))
                if r is None:
                    missed.append((m, e))
                    continue
                statuses[r["status"]] += 1
                lag.append(r["finished_at"].timestamp() - e)
                delay.append(r["started_at"].timestamp() - e)
                dur.append((r["finished_at"] - r["started_at"]).total_seconds())
        out[phase] = {
            "windows": len(ends),
            "expected_runs": len(ends) * len(monitors),
            "stored_runs": len(lag),
            "missed_runs": len(missed),
            "late_runs": sum(x > every for x in lag),
            "statuses": dict(statuses),
            "lag_s": percentiles(lag),
            "start_delay_s": percentiles(delay),
            "duration_s": percentiles(dur),
        }
    return out


def case_fleet(args: argparse.Namespace, workdir: Path, results: dict[str, Any]) -> None:
    say(f"\n## fleet: {args.monitors} monitors x {args.features} features, every {args.every}s")
    ref = workdir / "wide_reference.parquet"
    if not ref.exists():
        load_data.write_wide_reference(ref, args.features, args.reference_rows, SEED)
    with results_databases(args.postgres_url, workdir, "fleet") as dbs:
        for backend, url in dbs:
            results.setdefault("fleet", {})[backend] = fleet_one(args, workdir, backend, url, ref)


def fleet_one(
    args: argparse.Namespace, workdir: Path, backend: str, url: str, ref: Path
) -> dict[str, Any]:
    say(f"\n### fleet on {backend}")
    every = args.every
    span = int(args.warmup_timeout + args.quiet_seconds + args.scrape_seconds + 6 * every + 120)
    live = workdir / f"wide_live_{backend}.parquet"
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2 * every)
    n_live = load_data.write_wide_live(
        live, args.features, start, span, args.rows_per_second, SEED + 1
    )
    config = load_data.wide_config(
        database_url=url,
        n_monitors=args.monitors,
        n_features=args.features,
        reference=ref,
        live=live,
        every_s=every,
        retention="30d",
    )
    cfg_path = workdir / f"fleet_{backend}.yaml"
    cfg_path.write_text(yaml.safe_dump(config, sort_keys=False))
    names = [m["name"] for m in config["monitors"]]
    say(f"live file: {n_live} rows, {args.rows_per_second * every} rows per {every}s window")

    daemon = DaemonProcess(cfg_path, workdir / f"fleet_{backend}.log")
    out: dict[str, Any] = {"live_rows_per_window": args.rows_per_second * every}
    try:
        with RssSampler(daemon.proc.pid) as rss:
            started = daemon.wait_for(lambda e: e.get("event") == "daemon.started", 60)
            base = started["listen"]
            t_started = time.time()
            pending = set(names)

            def first_runs(e: dict[str, Any]) -> bool:
                if e.get("event") in ("run.finished", "run.failed"):
                    pending.discard(e.get("monitor", ""))
                return not pending

            daemon.wait_for(first_runs, args.warmup_timeout)
            t_warm = time.time()
            quiet_cpu = CpuShare(daemon.proc.pid)
            out["warmup_s"] = t_warm - t_started
            say(f"warm-up (first run of every monitor, profiles built): {out['warmup_s']:.1f}s")
            time.sleep(args.quiet_seconds)
            t_load = time.time()
            out["cpu_quiet"] = quiet_cpu.result(t_load - t_warm)
            load_cpu = CpuShare(daemon.proc.pid)
            say(f"scraping with {args.scrapers} threads for {args.scrape_seconds}s ...")
            overflows = listen_overflows()
            stats = scrape(
                base,
                scrapers=args.scrapers,
                seconds=args.scrape_seconds,
                max_requests=args.max_requests,
            )
            t_end = time.time()
            out["cpu_scraped"] = load_cpu.result(t_end - t_load)
            out["listen_overflows"] = {
                k: v - overflows.get(k, 0) for k, v in listen_overflows().items()
            }
            # Let the runs of the last window finish before stopping.
            time.sleep(min(every, 15))
            daemon.poll_logs()
        code, stop_s = daemon.stop()
    finally:
        if daemon.proc.poll() is None:
            daemon.stop()
    daemon.poll_logs()
    out["scrape"] = stats.summary()
    out["latencies_ms"] = [round(x * 1000, 2) for x in stats.latencies]
    out["request_starts_s"] = [round(x, 3) for x in stats.started]
    out["slowest_requests"] = sorted(
        zip(stats.latencies, stats.started, strict=True), reverse=True
    )[:5]
    out["stop"] = {"exit_code": code, "seconds": stop_s}
    phases = {
        "start-up": (t_started, t_warm),
        "quiet": (t_warm, t_load),
        "scraped": (t_load, t_end),
    }
    out["rss_mib"] = {
        "max": mib(max((r for _, r in rss.samples), default=0)),
        "end": mib(rss.samples[-1][1]) if rss.samples else None,
        "every_10s": [round(mib(r)) for _, r in rss.samples[::10]],
    }
    for phase, (lo, hi) in phases.items():
        inside = [r for t, r in rss.samples if lo <= t < hi]
        out["rss_mib"][f"max_{phase}"] = mib(max(inside)) if inside else None
    events: Counter[str] = Counter()
    for e in daemon.events:
        text = str(e.get("event", ""))
        if text.startswith(("Execution of job", "Job ", "Run time of job")):
            # APScheduler's own messages name the job; count them by what happened.
            text = "apscheduler: " + text.rsplit(")", 1)[-1].strip(' "')
        events[text] += 1
    out["log_events"] = dict(events)
    out["apscheduler_skipped"] = sum(
        v for k, v in events.items() if "maximum number of running instances" in k
    )
    runs = stored_runs(url)
    out["windows"] = analyse_windows(runs, names, every, phases)
    report_fleet(backend, out, args)
    return out


def report_fleet(backend: str, out: dict[str, Any], args: argparse.Namespace) -> None:
    rows = []
    for phase, w in out["windows"].items():
        lag = w["lag_s"]
        rows.append(
            [
                phase,
                w["windows"],
                f"{w['stored_runs']}/{w['expected_runs']}",
                w["missed_runs"],
                w["late_runs"],
                fmt(lag.get("p50"), ".2f"),
                fmt(lag.get("p90"), ".2f"),
                fmt(lag.get("p99"), ".2f"),
                fmt(lag.get("max"), ".2f"),
                fmt(w["duration_s"].get("p50"), ".2f"),
            ]
        )
    say(
        table(
            [
                "phase",
                "windows",
                "runs stored/expected",
                "missed",
                f"lag > {args.every}s",
                "lag p50 s",
                "p90",
                "p99",
                "max",
                "run p50 s",
            ],
            rows,
        )
    )
    s = out["scrape"]
    say(
        table(
            [
                "backend",
                "requests",
                "req/s",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "max ms",
                "> 250 ms",
                "errors",
                "body KiB",
            ],
            [
                [
                    backend,
                    s["requests"],
                    s["requests_per_s"],
                    s.get("p50_ms"),
                    s.get("p90_ms"),
                    s.get("p99_ms"),
                    s.get("max_ms"),
                    s.get("over_250ms"),
                    s["errors"],
                    s["mean_body_kib"],
                ]
            ],
        )
    )
    say(
        f"daemon RSS max {out['rss_mib']['max']:.0f} MiB (start-up "
        f"{fmt(out['rss_mib']['max_start-up'], '.0f')}, quiet "
        f"{fmt(out['rss_mib']['max_quiet'], '.0f')}, scraped "
        f"{fmt(out['rss_mib']['max_scraped'], '.0f')}); stop: exit {out['stop']['exit_code']} "
        f"in {out['stop']['seconds']:.1f}s; "
        f"apscheduler skipped runs: {out['apscheduler_skipped']}; "
        f"SYNs dropped on a full listen queue during the scrapes: {out['listen_overflows']}; "
        f"CPU (cores) quiet: {_cores(out['cpu_quiet'])}, scraped: {_cores(out['cpu_scraped'])}; "
        f"log events: {out['log_events']}"
    )


def _cores(share: dict[str, float]) -> str:
    return ", ".join(f"{k.removesuffix('_cores')} {v:.2f}" for k, v in share.items())


# -- case 2: memory over 1,000 consecutive runs --------------------------------------------


def case_memory(args: argparse.Namespace, workdir: Path, results: dict[str, Any]) -> None:
    """Runs the fleet's monitors round after round in this process, scraping after each."""
    from driftmon.config import config_from_dict
    from driftmon.service.daemon import Daemon
    from driftmon.service.http import MetricsEndpoint
    from driftmon.storage import Store

    n_rounds = -(-args.memory_runs // args.monitors)
    trace_rounds = args.trace_rounds if args.tracemalloc else 0
    say(
        f"\n## memory: {n_rounds * args.monitors} runs ({n_rounds} rounds of {args.monitors} "
        f"monitors x {args.features} features), a scrape after every round"
    )
    ref = workdir / "wide_reference.parquet"
    if not ref.exists():
        load_data.write_wide_reference(ref, args.features, args.reference_rows, SEED)
    every = args.every
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    live = workdir / "memory_live.parquet"
    load_data.write_wide_live(
        live,
        args.features,
        anchor,
        (n_rounds + trace_rounds + 1) * every,
        args.rows_per_second,
        SEED + 2,
    )
    raw = load_data.wide_config(
        database_url=f"sqlite:///{workdir / 'memory.db'}",
        n_monitors=args.monitors,
        n_features=args.features,
        reference=ref,
        live=live,
        every_s=every,
    )
    config = config_from_dict(raw, base_dir=workdir)
    store = Store(config.database.url)
    daemon = Daemon(config, store)  # not started: its runner, cache and registry only
    store.upgrade()
    endpoint = MetricsEndpoint(daemon.registry, daemon._exposition_version)
    # Render every round here (the daemon may skip renders to keep their share of time low).
    endpoint.RENDER_SHARE = 1.0

    def one_round(k: int) -> None:
        end = anchor + timedelta(seconds=(k + 1) * every)
        for m in config.monitors:
            daemon.runner.run(m, end)
            daemon.cache.invalidate()
        endpoint.body(gzip_ok=True)

    import pyarrow as pa

    samples: list[dict[str, Any]] = []
    t0 = time.monotonic()
    for k in range(n_rounds):
        one_round(k)
        st = proc_status()
        samples.append(
            {
                "runs": (k + 1) * args.monitors,
                "rss_mib": mib(st["VmRSS"]),
                "arrow_mib": pa.total_allocated_bytes() / 2**20,
                "gc_objects": len(gc.get_objects()),
                "elapsed_s": time.monotonic() - t0,
            }
        )
    warm = next(s for s in samples if s["runs"] >= args.memory_warmup)
    end = samples[-1]
    growth = (end["rss_mib"] - warm["rss_mib"]) / warm["rss_mib"]
    out: dict[str, Any] = {
        "samples": samples,
        "warm": warm,
        "end": end,
        "growth": growth,
        "runs_per_s": end["runs"] / end["elapsed_s"],
        "peak_mib": mib(proc_status()["VmHWM"]),
    }
    step = max(1, len(samples) // 10)
    shown = [s for i, s in enumerate(samples) if i % step == step - 1 or i == 0]
    say(
        table(
            ["runs", "RSS MiB", "Arrow pool MiB", "Python objects", "elapsed s"],
            [
                [s["runs"], s["rss_mib"], s["arrow_mib"], s["gc_objects"], s["elapsed_s"]]
                for s in shown
            ],
        )
    )
    say(
        f"RSS after {warm['runs']} runs (warm-up) {warm['rss_mib']:.1f} MiB, after {end['runs']} "
        f"runs {end['rss_mib']:.1f} MiB: {growth:+.1%} (target within 10%); "
        f"{out['runs_per_s']:.2f} runs/s"
    )
    if trace_rounds:
        out["tracemalloc"] = trace_growth(lambda k: one_round(n_rounds + k), trace_rounds)
    results["memory"] = out
    store.dispose()


def trace_growth(one_round: Callable[[int], None], rounds: int) -> dict[str, Any]:
    """tracemalloc over ``rounds`` more rounds: traced memory after each, and the sites
    that grew most between the second round and the last (the first fills caches)."""
    tracemalloc.start(15)
    traced: list[float] = []
    before = None
    for k in range(rounds):
        one_round(k)
        gc.collect()
        traced.append(tracemalloc.get_traced_memory()[0] / 2**20)
        if k == 1:
            before = tracemalloc.take_snapshot()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    assert before is not None, "--trace-rounds must be at least 3"
    keep = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = after.filter_traces(keep).compare_to(before.filter_traces(keep), "traceback")
    lines = []
    for stat in [d for d in diff if d.size_diff > 0][:8]:
        frames = [f"{f.filename}:{f.lineno}" for f in stat.traceback if "driftmon" in f.filename]
        lines.append(
            f"{stat.size_diff / 1024:+.0f} KiB in {stat.count_diff:+d} blocks; "
            f"driftmon frames: {frames[-3:] or '-'}; innermost {stat.traceback[-1]}"
        )
    say(f"tracemalloc: traced MiB after each round: {', '.join(f'{t:.1f}' for t in traced)}")
    say(f"largest growth between round 2 and round {rounds}:")
    for line in lines:
        say(f"  {line}")
    return {"traced_mib": traced, "growth": lines}


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
            "fleet": case_fleet,
            "memory": case_memory,
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
    sys.exit(main())
