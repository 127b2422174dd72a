"""Monitors with ``reference: {profile: FILE}``: scored against the file, no reference data."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import driftmon
from driftmon.config import Config
from driftmon.core.status import Status
from driftmon.service.runner import MonitorRunner
from driftmon.service.validation import ProblemKind, find_problems
from driftmon.storage import Store

from .conftest import END, live_columns, make_config, monitor_dict, reference_columns, write_parquet

FEATURES: list[str | dict[str, Any]] = [
    {"name": "x", "bins": 8},
    {"name": "y", "bins": 8},
    {"name": "c", "type": "categorical"},
]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """reference.parquet, a drifted live.parquet, and model/profile.json fitted on the
    reference (the same features), for a monitor to read instead of the reference."""
    write_parquet(tmp_path / "reference.parquet", reference_columns())
    write_parquet(tmp_path / "live.parquet", live_columns(shift=0.5))
    (tmp_path / "model").mkdir()
    reference = pd.DataFrame(reference_columns())
    driftmon.Profile.fit(reference, FEATURES, name="model").save(
        tmp_path / "model" / "profile.json"
    )
    return tmp_path


def _config(data: Path, store: Store, profile: str | None = None, **monitor: Any) -> Config:
    url = store.engine.url.render_as_string(hide_password=False)
    spec = monitor_dict(**monitor)
    if profile is not None:
        spec["reference"] = {"profile": profile}
    return make_config(data, url, spec)


def _numbers(result: Any) -> dict[str, Any]:
    return {
        f.feature: (f.status, f.scores, f.thresholds, f.live_counts, f.message)
        for f in result.features
    }


def test_the_profile_gives_the_numbers_of_the_data_it_was_fitted_on(
    data: Path, store: Store
) -> None:
    from_data = _config(data, store, name="a", features=FEATURES)
    from_file = _config(data, store, name="a", profile="model/profile.json", features=FEATURES)
    a = MonitorRunner(from_data, store).score(from_data.monitors[0], END)
    b = MonitorRunner(from_file, store).score(from_file.monitors[0], END)
    assert a.status == Status.WARNING  # x shifted by half a standard deviation
    assert _numbers(a) == _numbers(b)
    assert b.reference_rows == 2000


def test_binning_keys_may_be_left_to_the_profile(data: Path, store: Store) -> None:
    lean = [{"name": "x"}, {"name": "y"}, {"name": "c"}]
    cfg = _config(data, store, profile="model/profile.json", features=lean)
    full = _config(data, store, profile="model/profile.json", features=FEATURES)
    a = MonitorRunner(cfg, store).score(cfg.monitors[0], END)
    b = MonitorRunner(full, store).score(full.monitors[0], END)
    assert _numbers(a) == _numbers(b)


def test_the_profile_is_stored_for_the_report_and_reread_when_the_file_changes(
    data: Path, store: Store
) -> None:
    cfg = _config(data, store, profile="model/profile.json", features=FEATURES)
    runner = MonitorRunner(cfg, store)
    runner.run(cfg.monitors[0], END)
    stored = store.load_profile("m")
    assert stored is not None
    assert [f.name for f in stored.profile.features] == ["x", "y", "c"]

    path = data / "model" / "profile.json"
    document = json.loads(path.read_text())
    document["rows"] = 4000
    for feature in document["features"]:
        feature["counts"] = [2 * c for c in feature["counts"]]
    path.write_text(json.dumps(document))
    again = runner.run(cfg.monitors[0], END)
    assert again.reference_rows == 4000
    reloaded = store.load_profile("m")
    assert reloaded is not None
    assert reloaded.fingerprint != stored.fingerprint


def test_features_the_file_cannot_serve_are_errors(data: Path, store: Store) -> None:
    features = [
        {"name": "x", "bins": 20},  # fitted with 8
        {"name": "y"},
        {"name": "z", "column": "x"},  # not in the file
    ]
    cfg = _config(data, store, profile="model/profile.json", features=features)
    result = MonitorRunner(cfg, store).score(cfg.monitors[0], END)
    by = {f.feature: f for f in result.features}
    path = data / "model" / "profile.json"
    assert by["x"].status == Status.ERROR
    assert by["x"].message == (
        f"profile file {path}: the profile fixes the bins, and they were fitted otherwise "
        "than configured: bins: 20 (profile: 8); remove these keys from the feature or fit "
        "the profile again"
    )
    assert by["z"].message == f"not in the profile file {path}, which has x, y, c"
    assert by["y"].status == Status.OK
    assert by["y"].scores is not None


def test_a_missing_or_malformed_file_is_an_error_run(data: Path, store: Store) -> None:
    cfg = _config(data, store, profile="model/other.json", features=FEATURES)
    result = MonitorRunner(cfg, store).score(cfg.monitors[0], END)
    assert result.status == Status.ERROR
    assert result.error == f"{data / 'model' / 'other.json'}: profile file not found"
    (data / "model" / "other.json").write_text('{"driftmon_profile": 99}')
    result = MonitorRunner(cfg, store).score(cfg.monitors[0], END)
    assert result.error is not None
    assert "profile format 99" in result.error


def test_validate_reports_the_file_and_the_features(data: Path, store: Store) -> None:
    features = [{"name": "x", "bins": 20}, {"name": "y"}, {"name": "z", "column": "x"}]
    cfg = _config(data, store, profile="model/profile.json", features=features)
    problems = find_problems(cfg)
    assert [p.kind for p in problems] == [ProblemKind.CONFIGURATION] * 2
    assert problems[0].message.startswith("feature 'x' of monitor 'm': profile file ")
    assert problems[1].message.startswith("feature 'z' of monitor 'm': not in the profile file")

    os.remove(data / "model" / "profile.json")
    (problem,) = find_problems(cfg)
    assert problem.kind == ProblemKind.CONFIGURATION
    assert problem.message == (
        f"reference profile of monitor 'm': {data / 'model' / 'profile.json'}: "
        "profile file not found"
    )
