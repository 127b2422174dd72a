"""The monitor and feature views, and the self-contained report page: results in, HTML out.

Rendering is Jinja2 with autoescaping on (the model is Datasette): every value a template
prints is escaped unless it is deliberately marked safe, so a feature, category or message
from the data cannot forget its escaping in one of many places, as hand-built strings
could. The templates ship in ``driftmon/render/templates`` and are read once per process
(the only I/O here, cached by Jinja2); Jinja2 is imported only when something is rendered,
so commands that render nothing do not load it. The same functions
serve the report file, the daemon's pages and a notebook's ``_repr_html_``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from driftmon.core.bins import OTHER_LABEL
from driftmon.core.divergence import DEFAULT_SMOOTHING
from driftmon.core.profile import FeatureProfile, ReferenceProfile
from driftmon.core.status import Status
from driftmon.history import KLPoint, RunHealth, RunSummary
from driftmon.render.breakdown import Breakdown, breakdown, matches_stored, profile_mismatch
from driftmon.render.chart import Chart, ChartBin, chart
from driftmon.render.trend import HistoryChart, history_chart, sparkline
from driftmon.results import FeatureResult, RunResult

if TYPE_CHECKING:
    from jinja2 import Environment

# Errors first: a feature that could not be scored must not hide under a long table.
# insufficient_data comes after the drift it could be hiding, before ok.
_ORDER = {
    Status.ERROR: 0,
    Status.CRITICAL: 1,
    Status.WARNING: 2,
    Status.INSUFFICIENT_DATA: 3,
    Status.OK: 4,
}
STATUS_ICONS = {
    Status.OK: "✔",
    Status.WARNING: "▲",
    Status.CRITICAL: "✖",
    Status.INSUFFICIENT_DATA: "…",
    Status.ERROR: "⚠",
}


@dataclass(frozen=True)
class MonitorReport:
    """One monitor's run to show, with the reference profile and smoothing it needs.

    ``run`` None: the monitor has no stored run (yet, or at the window asked for).
    ``smoothing`` maps a feature to its configured pseudo-count (default: the default α).
    """

    monitor: str
    run: RunResult | None
    profile: ReferenceProfile | None = None
    smoothing: Mapping[str, float] = field(default_factory=dict)
    missing_reason: str | None = None
    """Why ``run`` is None, said instead of the tables (default: no stored run)."""
    profile_note: str | None = None
    """Why ``profile`` is not the one ``run`` was scored on, if it is not (said on the page)."""
    run_id: int | None = None
    """The shown run's id in the results store (the pages: marks it among the runs)."""
    latest: bool = True
    """Whether ``run`` is the latest stored run (the pages say so when it is an older one)."""
    recent: Sequence[RunSummary] = ()
    """The monitor's recent runs, newest first (the pages; a report file has none)."""
    trends: Mapping[str, Sequence[KLPoint]] = field(default_factory=dict)
    """Each feature's KL over the stored history, oldest first, for its sparkline."""
    health: RunHealth | None = None
    """The monitor's run counters (the index page)."""


@dataclass(frozen=True)
class FeatureView:
    """Everything the feature template shows about one feature of one run."""

    result: FeatureResult
    anchor: str
    notices: tuple[str, ...]
    breakdown: Breakdown | None
    chart: Chart | None
    kl_matches: bool


def feature_anchor(monitor: str, feature: str) -> str:
    """The element id of a feature's view: both names percent-encoded, so any name is safe."""
    return f"{quote(monitor, safe='')}/{quote(feature, safe='')}"


def feature_href(monitor: str, feature: str) -> str:
    """A fragment link to ``feature_anchor`` (encoded once more: browsers decode it once)."""
    return "#" + quote(feature_anchor(monitor, feature), safe="/")


def monitor_anchor(monitor: str) -> str:
    """The element id of a monitor's view."""
    return "monitor-" + quote(monitor, safe="")


def monitor_href(monitor: str) -> str:
    return "#" + quote(monitor_anchor(monitor), safe="")


FeatureLink = Callable[[str, str], str]
"""Builds the link from a monitor's table to a feature's view: (monitor, feature) -> URL."""


def ordered(features: Sequence[FeatureResult]) -> list[FeatureResult]:
    """Errors first, then critical, warning, insufficient data, ok; by KL within each."""
    return sorted(
        features,
        key=lambda f: (_ORDER[f.status], -(f.scores.kl_divergence if f.scores else 0.0)),
    )


def feature_view(report: MonitorReport, result: FeatureResult) -> FeatureView:
    """The numbers behind one feature's view (pure; see ``render_feature`` for HTML)."""
    anchor = feature_anchor(report.monitor, result.feature)
    notices: list[str] = []
    if not result.live_counts:
        return FeatureView(result, anchor, (), None, None, True)
    fp: FeatureProfile | None = None
    if report.profile is not None:
        try:
            fp = report.profile.feature(result.feature)
        except KeyError:
            fp = None
    if report.profile_note is not None:
        notices.append(report.profile_note)
    mismatch = profile_mismatch(result, fp)
    if mismatch is not None or fp is None:
        notices.append(
            f"Reference bars are not shown: {mismatch}. The live counts are drawn alone."
        )
        live_total = sum(result.live_counts)
        bins = [
            ChartBin(
                label=label,
                kind=_bin_kind(i, label, len(result.bin_labels)),
                live_count=c,
                live_share=c / live_total if live_total else 0.0,
            )
            for i, (label, c) in enumerate(zip(result.bin_labels, result.live_counts, strict=False))
        ]
        return FeatureView(result, anchor, tuple(notices), None, chart(bins), True)
    b = breakdown(result, fp, report.smoothing.get(result.feature, DEFAULT_SMOOTHING))
    matches = matches_stored(b, result)
    if not matches and result.scores is not None:
        notices.append(
            f"The KL recomputed from the stored reference profile ({b.kl:.6f}) differs from "
            f"the KL this run stored ({result.scores.kl_divergence:.6f}): the profile drawn "
            "is not the one this run was scored on, or the smoothing changed since."
        )
    bins = [
        ChartBin(
            label=r.label,
            kind=r.kind,
            live_count=r.live_count,
            live_share=r.live_share,
            reference_count=r.reference_count,
            reference_share=r.reference_share,
        )
        for r in b.bins
    ]
    return FeatureView(result, anchor, tuple(notices), b, chart(bins), matches)


