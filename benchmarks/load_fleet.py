"""Case ``fleet`` of ``bench_load.py``: many wide monitors on one daemon, scraped.

One ``driftmon run`` subprocess with ``--monitors`` x ``--features`` monitors every
``--every`` seconds on the same two Parquet files; after every monitor ran once, a quiet
phase (schedule only) and a phase with ``--scrapers`` loopback scrapers on ``/metrics``.
Windows expected vs stored and the lag come from the results database, latencies from the
load generator, RSS and CPU from /proc.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import load_data
import yaml
from load_pg import results_databases
from load_proc import CpuShare, listen_overflows, mib, tree_rss_kb
from load_report import fmt, say, table
from load_scrape import percentiles, scrape

SEED = 20260611


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
    """Samples the VmRSS of a process and its scoring processes (summed) once a second."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            rss = tree_rss_kb(self.pid)
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
    from driftmon.storage.models import monitors_table, runs_table

    store = Store(url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(
                    monitors_table.c.name,
                    runs_table.c.window_end,
                    runs_table.c.started_at,
                    runs_table.c.finished_at,
                    runs_table.c.status,
                    runs_table.c.live_rows,
                ).join(monitors_table, monitors_table.c.id == runs_table.c.monitor_id)
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
        engine_processes=args.engine_processes,
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
