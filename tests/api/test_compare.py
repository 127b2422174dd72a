"""``driftmon.compare``: which columns it compares, how feature specs are validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import driftmon
from driftmon.config import config_from_dict
from driftmon.errors import ConfigError

Frames = tuple[pd.DataFrame, pd.DataFrame]


def test_every_shared_column_is_compared_with_its_type_inferred(drifted: Frames) -> None:
    ref, live = drifted
    report = driftmon.compare(ref, live)
    assert [f["feature"] for f in report.to_dict()["features"]] == ["x", "n", "c"]
    assert report.status == "critical"
    assert report.drifted == ["x", "c"]
    assert report.errors == {}
    # c is categorical (its new category 'd' falls in "other"), x and n numeric.
    frame = report.to_pandas().set_index("feature")
    assert frame.loc["c", "status"] == "critical"
    assert frame.loc["n", "status"] == "ok"


def test_columns_left_out_are_named_in_the_message(same: Frames) -> None:
    ref, live = same
    ref = ref.assign(only_ref=1, when=pd.Timestamp("2026-01-01"))
    live = live.assign(only_live="z", when=pd.Timestamp("2026-02-01"))
    report = driftmon.compare(ref, live)
    assert [f["feature"] for f in report.to_dict()["features"]] == ["x", "n", "c"]
    message = report.to_dict()["message"]
    assert "only in the reference: only_ref" in message
    assert "only in the live data: only_live" in message
    assert "not compared: 'when' (timestamp" in message


def test_no_shared_column_is_a_config_error(same: Frames) -> None:
    ref, live = same
    with pytest.raises(
        ConfigError, match="no column to compare in common; reference: x, n, c; live: y"
    ):
        driftmon.compare(ref, live.rename(columns={"x": "y"})[["y"]])


def test_a_named_column_of_no_inferable_type_needs_a_type(same: Frames) -> None:
    ref, live = same
    ref = ref.assign(when=pd.Timestamp("2026-01-01"))
    with pytest.raises(ConfigError, match=r"features\[0\] \(name 'when'\): cannot infer a type"):
        driftmon.compare(ref, live, ["when"])
    # With a type it is compared (as text: dates are categories).
    report = driftmon.compare(
        ref, live.assign(when=pd.Timestamp("2026-01-01")), [{"name": "when", "type": "categorical"}]
    )
    assert report.status == "ok"


def test_feature_mappings_take_the_yaml_keys(drifted: Frames) -> None:
    ref, live = drifted
    report = driftmon.compare(
        ref,
        live.rename(columns={"x": "x_live"}).assign(x=live["x"]),
        features=[
            {"name": "x", "edges": [-1, 0, 1], "smoothing": 0.1},
            {"name": "renamed", "column": "n", "bins": 4, "strategy": "uniform"},
            {"name": "c", "max_categories": 2, "thresholds": {"warning": 0.5, "critical": 9}},
        ],
    )
    rows = {f["feature"]: f for f in report.to_dict()["features"]}
    assert list(rows) == ["x", "renamed", "c"]
    assert rows["c"]["thresholds"] == {"policy": "static", "warning": 0.5, "critical": 9.0}
    assert rows["x"]["thresholds"]["policy"] == "significance"
    assert report._run.features[0].bin_labels[:4] == (
        "(-inf, -1)",
        "[-1, 0)",
        "[0, 1)",
        "[1, +inf)",
    )


def _yaml_message(feature: dict[str, Any], tmp_path: Path) -> str:
    data = {
        "monitors": [
            {
                "name": "m",
                "schedule": {"every": "1h"},
                "reference": {"path": "r.csv"},
                "live": {"path": "l.csv"},
                "features": [feature],
            }
        ]
    }
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data, base_dir=tmp_path, environ={})
    return str(caught.value)


@pytest.mark.parametrize(
    "feature",
    [
        {"name": "x", "bins": 0},
        {"name": "x", "bin": 3},
        {"name": "x", "edges": [1, 0]},
        {"name": "c", "type": "categorical", "bins": 3},
        {"name": "x", "type": "numeric", "max_categories": 3},
        {"name": "x", "thresholds": {"policy": "sometimes"}},
        {"name": "x", "thresholds": {"warning": 0.3, "critical": 0.1}},
        {"name": "x", "smoothing": 0},
        {"name": ""},
    ],
)
def test_feature_errors_read_as_in_a_configuration_file(
    same: Frames, feature: dict[str, Any], tmp_path: Path
) -> None:
    """The same pydantic models, the same text after the key path."""
    ref, live = same
    with pytest.raises(ConfigError) as caught:
        driftmon.compare(ref, live, [{"type": "numeric", **feature}])
    api = str(caught.value)
    yaml = _yaml_message({"type": "numeric", **feature}, tmp_path)
    assert api.startswith("driftmon.compare: features[0]")
    assert api.split("features[0]", 1)[1] == yaml.split("features[0]", 1)[1]


def test_duplicate_features_and_bad_thresholds_are_refused(same: Frames) -> None:
    ref, live = same
    with pytest.raises(ConfigError, match="duplicate feature name 'x'"):
        driftmon.compare(ref, live, ["x", "x"])
    with pytest.raises(ConfigError, match="thresholds: unknown threshold policy 'loose'"):
        driftmon.compare(ref, live, ["x"], thresholds={"policy": "loose"})
    with pytest.raises(ConfigError, match=r"smoothing: expected a number > 0, got -1"):
        driftmon.compare(ref, live, ["x"], smoothing=-1)
    with pytest.raises(ConfigError, match="calibrated thresholds would draw"):
        driftmon.compare(
            ref,
            live,
            [{"name": "c", "type": "categorical", "max_categories": 10_000}],
            thresholds={"policy": "calibrated", "windows": 1_000_000},
        )


def test_features_must_be_a_list(same: Frames) -> None:
    ref, live = same
    with pytest.raises(TypeError, match="expected a list of column names"):
        driftmon.compare(ref, live, "x")


def test_a_feature_that_cannot_be_scored_is_listed_not_hidden(same: Frames) -> None:
    ref, live = same
    live = live.assign(x=live["x"].astype(str))  # text where the reference has numbers
    report = driftmon.compare(ref, live, ["x", "n", {"name": "gone", "type": "numeric"}])
    assert set(report.errors) == {"x", "gone"}
    assert (
        "column 'gone' not found in reference source reference data (pandas DataFrame)"
        in report.errors["gone"]
    )
    assert "column 'x' in live data" in report.errors["x"]
    assert report.status == "ok"  # n was scored; errors do not hide drift, nor fake it
    with pytest.raises(driftmon.DriftDetected, match="2 feature\\(s\\) could not be scored: x: "):
        report.raise_for_drift()


def test_a_reference_column_without_values_is_an_error_feature(same: Frames) -> None:
    ref, live = same
    report = driftmon.compare(ref.assign(x=np.nan), live)
    assert report.errors["x"].startswith(
        "column 'x' in reference data: no finite value in its 4000 rows"
    )


def test_calibrated_thresholds_follow_the_comparison_name(same: Frames) -> None:
    """The calibration is seeded by the name, as a monitor's by the monitor's name."""
    ref, live = same
    policy = {
        "policy": "calibrated",
        "windows": 200,
        "quantile": {"warning": 0.9, "critical": 0.95},
    }
    a = driftmon.compare(ref, live, ["x"], thresholds=policy, name="one").to_dict()
    b = driftmon.compare(ref, live, ["x"], thresholds=policy, name="one").to_dict()
    c = driftmon.compare(ref, live, ["x"], thresholds=policy, name="two").to_dict()
    assert a["features"][0]["thresholds"]["policy"] == "calibrated"
    assert a["features"] == b["features"]
    assert a["features"][0]["thresholds"] != c["features"][0]["thresholds"]
