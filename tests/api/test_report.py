"""``Report``: status, errors, the frame, the dict of ``check --json``, the gate, the HTML."""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest

import driftmon
from driftmon.api.report import COLUMNS
from driftmon.render import MonitorReport, render_report
from driftmon.results import FeatureResult, RunResult

Frames = tuple[pd.DataFrame, pd.DataFrame]


def test_to_pandas_has_one_row_per_feature(drifted: Frames) -> None:
    ref, live = drifted
    frame = driftmon.compare(ref, live).to_pandas()
    assert list(frame.columns) == list(COLUMNS)
    assert list(frame["feature"]) == ["x", "n", "c"]
    assert frame["kl_divergence"].dtype == "float64"
    assert frame["live_rows"].tolist() == [1500, 1500, 1500]
    assert frame["p_value_adjusted"].isna().all()  # no correction configured
    assert (frame["threshold_policy"] == "significance").all()
    assert (frame["threshold_critical"] > frame["threshold_warning"]).all()


def test_to_pandas_of_an_unscored_feature_has_nan_scores(same: Frames) -> None:
    ref, live = same
    frame = driftmon.compare(ref, live, ["x", {"name": "gone", "type": "numeric"}]).to_pandas()
    gone = frame.set_index("feature").loc["gone"]
    assert gone["status"] == "error"
    assert pd.isna(gone["kl_divergence"])
    assert "not found" in gone["message"]


def test_to_dict_is_one_run_of_check_json(drifted: Frames) -> None:
    ref, live = drifted
    data = driftmon.compare(ref, live, name="gate").to_dict()
    # profile_version is the results database's id of a stored profile: not in check --json.
    assert set(data) == set(RunResult.__dataclass_fields__) - {
        "started_at",
        "finished_at",
        "features",
        "profile_version",
    } | {"duration_seconds", "features"}
    assert data["monitor"] == "gate"
    assert (data["live_rows"], data["reference_rows"]) == (1500, 4000)
    assert data["window_start"] is None
    fields = set(FeatureResult.__dataclass_fields__)
    assert {"feature", "status", "message", "p_value_adjusted"} <= fields
    assert set(data["features"][0]) == {
        "feature", "status", "kl_divergence", "entropy", "cross_entropy", "js_divergence",
        "psi", "p_value", "p_value_adjusted", "expected_kl", "live_rows", "missing_ratio",
        "thresholds", "message",
    }  # fmt: skip


def test_raise_for_drift_passes_without_drift(same: Frames) -> None:
    ref, live = same
    report = driftmon.compare(ref, live)
    assert report.status == "ok"
    report.raise_for_drift()  # returns: nothing drifted
    report.raise_for_drift(level="warning")


def test_raise_for_drift_carries_the_report(drifted: Frames) -> None:
    ref, live = drifted
    report = driftmon.compare(ref, live)
    with pytest.raises(driftmon.DriftDetected) as caught:
        report.raise_for_drift()
    assert caught.value.report is report
    assert str(caught.value) == (
        "compare: 2 feature(s) drifted to critical or worse: x (critical), c (critical)"
    )


def test_raise_for_drift_at_warning(drifted: Frames) -> None:
    ref, live = drifted
    mild = {"policy": "static", "warning": 0.0001, "critical": 100}
    report = driftmon.compare(ref, live, ["x"], thresholds=mild)
    assert report.status == "warning"
    report.raise_for_drift()  # warning is below the default level
    with pytest.raises(driftmon.DriftDetected, match="x \\(warning\\)"):
        report.raise_for_drift(level="warning")
    with pytest.raises(ValueError, match="level: expected 'warning' or 'critical'"):
        report.raise_for_drift(level="ok")  # type: ignore[arg-type]


def test_the_html_is_the_report_rendering(drifted: Frames) -> None:
    """``to_html`` is ``driftmon.render.render_report`` of this run; ``_repr_html_`` embeds
    it in an iframe, escaped once, so the notebook's page keeps its own styles."""
    ref, live = drifted
    report = driftmon.compare(ref, live, name="notebook")
    document = report.to_html()
    view = MonitorReport("notebook", report._run, report._reference, report._smoothing)
    assert document == render_report([view], title="driftmon: notebook")
    assert "<svg" in document
    assert "Content-Security-Policy" in document
    inline = report._repr_html_()
    match = re.fullmatch(r'<iframe srcdoc="([^"]*)" .*</iframe>', inline, flags=re.DOTALL)
    assert match is not None
    assert html.unescape(match.group(1)) == document


def test_repr_is_one_line(drifted: Frames) -> None:
    ref, live = drifted
    report = driftmon.compare(ref, live, ["x", "c", {"name": "gone", "type": "numeric"}])
    assert repr(report) == (
        "<driftmon.Report 'compare': critical, 2 of 3 feature(s) drifted, 1 could not be scored>"
    )
