"""Server-side time of the status pages over a long retained history.

Run by hand, not in the test suite (results and commands: ``benchmarks/README.md``,
section "Status pages")::

    .venv/bin/python benchmarks/bench_pages.py
    .venv/bin/python benchmarks/bench_pages.py --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test

One monitor with ``--features`` categorical features (12 bins each: 10 categories, "other",
missing) and ``--runs`` stored runs, one per hour back from 2026-01-01 (8,760: a year of
hourly runs, all retained), every run scored on one reference profile version. Rows are
written in bulk with the values ``Store.save_run`` writes (``run_values``/``feature_values``);
the monitor's counters are not (the index page is measured too, and reads them with an
outer join).

Each page is answered by ``Pages.answer`` in-process (the daemon's code path without the
socket: database reads in their thread, then Jinja2 rendering) ``--repeat`` times after
one warm-up; printed are min / median / max of wall time and of process CPU time (all
threads), and the size of the HTML. Then the database reads of the monitor page alone.
Target (issue 12): the monitor page for 200 features with a year of retained runs in under
200 ms server-side.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from load_pg import temporary_database
from sqlalchemy import insert, select

from driftmon.config import Config, config_from_dict
from driftmon.core.drift import score
from driftmon.core.profile import FeatureSpec, ReferenceProfile, build_feature_profile
from driftmon.core.status import Thresholds, worst
from driftmon.results import FeatureResult, RunResult
from driftmon.service.pages import Page, Pages, feature_url, monitor_url
from driftmon.storage import Store
from driftmon.storage.models import feature_results_table, runs_table
from driftmon.storage.records import feature_values, run_values

MONITOR = "bench"
END = datetime(2026, 1, 1, tzinfo=UTC)
THRESHOLDS = Thresholds(0.05, 0.2, "static")
CATEGORIES = [f"c{i}" for i in range(10)]


def config(url: str, features: int) -> Config:
    return config_from_dict(
        {
            "database": {"url": url},
            "monitors": [
                {
                    "name": MONITOR,
                    "schedule": {"every": "1h"},
                    "reference": {"path": "reference.parquet"},
                    "live": {"path": "live.parquet"},
                    "features": [
                        {"name": f"feature_{i:03d}", "type": "categorical"} for i in range(features)
                    ],
                    "thresholds": {"warning": 0.05, "critical": 0.2},
                }
            ],
        },
        base_dir=Path.cwd(),
        environ={},
    )


def populate(store: Store, features: int, runs: int) -> None:
    """``runs`` hourly runs of ``features`` features; drift grows and falls over the year."""
    rng = np.random.default_rng(0)
    reference = pd.Series(rng.choice(CATEGORIES, size=5000), dtype=object)
    profiles = [
        build_feature_profile(reference, FeatureSpec(f"feature_{i:03d}", kind="categorical"))
        for i in range(features)
    ]
    version = store.save_profile(MONITOR, "bench", ReferenceProfile(tuple(profiles), rows=5000))
    # A few live variants per feature, scored once, reused across runs (as real KLs are).
    variants = []
    for shift in np.linspace(0.0, 0.6, 8):
        p = np.ones(len(CATEGORIES))
        p[0] += shift * len(CATEGORIES)
        live = pd.Series(rng.choice(CATEGORIES, size=1000, p=p / p.sum()), dtype=object)
        row = []
        for fp in profiles:
            hist = fp.live_histogram(live)
            s = score(hist, fp.reference, smoothing=0.5)
            assert s is not None
            row.append(
                FeatureResult(
                    feature=fp.name,
                    status=THRESHOLDS.classify(s.kl_divergence),
                    thresholds=THRESHOLDS,
                    live_rows=hist.total,
                    missing_rows=int(hist.counts[fp.bins.missing_index]),
                    scores=s,
                    live_counts=tuple(int(c) for c in hist.counts),
                    bin_labels=tuple(fp.bins.labels()),
                )
            )
        variants.append(row)
    batch = 200
    for start in range(0, runs, batch):
        run_rows: list[dict[str, Any]] = []
        feature_rows: list[dict[str, Any]] = []
        for k in range(start, min(start + batch, runs)):
            end = END - timedelta(hours=runs - 1 - k)
            phase = int(4 * (1 + np.sin(k / runs * 6 * np.pi))) % len(variants)
            feats = [variants[(phase + i % 3) % len(variants)][i] for i in range(features)]
            status = worst([f.status for f in feats])
            run = RunResult(
                monitor=MONITOR,
                window_start=end - timedelta(hours=1),
                window_end=end,
                started_at=end,
                finished_at=end + timedelta(seconds=2),
                status=status,
                live_rows=1000,
                reference_rows=5000,
                features=tuple(feats),
                profile_version=version,
            )
            run_rows.append({"id": k + 1, **run_values(run, 1)})
            feature_rows.extend(feature_values(k + 1, i, f) for i, f in enumerate(feats))
        with store.engine.begin() as conn:
            conn.execute(insert(runs_table), run_rows)
            conn.execute(insert(feature_results_table), feature_rows)


def measure(answer: Callable[[], Page | None], repeat: int) -> tuple[list[float], list[float], int]:
    answer()  # warm-up: templates compiled, connections open
    walls, cpus, size = [], [], 0
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        page = answer()
        assert page is not None
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        size = len(page.body)
        assert page.status == "200 OK", page.body[:500]
    return walls, cpus, size


def explain(store: Store) -> None:
    """The PostgreSQL plan of the sparklines' read (``kl_trends``), to see its index used."""
    from driftmon.storage.history import sampled_runs

    with store.engine.connect() as conn:
        ids = sampled_runs(conn, MONITOR, 48, 5000)
        fr = feature_results_table
        query = select(fr.c.run_id, fr.c.feature, fr.c.kl_divergence).where(fr.c.run_id.in_(ids))
        sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        for (line,) in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql):
            print("  " + line)


