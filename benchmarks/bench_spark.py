"""Spark push-down against pulled rows: a Parquet table of N rows × F features (numeric,
plus one categorical) counted by a Spark Connect server, the reference profile built in
Spark, and the rate at which the same rows could be pulled into driftmon instead.

Start a server first (the pyspark package carries Spark; Java 17):

    SPARK=$(.venv/bin/python -c 'import pyspark,os;print(os.path.dirname(pyspark.__file__))')
    $SPARK/sbin/start-connect-server.sh --master 'local[2]' --driver-memory 4g \\
        --conf spark.connect.grpc.binding.address=127.0.0.1 \\
        --conf spark.connect.grpc.binding.port=15002
    python benchmarks/bench_spark.py --remote sc://127.0.0.1:15002 --rows 50000000
    $SPARK/sbin/stop-connect-server.sh

The Parquet file is written once into --dir (kept for reruns with the same size). Pulling
is timed on the first --pull-rows rows (a file of its own) and extrapolated to N: the full
pull of N rows is what push-down avoids, and too slow to time whole. Results: README.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from driftmon.core.bins import CategoricalBins, NumericBins
from driftmon.core.profile import FeatureSpec
from driftmon.sources.pushdown import PushedFeature
from driftmon.sources.spark import SparkSource

T0 = datetime(2026, 3, 1, tzinfo=UTC)
CHUNK = 1_000_000
COUNTRIES = np.array(["de", "fr", "nl", "it", "es", "pl", "se", "dk", "at", "be"])


def write_parquet(path: Path, rows: int, numeric: int) -> None:
    """``rows`` rows of ``numeric`` normal features and one country, in 1M-row groups."""
    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return
    rng = np.random.default_rng(1)
    writer: pq.ParquetWriter | None = None
    tmp = path.with_suffix(".tmp")
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        columns = {f"x{k}": rng.normal(k, 1 + k, n) for k in range(numeric)}
        columns["country"] = COUNTRIES[rng.integers(0, len(COUNTRIES), n)]
        table = pa.table(columns)
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema)
        writer.write_table(table, row_group_size=CHUNK)
    assert writer is not None
    writer.close()
    tmp.rename(path)


def features(numeric: int, bins: int) -> dict[str, PushedFeature]:
    """Bins of each feature: ``bins - 2`` equal steps over its mean ± 2 standard deviations."""
    out = {}
    for k in range(numeric):
        edges = np.linspace(k - 2 * (1 + k), k + 2 * (1 + k), bins - 1)
        out[f"x{k}"] = PushedFeature(f"x{k}", NumericBins(tuple(float(e) for e in edges)), "float")
    out["country"] = PushedFeature("country", CategoricalBins(tuple(COUNTRIES[:8])), "text")
    return out


def timed(label: str, repeat: int, fn: object) -> float:
    assert callable(fn)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    print(f"{label}: median {median:.2f} s of {[round(t, 2) for t in times]}", flush=True)
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--remote", required=True, help="Spark Connect URL, sc://host:port")
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--numeric", type=int, default=10)
    parser.add_argument("--bins", type=int, default=12)
    parser.add_argument("--pull-rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--reference", action="store_true", help="also time the reference profile built in Spark"
    )
    parser.add_argument("--dir", type=Path, default=Path("/tmp/driftmon-bench-spark"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    big = args.dir / f"events-{args.rows}x{args.numeric}.parquet"
    small = args.dir / f"events-{args.pull_rows}x{args.numeric}.parquet"
    t0 = time.perf_counter()
    write_parquet(big, args.rows, args.numeric)
    write_parquet(small, args.pull_rows, args.numeric)
    size = big.stat().st_size / 2**30
    print(f"data: {args.rows:,} rows × {args.numeric + 1} columns, {size:.2f} GiB Parquet "
          f"(ready in {time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
    feats = features(args.numeric, args.bins)

    with SparkSource(args.remote, path=str(big), format="parquet") as source:
        counts = source.histograms(feats)  # warm-up; also checks the row count
        assert counts is not None
        assert counts.rows == args.rows
        pushed = timed(
            f"push-down: {len(feats)} features, {args.rows:,} rows",
            args.repeat,
            lambda: source.histograms(feats),
        )
        specs = [(f"x{k}", FeatureSpec(f"x{k}", bins=args.bins)) for k in range(args.numeric)]
        specs.append(("country", FeatureSpec("country", "categorical", max_categories=8)))
        built = float("nan")
        if args.reference:
            built = timed(
                "reference profile in Spark (percentile_approx edges)",
                1,
                lambda: source.reference_profile(specs),
            )

    columns = [*(f"x{k}" for k in range(args.numeric)), "country"]
    with SparkSource(args.remote, path=str(small), format="parquet") as source:
        list(source.batches(columns))  # warm-up

        def pull() -> None:
            rows = sum(b.num_rows for b in source.batches(columns))
            assert rows == args.pull_rows

        pulled = timed(f"pull {args.pull_rows:,} rows as Arrow", args.repeat, pull)
    rate = args.pull_rows / pulled
    print(
        f"pulling: {rate:,.0f} rows/s, so {args.rows:,} rows ≈ {args.rows / rate:.0f} s "
        f"(before counting them in-process); push-down {pushed:.1f} s: "
        f"{args.rows / rate / pushed:.1f}× less; reference build {built:.1f} s"
    )


if __name__ == "__main__":
    main()
