"""Storing one run beside busy threads: ``Store.save_run`` idle vs with threads holding the GIL.

Saves a run of ``--features`` features (most scored, some not: NULL scores and a message;
p-values adjusted or not; an infinite critical threshold) again and again, each time a new
window, into a fresh SQLite file and, with ``--postgres-url``, a throw-away PostgreSQL
database. Each way of writing the feature rows (``--paths``) is timed idle and with
``--spinners`` Python threads spinning in a busy loop in the same process (what the daemon's
HTTP server under scrapers does to a run being stored), round by round so that load drift on
a shared machine hits every path alike. Reports the median and maximum wall time and the
median CPU time of the saving thread (``time.thread_time``: the spinners' CPU left out).
Before timing, each path's stored run is read back and must equal the run saved.

Paths (the feature rows only; the run, its counters and the transaction are the same):

* ``shipped``: what ``driftmon.storage.bulk.insert_features`` does now (PostgreSQL: one
  ``INSERT … SELECT FROM json_to_recordset`` of one JSON text; SQLite: multi-row INSERTs).
* ``unnest``: one ``INSERT … SELECT FROM unnest`` of one array parameter per column.
* ``executemany``: the driver's ``executemany`` (psycopg 3 pipelines it; sqlite3 steps).
* ``values``: SQLAlchemy's "insertmanyvalues", one multi-row ``INSERT … VALUES`` per 1,000.
* ``copy``, ``copy-binary``: psycopg's ``COPY … FROM STDIN`` (text or binary), PostgreSQL only.
* ``no-features``: a run without features, the floor: what the rest of ``save_run`` costs.

    nice .venv/bin/python benchmarks/bench_store_contention.py --rounds 15 \\
        --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Double,
    Integer,
    Text,
    bindparam,
    cast,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

sys.path.insert(0, str(Path(__file__).resolve().parent))

import driftmon.storage.bulk as bulk_module
from driftmon.core.drift import DriftScores
from driftmon.core.status import Status, Thresholds
from driftmon.results import FeatureResult, RunResult
from driftmon.storage import Store
from driftmon.storage.bulk import insert_features
from driftmon.storage.engine import json_serializer
from driftmon.storage.models import SafeString, SafeText, feature_results_table
from driftmon.storage.records import feature_values

START = datetime(2026, 1, 1, tzinfo=UTC)
Writer = Callable[[Connection, int, Sequence[FeatureResult]], None]


def a_run(i: int, features: int, monitor: str) -> RunResult:
    """Run ``i``: window ``i`` minutes after START; every 10th feature unscored."""
    end = START + timedelta(minutes=i)
    feats = []
    for k in range(features):
        scored = k % 10 != 3
        kl = 0.001 * (k + 1) + i * 1e-6
        scores = (
            DriftScores(
                kl, 2.1, 2.1 + kl, kl / 4, 2 * kl, 12.5, 9, 0.3 / (k + 1), 0.004, 5000, 10**5
            )
            if scored
            else None
        )
        feats.append(
            FeatureResult(
                feature=f"feature_{k:03d}",
                status=Status.OK if scored else Status.INSUFFICIENT_DATA,
                thresholds=Thresholds(0.004, float("inf") if k % 7 == 0 else 0.006, "significance"),
                live_rows=5000,
                missing_rows=k,
                scores=scores,
                live_counts=tuple(490 + j for j in range(11)),
                bin_labels=(*(f"[{j}, {j + 1})" for j in range(10)), "(missing)"),
                message=None if scored else "column is all NaN",
                p_value_adjusted=min(1.0, 0.3 / (k + 1) * features) if k % 2 else None,
            )
        )
    return RunResult(monitor, end - timedelta(minutes=1), end, end, end + timedelta(seconds=1),
                     Status.OK, 5000, 10**5, tuple(feats))  # fmt: skip


def _driver_executemany(conn: Connection, run_id: int, features: Sequence[FeatureResult]) -> None:
    rows = [feature_values(run_id, i, f) for i, f in enumerate(features)]
    conn.execute(insert(feature_results_table), rows)


_COPY_COLUMNS = [c for c in feature_results_table.c if c.name != "id"]
_PER_ROW = _COPY_COLUMNS[1:]


def _unnest_type(c: Column[Any]) -> ARRAY[Any]:
    # Strings unbounded: an explicit cast to varchar(255)[] would cut a long name short.
    if isinstance(c.type, SafeString | SafeText):
        return ARRAY(SafeText())
    return ARRAY(
        Double() if isinstance(c.type, Double)
        else BigInteger() if isinstance(c.type, BigInteger | Integer)
        else Text()
    )  # fmt: skip


def _unnest_insert() -> Any:
    arrays = [cast(bindparam(c.name, type_=_unnest_type(c)), _unnest_type(c)) for c in _PER_ROW]
    rows = func.unnest(*arrays).table_valued(*(c.name for c in _PER_ROW)).render_derived()
    selected: list[Any] = [bindparam("run_id", type_=BigInteger())]
    selected += [
        cast(rows.c[c.name], c.type) if isinstance(c.type, JSON) else rows.c[c.name]
        for c in _PER_ROW
    ]
    return insert(feature_results_table).from_select(
        [c.name for c in _COPY_COLUMNS], select(*selected), include_defaults=False
    )


_UNNEST_INSERT = _unnest_insert()


def _unnest(conn: Connection, run_id: int, features: Sequence[FeatureResult]) -> None:
    rows = [feature_values(run_id, i, f) for i, f in enumerate(features)]
    params: dict[str, Any] = {"run_id": run_id}
    for c in _PER_ROW:
        values = [r[c.name] for r in rows]
        if isinstance(c.type, JSON):
            values = [json_serializer(v) for v in values]
        params[c.name] = values
    conn.execute(_UNNEST_INSERT, params)


_BINARY_TYPES = {"Integer": "int4", "BigInteger": "int8", "Double": "float8", "JSON": "text"}


def _copy(binary: bool) -> Writer:
    names = [c.name for c in _COPY_COLUMNS]
    json_columns = {c.name for c in _COPY_COLUMNS if isinstance(c.type, JSON)}
    types = [_BINARY_TYPES.get(type(c.type).__name__, "text") for c in _COPY_COLUMNS]
    sql = f"COPY feature_results ({', '.join(names)}) FROM STDIN"
    if binary:
        sql += " (FORMAT BINARY)"

    def write(conn: Connection, run_id: int, features: Sequence[FeatureResult]) -> None:
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur, cur.copy(sql) as copy:
            if binary:
                copy.set_types(types)
            for i, f in enumerate(features):
                row = feature_values(run_id, i, f)
                copy.write_row(
                    [json_serializer(row[n]) if n in json_columns else row[n] for n in names]
                )

    return write


WRITERS: dict[str, Writer] = {
    "shipped": insert_features,
    "executemany": _driver_executemany,
    "values": _driver_executemany,  # with insertmanyvalues switched on below
    "unnest": _unnest,
    "copy": _copy(binary=False),
    "copy-binary": _copy(binary=True),
    "no-features": insert_features,
}


@contextmanager
def spinning(threads: int) -> Iterator[None]:
    """``threads`` Python threads in a busy loop, holding the GIL but for forced switches."""
    if threads == 0:
        yield
        return
    running = [True]

    def spin() -> None:
        n = 0
        while running[0]:
            n += 1

    pool = [threading.Thread(target=spin, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    time.sleep(0.05)
    try:
        yield
    finally:
        running[0] = False
        for t in pool:
            t.join()


def _voluntary_switches() -> int:
    """How often the calling thread has slept so far: each wait for the socket or the GIL."""
    status = Path(f"/proc/self/task/{threading.get_native_id()}/status").read_text()
    (line,) = [x for x in status.splitlines() if x.startswith("voluntary_ctxt_switches:")]
    return int(line.split()[1])


def measure(
    url: str, backend: str, paths: list[str], args: argparse.Namespace
) -> list[dict[str, Any]]:
    store = Store(url)
    store.upgrade()
    dialect = store.engine.dialect
    shipped_values = dialect.use_insertmanyvalues_wo_returning
    i = 0

    def save(path: str, monitor: str) -> tuple[float, float, int]:
        nonlocal i
        i += 1
        run = a_run(i, 0 if path == "no-features" else args.features, monitor)
        dialect.use_insertmanyvalues_wo_returning = {
            "executemany": False, "values": True
        }.get(path, shipped_values)  # fmt: skip
        setattr(bulk_module, "insert_features", WRITERS[path])  # noqa: B010 (a function)
        try:
            s0, t0, c0 = _voluntary_switches(), time.perf_counter(), time.thread_time()
            store.save_run(run)
            wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
            sleeps = _voluntary_switches() - s0
        finally:
            setattr(bulk_module, "insert_features", insert_features)  # noqa: B010
            dialect.use_insertmanyvalues_wo_returning = shipped_values
        back = store.run_ending(monitor, run.window_end)
        assert back == run, f"{backend} {path}: the run read back differs from the run saved"
        return wall, cpu, sleeps

    for path in paths:  # warm-up, and the read-back check of every path
        save(path, path)
    timings: dict[tuple[str, int], list[tuple[float, float, int]]] = {
        (p, n): [] for p in paths for n in [0, *args.spinners]
    }
    for _ in range(args.rounds):
        for threads in [0, *args.spinners]:
            with spinning(threads):
                for path in paths:
                    timings[(path, threads)].append(save(path, path))
    store.dispose()
    results = []
    for (path, threads), samples in sorted(timings.items(), key=lambda kv: kv[0][1]):
        walls = [w for w, _, _ in samples]
        results.append(
            {
                "backend": backend,
                "path": path,
                "threads": threads,
                "wall_ms_median": round(statistics.median(walls) * 1e3, 1),
                "wall_ms_max": round(max(walls) * 1e3, 1),
                "cpu_ms_median": round(statistics.median(c for _, c, _ in samples) * 1e3, 1),
                "sleeps_median": statistics.median(n for _, _, n in samples),
                "saves": len(samples),
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--spinners", type=int, nargs="*", default=[2, 8])
    parser.add_argument("--paths", nargs="+", choices=list(WRITERS), default=list(WRITERS))
    parser.add_argument("--postgres-url")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    if not args.no_sqlite:
        lite = [p for p in args.paths if not p.startswith("copy") and p != "unnest"]
        with TemporaryDirectory() as folder:
            results += measure(f"sqlite:///{folder}/results.db", "sqlite", lite, args)
    if args.postgres_url:
        from load_pg import temporary_database

        with temporary_database(args.postgres_url) as url:
            results += measure(url, "postgresql", args.paths, args)
    for r in results:
        print(json.dumps(r), flush=True)
    print(json.dumps({"load": os.getloadavg(), "switch_interval_s": sys.getswitchinterval()}))


if __name__ == "__main__":
    main()
