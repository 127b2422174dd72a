"""The daemon's read-only status pages: the monitors, one monitor, one feature; HTML or JSON.

``/`` lists every configured monitor with its run health and the KL trend of its worst
features; ``/monitors/{name}`` shows its latest stored run, a KL sparkline per feature and
its recent runs; ``/monitors/{name}/features/{feature}`` one feature of it, with its KL
history. ``?run=<id>`` or ``?window_end=<ISO time>`` shows an older retained run instead,
drawn against the reference profile version it was scored on. The same results are served
as JSON at ``/index.json``, ``/monitors/{name}.json`` and
``/monitors/{name}/features/{feature}.json``. Names are percent-encoded in links; the
request path arrives decoded and is matched against the configured names, so a name may
hold ``/`` or any other character (the longest matching monitor name wins; a feature whose
full name matches is served as HTML before a ``.json`` suffix is read as the format).

With ``server.external_url`` set, every link starts with its path (the daemon behind a
proxy at a sub-path). Every database read runs in its own thread, waited for at most
``timeout`` seconds, so a database that accepts connections but never answers gives a 503
page, not a hung request.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

from driftmon import __version__
from driftmon.config import Config, MonitorConfig
from driftmon.history import KLPoint, RunHealth, RunSummary
from driftmon.render import MonitorReport
from driftmon.results import RunResult
from driftmon.service.bounded import DatabaseUnavailableError, within
from driftmon.service.reports import NO_RUN_YET, monitor_report
from driftmon.storage import Store

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
HTML = "text/html; charset=utf-8"
JSON = "application/json"
RECENT_RUNS = 20
"""Recent runs listed on a monitor's page."""
SPARK_POINTS = 48
"""Runs a sparkline samples from the retained history."""
WORST_FEATURES = 3
"""Features whose KL trend the index shows per monitor."""

T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    """One answer: HTTP status line, content type and body."""

    status: str
    content_type: str
    body: bytes


class _NotFoundError(Exception):
    """No configured monitor or feature of the name asked for, or no such stored run."""


class _BadRequestError(Exception):
    """A query parameter that cannot be read."""


@dataclass(frozen=True)
class _Which:
    """The run a page shows: by id, by window end, or (neither) the latest."""

    run_id: int | None = None
    window_end: datetime | None = None


def monitor_url(monitor: str, base: str = "") -> str:
    return f"{base}/monitors/{quote(monitor, safe='')}"


def feature_url(monitor: str, feature: str, base: str = "") -> str:
    return f"{monitor_url(monitor, base)}/features/{quote(feature, safe='')}"


def base_path(external_url: str | None) -> str:
    """The path the pages live under: that of ``server.external_url`` ("" for the root)."""
    return urlsplit(external_url).path.rstrip("/") if external_url else ""


