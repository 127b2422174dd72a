"""The daemon's read-only HTTP endpoints: ``/metrics``, ``/healthz`` and an index at ``/``.

The WSGI app only; ``driftmon.service.http_server`` serves it.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics

from driftmon import __version__
from driftmon.service.pages import CSP, Page

Health = Callable[[], dict[str, Any]]
StartResponse = Callable[..., Any]
Environ = dict[str, Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]

OPENMETRICS_EOF = b"# EOF\n"
_GZIP_LEVEL = 5
_GZIP_WBITS = 31  # zlib's gzip container


def accepted(header: str) -> dict[str, float]:
    """An ``Accept``-style header as {lower-case token without parameters: its q-value}.

    A token listed twice keeps its highest q; a missing q is 1; an unreadable or
    out-of-range q is 0 (not acceptable).
    """
    prefs: dict[str, float] = {}
    for item in header.split(","):
        token, *params = item.split(";")
        token = token.strip().lower()
        if not token:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0:  # also NaN
                    q = 0.0
        prefs[token] = max(prefs.get(token, 0.0), q)
    return prefs


def gzip_accepted(header: str) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (``gzip;q=0`` forbids it)."""
    prefs = accepted(header)
    for token in ("gzip", "x-gzip"):
        if token in prefs:
            return prefs[token] > 0
    return prefs.get("*", 0.0) > 0


def openmetrics_preferred(header: str) -> bool:
    """Whether ``Accept`` ranks OpenMetrics above the Prometheus text format.

    Without an ``Accept`` header, or on a tie, the text format is served.
    """
    prefs = accepted(header)
    om = prefs.get("application/openmetrics-text", 0.0)
    text = prefs.get("text/plain", prefs.get("text/*", prefs.get("*/*", 0.0)))
    return om > 0 and om > text


@dataclass(frozen=True)
class _Rendering:
    """One rendering of the registry in one format: the bytes and a gzip stream of them.

    ``compressor`` holds the gzip stream's state after ``body``, unflushed: each scrape
    copies it to append its fresh tail, so the cached part is never compressed again.
    """

    key: object
    body: bytes
    gzip_head: bytes
    compressor: Any  # zlib.Compress (no public name to annotate with)

    @classmethod
    def of(cls, key: object, body: bytes) -> _Rendering:
        compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
        return cls(key, body, compressor.compress(body), compressor)

    def complete(self, tail: bytes, gzip_ok: bool) -> bytes:
        if not gzip_ok:
            return self.body + tail
        compressor = self.compressor.copy()
        out: bytes = self.gzip_head + compressor.compress(tail) + compressor.flush()
        return out


