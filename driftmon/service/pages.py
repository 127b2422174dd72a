"""The daemon's read-only status pages: the monitors, one monitor, one feature; HTML or JSON.

``/`` lists every configured monitor; ``/monitors/{name}`` shows its latest stored run
and ``/monitors/{name}/features/{feature}`` one feature of it, through the render views.
The same results are served as JSON at ``/index.json``, ``/monitors/{name}.json`` and
``/monitors/{name}/features/{feature}.json``. Names are percent-encoded in links; the
request path arrives decoded and is matched against the configured names, so a name may
hold ``/`` or any other character (the longest matching monitor name wins; a feature whose
full name matches is served as HTML before a ``.json`` suffix is read as the format).

Every database read runs in its own thread, waited for at most ``timeout`` seconds, so a
database that accepts connections but never answers gives a 503 page, not a hung request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from driftmon import __version__
from driftmon.config import Config, MonitorConfig
from driftmon.render import MonitorReport
from driftmon.service.bounded import DatabaseUnavailableError, within
from driftmon.service.reports import monitor_report
from driftmon.storage import Store

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
HTML = "text/html; charset=utf-8"
JSON = "application/json"

T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    """One answer: HTTP status line, content type and body."""

    status: str
    content_type: str
    body: bytes


class _NotFoundError(Exception):
    """No configured monitor or feature of the name asked for."""


def monitor_url(monitor: str) -> str:
    return "/monitors/" + quote(monitor, safe="")


def feature_url(monitor: str, feature: str) -> str:
    return f"{monitor_url(monitor)}/features/{quote(feature, safe='')}"


class Pages:
    """Answers the page paths (``answer`` returns None for any other path)."""

    def __init__(self, config: Config, store: Store, timeout: float) -> None:
        self._config = config
        self._store = store
        self._timeout = timeout

    def answer(self, raw_path: str) -> Page | None:
        # PEP 3333: PATH_INFO holds the decoded bytes as latin-1 characters.
        path = raw_path.encode("latin-1").decode("utf-8", errors="replace")
        try:
            if path in ("/", "/index.json"):
                return self._index(as_json=path.endswith(".json"))
            if path.startswith("/monitors/"):
                return self._monitor_path(path.removeprefix("/monitors/"))
        except _NotFoundError as exc:
            return self._error("404 Not Found", "Not found", str(exc), path)
        except DatabaseUnavailableError as exc:
            title = "Results database unavailable"
            return self._error("503 Service Unavailable", title, str(exc), path)
        return None

    # -- routes ----------------------------------------------------------------------------

    def _monitor_path(self, rest: str) -> Page:
        for monitor in sorted(self._config.monitors, key=lambda m: -len(m.name)):
            name = monitor.name
            if rest in (name, name + ".json"):
                return self._monitor(monitor, as_json=rest != name)
            prefix = name + "/features/"
            if rest.startswith(prefix):
                return self._feature(monitor, rest.removeprefix(prefix))
        raise _NotFoundError("No monitor of that name is configured.")

    def _read(self, read: Callable[[], T], what: str) -> T:
        """``read()``, waited for at most the page timeout (see ``driftmon.service.bounded``)."""
        late = f"the results database did not answer within {self._timeout:g} s ({what})"
        return within(read, self._timeout, late, name="driftmon-page-read")

    def _index(self, as_json: bool) -> Page:
        reports = self._read(
            lambda: [self._report(m, with_profile=False) for m in self._config.monitors],
            "reading the latest runs",
        )
        if as_json:
            return _json(
                {
                    "monitors": [
                        {"monitor": r.monitor, "run": r.run.as_json() if r.run else None}
                        for r in reports
                    ]
                }
            )
        from driftmon.render import render_index

        endpoints = (
            f'\n<p class="detail">driftmon {__version__}: Prometheus metrics at '
            '<a href="/metrics">/metrics</a>, health at <a href="/healthz">/healthz</a>, '
            'this list as JSON at <a href="/index.json">/index.json</a>.</p>'
        )
        return self._html("driftmon monitors", render_index(reports, monitor_url) + endpoints)

    def _monitor(self, monitor: MonitorConfig, as_json: bool) -> Page:
        report = self._read(
            lambda: self._report(monitor, with_profile=False),
            f"reading the latest run of monitor {monitor.name!r}",
        )
        if as_json:
            run = report.run.as_json() if report.run else None
            return _json({"monitor": monitor.name, "run": run})
        from driftmon.render import render_monitor

        body = render_monitor(report, feature_url)
        return self._html(f"{monitor.name} — driftmon", body, [(monitor.name, "")])

    def _feature(self, monitor: MonitorConfig, rest: str) -> Page:
        configured = {f.name for f in monitor.features}
        feature, as_json = rest, False
        if feature not in configured and feature.endswith(".json"):
            feature, as_json = feature.removesuffix(".json"), True
        if feature not in configured:
            raise _NotFoundError(f"Monitor {monitor.name!r} has no feature of that name.")
        report = self._read(
            lambda: self._report(monitor, with_profile=not as_json),
            f"reading the latest run of monitor {monitor.name!r}",
        )
        crumbs = [(monitor.name, monitor_url(monitor.name)), (feature, "")]
        features = report.run.features if report.run else ()
        result = next((f for f in features if f.feature == feature), None)
        if as_json:
            return _json(
                {
                    "monitor": monitor.name,
                    "window_end": report.run.window_end.isoformat() if report.run else None,
                    "feature": result.as_json() if result else None,
                }
            )
        title = f"{feature} — {monitor.name} — driftmon"
        if result is None:
            from markupsafe import escape

            why = report.missing_reason or "The latest run has no result for this feature."
            return self._html(title, f'<p class="notice">{escape(why)}</p>', crumbs)
        from driftmon.render import render_feature

        return self._html(title, render_feature(report, feature), crumbs)

    # -- helpers ---------------------------------------------------------------------------

    def _report(self, monitor: MonitorConfig, *, with_profile: bool) -> MonitorReport:
        latest = self._store.runs(monitor.name, limit=1)
        run = latest[0] if latest else None
        return monitor_report(self._store, monitor, run, with_profile=with_profile)

    def _html(
        self,
        title: str,
        body: str,
        crumbs: Sequence[tuple[str, str]] = (),
        status: str = "200 OK",
    ) -> Page:
        from driftmon.render import render_page

        return Page(status, HTML, render_page(title, body, "/", crumbs).encode())

    def _error(self, status: str, title: str, why: str, path: str) -> Page:
        """An error page; JSON ``{"error": title, "detail": why}`` for a ``.json`` path."""
        if path.endswith(".json"):
            body = json.dumps({"error": title, "detail": why}, indent=2, sort_keys=True)
            return Page(status, JSON, body.encode() + b"\n")
        from markupsafe import escape

        body = f'<h1>{escape(title)}</h1>\n<p class="error">{escape(why)}</p>'
        return self._html(f"{title} — driftmon {__version__}", body, status=status)


def _json(data: dict[str, Any]) -> Page:
    return Page("200 OK", JSON, json.dumps(data, indent=2, sort_keys=True).encode() + b"\n")