class Pages:
    """Answers the page paths (``answer`` returns None for any other path)."""

    def __init__(self, config: Config, store: Store, timeout: float) -> None:
        self._config = config
        self._store = store
        self._timeout = timeout
        self._base = base_path(config.server.external_url)

    def answer(self, raw_path: str, query: str = "") -> Page | None:
        # PEP 3333: PATH_INFO holds the decoded bytes as latin-1 characters.
        path = raw_path.encode("latin-1").decode("utf-8", errors="replace")
        try:
            if path in ("/", "/index.json"):
                return self._index(as_json=path.endswith(".json"))
            if path.startswith("/monitors/"):
                return self._monitor_path(path.removeprefix("/monitors/"), _which(query))
        except _BadRequestError as exc:
            return self._error("400 Bad Request", "Bad request", str(exc), path)
        except _NotFoundError as exc:
            return self._error("404 Not Found", "Not found", str(exc), path)
        except DatabaseUnavailableError as exc:
            title = "Results database unavailable"
            return self._error("503 Service Unavailable", title, str(exc), path)
        return None

    # -- routes ----------------------------------------------------------------------------

    def _monitor_path(self, rest: str, which: _Which) -> Page:
        for monitor in sorted(self._config.monitors, key=lambda m: -len(m.name)):
            name = monitor.name
            if rest in (name, name + ".json"):
                return self._monitor(monitor, which, as_json=rest != name)
            prefix = name + "/features/"
            if rest.startswith(prefix):
                return self._feature(monitor, rest.removeprefix(prefix), which)
        raise _NotFoundError("No monitor of that name is configured.")

    def _read(self, read: Callable[[], T], what: str) -> T:
        """``read()``, waited for at most the page timeout (see ``driftmon.service.bounded``)."""
        late = f"the results database did not answer within {self._timeout:g} s ({what})"
        return within(read, self._timeout, late, name="driftmon-page-read")

    def _index(self, as_json: bool) -> Page:
        reports = self._read(self._index_reports, "reading the latest runs")
        if as_json:
            return _json(
                {
                    "monitors": [
                        {
                            "monitor": r.monitor,
                            "run": r.run.as_json() if r.run else None,
                            "health": _health_json(r.health),
                        }
                        for r in reports
                    ]
                }
            )
        from driftmon.render import render_index

        b = self._base
        endpoints = (
            f'\n<p class="detail">driftmon {__version__}: Prometheus metrics at '
            f'<a href="{b}/metrics">/metrics</a>, health at <a href="{b}/healthz">/healthz</a>, '
            f'this list as JSON at <a href="{b}/index.json">/index.json</a>.</p>'
        )
        link = functools.partial(monitor_url, base=b)
        return self._html("driftmon monitors", render_index(reports, link) + endpoints)

    def _index_reports(self) -> list[MonitorReport]:
        from driftmon.render.views import ordered

        snapshots = {s.monitor: s for s in self._store.snapshot()}
        reports = []
        for monitor in self._config.monitors:
            snap = snapshots.get(monitor.name)
            run = snap.latest_run if snap else None
            report = monitor_report(self._store, monitor, run, with_profile=False)
            if snap is None:
                reports.append(report)
                continue
            # The worst features of the latest run that scored any (an error run has none).
            basis = snap.latest_scored_run or run
            scored = [f.feature for f in ordered(basis.features) if f.scores] if basis else []
            worst = scored[:WORST_FEATURES]
            trends = self._store.kl_trends(monitor.name, worst, SPARK_POINTS) if worst else {}
            health = RunHealth(
                runs_success=snap.runs_success,
                runs_partial=snap.runs_partial,
                runs_failure=snap.runs_failure,
                runs_insufficient_data=snap.runs_insufficient_data,
                last_run_at=snap.last_run_at,
                last_success_at=snap.last_success_at,
            )
            reports.append(
                replace(report, health=health, trends={f: trends.get(f, []) for f in worst})
            )
        return reports

    def _monitor(self, monitor: MonitorConfig, which: _Which, as_json: bool) -> Page:
        def read() -> MonitorReport | _NotFoundError:
            recent = self._store.run_summaries(monitor.name, RECENT_RUNS)
            chosen = self._chosen(monitor, which, recent)
            if isinstance(chosen, _NotFoundError):
                return chosen
            run, run_id = chosen
            trends = self._store.kl_trends(monitor.name, None, SPARK_POINTS)
            report = monitor_report(
                self._store, monitor, run, with_profile=False, missing_reason=_missing(which)
            )
            latest = run is not None and bool(recent) and run.window_end == recent[0].window_end
            return replace(report, run_id=run_id, latest=latest, recent=recent, trends=trends)

        report = _found(self._read(read, f"reading the runs of monitor {monitor.name!r}"))
        if as_json:
            run = report.run.as_json() if report.run else None
            return _json(
                {
                    "monitor": monitor.name,
                    "run_id": report.run_id,
                    "run": run,
                    "recent_runs": [_summary_json(s) for s in report.recent],
                }
            )
        from driftmon.render import render_monitor

        link = functools.partial(feature_url, base=self._base)
        body = render_monitor(report, link)
        return self._html(f"{monitor.name} — driftmon", body, [(monitor.name, "")])

    def _feature(self, monitor: MonitorConfig, rest: str, which: _Which) -> Page:
        configured = {f.name for f in monitor.features}
        feature, as_json = rest, False
        if feature not in configured and feature.endswith(".json"):
            feature, as_json = feature.removesuffix(".json"), True
        if feature not in configured:
            raise _NotFoundError(f"Monitor {monitor.name!r} has no feature of that name.")

        def read() -> tuple[MonitorReport, list[KLPoint]] | _NotFoundError:
            history = self._store.feature_history(monitor.name, feature)
            chosen = self._chosen(monitor, which, history[::-1])
            if isinstance(chosen, _NotFoundError):
                return chosen
            run, run_id = chosen
            report = monitor_report(
                self._store, monitor, run, with_profile=not as_json, missing_reason=_missing(which)
            )
            latest = run is not None and bool(history) and run.window_end == history[-1].window_end
            return replace(report, run_id=run_id, latest=latest), history

        report, history = _found(self._read(read, f"reading the runs of monitor {monitor.name!r}"))
        crumbs = [(monitor.name, monitor_url(monitor.name, self._base)), (feature, "")]
        features = report.run.features if report.run else ()
        result = next((f for f in features if f.feature == feature), None)
        if as_json:
            return _json(
                {
                    "monitor": monitor.name,
                    "run_id": report.run_id,
                    "window_end": report.run.window_end.isoformat() if report.run else None,
                    "profile_version": report.run.profile_version if report.run else None,
                    "feature": result.as_json() if result else None,
                    "history": [_point_json(p) for p in history],
                }
            )
        title = f"{feature} — {monitor.name} — driftmon"
        if result is None:
            from markupsafe import escape

            why = report.missing_reason or "The run shown has no result for this feature."
            return self._html(title, f'<p class="notice">{escape(why)}</p>', crumbs)
        from driftmon.render import render_feature

        return self._html(title, render_feature(report, feature, history), crumbs)

    # -- helpers ---------------------------------------------------------------------------

    def _chosen(
        self, monitor: MonitorConfig, which: _Which, newest_first: Sequence[RunSummary | KLPoint]
    ) -> tuple[RunResult | None, int | None] | _NotFoundError:
        """The run ``which`` names and its id (read through ``newest_first`` when only its
        window end is given); the latest run when it names none. A run not stored is
        returned as the error to raise (outside the read's thread)."""
        if which.run_id is not None:
            run = self._store.run_by_id(monitor.name, which.run_id)
            if run is None:
                return _NotFoundError(
                    f"Monitor {monitor.name!r} has no stored run {which.run_id} (pruned, or "
                    "never stored)."
                )
            return run, which.run_id
        if which.window_end is not None:
            run = self._store.run_ending(monitor.name, which.window_end)
            if run is None:
                return _NotFoundError(
                    f"Monitor {monitor.name!r} has no stored run whose window ended at "
                    f"{which.window_end.isoformat()}."
                )
            found = next((s for s in newest_first if s.window_end == run.window_end), None)
            return run, found.run_id if found else None
        if not newest_first:
            return None, None
        latest = newest_first[0].run_id
        return self._store.run_by_id(monitor.name, latest), latest

    def _html(
        self,
        title: str,
        body: str,
        crumbs: Sequence[tuple[str, str]] = (),
        status: str = "200 OK",
    ) -> Page:
        from driftmon.render import render_page

        home = self._base + "/"
        return Page(status, HTML, render_page(title, body, home, crumbs).encode())

    def _error(self, status: str, title: str, why: str, path: str) -> Page:
        """An error page; JSON ``{"error": title, "detail": why}`` for a ``.json`` path."""
        if path.endswith(".json"):
            body = json.dumps({"error": title, "detail": why}, indent=2, sort_keys=True)
            return Page(status, JSON, body.encode() + b"\n")
        from markupsafe import escape

        body = f'<h1>{escape(title)}</h1>\n<p class="error">{escape(why)}</p>'
        return self._html(f"{title} — driftmon {__version__}", body, status=status)


