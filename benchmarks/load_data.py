"""Synthetic data and configurations for ``bench_load.py`` (fixed seeds, written to a folder).

Wide data: ``n_features`` columns, 60 % numeric (several shapes, some with missing values)
and 40 % categorical (5 to 200 categories, Zipf-like), one Parquet reference and one
Parquet live file whose ``ts`` column spans a stretch of wall-clock time, so a daemon with
``window`` = schedule interval scores a fresh slice of rows every interval.

Tall data: a few columns and millions of rows, for the 10-million-row live window.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

NUMERIC_SHARE = 0.6


def feature_names(n_features: int) -> list[tuple[str, str]]:
    """(column name, kind) of the wide data set, numeric first."""
    n_num = round(n_features * NUMERIC_SHARE)
    return [(f"num_{i:03d}", "numeric") for i in range(n_num)] + [
        (f"cat_{i:03d}", "categorical") for i in range(n_features - n_num)
    ]


def feature_configs(n_features: int) -> list[dict[str, Any]]:
    """driftmon feature entries for the wide data set (quantile, uniform and categorical)."""
    out: list[dict[str, Any]] = []
    for i, (name, kind) in enumerate(feature_names(n_features)):
        if kind == "categorical":
            out.append({"name": name, "type": "categorical", "max_categories": 50})
        elif i % 5 == 4:
            out.append({"name": name, "type": "numeric", "strategy": "uniform", "bins": 12})
        else:
            out.append({"name": name, "type": "numeric", "bins": 10})
    return out


def _n_categories(i: int) -> int:
    return (5, 20, 50, 200)[i % 4]


def _wide_columns(rng: np.random.Generator, n: int, n_features: int, shift: float) -> list[Any]:
    cols: list[Any] = []
    for i, (_, kind) in enumerate(feature_names(n_features)):
        if kind == "categorical":
            k = _n_categories(i)
            w = 1.0 / np.arange(1, k + 1) ** (1.1 - 0.4 * shift * (i % 2))
            codes = rng.choice(k, size=n, p=w / w.sum()).astype(np.int32)
            names = pa.array([f"c{i:03d}_{j:03d}" for j in range(k)])
            cols.append(pa.DictionaryArray.from_arrays(pa.array(codes), names))
            continue
        shape = i % 4
        if shape == 0:
            x = rng.normal(shift * (i % 3 == 0), 1.0, n)
        elif shape == 1:
            x = rng.lognormal(1.0, 0.8, n)
        elif shape == 2:
            x = rng.poisson(4, n).astype(np.float64)
        else:
            x = rng.uniform(0.0, 100.0, n)
        if i % 7 == 0:
            x[rng.random(n) < 0.02] = np.nan
        cols.append(pa.array(x, from_pandas=True))
    return cols


def write_wide_reference(path: Path, n_features: int, rows: int, seed: int) -> None:
    """The reference file: ``rows`` rows of the wide columns."""
    rng = np.random.default_rng(seed)
    names = [n for n, _ in feature_names(n_features)]
    table = pa.table(_wide_columns(rng, rows, n_features, 0.0), names=names)
    pq.write_table(table, path, row_group_size=rows)


def write_wide_live(
    path: Path,
    n_features: int,
    start: datetime,
    seconds: int,
    rows_per_second: int,
    seed: int,
    row_group_seconds: int = 60,
) -> int:
    """Live rows with ``ts`` spread evenly over ``[start, start + seconds)``; returns the rows.

    One row group per ``row_group_seconds``, so a windowed read skips the others.
    """
    rng = np.random.default_rng(seed)
    names = ["ts", *(n for n, _ in feature_names(n_features))]
    start_us = int(start.timestamp() * 1_000_000)
    total = 0
    writer: pq.ParquetWriter | None = None
    try:
        for t0 in range(0, seconds, row_group_seconds):
            span = min(row_group_seconds, seconds - t0)
            n = span * rows_per_second
            offsets = np.sort(rng.integers(0, span * 1_000_000, n))
            ts = pa.array(start_us + t0 * 1_000_000 + offsets, pa.timestamp("us", tz="UTC"))
            table = pa.table([ts, *_wide_columns(rng, n, n_features, 1.0)], names=names)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=n)
            total += n
    finally:
        if writer is not None:
            writer.close()
    return total


def wide_config(
    *,
    database_url: str,
    n_monitors: int,
    n_features: int,
    reference: Path,
    live: Path,
    every_s: int,
    log_path_format: str = "json",
    retention: str | None = None,
    engine_processes: int | None = None,
) -> dict[str, Any]:
    """A driftmon configuration: ``n_monitors`` monitors on the same two files."""
    features = feature_configs(n_features)
    return {
        "database": {"url": database_url},
        "engine": {"processes": engine_processes},
        "server": {"host": "127.0.0.1", "port": 0},
        "retention": {"max_age": retention},
        "log": {"level": "INFO", "format": log_path_format},
        "monitors": [
            {
                "name": f"load_{m:02d}",
                "schedule": {"every": f"{every_s}s"},
                "reference": {"path": str(reference)},
                "live": {
                    "path": str(live),
                    "timestamp_column": "ts",
                    "window": f"{every_s}s",
                    "min_rows": 100,
                },
                "features": features,
                "thresholds": {"warning": 0.05, "critical": 0.2},
            }
            for m in range(n_monitors)
        ],
    }


# -- tall data: millions of rows, a few columns ---------------------------------------------

TALL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("amount", "numeric"),
    ("latency_ms", "numeric"),
    ("score", "numeric"),
    ("items", "numeric"),
    ("country", "categorical"),
    ("device", "categorical"),
)
TALL_CHUNK = 1_000_000
COUNTRIES = [f"country_{i:02d}" for i in range(60)]
DEVICES = ["ios", "android", "web", "desktop", "tv", "other"]


def tall_features() -> list[dict[str, Any]]:
    return [
        {"name": n, "type": k, **({"bins": 20} if k == "numeric" else {"max_categories": 50})}
        for n, k in TALL_COLUMNS
    ]


def tall_chunks(
    rows: int, seed: int, start: datetime, seconds: int, shift: float = 0.0
) -> Iterator[pa.Table]:
    """``rows`` rows in tables of up to TALL_CHUNK rows; ``ts`` increasing over the span."""
    rng = np.random.default_rng(seed)
    start_us = int(start.timestamp() * 1_000_000)
    step = seconds * 1_000_000 / rows
    w_country = 1.0 / np.arange(1, len(COUNTRIES) + 1) ** (1.0 + shift)
    w_country /= w_country.sum()
    w_device = np.array([0.35, 0.35, 0.2, 0.05, 0.03, 0.02])
    for lo in range(0, rows, TALL_CHUNK):
        n = min(TALL_CHUNK, rows - lo)
        ts = start_us + (np.arange(lo, lo + n) * step).astype(np.int64)
        amount = rng.lognormal(3.0 + 0.2 * shift, 1.0, n)
        amount[rng.random(n) < 0.01] = np.nan
        yield pa.table(
            {
                "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
                "amount": pa.array(amount, from_pandas=True),  # NaN -> null (missing)
                "latency_ms": rng.gamma(2.0, 40.0 * (1 + shift), n),
                "score": rng.beta(2.0, 5.0, n),
                "items": rng.poisson(3.0, n).astype(np.int64),
                "country": pa.array(
                    np.array(COUNTRIES, dtype=object)[rng.choice(len(COUNTRIES), n, p=w_country)]
                ),
                "device": pa.array(
                    np.array(DEVICES, dtype=object)[rng.choice(len(DEVICES), n, p=w_device)]
                ),
            }
        )


def write_tall_parquet(
    path: Path, rows: int, seed: int, start: datetime, seconds: int, shift: float = 0.0
) -> None:
    writer: pq.ParquetWriter | None = None
    try:
        for table in tall_chunks(rows, seed, start, seconds, shift):
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=TALL_CHUNK)
    finally:
        if writer is not None:
            writer.close()


def day_start(now: datetime | None = None) -> datetime:
    """Midnight UTC of ``now``'s day (a stable anchor for simulated windows)."""
    now = now or datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


ONE_DAY = timedelta(days=1)
