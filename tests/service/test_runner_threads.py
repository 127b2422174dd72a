"""MonitorRunner with a ColumnPool: the same profiles and results with one thread and many."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftmon.core.parallel import ColumnPool
from driftmon.results import RunResult
from driftmon.service.runner import MonitorRunner
from driftmon.storage import Store

from .conftest import END, live_columns, make_config, monitor_dict, reference_columns, write_parquet

FEATURES: list[dict[str, Any]] = [
    {"name": "x", "bins": 8},
    {"name": "y", "bins": 40},
    {"name": "y_uniform", "column": "y", "strategy": "uniform", "bins": 25},
    {"name": "c", "type": "categorical"},
    {"name": "bad", "column": "text"},  # text in a numeric feature: fails alone
]


def comparable(result: RunResult) -> list[dict[str, Any]]:
    """The stored content of a run's features (timings differ between runs)."""
    return [dataclasses.asdict(f) for f in result.features]


@pytest.mark.parametrize("threads", [2, 4])
def test_profiles_and_results_are_identical_with_one_thread_and_many(
    tmp_path: Path, threads: int
) -> None:
    ref, live = reference_columns(5000), live_columns(3000, shift=0.4)
    ref["text"] = np.array(["a", "1", "b"] * 1666 + ["c", "d"], dtype=object)
    live["text"] = np.array(["n/a", "2"] * 1500, dtype=object)
    write_parquet(tmp_path / "reference.parquet", ref)
    write_parquet(tmp_path / "live.parquet", live)
    results = []
    for name, pool in (("one", ColumnPool(1)), ("many", ColumnPool(threads, min_rows=0))):
        store = Store(f"sqlite:///{tmp_path / name}.db")
        store.upgrade()
        cfg = make_config(
            tmp_path,
            f"sqlite:///{tmp_path / name}.db",
            monitor_dict(
                features=FEATURES,
                live={"path": "live.parquet", "timestamp_column": "ts", "window": "2h"},
            ),
        )
        runner = MonitorRunner(cfg, store, pool=pool)
        # min_rows=0: every batch counts its columns on the pool's threads.
        assert pool.pays(len(FEATURES), 1) is (pool.threads > 1)
        profile = runner.reference_profile(cfg.monitors[0])
        results.append((profile.to_dict(), runner.run(cfg.monitors[0], END)))
        pool.close()
        store.dispose()
    (profile_one, run_one), (profile_many, run_many) = results
    assert profile_one == profile_many
    assert "bad" in profile_one["metadata"]["feature_errors"]
    assert comparable(run_one) == comparable(run_many)
    assert run_one.live_rows == run_many.live_rows == 2000
    assert {f.feature: f.status.value for f in run_many.features}["bad"] == "error"


def test_the_runner_takes_its_threads_from_engine_threads(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    cfg = make_config(tmp_path, url, monitor_dict(), engine={"threads": 3})
    assert MonitorRunner(cfg, Store(url)).columns.threads == 3