def _which(query: str) -> _Which:
    """The run a query string names: ``run=<id>`` or ``window_end=<ISO 8601 time>``."""
    params = parse_qs(query, keep_blank_values=False)
    run = params.get("run", [""])[-1].strip()
    end = params.get("window_end", [""])[-1].strip()
    if run:
        if not run.isdecimal() or len(run) > 19:
            raise _BadRequestError(f"run must be a run id (a whole number), got {run!r}.")
        return _Which(run_id=int(run))
    if end:
        t = _iso_time(end)
        if t is None:
            raise _BadRequestError(
                f"window_end must be an ISO 8601 time such as 2026-03-01T12:00:00Z, got {end!r}."
            )
        return _Which(window_end=t if t.tzinfo else t.replace(tzinfo=UTC))
    return _Which()


def _found(read: T | _NotFoundError) -> T:
    if isinstance(read, _NotFoundError):
        raise read
    return read


def _iso_time(text: str) -> datetime | None:
    """An ISO 8601 time; a "+" of its offset typed into a URL arrives as a space."""
    for candidate in (text, text.replace(" ", "+")):
        try:
            return datetime.fromisoformat(candidate)
        except ValueError:
            continue
    return None


def _missing(which: _Which) -> str:
    return NO_RUN_YET if which == _Which() else "No stored run of that window."


def _summary_json(s: RunSummary) -> dict[str, Any]:
    return {
        "run_id": s.run_id,
        "window_start": s.window_start.isoformat() if s.window_start else None,
        "window_end": s.window_end.isoformat(),
        "finished_at": s.finished_at.isoformat(),
        "status": s.status.value,
        "live_rows": s.live_rows,
        "features_drifted": s.drifted,
        "features_in_error": s.failed,
        "error": s.error,
        "message": s.message,
    }


def _point_json(p: KLPoint) -> dict[str, Any]:
    def finite(x: float | None) -> float | None:
        return x if x is not None and math.isfinite(x) else None

    return {
        "run_id": p.run_id,
        "window_end": p.window_end.isoformat(),
        "status": p.status.value,
        "kl_divergence": p.kl,
        "warning": finite(p.warning),
        "critical": finite(p.critical),
    }


def _health_json(h: RunHealth | None) -> dict[str, Any] | None:
    if h is None:
        return None
    return {
        "runs_success": h.runs_success,
        "runs_partial": h.runs_partial,
        "runs_failure": h.runs_failure,
        "runs_insufficient_data": h.runs_insufficient_data,
        "last_run_at": h.last_run_at.isoformat() if h.last_run_at else None,
        "last_success_at": h.last_success_at.isoformat() if h.last_success_at else None,
    }


def _json(data: dict[str, Any]) -> Page:
    return Page("200 OK", JSON, json.dumps(data, indent=2, sort_keys=True).encode() + b"\n")
