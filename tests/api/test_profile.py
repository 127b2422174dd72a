"""``driftmon.Profile``: fit, save, load, compare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import driftmon

Frames = tuple[pd.DataFrame, pd.DataFrame]


def test_a_saved_profile_scores_as_the_fitted_one(drifted: Frames, tmp_path: Path) -> None:
    ref, live = drifted
    fitted = driftmon.Profile.fit(
        ref,
        ["x", {"name": "c", "max_categories": 2, "thresholds": {"warning": 0.1, "critical": 0.5}}],
        thresholds={"policy": "significance", "correction": "bh"},
        smoothing=0.25,
        name="model-7",
    )
    fitted.save(tmp_path / "p.json")
    loaded = driftmon.Profile.load(tmp_path / "p.json")
    assert (loaded.name, loaded.features, loaded.rows) == ("model-7", ["x", "c"], 4000)
    a, b = fitted.compare(live).to_dict(), loaded.compare(live).to_dict()
    assert a["features"] == b["features"]
    assert a["features"][0]["p_value_adjusted"] is not None  # bh kept
    assert a["features"][1]["thresholds"]["policy"] == "static"
    assert a == driftmon.compare(
        ref,
        live,
        ["x", {"name": "c", "max_categories": 2, "thresholds": {"warning": 0.1, "critical": 0.5}}],
        thresholds={"policy": "significance", "correction": "bh"},
        smoothing=0.25,
        name="model-7",
    ).to_dict() | {k: a[k] for k in ("window_end", "duration_seconds")}
    # Saved again, the file is the same: nothing is lost in a round trip.
    loaded.save(tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text()) == json.loads(
        (tmp_path / "p.json").read_text()
    )


def test_the_file_holds_bins_and_counts_not_rows(same: Frames, tmp_path: Path) -> None:
    ref, _ = same
    driftmon.Profile.fit(ref, ["x", "c"]).save(tmp_path / "p.json")
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["driftmon_profile"] == 1
    assert data["driftmon_version"] == driftmon.__version__
    x, c = data["features"]
    assert x["config"] == {"name": "x", "type": "numeric"}
    assert x["column_kind"] == "float"
    assert x["bins"]["kind"] == "numeric"
    assert len(x["bins"]["edges"]) == 9
    assert sum(x["counts"]) == data["rows"] == 4000
    assert c["bins"]["kind"] == "categorical"
    assert sorted(c["bins"]["categories"]) == ["a", "b", "c"]
    kept = c["counts"][:3]
    assert kept == sorted(kept, reverse=True)  # most frequent first, then other, missing
    assert len((tmp_path / "p.json").read_bytes()) < 4000


def test_a_feature_that_could_not_be_fitted_stays_an_error(same: Frames, tmp_path: Path) -> None:
    ref, live = same
    profile = driftmon.Profile.fit(ref.assign(x=np.nan), ["x", "n"])
    assert list(profile.errors) == ["x"]
    profile.save(tmp_path / "p.json")
    loaded = driftmon.Profile.load(tmp_path / "p.json")
    assert loaded.errors == profile.errors
    report = loaded.compare(live)
    assert report.errors == {"x": profile.errors["x"]}
    assert report.status == "ok"


def test_a_profile_compares_any_input_once(same: Frames) -> None:
    ref, live = same
    profile = driftmon.Profile.fit(ref)
    assert profile.features == ["x", "n", "c"]
    a = profile.compare(live).to_dict()["features"]
    b = profile.compare(iter([live.iloc[:700], live.iloc[700:]])).to_dict()["features"]
    assert a == b


def test_calibrations_are_computed_once_per_profile(
    same: Frames, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref, live = same
    from driftmon.service import thresholds

    calls: list[int] = []
    calibrate = thresholds.calibrate  # type: ignore[attr-defined]  # imported there

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return calibrate(*args, **kwargs)

    monkeypatch.setattr(thresholds, "calibrate", counted)
    policy = {
        "policy": "calibrated",
        "windows": 200,
        "quantile": {"warning": 0.9, "critical": 0.95},
    }
    profile = driftmon.Profile.fit(ref, ["x"], thresholds=policy)
    first = profile.compare(live).to_dict()["features"]
    second = profile.compare(live).to_dict()["features"]
    assert first == second
    assert len(calls) == 1


def test_load_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(driftmon.ProfileError, match=r"nope\.json: profile file not found"):
        driftmon.Profile.load(tmp_path / "nope.json")


def test_repr(same: Frames) -> None:
    ref, _ = same
    assert repr(driftmon.Profile.fit(ref, ["x"], name="p")) == (
        "<driftmon.Profile 'p': 1 feature(s), 4000 reference rows>"
    )
