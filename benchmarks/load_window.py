"""Case ``window`` of ``bench_load.py``: one live window of 10 million rows, bounded memory.

The same rows (``load_data.tall_chunks``, fixed seed, ``ts`` spread over one day) are
written to a Parquet file and COPYed into a table of a throw-away PostgreSQL database. A
subprocess per source builds the (small) reference profile, then scores the one-day window
with ``MonitorRunner.run`` and reports its own memory from /proc/self/status:
``VmRSS`` before the window, the peak during the window (``VmHWM`` after resetting it via
``/proc/self/clear_refs``) and the peak of the whole process.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import load_data
import load_pg
import yaml
from load_report import say, table

ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
DAY_S = 86_400
REFERENCE_ROWS = 200_000


def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key.startswith("Vm"):
                out[key] = int(rest.split()[0])
    return out


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when not permitted."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child_main(argv: list[str]) -> int:
    """In the subprocess: score the window of the config's only monitor, print JSON."""
    p = argparse.ArgumentParser()
    p.add_argument("config")
    p.add_argument("--window-end", required=True)
    args = p.parse_args(argv)
    t_import = time.monotonic()
    import pyarrow as pa

    from driftmon.config import load_config
    from driftmon.service.runner import MonitorRunner
    from driftmon.storage import Store

    config = load_config(args.config)
    store = Store(config.database.url)
    store.upgrade()
    runner = MonitorRunner(config, store)
    monitor = config.monitors[0]
    t_ref = time.monotonic()
    runner.reference_profile(monitor)
    ref_s = time.monotonic() - t_ref
    gc.collect()
    before = _status()
    reset = _reset_peak()
    pool = pa.default_memory_pool()
    t0 = time.monotonic()
    result = runner.run(monitor, datetime.fromisoformat(args.window_end))
    wall = time.monotonic() - t0
    after = _status()
    store.dispose()
    print(
        json.dumps(
            {
                "status": result.status.value,
                "error": result.error,
                "live_rows": result.live_rows,
                "wall_s": wall,
                "rows_per_s": result.live_rows / wall if wall else 0.0,
                "reference_s": ref_s,
                "setup_s": t0 - t_import,
                "rss_before_kb": before["VmRSS"],
                "peak_kb": after["VmHWM"] if reset else None,
                "process_peak_kb": after["VmHWM"],
                "rss_after_kb": after["VmRSS"],
                "arrow_pool_peak_bytes": pool.max_memory(),
                "arrow_pool_backend": pool.backend_name,
                "peak_reset": reset,
                "features": {
                    f.feature: round(f.scores.kl_divergence, 5) if f.scores else f.status.value
                    for f in result.features
                },
            }
        )
    )
    return 0


def _monitor(live: dict[str, Any], reference: Path) -> dict[str, Any]:
    return {
        "name": "ten_million",
        "schedule": {"every": "1d"},
        "reference": {"path": str(reference)},
        "live": {**live, "timestamp_column": "ts", "window": "1d", "min_rows": 100},
        "features": load_data.tall_features(),
        "source_timeout": None,
    }


def _run_child(config: dict[str, Any], path: Path) -> dict[str, Any]:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    end = (ANCHOR + timedelta(seconds=DAY_S)).isoformat()
    script = Path(__file__).with_name("bench_load.py")
    proc = subprocess.run(
        [sys.executable, str(script), "--window-child", str(path), "--window-end", end],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"window child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def case_window(args: argparse.Namespace, workdir: Path, results: dict[str, Any]) -> None:
    rows = args.window_rows
    say(f"\n## window: one live window of {rows:,} rows (6 features + ts), own subprocess each")
    reference = workdir / "tall_reference.parquet"
    load_data.write_tall_parquet(reference, REFERENCE_ROWS, 11, ANCHOR - timedelta(days=1), DAY_S)
    live = workdir / "tall_live.parquet"
    t = time.monotonic()
    load_data.write_tall_parquet(live, rows, 12, ANCHOR, DAY_S, shift=0.3)
    say(f"Parquet written in {time.monotonic() - t:.0f}s: {live.stat().st_size / 2**20:.0f} MiB")
    out: dict[str, Any] = {"rows": rows, "parquet_mib": live.stat().st_size / 2**20}
    base = {"server": {"host": "127.0.0.1", "port": 0}, "retention": {"max_age": None}}
    cfg = {
        **base,
        "database": {"url": f"sqlite:///{workdir / 'window_parquet.db'}"},
        "monitors": [_monitor({"path": str(live)}, reference)],
    }
    out["parquet"] = _run_child(cfg, workdir / "window_parquet.yaml")
    live.unlink()  # ~0.5 GB; not needed any more
    if args.postgres_url:
        with load_pg.temporary_database(args.postgres_url) as url:
            t = time.monotonic()
            n = load_pg.copy_tables(
                url, "live_events", load_data.tall_chunks(rows, 12, ANCHOR, DAY_S, 0.3)
            )
            out["pg_copy_s"] = time.monotonic() - t
            say(f"PostgreSQL: COPY of {n:,} rows in {out['pg_copy_s']:.0f}s")
            cfg = {
                **base,
                "database": {"url": f"sqlite:///{workdir / 'window_pg.db'}"},
                "monitors": [_monitor({"url": url, "table": "live_events"}, reference)],
            }
            out["postgresql"] = _run_child(cfg, workdir / "window_pg.yaml")
    rows_out = []
    for source in ("parquet", "postgresql"):
        r = out.get(source)
        if r is None:
            continue
        rows_out.append(
            [
                source,
                f"{r['live_rows']:,}",
                r["status"],
                r["wall_s"],
                f"{r['rows_per_s'] / 1000:.0f}k",
                r["rss_before_kb"] / 1024,
                r["peak_kb"] / 1024 if r["peak_kb"] else None,
                r["process_peak_kb"] / 1024,
                r["arrow_pool_peak_bytes"] / 2**20,
            ]
        )
    say(
        table(
            [
                "source",
                "live rows",
                "status",
                "wall s",
                "rows/s",
                "RSS before MiB",
                "peak in window MiB",
                "process peak MiB",
                "Arrow pool peak MiB",
            ],
            rows_out,
        )
    )
    results["window"] = out
