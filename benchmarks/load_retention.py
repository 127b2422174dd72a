"""Case ``retention`` of ``bench_load.py``: a long simulated run keeps the tables bounded.

``--retention-monitors`` monitors run every ``--retention-every-min`` simulated minutes
(``MonitorRunner.run`` with a simulated window end, on small in-memory batches so the
run itself is cheap) until ``--retention-runs`` runs are stored; every simulated hour
``Store.prune(now - max_age)`` runs, as the daemon's hourly retention job does with the
wall clock. Row counts of ``runs`` and ``feature_results`` (and the database size) are
recorded every simulated 12 hours.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from load_pg import results_databases, temporary_database
from load_report import say, table
from sqlalchemy import func, select, text

from driftmon.config import MonitorConfig, config_from_dict
from driftmon.service.runner import MonitorRunner
from driftmon.sources.base import Window
from driftmon.storage import Store
from driftmon.storage.models import feature_results_table, runs_table

START = datetime(2026, 1, 1, tzinfo=UTC)
LIVE_VARIANTS = 8
VACUUM_EVERY = timedelta(days=1)


class BatchSource:
    """An in-memory source: a fixed batch (the window is not applied; it is simulated)."""

    def __init__(self, batch: pa.RecordBatch, name: str) -> None:
        self._batch = batch
        self._name = name

    def describe(self) -> str:
        return f"memory {self._name}"

    def fingerprint(self) -> str:
        return self._name

    def columns(self) -> Sequence[str]:
        return list(self._batch.schema.names)

    def batches(self, columns: Sequence[str], window: Window | None = None) -> Any:
        yield self._batch.select(list(columns))


def _batch(rng: np.random.Generator, n_features: int, rows: int, shift: float) -> pa.RecordBatch:
    cols: dict[str, Any] = {}
    for i in range(n_features):
        if i % 4 == 3:
            k = 12
            w = 1.0 / np.arange(1, k + 1) ** (1.0 + shift)
            cols[f"f{i:02d}"] = pa.array([f"v{j}" for j in rng.choice(k, rows, p=w / w.sum())])
        else:
            cols[f"f{i:02d}"] = rng.normal(shift, 1.0, rows)
    return pa.RecordBatch.from_pydict(cols)


def _config(args: argparse.Namespace, url: str) -> Any:
    features = [
        {"name": f"f{i:02d}", "type": "categorical" if i % 4 == 3 else "numeric"}
        for i in range(args.retention_features)
    ]
    every = f"{args.retention_every_min}m"
    monitors = [
        {
            "name": f"ret_{m}",
            "schedule": {"every": every},
            "reference": {"path": "reference.parquet"},  # never opened: BatchSource
            "live": {"path": "live.parquet", "timestamp_column": "ts", "window": every},
            "features": features,
        }
        for m in range(args.retention_monitors)
    ]
    return config_from_dict(
        {
            "database": {"url": url},
            "retention": {"max_age": f"{int(args.retention_max_age_days * 24)}h"},
            "monitors": monitors,
        },
        base_dir=Path("/nonexistent"),
    )


def _counts(store: Store, url: str) -> dict[str, int]:
    with store.engine.connect() as conn:
        runs = conn.execute(select(func.count()).select_from(runs_table)).scalar_one()
        feats = conn.execute(select(func.count()).select_from(feature_results_table)).scalar_one()
        dead = None
        if conn.dialect.name == "postgresql":
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            dead = conn.execute(
                text(
                    "SELECT sum(n_dead_tup) FROM pg_stat_user_tables "
                    "WHERE relname IN ('runs', 'feature_results')"
                )
            ).scalar_one()
        else:
            db = url.removeprefix("sqlite:///")
            size = sum(os.path.getsize(p) for p in (db, db + "-wal") if os.path.exists(p))
    return {
        "runs": int(runs),
        "feature_results": int(feats),
        "db_bytes": int(size),
        "dead_tuples": None if dead is None else int(dead),
    }


def _vacuum(store: Store) -> None:
    """What autovacuum does over real days; a compressed simulation outruns it."""
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM runs, feature_results")


def simulate(
    args: argparse.Namespace, url: str, vacuum_every: timedelta | None = None
) -> dict[str, Any]:
    config = _config(args, url)
    rng = np.random.default_rng(20260611)
    reference = _batch(rng, args.retention_features, 5_000, 0.0)
    live = [_batch(rng, args.retention_features, 1_000, 0.1 * v) for v in range(LIVE_VARIANTS)]
    tick = [0]

    def factory(cfg: Any, monitor: MonitorConfig) -> BatchSource:
        if cfg is monitor.reference:
            return BatchSource(reference, "reference")
        tick[0] += 1
        return BatchSource(live[tick[0] % LIVE_VARIANTS], "live")

    store = Store(url)
    store.upgrade()
    runner = MonitorRunner(config, store, source_factory=factory)
    every = timedelta(minutes=args.retention_every_min)
    max_age = config.retention.max_age
    assert max_age is not None
    n_windows = -(-args.retention_runs // len(config.monitors))
    timeline: list[dict[str, Any]] = []
    pruned = 0
    prune_s: list[float] = []
    next_prune = START
    t0 = time.monotonic()
    for k in range(1, n_windows + 1):
        now = START + k * every
        for m in config.monitors:
            runner.run(m, now)
        if now >= next_prune:  # the hourly job, on the simulated clock
            t = time.monotonic()
            pruned += store.prune(now - max_age)
            prune_s.append(time.monotonic() - t)
            next_prune = now + timedelta(hours=1)
        if vacuum_every is not None and (now - START) % vacuum_every == timedelta(0):
            _vacuum(store)
        if k == n_windows or (now - START) % timedelta(hours=12) == timedelta(0):
            timeline.append(
                {
                    "simulated_h": (now - START) / timedelta(hours=1),
                    "runs_stored_total": k * len(config.monitors),
                    "pruned_total": pruned,
                    **_counts(store, url),
                }
            )
    wall = time.monotonic() - t0
    store.dispose()
    windows_kept = max_age / every
    return {
        "timeline": timeline,
        "wall_s": wall,
        "runs_total": n_windows * len(config.monitors),
        "prune_calls": len(prune_s),
        "prune_s_max": max(prune_s, default=0.0),
        "bound_runs": int((windows_kept + timedelta(hours=1) / every) * len(config.monitors)),
        "features_per_run": args.retention_features,
    }


def case_retention(args: argparse.Namespace, workdir: Path, results: dict[str, Any]) -> None:
    say(
        f"\n## retention: {args.retention_runs} runs of {args.retention_monitors} monitors x "
        f"{args.retention_features} features every {args.retention_every_min} simulated min, "
        f"max_age {args.retention_max_age_days:g}d, prune every simulated hour"
    )
    with results_databases(args.postgres_url, workdir, "retention") as dbs:
        for backend, url in dbs:
            _report(args, backend, url, results)
    if args.postgres_url:
        with temporary_database(args.postgres_url) as url:
            _report(args, "postgresql, VACUUM every simulated day", url, results, VACUUM_EVERY)


def _report(
    args: argparse.Namespace,
    backend: str,
    url: str,
    results: dict[str, Any],
    vacuum_every: timedelta | None = None,
) -> None:
    out = simulate(args, url, vacuum_every)
    results.setdefault("retention", {})[backend] = out
    tl = out["timeline"]
    shown = [r for i, r in enumerate(tl) if i % 2 == 1 or i == len(tl) - 1]
    say(f"\n### retention on {backend} ({out['wall_s']:.0f}s wall)")
    say(
        table(
            [
                "simulated day",
                "runs stored so far",
                "pruned so far",
                "runs rows",
                "feature_results rows",
                "DB MiB",
                "dead tuples",
            ],
            [
                [
                    f"{r['simulated_h'] / 24:.1f}",
                    r["runs_stored_total"],
                    r["pruned_total"],
                    r["runs"],
                    r["feature_results"],
                    r["db_bytes"] / 2**20,
                    r["dead_tuples"],
                ]
                for r in shown
            ],
        )
    )
    say(
        f"expected bound: max_age/interval + one hour of windows = {out['bound_runs']} runs "
        f"({out['bound_runs'] * out['features_per_run']} feature rows); "
        f"{out['prune_calls']} prune calls, slowest {out['prune_s_max'] * 1000:.0f} ms"
    )
