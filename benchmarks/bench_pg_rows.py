"""Rows per second of a PostgreSQL live window: fetched rows vs the binary-COPY bulk path.

Creates a throw-away database on ``--postgres-url``'s server (``load_pg.temporary_database``,
dropped at the end), fills one table server-side with ``generate_series``: a ``timestamptz``
column and 25 feature columns (15 ``float8`` of mixed shapes with NULL, NaN and ±Infinity,
2 ``int4``, 1 ``int8``, 2 ``numeric``, 5 ``text`` categories), then reads one window over
all its rows with ``SqlSource.batches`` (the 25 features and the timestamp column), each
path in a fresh subprocess (peak RSS = its VmHWM). Both paths must return the same row
count and the same sum of every numeric column (NaN-aware), checked before printing.

    nice python benchmarks/bench_pg_rows.py --rows 10000000 \\
        --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_pg import server_version, temporary_database

START = datetime(2026, 1, 1, tzinfo=UTC)

FEATURES: dict[str, str] = {
    "f_uniform": "random()",
    "f_scaled": "random() * 1000",
    "f_normal": "sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())",
    "f_lognormal": "exp(sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))",
    "f_zeros": "CASE WHEN random() < 0.7 THEN 0 ELSE random() END",
    "f_nulls": "CASE WHEN random() < 0.05 THEN NULL ELSE random() END",
    "f_nan": "CASE WHEN random() < 0.02 THEN 'NaN'::float8 ELSE random() END",
    "f_inf": "CASE WHEN random() < 0.01 THEN 'Infinity'::float8 "
    "WHEN random() < 0.01 THEN '-Infinity'::float8 ELSE random() END",
    "f_exp": "-ln(1 - random())",
    "f_big": "random() * 1e9",
    "f_tiny": "random() * 1e-9",
    "f_neg": "random() - 0.5",
    "f_bimodal": "CASE WHEN random() < 0.5 THEN random() ELSE 10 + random() END",
    "f_step": "floor(random() * 100) / 100",
    "f_flag": "CASE WHEN random() < 0.1 THEN 1.0 ELSE 0.0 END",
    "i_count": "(random() * 10)::int4",
    "i_geo": "floor(-ln(1 - random()) * 3)::int4",
    "i_big": "(random() * 1e15)::int8",
    "n_price": "round((random() * 1000)::numeric, 2)",
    "n_rate": "round(random()::numeric, 6)",
    "c_10": "'cat_' || (random() * 10)::int",
    "c_50": "'cat_' || (random() * 50)::int",
    "c_100": "'cat_' || (random() * 100)::int",
    "c_500": "'cat_' || (random() * 500)::int",
    "c_1000": "CASE WHEN random() < 0.01 THEN NULL ELSE 'cat_' || (random() * 1000)::int END",
}


def create_table(url: str, rows: int) -> float:
    from sqlalchemy import create_engine

    columns = ", ".join(f"{expr} AS {name}" for name, expr in FEATURES.items())
    engine = create_engine(url)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE live AS SELECT timestamptz '{START.isoformat()}' "
            f"+ g * interval '1 second' AS ts, {columns} FROM generate_series(1, {rows}) g"
        )
        conn.exec_driver_sql("ANALYZE live")
    engine.dispose()
    return time.perf_counter() - t0


def peak_rss() -> int:
    status = Path("/proc/self/status").read_text()
    return next(int(ln.split()[1]) * 1024 for ln in status.splitlines() if ln.startswith("VmHWM"))


def worker(url: str, bulk: bool, rows: int, batch_rows: int) -> None:
    """Subprocess body: read the window; print time, rows, checksums and peak RSS as JSON."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from driftmon.sources import SqlSource, Window

    src = SqlSource(url, table="live", timestamp_column="ts", bulk=bulk, batch_rows=batch_rows)
    window = Window(START, START + timedelta(seconds=rows + 1))
    sums: dict[str, float] = dict.fromkeys(FEATURES, 0.0)
    n = 0
    t0 = time.perf_counter()
    for batch in src.batches(list(FEATURES), window):
        n += batch.num_rows
        for name in FEATURES:
            col = batch.column(name)
            if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
                x = pc.cast(col, pa.float64())
                sums[name] += float(pc.sum(pc.filter(x, pc.is_finite(x))).as_py() or 0)
            elif not pa.types.is_null(col.type):
                sums[name] += float(pc.count(col).as_py())
    seconds = time.perf_counter() - t0
    src.close()
    print(json.dumps({"seconds": seconds, "rows": n, "sums": sums, "peak": peak_rss()}))


def run(url: str, bulk: bool, rows: int, batch_rows: int) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--worker", url, str(int(bulk)), str(rows), str(batch_rows)]
    out = subprocess.run(argv, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--batch-rows", type=int, default=65_536)
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    print(f"PostgreSQL {server_version(args.postgres_url)}")
    with temporary_database(args.postgres_url) as url:
        print(f"created the table ({args.rows:,} rows) in {create_table(url, args.rows):.0f} s")
        results = {bulk: run(url, bulk, args.rows, args.batch_rows) for bulk in (True, False)}
    new, old = results[True], results[False]
    assert new["rows"] == old["rows"] == args.rows, (new["rows"], old["rows"])
    for name in FEATURES:
        a, b = new["sums"][name], old["sums"][name]
        assert abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b)), (name, a, b)
    for label, r in (("fetched rows (SQLAlchemy)", old), ("binary COPY (ADBC)", new)):
        print(
            f"| {label} | {r['rows']:,} | {r['seconds']:.1f} s | "
            f"{r['rows'] / r['seconds']:,.0f} rows/s | {r['peak'] / 2**20:.0f} MiB |"
        )
    print(f"speed-up: {old['seconds'] / new['seconds']:.1f}x")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
