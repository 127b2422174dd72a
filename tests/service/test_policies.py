"""Each threshold policy run through the CLI: stored and exported thresholds match, and
calibrations are stored with the reference profile and reused."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.stats
import yaml
from prometheus_client import CollectorRegistry

from driftmon.cli import main
from driftmon.config import load_config
from driftmon.core.status import Status
from driftmon.service.metrics import DriftCollector, SnapshotCache
from driftmon.storage import Store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "data"


def write_config(tmp_path: Path, db_url: str, **monitor_extra: object) -> Path:
    monitor = {
        "name": "policies",
        "schedule": {"every": "1m"},
        "reference": {"path": str(EXAMPLE / "reference.parquet")},
        "live": {"path": str(EXAMPLE / "live.parquet"), "min_rows": 100},
        "features": [
            {"name": "age", "thresholds": {"policy": "static", "warning": 0.05, "critical": 0.2}},
            {
                "name": "income",
                "thresholds": {
                    "policy": "significance",
                    "alpha": {"warning": 0.01, "critical": 0.001},
                    "min_effect": 0.01,
                    "correction": "bonferroni",
                },
            },
            {"name": "country", "type": "categorical", "thresholds": {"policy": "calibrated"}},
            {"name": "device", "type": "categorical", "thresholds": {"policy": "calibrated"}},
        ],
        **monitor_extra,
    }
    path = tmp_path / "driftmon.yaml"
    path.write_text(yaml.safe_dump({"database": {"url": db_url}, "monitors": [monitor]}))
    return path


def run_check(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["check", "-c", str(config), "--json"])
    (run,) = json.loads(capsys.readouterr().out)
    return code, run


def test_each_policy_stores_and_exports_the_thresholds_it_applied(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = write_config(tmp_path, db_url)
    code, run = run_check(config_path, capsys)
    assert code == 1  # device gains a never-seen category: critical
    by_name = {f["feature"]: f for f in run["features"]}
    assert {n: f["thresholds"]["policy"] for n, f in by_name.items()} == {
        "age": "static",
        "income": "significance",
        "country": "calibrated",
        "device": "calibrated",
    }
    assert by_name["age"]["thresholds"] == {"policy": "static", "warning": 0.05, "critical": 0.2}
    assert by_name["age"]["status"] == "ok"
    # significance: min_effect + expected KL bounds both severities from below
    income = by_name["income"]
    assert income["thresholds"]["warning"] >= 0.01 + income["expected_kl"] - 1e-12
    assert income["thresholds"]["warning"] <= income["thresholds"]["critical"]
    assert income["status"] == "critical"
    # calibrated: small null quantiles for 5,000-row windows, strictly ordered
    for name in ("country", "device"):
        t = by_name[name]["thresholds"]
        assert 0 < t["warning"] < t["critical"] < 0.05
    assert by_name["device"]["status"] == "critical"
    assert by_name["country"]["status"] in ("ok", "warning")

    store = Store(db_url)
    try:
        (snap,) = store.snapshot()
        assert snap.latest_run is not None
        stored = {f.feature: f for f in snap.latest_run.features}
        for name, f in by_name.items():
            assert stored[name].thresholds.policy == f["thresholds"]["policy"]
            assert math.isclose(stored[name].thresholds.warning, f["thresholds"]["warning"])
            assert math.isclose(stored[name].thresholds.critical, f["thresholds"]["critical"])
            assert stored[name].status == Status(f["status"])
        # income (min_effect 0.01): the p-value stored is its minimum-effect test's, H0 KL ≤ 0.01
        s = stored["income"].scores
        assert s is not None
        n_eff = s.live_rows * s.reference_rows / (s.live_rows + s.reference_rows)
        k = s.degrees_of_freedom + 1
        q = 1 + (k + 1) / 6 * (
            1 / s.live_rows + 1 / s.reference_rows - 1 / (s.live_rows + s.reference_rows)
        )
        t = 2 * n_eff * s.kl_divergence / q
        want = scipy.stats.ncx2.sf(t, k - 1, 2 * n_eff * 0.01 / q)
        assert income["p_value"] == s.p_value == pytest.approx(want, rel=1e-9, abs=1e-300)
        assert income["p_value_adjusted"] == stored["income"].p_value_adjusted
        assert income["p_value_adjusted"] == pytest.approx(min(1.0, want))  # bonferroni, m = 1

        registry = CollectorRegistry()
        registry.register(DriftCollector(load_config(config_path), SnapshotCache(store)))
        for name, f in by_name.items():
            labels = {"monitor": "policies", "feature": name}
            for severity in ("warning", "critical"):
                exported = registry.get_sample_value(
                    "driftmon_feature_kl_threshold", {**labels, "severity": severity}
                )
                assert exported is not None
                assert math.isclose(exported, f["thresholds"][severity])
            policy = f["thresholds"]["policy"]
            info = {**labels, "policy": policy}
            assert registry.get_sample_value("driftmon_feature_threshold_policy_info", info) == 1

        profile = store.load_profile("policies")
        assert profile is not None
        assert set(profile.profile.metadata["calibrations"]) == {"country", "device"}
    finally:
        store.dispose()


def test_a_calibration_is_computed_once_and_reused(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = write_config(tmp_path, db_url)
    _, first = run_check(config_path, capsys)
    store = Store(db_url)
    try:
        before = store.load_profile("policies")
        assert before is not None
        _, second = run_check(config_path, capsys)
        after = store.load_profile("policies")
        assert after is not None
    finally:
        store.dispose()
    assert after.profile.metadata["calibrations"] == before.profile.metadata["calibrations"]
    t1 = {f["feature"]: f["thresholds"] for f in first["features"]}
    t2 = {f["feature"]: f["thresholds"] for f in second["features"]}
    assert t1 == t2


def test_a_reference_too_small_to_calibrate_is_a_feature_error_naming_it(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    small = tmp_path / "small.parquet"
    pd.read_parquet(EXAMPLE / "reference.parquet").head(30).to_parquet(small)
    config_path = write_config(tmp_path, db_url)
    raw = yaml.safe_load(config_path.read_text())
    raw["monitors"][0]["reference"]["path"] = str(small)
    config_path.write_text(yaml.safe_dump(raw))
    _, run = run_check(config_path, capsys)
    by_name = {f["feature"]: f for f in run["features"]}
    assert by_name["country"]["status"] == "error"
    assert "feature 'country'" in by_name["country"]["message"]
    assert "too small to calibrate" in by_name["country"]["message"]
    assert by_name["age"]["status"] in ("ok", "warning", "critical")


def test_a_window_too_small_for_the_test_is_insufficient_data_not_an_alert(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    tiny = tmp_path / "tiny.parquet"
    pd.read_parquet(EXAMPLE / "live.parquet").head(12).to_parquet(tiny)
    config_path = write_config(tmp_path, db_url)
    raw = yaml.safe_load(config_path.read_text())
    raw["monitors"][0]["live"] = {"path": str(tiny), "min_rows": 1}
    config_path.write_text(yaml.safe_dump(raw))
    _, run = run_check(config_path, capsys)
    by_name = {f["feature"]: f for f in run["features"]}
    for name in ("income", "country", "device"):
        assert by_name[name]["status"] == "insufficient_data", by_name[name]
        assert by_name[name]["kl_divergence"] is None
    assert not np.isnan(by_name["age"]["kl_divergence"])  # static still classifies


def test_the_deciding_and_the_adjusted_p_value_are_stored_printed_and_exported(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """p_value is the Williams-corrected test that decided; p_value_adjusted its BH value."""
    bh = {"policy": "significance", "correction": "bh"}
    features = [
        {"name": "age", "thresholds": bh},
        {"name": "income", "thresholds": bh},
        {"name": "country", "type": "categorical", "thresholds": bh},
        {"name": "device", "type": "categorical", "thresholds": {"policy": "significance"}},
    ]
    config_path = write_config(tmp_path, db_url)
    raw = yaml.safe_load(config_path.read_text())
    raw["monitors"][0]["features"] = features
    config_path.write_text(yaml.safe_dump(raw))
    _, run = run_check(config_path, capsys)
    by_name = {f["feature"]: f for f in run["features"]}
    store = Store(db_url)
    try:
        (stored_run,) = store.runs("policies")
        stored = {f.feature: f for f in stored_run.features}
        registry = CollectorRegistry()
        registry.register(DriftCollector(load_config(config_path), SnapshotCache(store)))
        family_p = []
        for name, f in by_name.items():
            s = stored[name].scores
            assert s is not None
            n, big_n = s.live_rows, s.reference_rows
            n_eff = n * big_n / (n + big_n)
            k = s.degrees_of_freedom + 1
            q = 1 + (k + 1) / 6 * (1 / n + 1 / big_n - 1 / (n + big_n))
            want = scipy.stats.chi2.sf(2 * n_eff * s.kl_divergence / q, k - 1)
            assert f["p_value"] == s.p_value == pytest.approx(want, rel=1e-9, abs=1e-300)
            assert f["p_value_adjusted"] == stored[name].p_value_adjusted
            labels = {"monitor": "policies", "feature": name}
            exported = registry.get_sample_value("driftmon_feature_p_value_adjusted", labels)
            assert exported == f["p_value_adjusted"]
            if name != "device":
                family_p.append(f["p_value"])
        assert by_name["device"]["p_value_adjusted"] is None  # no correction on device
        want_adjusted = scipy.stats.false_discovery_control(family_p, method="bh")
        got = [by_name[n]["p_value_adjusted"] for n in ("age", "income", "country")]
        assert got == pytest.approx(list(want_adjusted), rel=1e-12)
    finally:
        store.dispose()
