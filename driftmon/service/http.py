"""The daemon's read-only HTTP endpoints: ``/metrics``, ``/healthz`` and an index at ``/``."""

from __future__ import annotations

import gzip
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from driftmon import __version__

Health = Callable[[], dict[str, Any]]
StartResponse = Callable[..., Any]
Environ = dict[str, Any]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: with more concurrent scrapers the kernel
    # drops SYNs and clients wait for TCP retransmits (a second or more) to be served.
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


class MetricsEndpoint:
    """Renders the registry once per snapshot version and serves the cached bytes.

    With tens of thousands of series, rendering costs far more than serving; concurrent
    scrapers of an unchanged snapshot share one rendering (plain and gzip-compressed).
    ``version`` returns a value that changes whenever the exposition may have changed.
    Renders take at most ``RENDER_SHARE`` of the time: after a render of r seconds the
    next new version is rendered r / RENDER_SHARE seconds after the last one started at
    the earliest (about 4-6 s for 70k series; immediate for small ones), and scrapes in
    between get the previous rendering. Otherwise, with many monitors whose runs end one
    after another, every scrape re-rendered and the renders took the process's GIL.
    """

    RENDER_SHARE = 0.25

    def __init__(self, registry: CollectorRegistry, version: Callable[[], object]) -> None:
        self._registry = registry
        self._version = version
        self._lock = threading.Lock()
        self._key: object = None
        self._plain = b""
        self._gzip = b""
        self._next_render = 0.0
        self._clock: Callable[[], float] = time.monotonic

    def body(self, gzip_ok: bool) -> bytes:
        with self._lock:
            key = self._version()
            started = self._clock()
            if not self._plain or (key != self._key and started >= self._next_render):
                self._plain = generate_latest(self._registry)
                self._gzip = gzip.compress(self._plain, compresslevel=5)
                # The version may move while collecting (a refresh inside collect()).
                self._key = self._version()
                took = self._clock() - started
                self._next_render = started + took / self.RENDER_SHARE
            return self._gzip if gzip_ok else self._plain

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        gzip_ok = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
        body = self.body(gzip_ok)
        extra = [("Content-Encoding", "gzip")] if gzip_ok else []
        return _reply(start_response, "200 OK", body, CONTENT_TYPE_LATEST, extra=extra)


def make_app(
    registry: CollectorRegistry, health: Health, version: Callable[[], object] | None = None
) -> Callable[..., Iterable[bytes]]:
    """WSGI app: only GET and HEAD, only the three paths; everything else is refused.

    Without ``version`` every scrape renders afresh (tests); the daemon passes the
    snapshot cache's version so unchanged snapshots are served from memory.
    """
    counter = itertools.count()
    metrics_app = MetricsEndpoint(registry, version or (lambda: next(counter)))

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
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
        if path == "/":
            body = (
                f"driftmon {__version__}\n\n"
                "/metrics  Prometheus metrics of the latest stored drift results\n"
                "/healthz  health of the daemon, its scheduler and its results database\n"
            ).encode()
            return _reply(start_response, "200 OK", body)
        return _reply(start_response, "404 Not Found", b"not found\n")

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


class HttpServer:
    """The WSGI app served from a background thread; ``stop()`` closes the socket."""

    def __init__(self, host: str, port: int, app: Callable[..., Iterable[bytes]]) -> None:
        self._server = make_server(
            host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="driftmon-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
