"""Case ``memory`` of ``bench_load.py``: RSS over 1,000 consecutive runs in one process.

Rounds of ``MonitorRunner.run`` over the fleet's monitors (a new window each round), with
what a scrape does after each round (snapshot, collector, exposition, gzip through the
daemon's ``MetricsEndpoint``); RSS and live Python objects after every round, and with
``--tracemalloc`` the allocation sites that grow.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import load_data
from load_proc import mib, proc_status
from load_report import say, table

SEED = 20260611


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
