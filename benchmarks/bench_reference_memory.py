"""Peak memory and time of building a reference profile from a big Parquet file.

Compares, each in a fresh subprocess (peak RSS = VmHWM of that process):

* **streamed**: ``driftmon.service.runner.build_reference_profile`` on a ``FileSource``,
  the passes of ``driftmon.core.reference_fit`` (memory bounded by batch and bins);
* **whole columns**: what the runner did before, every batch of every column kept and
  concatenated, then ``build_feature_profile`` per feature.

Both must give the same profile (checked: the streamed run writes its profile as JSON, the
whole-column run compares). The data is ``bench_engine.py``'s 25-column frame (20 numeric
columns of mixed shapes, 5 categorical), written to ``benchmarks/data/`` once.

    nice python benchmarks/bench_reference_memory.py --rows 10000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import (
    CATEGORY_COUNTS,
    NUMERIC,
    SEED,
    UNIFORM_COLUMNS,
    machine,
    peak_rss,
    write_parquet,
)

DATA_DIR = Path(__file__).resolve().parent / "data"


def features() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"name": name, "strategy": "uniform" if name in UNIFORM_COLUMNS else "quantile"}
        for name in NUMERIC
    ]
    out += [{"name": f"cat_{k}", "type": "categorical"} for k in CATEGORY_COUNTS]
    return out


def monitor(path: Path, batch_rows: int) -> Any:
    from driftmon.config.loader import config_from_dict

    cfg = config_from_dict(
        {
            "database": {"url": "sqlite://"},
            "monitors": [
                {
                    "name": "bench",
                    "schedule": {"every": "1h"},
                    "reference": {"path": str(path), "batch_rows": batch_rows},
                    "live": {"path": str(path)},
                    "source_timeout": None,
                    "features": features(),
                }
            ],
        },
        environ={},
    )
    return cfg.monitors[0]


def worker(mode: str, path: str, batch_rows: int, profile_json: str) -> None:
    """Subprocess body: build the profile one way; print seconds and peak RSS as JSON."""
    from driftmon.core.profile import FeatureProfile, build_feature_profile
    from driftmon.service.runner import build_reference_profile
    from driftmon.sources.factory import source_from_config

    m = monitor(Path(path), batch_rows)
    source = source_from_config(m.reference, m)
    imported = peak_rss()
    t0 = time.perf_counter()
    passes = 0
    if mode == "streamed":
        counted = source.batches

        def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal passes
            passes += 1
            return counted(*args, **kwargs)

        source.batches = counting  # type: ignore[method-assign]
        profile = build_reference_profile(m, source)
        got = [f.to_dict() for f in profile.features]
        Path(profile_json).write_text(json.dumps(got))
    else:
        columns = sorted({f.source_column for f in m.features})
        chunks: dict[str, list[pa.Array]] = {c: [] for c in columns}
        for batch in source.batches(columns, None):
            for c in columns:
                chunks[c].append(batch.column(c))
        passes = 1
        built: list[FeatureProfile] = [
            build_feature_profile(pa.chunked_array(chunks[f.source_column]), f.feature_spec())
            for f in m.features
        ]
        got = [f.to_dict() for f in built]
        want = json.loads(Path(profile_json).read_text())
        assert json.loads(json.dumps(got)) == want, "the two methods disagree"
    seconds = time.perf_counter() - t0
    print(
        json.dumps({"seconds": seconds, "peak": peak_rss(), "imported": imported, "passes": passes})
    )


def run(mode: str, path: Path, batch_rows: int, profile_json: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", mode, str(path), str(batch_rows), str(profile_json)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--row-group-size", type=int, default=1 << 20)
    parser.add_argument("--batch-rows", type=int, default=65_536)
    args = parser.parse_args()
    path = DATA_DIR / f"live_{args.rows}_rg{args.row_group_size}_{SEED}.parquet"
    if not path.exists():
        t0 = time.perf_counter()
        write_parquet(path, args.rows, args.row_group_size)
        print(
            f"wrote {path} ({path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t0:.0f} s"
        )
    profile_json = DATA_DIR / "reference_profile.json"
    print(json.dumps(machine()))
    for mode in ("streamed", "whole columns"):
        r = run(mode, path, args.batch_rows, profile_json)
        print(
            f"| {mode} | {args.rows:,} | {r['passes']} | {r['seconds']:.1f} s | "
            f"{r['peak'] / 2**20:.0f} MiB | {r['imported'] / 2**20:.0f} MiB |"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        main()