def ms(values: list[float]) -> str:
    return " / ".join(
        f"{1000 * v:.0f}" for v in (min(values), statistics.median(values), max(values))
    )


@contextmanager
def database(postgres_url: str | None) -> Iterator[str]:
    if postgres_url:
        with temporary_database(postgres_url) as url:
            yield url
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{Path(tmp) / 'results.db'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=int, default=200)
    parser.add_argument("--runs", type=int, default=8760)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--postgres-url", help="a PostgreSQL server (a throw-away database)")
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    with database(args.postgres_url) as url:
        store = Store(url)
        store.upgrade()
        t0 = time.perf_counter()
        populate(store, args.features, args.runs)
        print(
            f"{store.engine.dialect.name}: {args.runs:,} runs x {args.features} features "
            f"stored in {time.perf_counter() - t0:.0f} s"
        )
        # Planner statistics, as autovacuum (PostgreSQL) would gather after such a load;
        # without them PostgreSQL scans feature_results whole for the sparklines' run ids.
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        if store.engine.dialect.name == "postgresql":
            explain(store)
        pages = Pages(config(url, args.features), store, timeout=30.0)
        print(f"{'page':<42} {'wall ms min/med/max':>22} {'CPU ms min/med/max':>22} {'HTML':>9}")
        cases = {
            "/ (index)": "/",
            "/monitors/{name}": monitor_url(MONITOR),
            "/monitors/{name}?run=<a year ago>": monitor_url(MONITOR),
            "/monitors/{name}/features/{feature}": feature_url(MONITOR, "feature_000"),
            "/monitors/{name}.json": monitor_url(MONITOR) + ".json",
        }
        for name, path in cases.items():
            query = "run=1" if "run=" in name else ""
            walls, cpus, size = measure(functools.partial(pages.answer, path, query), args.repeat)
            print(f"{name:<42} {ms(walls):>22} {ms(cpus):>22} {size / 1024:>7.0f} kB")

        reads: dict[str, Callable[[], object]] = {
            "run_summaries(20)": lambda: store.run_summaries(MONITOR, 20),
            "runs(limit=1) (the latest run, all features)": lambda: store.runs(MONITOR, 1),
            "kl_trends(all features, 48 runs)": lambda: store.kl_trends(MONITOR),
            "feature_history(one feature)": lambda: store.feature_history(MONITOR, "feature_000"),
        }
        print(f"{'database read':<42} {'wall ms min/med/max':>22} {'CPU ms min/med/max':>22}")
        for name, read in reads.items():
            read()
            walls, cpus = [], []
            for _ in range(args.repeat):
                w0, c0 = time.perf_counter(), time.process_time()
                read()
                walls.append(time.perf_counter() - w0)
                cpus.append(time.process_time() - c0)
            print(f"{name:<42} {ms(walls):>22} {ms(cpus):>22}")
        store.dispose()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