class MetricsEndpoint:
    """Serves the registry rendered once per snapshot version, in the format asked for.

    With tens of thousands of series, rendering costs far more than serving; concurrent
    scrapers of an unchanged snapshot share one rendering (plain and gzip-compressed).
    ``version`` returns a value that changes whenever the exposition may have changed; it
    may wait a bounded time for a snapshot refresh, and is called with no lock held, so
    concurrent scrapers wait side by side, never one behind another. One scraper renders
    a new version while the others get the previous rendering.

    Renders take at most ``RENDER_SHARE`` of the time: after a render of r seconds the
    next new version is rendered r / RENDER_SHARE seconds after the last one started at
    the earliest (about 4-6 s for 70k series; immediate for small ones), and scrapes in
    between get the previous rendering. Otherwise, with many monitors whose runs end one
    after another, every scrape re-rendered and the renders took the process's GIL.

    ``fresh`` (the process metrics) changes all the time: it is rendered at most
    ``fresh_max_age`` seconds before a scrape and appended to the cached rendering, and the
    completed body (gzip-compressed or not) is kept as long. Rendering it for every scrape
    was most of the daemon's CPU under 10 scrapers (prometheus_client's ProcessCollector
    reads /proc, and lists every open descriptor, on each collect), and took the GIL from
    the runs being stored.
    """

    RENDER_SHARE = 0.25
    FRESH_MAX_AGE = 1.0
    """Default for how old the process metrics of a scrape may be, in seconds."""

    def __init__(
        self,
        registry: CollectorRegistry,
        version: Callable[[], object],
        fresh: CollectorRegistry | None = None,
        fresh_max_age: float = FRESH_MAX_AGE,
    ) -> None:
        self._registry = registry
        self._version = version
        self._fresh = fresh
        self._fresh_max_age = fresh_max_age
        # By (OpenMetrics, gzip): the rendering it completed, when its tail was made, body.
        self._completed: dict[tuple[bool, bool], tuple[_Rendering, float, bytes]] = {}
        self._state = threading.Lock()  # guards the two dicts; held only for moments
        self._render = threading.Lock()  # one render at a time
        self._renderings: dict[bool, _Rendering] = {}  # by "is OpenMetrics"
        self._next_render: dict[bool, float] = {}
        self._clock: Callable[[], float] = time.monotonic

    def body(self, gzip_ok: bool, openmetrics: bool = False) -> bytes:
        """The exposition (gzip-compressed if ``gzip_ok``), OpenMetrics or text format."""
        key = self._version()
        rendering = self._rendering(key, openmetrics)
        now = self._clock()
        with self._state:
            done = self._completed.get((openmetrics, gzip_ok))
        if done is not None and done[0] is rendering and now - done[1] < self._fresh_max_age:
            return done[2]
        body = rendering.complete(self._fresh_tail(openmetrics), gzip_ok)
        with self._state:
            self._completed[(openmetrics, gzip_ok)] = (rendering, now, body)
        return body

    def _rendering(self, key: object, om: bool) -> _Rendering:
        with self._state:
            last = self._renderings.get(om)
            due = last is None or (
                key != last.key and self._clock() >= self._next_render.get(om, -math.inf)
            )
        if not due:
            assert last is not None
            return last
        # The first rendering is waited for; later, whoever renders, the others go on
        # with the previous one rather than queue behind the render.
        if not self._render.acquire(blocking=last is None):
            assert last is not None
            return last
        try:
            with self._state:
                current = self._renderings.get(om)
            if current is not None and current is not last:
                return current  # rendered by another scraper meanwhile
            started = self._clock()
            if om:
                body = _openmetrics(self._registry).removesuffix(OPENMETRICS_EOF)
            else:
                body = generate_latest(self._registry)
            # The version may move while collecting (a refresh inside collect()).
            rendering = _Rendering.of(self._version(), body)
            took = self._clock() - started
            with self._state:
                self._renderings[om] = rendering
                self._next_render[om] = started + took / self.RENDER_SHARE
            return rendering
        finally:
            self._render.release()

    def _fresh_tail(self, om: bool) -> bytes:
        if om:
            fresh = b"" if self._fresh is None else _openmetrics(self._fresh)
            return fresh.removesuffix(OPENMETRICS_EOF) + OPENMETRICS_EOF
        return b"" if self._fresh is None else generate_latest(self._fresh)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        gzip_ok = gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING", ""))
        om = openmetrics_preferred(environ.get("HTTP_ACCEPT", ""))
        body = self.body(gzip_ok, om)
        content_type = openmetrics.CONTENT_TYPE_LATEST if om else CONTENT_TYPE_LATEST
        extra = [("Vary", "Accept, Accept-Encoding")]
        if gzip_ok:
            extra.append(("Content-Encoding", "gzip"))
        return _reply(start_response, "200 OK", body, content_type, extra=extra)


def _openmetrics(registry: CollectorRegistry) -> bytes:
    # prometheus_client's OpenMetrics module has no type hints (its text one has).
    body: bytes = openmetrics.generate_latest(registry)  # type: ignore[no-untyped-call]
    return body


def make_app(
    registry: CollectorRegistry,
    health: Health,
    version: Callable[[], object] | None = None,
    fresh: CollectorRegistry | None = None,
    pages: Callable[[str, str], Page | None] | None = None,
) -> App:
    """WSGI app: only GET and HEAD, only the three paths (and ``pages``' paths, which then
    answer ``/`` too); everything else is refused.

    Without ``version`` every scrape renders afresh (tests); the daemon passes the
    snapshot cache's version so unchanged snapshots are served from memory. ``fresh``
    is rendered on every scrape (the process metrics). HEAD gets GET's headers, no body.
    """
    counter = itertools.count()
    metrics_app = MetricsEndpoint(registry, version or (lambda: next(counter)), fresh)

    def route(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        if method not in ("GET", "HEAD"):
            return _reply(
                start_response,
                "405 Method Not Allowed",
                b"read-only endpoint\n",
                extra=[("Allow", "GET, HEAD")],
            )
        if path == "/metrics":
            return metrics_app(environ, start_response)
        if path == "/healthz":
            report = health()
            status = "200 OK" if report.get("status") == "ok" else "503 Service Unavailable"
            body = json.dumps(report, indent=2, sort_keys=True).encode() + b"\n"
            return _reply(start_response, status, body, "application/json")
        page = pages(path, environ.get("QUERY_STRING", "")) if pages is not None else None
        if page is not None:
            return _reply(
                start_response,
                page.status,
                page.body,
                page.content_type,
                extra=[("Content-Security-Policy", CSP)],
            )
        if path == "/":
            body = (
                f"driftmon {__version__}\n\n"
                "/metrics  Prometheus metrics of the latest stored drift results\n"
                "/healthz  health of the daemon, its scheduler and its results database\n"
            ).encode()
            return _reply(start_response, "200 OK", body)
        return _reply(start_response, "404 Not Found", b"not found\n")

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        result = route(environ, start_response)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else result

    return app


def _reply(
    start_response: StartResponse,
    status: str,
    body: bytes,
    content_type: str = "text/plain; charset=utf-8",
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("X-Content-Type-Options", "nosniff"),
        *(extra or []),
    ]
    start_response(status, headers)
    return [body]
