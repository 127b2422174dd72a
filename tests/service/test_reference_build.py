"""build_reference_profile streams the reference in passes and equals the whole-column fit."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from driftmon.core.profile import build_feature_profile
from driftmon.errors import SourceError
from driftmon.service.runner import build_reference_profile
from driftmon.sources.base import Window

from .conftest import make_config, monitor_dict


class TableSource:
    """An in-memory source serving ``table`` in ``batch_rows``-row batches; ``shrink`` rows
    fewer on every read after the first (a table that changes while it is read)."""

    def __init__(self, table: pa.Table, batch_rows: int, shrink: int = 0) -> None:
        self.table, self.batch_rows, self.shrink = table, batch_rows, shrink
        self.reads = 0
        self.widest = 0

    def describe(self) -> str:
        return "memory table"

    def fingerprint(self) -> str:
        return "memory"

    def columns(self) -> Sequence[str]:
        return list(self.table.column_names)

    def batches(
        self, columns: Sequence[str], window: Window | None = None
    ) -> Iterator[pa.RecordBatch]:
        table = self.table.select(list(columns))
        if self.reads:
            table = table.slice(0, table.num_rows - self.shrink)
        self.reads += 1
        for batch in table.to_batches(max_chunksize=self.batch_rows):
            self.widest = max(self.widest, batch.num_rows)
            yield batch


def reference_table(n: int) -> pa.Table:
    rng = np.random.default_rng(5)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.05] = np.nan
    return pa.table(
        {
            "x": x,
            "k": rng.integers(0, 7, n),
            "z": np.where(rng.random(n) < 0.6, 0.0, rng.exponential(size=n)),
            "c": pa.array(rng.choice(["a", "b", "c", "d"], n)),
            "s": pa.array(rng.choice(["p", "q"], n)),
        }
    )


FEATURES: list[dict[str, Any]] = [
    {"name": "x", "bins": 16},
    {"name": "k", "bins": 5},
    {"name": "z", "bins": 7, "strategy": "uniform"},
    {"name": "zq", "column": "z", "bins": 9},
    {"name": "c", "type": "categorical", "max_categories": 2},
    {"name": "s", "bins": 4},
    {"name": "e", "column": "x", "edges": [-1.0, 0.0, 1.0]},
]


def test_streamed_reference_build_equals_the_whole_column_profiles(tmp_path: Path) -> None:
    """Every feature's profile equals ``build_feature_profile`` of its whole column, a text
    column in a numeric feature is the same error, and the reference is read in passes."""
    table = reference_table(30_000)
    cfg = make_config(tmp_path, "sqlite://", monitor_dict(features=FEATURES))
    monitor = cfg.monitors[0]
    source = TableSource(table, batch_rows=1_000)
    profile = build_reference_profile(monitor, source)
    assert profile.rows == table.num_rows
    assert source.widest == 1_000
    assert 2 <= source.reads <= 6
    errors = profile.metadata["feature_errors"]
    assert errors == {"s": "column 's' in reference data: expected numbers, got Arrow type string"}
    for feature in monitor.features:
        if feature.name in errors:
            continue
        want = build_feature_profile(table.column(feature.source_column), feature.feature_spec())
        assert profile.feature(feature.name).to_dict() == want.to_dict()


def test_a_reference_that_changes_between_passes_fails_the_build(tmp_path: Path) -> None:
    """Later passes must see the first pass's rows; otherwise the build stops with a
    SourceError saying so, rather than storing wrong edges."""
    cfg = make_config(tmp_path, "sqlite://", monitor_dict(features=[{"name": "x"}]))
    source = TableSource(reference_table(5_000), batch_rows=500, shrink=3)
    with pytest.raises(SourceError, match="changed while it was read"):
        build_reference_profile(cfg.monitors[0], source)
