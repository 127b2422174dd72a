"""KL over time: sparkline and history chart geometry, and their HTML in the three views."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import timedelta

import pytest

from driftmon.core.status import Status
from driftmon.history import KLPoint, RunHealth, RunSummary
from driftmon.render import MonitorReport, render_feature, render_index, render_monitor
from driftmon.render.trend import MAX_MARKERS, history_chart, sparkline
from tests.render.factories import END, HOSTILE, categorical, profile_of, run_of, scored

from .test_views import Page


def point(i: int, kl: float | None, status: Status = Status.OK, **kw: float) -> KLPoint:
    return KLPoint(
        run_id=i + 1,
        window_end=END - timedelta(hours=100 - i),
        status=status,
        kl=kl,
        warning=kw.get("warning", 0.05),
        critical=kw.get("critical", 0.2),
    )


def ys(polyline: str) -> list[float]:
    return [float(xy.split(",")[1]) for xy in polyline.split()]


# -- sparkline ---------------------------------------------------------------------------------


def test_a_sparkline_needs_a_scored_point() -> None:
    assert sparkline([]) is None
    assert sparkline([point(0, None, Status.ERROR)]) is None


def test_a_sparkline_rises_with_kl_and_breaks_at_a_run_without_kl() -> None:
    s = sparkline([point(0, 0.01), point(1, 0.1), point(2, None, Status.ERROR), point(3, 0.3)])
    assert s is not None
    first, second = s.lines
    a, b = ys(first)
    assert b < a  # higher KL is drawn higher (smaller y)
    assert len(ys(second)) == 1
    assert (s.last_y, s.last_status) == (ys(second)[0], Status.OK)
    assert s.warning_y is not None
    assert a > s.warning_y > b
    assert "KL over 4 runs" in s.summary
    assert "latest 0.3" in s.summary


def test_a_sparkline_of_one_run_and_of_unknown_thresholds() -> None:
    s = sparkline([point(0, 0.0, warning=math.inf)])
    assert s is not None
    assert len(s.lines) == 1
    assert s.warning_y is None  # not known yet: no line
    assert s.last_y == s.height - 2  # KL 0 on the bottom


# -- history chart -----------------------------------------------------------------------------


def test_no_history_is_no_chart() -> None:
    assert history_chart([]) is None


def test_one_run_is_a_point_in_the_middle_with_flat_threshold_lines() -> None:
    c = history_chart([point(0, 0.1)], selected=1)
    assert c is not None
    (m,) = c.markers
    assert m.x == (c.left + c.right) / 2
    assert c.selected == m
    warning, critical = c.thresholds
    assert (warning.name, critical.name) == ("warning", "critical")
    assert len(set(ys(warning.points))) == 1
    assert ys(critical.points)[0] < ys(warning.points)[0]  # critical drawn above warning
    assert (c.runs, c.thinned) == (1, 1)


def test_thresholds_are_drawn_as_each_run_was_judged() -> None:
    """A calibrated policy moved the warning threshold: the line steps."""
    c = history_chart([point(0, 0.01, warning=0.05), point(1, 0.02, warning=0.1)])
    assert c is not None
    warning = next(t for t in c.thresholds if t.name == "warning")
    assert len(set(ys(warning.points))) == 2
    assert warning.value == 0.1


def test_a_far_critical_threshold_is_named_not_drawn() -> None:
    c = history_chart([point(0, 0.01, critical=5.0), point(1, 0.02, critical=5.0)])
    assert c is not None
    assert [t.name for t in c.thresholds] == ["warning"]
    assert c.off_scale == ("critical threshold 5 is above the chart",)


def test_a_long_history_is_thinned_keeping_spikes_and_runs_without_kl() -> None:
    points = [point(i, 0.01) for i in range(1000)]
    points[500] = point(500, 0.9, Status.CRITICAL)
    points[501] = point(501, None, Status.ERROR)
    c = history_chart(points, selected=777)
    assert c is not None
    scored_markers = [m for m in c.markers if m.kl is not None]
    assert len(scored_markers) <= MAX_MARKERS
    assert c.thinned == math.ceil(1000 / MAX_MARKERS)
    assert max(m.kl or 0 for m in c.markers) == 0.9  # the spike is a point of its own
    assert any(m.run_id == 502 and m.kl is None for m in c.markers)
    assert c.selected is not None
    assert c.selected.run_id == 777


# -- in the views ------------------------------------------------------------------------------


def report_with_history() -> tuple[MonitorReport, list[KLPoint]]:
    fc = categorical("c", ["a", "b"] * 50)
    fh = categorical(HOSTILE, ["x", "y"] * 50)
    run = run_of(scored(fc, ["a"] * 80 + ["b"] * 20), scored(fh, ["x"] * 50 + ["y"] * 50))
    history = [point(0, 0.01), point(1, None, Status.ERROR), point(2, 0.2, Status.CRITICAL)]
    report = MonitorReport(
        monitor="m",
        run=run,
        profile=profile_of(fc, fh),
        run_id=3,
        recent=[
            RunSummary(3, None, END, END, Status.CRITICAL, 100, drifted=1),
            RunSummary(2, None, END - timedelta(hours=1), END, Status.ERROR, 0, error="<b>down"),
        ],
        trends={"c": history, HOSTILE: [point(0, 0.0)]},
    )
    return report, history


def test_the_feature_view_links_every_run_and_the_one_before() -> None:
    report, history = report_with_history()
    html = render_feature(report, "c", history)
    hrefs = [a.get("href") for tag, a in Page(html).tags if tag == "a"]
    assert {"?run=1", "?run=2", "?run=3"} <= set(hrefs)
    assert re.search(r'href="\?run=2" rel="prev"', html)
    assert "no newer run" in html
    assert 'class="threshold t-warning"' in html
    assert "An older run" not in html
    older = render_feature(replace(report, run_id=1, latest=False), "c", history)
    assert "An older run:" in older
    assert re.search(r'href="\?run=2" rel="next"', older)


def test_the_feature_view_without_history_has_no_history_section() -> None:
    report, _ = report_with_history()
    assert "KL over time" not in render_feature(report, "c")
    empty = render_feature(report, "c", [])
    assert "No stored run has this feature yet." in empty


def test_the_monitor_view_has_a_sparkline_per_feature_and_the_recent_runs_escaped() -> None:
    report, _ = report_with_history()
    html = render_monitor(report)
    page = Page(html)
    assert sum(1 for tag, a in page.tags if tag == "svg" and a.get("class") == "spark") == 2
    assert "b" not in [tag for tag, _ in page.tags]  # the run error "<b>down" is text
    assert "<b>down" in "".join(page.text)
    assert "(shown)" in "".join(page.text)
    no_history = render_monitor(replace(report, trends={}, recent=()))
    assert "spark" not in no_history
    assert "Recent runs" not in no_history


def test_a_feature_without_kl_yet_says_so_in_place_of_a_sparkline() -> None:
    report, _ = report_with_history()
    html = render_monitor(replace(report, trends={"c": [point(0, None, Status.ERROR)]}))
    assert "no KL yet" in html


@pytest.mark.parametrize("failures", [0, 3])
def test_the_index_shows_run_health_and_the_trends_with_hostile_names_as_text(
    failures: int,
) -> None:
    report, _history = report_with_history()
    health = RunHealth(10 - failures, 1, failures, 0, END, None if failures else END)
    html = render_index([replace(report, health=health)], lambda m: "/monitors/" + m)
    page = Page(html)
    text = " ".join(" ".join(page.text).split())
    assert "img" not in [tag for tag, _ in page.tags]
    assert HOSTILE in text
    if failures:
        assert "⚠ 3 failed" in text
        assert "last success: never" in text
    else:
        assert "no failed run" in text
        assert "last success: 2026-03-01 12:00:00" in text
    assert ", 1 partly scored of 11" in text


@pytest.mark.parametrize(
    ("top_kl", "axis"), [(0.636, 0.75), (0.19, 0.2), (0.0, 1.0), (3.1, 4.0), (0.0009, 0.001)]
)
def test_the_kl_axis_ends_at_a_round_number_just_above_the_highest_point(
    top_kl: float, axis: float
) -> None:
    """The highest of KL and thresholds, plus 5%, is rounded up to 1, 1.5, 2, 3, 4, 5 or 7.5
    × 10^k: the line fills at least two thirds of the plot."""
    c = history_chart([point(0, top_kl, warning=math.inf, critical=math.inf)])
    assert c is not None
    assert float(c.y_ticks[-1].text) == pytest.approx(axis)
