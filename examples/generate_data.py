"""Generate the bundled example data (fixed seed): a reference set and a drifted live set.

    python examples/generate_data.py [OUTPUT_DIR]

Features: ``age`` and ``country`` do not drift; ``income`` shifts upward by ~30%;
``device`` gains a category never seen in the reference ("smart-tv"); ``session_seconds``
has missing values whose share rises from 2% to 10%.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

COUNTRIES = ["DE", "FR", "US", "GB", "ES", "IT", "NL", "PL", "SE", "JP"]
COUNTRY_P = [0.22, 0.15, 0.18, 0.12, 0.08, 0.07, 0.06, 0.05, 0.04, 0.03]


def make(rows: int, *, drift: bool, seed: int, start: datetime) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    devices = ["desktop", "mobile", "tablet"]
    device_p = [0.45, 0.45, 0.10]
    if drift:
        devices = [*devices, "smart-tv"]
        device_p = [0.38, 0.42, 0.08, 0.12]
    session = rng.gamma(2.0, 90.0, rows)
    session[rng.random(rows) < (0.10 if drift else 0.02)] = np.nan
    ts = start + pd.to_timedelta(np.sort(rng.uniform(0, 3600, rows)), unit="s")
    return pd.DataFrame(
        {
            "ts": pd.DatetimeIndex(ts).as_unit("us"),
            "age": np.clip(rng.normal(41, 12, rows), 18, 95).round(),
            "income": rng.lognormal(10.6 + (0.3 if drift else 0.0), 0.5, rows).round(2),
            "country": rng.choice(COUNTRIES, rows, p=COUNTRY_P),
            "device": rng.choice(devices, rows, p=device_p),
            "session_seconds": session,
        }
    )


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    make(20_000, drift=False, seed=1, start=t0).to_parquet(out / "reference.parquet", index=False)
    make(5_000, drift=True, seed=2, start=t0 + timedelta(days=30)).to_parquet(
        out / "live.parquet", index=False
    )
    print(f"wrote {out / 'reference.parquet'} and {out / 'live.parquet'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "data")
