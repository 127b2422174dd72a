"""The monitor and feature views and the report page, read back as HTML."""

from __future__ import annotations

import math
from dataclasses import replace
from html.parser import HTMLParser
from urllib.parse import unquote

from driftmon.core.status import Status
from driftmon.render import MonitorReport, render_feature, render_monitor, render_report
from driftmon.render.views import feature_href, ordered
from driftmon.results import FeatureResult
from tests.render.factories import (
    HOSTILE,
    THRESHOLDS,
    categorical,
    numeric,
    profile_of,
    run_of,
    scored,
)

REFERENCE = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
LIVE = ["a"] * 20 + ["b"] * 30 + ["c"] * 10 + ["d"] * 25 + [None] * 15


class Page(HTMLParser):
    """Tags with their attributes, element ids, text, and data-value of span.kl."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.kl: list[float] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "span" and a.get("class") == "kl":
            self.kl.append(float(a["data-value"] or "nan"))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def ids(self) -> set[str]:
        return {i for _, a in self.tags if (i := a.get("id")) is not None}

    def attr(self, name: str) -> list[str]:
        return [v for _, a in self.tags if (v := a.get(name)) is not None]

    def count(self, tag: str, cls: str | None = None) -> int:
        return sum(t == tag and (cls is None or a.get("class") == cls) for t, a in self.tags)

    def all_text(self) -> str:
        return "".join(self.text)


def report_of(*features: FeatureResult) -> MonitorReport:
    fps = [categorical("c", REFERENCE), numeric("x", [float(i) for i in range(100)])]
    return MonitorReport("m", run_of(*features), profile_of(*fps))


def test_hostile_feature_names_and_categories_show_as_text() -> None:
    evil_category = '"><script>alert(2)</script>'
    fp = replace(categorical(HOSTILE, [evil_category] * 10 + ["a"] * 5), name=HOSTILE)
    result = scored(fp, [evil_category] * 3 + ["a"] * 7)
    report = MonitorReport(HOSTILE, run_of(result, monitor=HOSTILE), profile_of(fp))
    html = render_report([report])
    page = Page(html)
    assert page.count("img") == 0
    assert page.count("script") == 0
    assert HOSTILE in page.all_text()
    assert evil_category in page.all_text()
    # Every in-page link leads to an element of the page.
    for href in page.attr("href"):
        assert href.startswith("#")
        assert unquote(href[1:]) in page.ids()
    assert feature_href(HOSTILE, HOSTILE) in page.attr("href")


def test_the_report_has_no_external_url_and_a_restrictive_policy() -> None:
    fp = categorical("c", REFERENCE)
    page = Page(render_report([MonitorReport("m", run_of(scored(fp, LIVE)), profile_of(fp))]))
    assert page.attr("src") == []
    assert all(h.startswith("#") for h in page.attr("href"))
    policy = [
        a["content"] for t, a in page.tags if a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert policy == ["default-src 'none'; style-src 'unsafe-inline'"]
    assert page.count("script") == 0


def test_the_written_out_kl_is_the_stored_kl() -> None:
    c = scored(categorical("c", REFERENCE), LIVE)
    x = scored(numeric("x", [float(i) for i in range(100)]), [float(i) * 1.7 for i in range(60)])
    page = Page(render_report([report_of(c, x)]))
    stored = [f.scores.kl_divergence for f in ordered([c, x]) if f.scores]
    assert len(page.kl) == 2
    for shown, kl in zip(page.kl, stored, strict=True):
        assert abs(shown - kl) <= 1e-12
    assert "(the same)" in page.all_text()


def test_the_histogram_has_a_bar_pair_per_bin_with_missing_and_other_named() -> None:
    fp = categorical("c", REFERENCE)
    page = Page(render_feature(report_of(scored(fp, LIVE)), "c"))
    assert page.count("rect", "ref") == page.count("rect", "live") == 5
    text = page.all_text()
    assert "(other)" in text
    assert "(missing)" in text
    assert "__other__" not in text  # the internal labels stay internal


def test_status_is_given_as_text_and_icon_not_colour_alone() -> None:
    fp = categorical("c", REFERENCE)
    html = render_monitor(report_of(scored(fp, LIVE)))
    assert '<span class="icon" aria-hidden="true">✖</span> critical' in html


def test_an_all_missing_window_renders_its_missing_bar_at_full_height() -> None:
    fp = numeric("x", [float(i) for i in range(100)])
    result = scored(fp, [math.nan] * 40)
    html = render_feature(report_of(result), "x")
    page = Page(html)
    shares = [a["data-share"] for t, a in page.tags if t == "rect" and a.get("class") == "live"]
    assert shares[-1] == "1.0"
    assert all(s == "0.0" for s in shares[:-1])
    assert len(page.kl) == 1


def test_an_empty_window_with_insufficient_data_shows_counts_without_scores() -> None:
    fp = numeric("x", [float(i) for i in range(100)])
    result = replace(scored(fp, []), message="0 live rows, fewer than min_rows=100")
    page = Page(render_report([report_of(result)]))
    text = page.all_text()
    assert "insufficient_data" in text
    assert "fewer than min_rows=100" in text
    assert page.count("rect", "live") == len(result.bin_labels)
    assert "H(P)" not in text  # nothing to sum over an empty window


def test_an_error_feature_comes_first_with_its_message_and_no_chart() -> None:
    fp = categorical("c", REFERENCE)
    broken = FeatureResult(
        feature="x",
        status=Status.ERROR,
        thresholds=THRESHOLDS,
        message="column 'x' is not in the live source",
    )
    report = report_of(scored(fp, LIVE), broken)
    html = render_report([report])
    assert html.index("column &#39;x&#39; is not in the live source") < html.index(">c</a>")
    assert "No bin counts were stored" in html
    assert "1 of 2 features could not be scored" in html


def test_features_are_ordered_errors_then_severity_then_kl() -> None:
    fp = categorical("c", REFERENCE)
    base = scored(fp, LIVE)
    assert base.scores is not None
    low = replace(base, feature="low", scores=replace(base.scores, kl_divergence=0.3))
    high = replace(base, feature="high", scores=replace(base.scores, kl_divergence=0.9))
    ok = replace(base, feature="ok", status=Status.OK)
    warn = replace(base, feature="warn", status=Status.WARNING)
    thin = replace(base, feature="thin", status=Status.INSUFFICIENT_DATA, scores=None)
    err = replace(base, feature="err", status=Status.ERROR, scores=None)
    names = [f.feature for f in ordered([ok, low, thin, warn, high, err])]
    assert names == ["err", "high", "low", "warn", "thin", "ok"]


def test_a_monitor_without_runs_says_so() -> None:
    report = MonitorReport("m", None, missing_reason="No stored run of this monitor yet.")
    page = Page(render_report([report]))
    assert "No stored run of this monitor yet." in page.all_text()
    assert page.count("table") == 0


def test_a_run_error_and_note_are_shown() -> None:
    run = run_of(status=Status.ERROR, error="live source: file not found: <live.parquet>")
    html = render_monitor(MonitorReport("m", run))
    assert "file not found: &lt;live.parquet&gt;" in html
    noted = render_monitor(MonitorReport("m", run_of(message="the window is empty")))
    assert "the window is empty" in noted


def test_a_run_scored_on_other_bins_is_not_drawn_against_the_current_profile() -> None:
    result = scored(categorical("c", REFERENCE), LIVE)
    rebuilt = categorical("c", ["p", "q", "r", "s"])
    page = Page(render_feature(MonitorReport("m", run_of(result), profile_of(rebuilt)), "c"))
    assert page.count("rect", "ref") == 0
    assert page.count("rect", "live") == len(result.bin_labels)
    assert "(other)" in page.all_text()
    assert page.count("span", "key ref") == 0  # no legend for bars not drawn
    assert "Reference bars are not shown" in page.all_text()
    assert page.kl == []


def test_a_reference_rebuilt_on_the_same_bins_is_flagged_when_kl_no_longer_matches() -> None:
    result = scored(categorical("c", REFERENCE), LIVE)
    rebuilt = categorical("c", ["a"] * 45 + ["b"] * 35 + ["c"] * 20)
    assert rebuilt.bins == categorical("c", REFERENCE).bins
    text = Page(render_feature(MonitorReport("m", run_of(result), profile_of(rebuilt)), "c"))
    assert "differs from the KL this run stored" in text.all_text()
