"""SQL push-down against pulled rows: a live window of N rows × 25 features (20 numeric,
5 categorical) counted in PostgreSQL or DuckDB, and a reference profile built in the
database against in-process.

    python benchmarks/bench_pushdown.py --engine postgresql \\
        --server postgresql+psycopg://postgres@127.0.0.1:5432/postgres --rows 10000000
    python benchmarks/bench_pushdown.py --engine duckdb --rows 10000000

PostgreSQL data is generated server-side with generate_series in a database created for
the run and dropped afterwards; DuckDB data in a temporary file. Results: README.md.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from driftmon.core.bins import CategoricalBins, NumericBins
from driftmon.core.histogram import Histogram
from driftmon.core.profile import FeatureProfile, FeatureSpec, build_feature_profile
from driftmon.service.runner import _concat_chunks
from driftmon.sources.base import Window
from driftmon.sources.pushdown import PushedFeature
from driftmon.sources.sql import SqlSource

T0 = datetime(2026, 3, 1, tzinfo=UTC)
NUMERIC, CATEGORICAL = 20, 5


def _select_list(rows: int, engine: str) -> str:
    rnd = "random()"
    cols = [f"T0 + (g * 3600.0 / {rows}) * INTERVAL '1 second' AS ts"]
    cols += [f"({rnd} * {i + 1} - 0.5)::DOUBLE PRECISION AS x{i}" for i in range(NUMERIC)]
    cols += [f"'cat' || floor({rnd} * {5 + 4 * i})::INT::TEXT AS c{i}" for i in range(CATEGORICAL)]
    start = "TIMESTAMPTZ '2026-03-01 00:00:00+00'"
    text = ", ".join(cols).replace("T0", start)
    return text.replace("DOUBLE PRECISION", "DOUBLE") if engine == "duckdb" else text


def _features() -> dict[str, PushedFeature]:
    out: dict[str, PushedFeature] = {}
    for i in range(NUMERIC):
        edges = tuple((i + 1) * k / 10 - 0.5 for k in range(1, 10))
        out[f"x{i}"] = PushedFeature(f"x{i}", NumericBins(edges), "float")
    for i in range(CATEGORICAL):
        cats = tuple(f"cat{k}" for k in range(min(10, 5 + 4 * i)))
        out[f"c{i}"] = PushedFeature(f"c{i}", CategoricalBins(cats), "text")
    return out


def _pulled(source: SqlSource, features: dict[str, PushedFeature], window: Window) -> int:
    """The runner's in-process path: stream batches, count each feature."""
    hists = {n: Histogram.empty(f.bins.n_bins) for n, f in features.items()}
    rows = 0
    for batch in source.batches(sorted({f.column for f in features.values()}), window):
        rows += batch.num_rows
        for name, f in features.items():
            fp = FeatureProfile(name, f.bins, Histogram.empty(f.bins.n_bins), f.reference_kind)
            hists[name] = hists[name] + fp.live_histogram(batch.column(f.column))
    return rows


def _timed(label: str, fn: Any) -> Any:
    t0 = time.perf_counter()
    out = fn()
    print(f"{label}: {time.perf_counter() - t0:.2f} s", flush=True)
    return out


def run(url: str, rows: int, pull: bool, profile_features: int) -> None:
    window = Window(T0, T0 + timedelta(hours=1, seconds=1))
    features = _features()
    with SqlSource(url, table="live", timestamp_column="ts", batch_rows=65_536) as source:
        pushed = _timed("live window, push-down", lambda: source.histograms(features, window))
        assert pushed is not None
        assert pushed.rows == rows, pushed.rows
        _timed("live window, push-down (again, warm)", lambda: source.histograms(features, window))
        if pull:
            n = _timed("live window, pulled rows", lambda: _pulled(source, features, window))
            assert n == rows
    specs = [(f"x{i}", FeatureSpec(f"x{i}", bins=10)) for i in range(profile_features - 1)]
    specs.append(("c0", FeatureSpec("c0", "categorical")))
    with SqlSource(url, table="live") as source:
        built = _timed(
            f"reference profile, {len(specs)} features, in the database",
            lambda: source.reference_profile(specs),
        )
        assert built is not None
        if pull:

            def in_process() -> None:
                columns = sorted({c for c, _ in specs})
                chunks: dict[str, list[Any]] = {c: [] for c in columns}
                for batch in source.batches(columns):
                    for c in columns:
                        chunks[c].append(batch.column(c))
                for column, spec in specs:
                    build_feature_profile(_concat_chunks(chunks[column]), spec)

            _timed(f"reference profile, {len(specs)} features, in-process", in_process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", choices=["postgresql", "duckdb"], required=True)
    parser.add_argument("--server", help="PostgreSQL server URL (a database is created there)")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--no-pull", action="store_true", help="skip the pulled-rows timings")
    parser.add_argument("--profile-features", type=int, default=5)
    args = parser.parse_args()
    select = _select_list(args.rows, args.engine)
    if args.engine == "duckdb":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"duckdb:///{Path(tmp) / 'bench.duckdb'}"
            engine = sa.create_engine(url)
            with engine.begin() as conn:
                t0 = time.perf_counter()
                conn.exec_driver_sql(
                    f"CREATE TABLE live AS SELECT {select} FROM range(0, {args.rows}) r(g)"
                )
                print(f"generated {args.rows:,} rows in {time.perf_counter() - t0:.1f} s")
            engine.dispose()
            run(url, args.rows, not args.no_pull, args.profile_features)
        return
    if not args.server:
        parser.error("--server is needed with --engine postgresql")
    name = f"driftmon_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(args.server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(args.server).set(database=name).render_as_string(hide_password=False)
    try:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            t0 = time.perf_counter()
            conn.exec_driver_sql(
                f"CREATE TABLE live AS SELECT {select} FROM generate_series(0, {args.rows - 1}) g"
            )
            conn.exec_driver_sql("ANALYZE live")
            print(f"generated {args.rows:,} rows in {time.perf_counter() - t0:.1f} s")
        engine.dispose()
        run(url, args.rows, not args.no_pull, args.profile_features)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