def _bin_kind(i: int, label: str, n: int) -> str:
    """A bin's kind from its place alone: missing is last, "other" next to last (categorical)."""
    if i == n - 1:
        return "missing"
    return "other" if i == n - 2 and label == OTHER_LABEL else "value"


def render_monitor(report: MonitorReport, link: FeatureLink = feature_href) -> str:
    """The monitor view as an HTML fragment: run header and the features table; each
    feature links to ``link(monitor, feature)`` (default: its view in the same page)."""
    return _env().get_template("monitor.html").render(r=report, link=link, **_context(report))


def render_feature(
    report: MonitorReport, feature: str, history: Sequence[KLPoint] | None = None
) -> str:
    """One feature's view as an HTML fragment: histogram, per-bin table, the KL identity;
    with ``history`` (oldest first) also its KL history chart and links to each run."""
    if report.run is None:
        raise ValueError(f"monitor {report.monitor!r} has no run to show")
    for f in report.run.features:
        if f.feature == feature:
            return (
                _env()
                .get_template("feature.html")
                .render(r=report, v=feature_view(report, f), history=history_view(report, history))
            )
    raise KeyError(feature)


RECENT_LINKS = 12
"""Runs linked by the list under a feature's history chart."""


@dataclass(frozen=True)
class HistoryView:
    """The KL history of one feature and the runs to step to from the one shown."""

    chart: HistoryChart | None
    older: KLPoint | None
    newer: KLPoint | None
    latest: KLPoint | None
    recent: tuple[KLPoint, ...]
    """The latest runs, newest first, for the list of links."""


def history_view(report: MonitorReport, history: Sequence[KLPoint] | None) -> HistoryView | None:
    """What the feature page shows of ``history`` around the shown run (None: no history)."""
    if history is None:
        return None
    at = next((i for i, p in enumerate(history) if p.run_id == report.run_id), None)
    return HistoryView(
        chart=history_chart(history, report.run_id),
        older=history[at - 1] if at is not None and at > 0 else None,
        newer=history[at + 1] if at is not None and at + 1 < len(history) else None,
        latest=history[-1] if history else None,
        recent=tuple(reversed(history[-RECENT_LINKS:])),
    )


def render_report(reports: Sequence[MonitorReport], title: str = "driftmon report") -> str:
    """One self-contained HTML document: each monitor's view followed by its features'."""
    sections = [
        (
            r,
            _context(r),
            [feature_view(r, f) for f in ordered(r.run.features)] if r.run else [],
        )
        for r in reports
    ]
    return _env().get_template("report.html").render(title=title, sections=sections)


MonitorLink = Callable[[str], str]
"""Builds the link from the index to a monitor's page: monitor -> URL."""


def render_index(reports: Sequence[MonitorReport], link: MonitorLink) -> str:
    """The list of monitors as an HTML fragment: each one's latest run's status, window end,
    when it finished, how many features drifted and how many are in error."""
    drifted = (Status.WARNING, Status.CRITICAL)
    return _env().get_template("index.html").render(reports=reports, link=link, drifted=drifted)


def render_page(title: str, body: str, home: str, crumbs: Sequence[tuple[str, str]] = ()) -> str:
    """A whole HTML document around a fragment rendered here (``body`` is not escaped again),
    with a navigation line: ``home``, then each (text, URL) of ``crumbs``."""
    from markupsafe import Markup

    return (
        _env()
        .get_template("page.html")
        .render(title=title, body=Markup(body), home=home, crumbs=crumbs)  # noqa: S704
    )


def _context(report: MonitorReport) -> dict[str, Any]:
    run = report.run
    features = ordered(run.features) if run else []
    return {"features": features, "unscored": sum(f.status == Status.ERROR for f in features)}


# -- formatting (template filters) ------------------------------------------------------------


def fmt_number(x: float | None, spec: str = ".4f") -> str:
    """A number for a table cell; "—" for none or a threshold not known (infinite)."""
    if x is None or not math.isfinite(x):
        return "—"
    return format(x, spec)


def fmt_when(t: datetime) -> str:
    """A stored time for a table cell: UTC to the second, without the offset."""
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def fmt_share(x: float) -> str:
    return f"{x:.1%}" if x >= 0.001 or x == 0 else f"{x:.2g}"


@cache
def _env() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("driftmon.render", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt_number
    env.filters["share"] = fmt_share
    env.globals["feature_href"] = feature_href
    env.globals["monitor_anchor"] = monitor_anchor
    env.globals["monitor_href"] = monitor_href
    env.globals["icons"] = STATUS_ICONS
    env.globals["Status"] = Status
    env.globals["sparkline"] = sparkline
    env.filters["when"] = fmt_when
    return env
