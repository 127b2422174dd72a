"""The Python API, ``driftmon check --json`` and the daemon give the same numbers on the
same data: the same features, thresholds and smoothing, DataFrames in one case and their
Parquet files (or a profile file fitted from them) in the others."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import driftmon
from driftmon.cli import main
from driftmon.config import load_config
from driftmon.service.daemon import Daemon
from driftmon.storage import Store

FEATURES: list[Any] = [
    "amount",  # numeric, quantile bins (the type inferred by the API, given in the YAML)
    {"name": "age", "type": "numeric", "strategy": "uniform", "bins": 7},
    {"name": "score", "type": "numeric", "edges": [-1.0, 0.0, 0.5, 1.0]},
    {"name": "country", "type": "categorical", "max_categories": 3},
    {"name": "device", "type": "categorical", "smoothing": 0.1},
    {
        "name": "clicks",
        "column": "n_clicks",
        "type": "numeric",
        "thresholds": {
            "policy": "calibrated",
            "windows": 300,
            "quantile": {"warning": 0.9, "critical": 0.95},
        },
    },
    {"name": "steady", "type": "numeric", "thresholds": {"warning": 0.05, "critical": 0.2}},
]
THRESHOLDS = {"policy": "significance", "correction": "bh", "min_effect": 0.001}
SMOOTHING = 0.3
SHARES = [0.4, 0.3, 0.15, 0.1, 0.05]


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(11)

    def frame(n: int, drift: float) -> pd.DataFrame:
        amount = rng.lognormal(3 + drift, 1, n)
        amount[rng.random(n) < 0.05 + drift / 10] = np.nan
        return pd.DataFrame(
            {
                "amount": amount,
                "age": rng.integers(18, 90, n),
                "score": rng.normal(drift, 0.6, n),
                "country": rng.choice(["de", "fr", "us", "it", "es"], n, p=SHARES),
                "device": rng.choice(["ios", "android"] + (["tv"] if drift else []), n),
                "n_clicks": rng.poisson(3 + 3 * drift, n),
                "steady": rng.normal(0, 1, n),
            }
        )

    return frame(6000, 0.0), frame(2500, 0.4)


def _yaml_features() -> list[dict[str, Any]]:
    return [{"name": f, "type": "numeric"} if isinstance(f, str) else f for f in FEATURES]


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    ref, live = _frames()
    pq.write_table(pa.Table.from_pandas(ref, preserve_index=False), tmp_path / "ref.parquet")
    pq.write_table(pa.Table.from_pandas(live, preserve_index=False), tmp_path / "live.parquet")
    driftmon.Profile.fit(
        ref, FEATURES, thresholds=THRESHOLDS, smoothing=SMOOTHING, name="from-profile"
    ).save(tmp_path / "profile.json")
    monitor = {
        "schedule": {"every": "1h"},
        "live": {"path": "live.parquet"},
        "features": _yaml_features(),
        "thresholds": THRESHOLDS,
        "smoothing": SMOOTHING,
    }
    config = {
        "database": {"url": f"sqlite:///{tmp_path / 'check.db'}"},
        "monitors": [
            {"name": "same", "reference": {"path": "ref.parquet"}, **monitor},
            {"name": "from-profile", "reference": {"profile": "profile.json"}, **monitor},
        ],
    }
    (tmp_path / "driftmon.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return tmp_path, ref, live


def _check_json(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, Any]]:
    code = main(["check", "-c", str(path / "driftmon.yaml"), "--json"])
    assert code == 1  # critical drift, every feature scored
    return {run["monitor"]: run for run in json.loads(capsys.readouterr().out)}


def _daemon_runs(path: Path) -> dict[str, dict[str, Any]]:
    config = load_config(path / "driftmon.yaml")
    store = Store(f"sqlite:///{path / 'daemon.db'}")
    store.upgrade()
    try:
        daemon = Daemon(config, store, upgrade=False)
        runs = {}
        for monitor in config.monitors:
            result = daemon.run_monitor(monitor)
            assert result is not None
            (stored,) = store.runs(monitor.name, limit=1)
            assert stored.as_json()["features"] == result.as_json()["features"]
            runs[monitor.name] = result.as_json()
        return runs
    finally:
        store.dispose()


def _same_run(a: dict[str, Any], b: dict[str, Any]) -> None:
    keys = ("status", "live_rows", "reference_rows", "error", "message", "features")
    assert {k: a[k] for k in keys} == {k: b[k] for k in keys}


def test_api_cli_and_daemon_agree(
    setup: tuple[Path, pd.DataFrame, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    path, ref, live = setup
    api = driftmon.compare(
        ref, live, FEATURES, thresholds=THRESHOLDS, smoothing=SMOOTHING, name="same"
    ).to_dict()
    cli = _check_json(path, capsys)
    daemon = _daemon_runs(path)
    statuses = {f["feature"]: f["status"] for f in api["features"]}
    assert statuses["amount"] == "critical"
    assert statuses["steady"] == "ok"
    assert api["features"][0]["p_value_adjusted"] is not None
    assert api["features"][5]["thresholds"]["policy"] == "calibrated"
    _same_run(api, cli["same"])
    _same_run(api, daemon["same"])


def test_a_profile_file_gives_the_same_numbers_everywhere(
    setup: tuple[Path, pd.DataFrame, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    """Profile.load(...).compare, check and the daemon on ``reference: {profile: ...}`` (the
    calibration is seeded by the name: the profile's is the monitor's)."""
    path, _, live = setup
    api = driftmon.Profile.load(path / "profile.json").compare(live).to_dict()
    _same_run(api, _check_json(path, capsys)["from-profile"])
    _same_run(api, _daemon_runs(path)["from-profile"])
    # And the data the profile was fitted on gives those numbers too.
    direct = _check_json(path, capsys)["same"]
    for a, b in zip(api["features"], direct["features"], strict=True):
        if a["thresholds"]["policy"] != "calibrated":  # seeded by another name
            assert a == b
