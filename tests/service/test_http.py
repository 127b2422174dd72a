"""The read-only HTTP server: /metrics, /healthz, the index, 404 and 405, on 127.0.0.1."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from driftmon import __version__
from driftmon.config import ServerConfig
from driftmon.service.daemon import Daemon
from driftmon.service.http import MetricsEndpoint, accepted, make_app
from driftmon.service.http_server import HttpServer
from driftmon.storage import Store
from tests.ci import require_tool

from .conftest import live_columns, make_config, monitor_dict, reference_columns, write_parquet

Reply = tuple[int, dict[str, str], bytes]


def openmetrics_families(text: str) -> list[Metric]:
    """The families of an OpenMetrics exposition (the parser has no type hints)."""
    return list(openmetrics_parser.text_string_to_metric_families(text))  # type: ignore[no-untyped-call]


def request(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> Reply:
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


class Served:
    """One server for the module (stopping one takes up to its 0.5 s poll interval)."""

    def __init__(self) -> None:
        registry = CollectorRegistry(auto_describe=True)
        gauge = Gauge("driftmon_test_value", "A test gauge.", ["name"], registry=registry)
        gauge.labels('a "b"').set(1.5)
        self.report: dict[str, Any] = {"status": "ok", "problems": []}
        self.server = HttpServer("127.0.0.1", 0, make_app(registry, lambda: self.report))
        self.server.start()
        self.base = f"http://127.0.0.1:{self.server.port}"


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    s = Served()
    yield s
    s.server.stop()


@pytest.fixture
def base(served: Served) -> str:
    served.report = {"status": "ok", "problems": []}
    return served.base


def test_metrics_serves_the_registry_in_the_text_format(base: str) -> None:
    status, headers, body = request(base + "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=")
    (family,) = text_string_to_metric_families(body.decode())
    assert family.name == "driftmon_test_value"
    assert family.samples[0].labels == {"name": 'a "b"'}
    assert family.samples[0].value == 1.5


def test_metrics_is_gzip_compressed_when_the_scraper_accepts_it(base: str) -> None:
    status, headers, body = request(base + "/metrics", headers={"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert b"driftmon_test_value" in gzip.decompress(body)


def test_healthz_is_200_with_json_when_ok(base: str) -> None:
    status, headers, body = request(base + "/healthz")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"status": "ok", "problems": []}


def test_healthz_is_503_with_json_when_degraded(base: str, served: Served) -> None:
    report = {"status": "degraded", "problems": ["results database unreachable"]}
    served.report = report
    status, headers, body = request(base + "/healthz")
    assert status == 503
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == report


def test_the_index_names_the_endpoints_and_unknown_paths_are_404(base: str) -> None:
    status, _, body = request(base + "/")
    assert status == 200
    assert f"driftmon {__version__}" in body.decode()
    assert "/metrics" in body.decode()
    assert "/healthz" in body.decode()
    for path in ("/nope", "/metrics/x", "/../etc/passwd", "/healthz/"):
        assert request(base + path)[0] == 404, path


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/"])
def test_writing_methods_are_refused_with_405(base: str, method: str, path: str) -> None:
    status, headers, _ = request(base + path, method=method)
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"


def test_head_answers_without_a_body(served: Served) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", served.server.port, timeout=10)
    try:
        conn.request("HEAD", "/metrics")
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.read() == b""
    finally:
        conn.close()


def test_the_server_binds_loopback_by_default_and_stop_closes_the_port() -> None:
    assert ServerConfig().host == "127.0.0.1"
    server = Served().server
    host, port = server._listener.getsockname()[:2]
    assert host == "127.0.0.1"
    assert request(f"http://127.0.0.1:{port}/")[0] == 200
    server.stop()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=2),
    ):
        pass


def test_the_daemon_healthz_reports_a_lost_results_database(tmp_path: Path) -> None:
    """In-process daemon: ok after its first run, 503 degraded when its SQLite file is gone."""
    write_parquet(tmp_path / "reference.parquet", reference_columns())
    write_parquet(tmp_path / "live.parquet", live_columns())
    db = tmp_path / "results.db"
    config = make_config(tmp_path, f"sqlite:///{db}", monitor_dict(), server={"port": 0})
    daemon = Daemon(config, Store(config.database.url))
    daemon.start()
    try:
        assert daemon.http is not None
        base = f"http://127.0.0.1:{daemon.http.port}"
        deadline = time.monotonic() + 60  # an upper bound: a first run, a scoring process start
        while b"driftmon_feature_kl_divergence{" not in request(base + "/metrics")[2]:
            assert time.monotonic() < deadline, "the first run never showed up in /metrics"
            time.sleep(0.1)
        status, _, body = request(base + "/healthz")
        report = json.loads(body)
        assert (status, report["status"], report["problems"]) == (200, "ok", [])
        assert report["database"] == {"ok": True}

        moved = tmp_path / "moved"
        moved.mkdir()
        for f in tmp_path.glob("results.db*"):
            f.rename(moved / f.name)
        db.mkdir()
        daemon.store.dispose()
        status, _, body = request(base + "/healthz")
        report = json.loads(body)
        assert status == 503
        assert report["status"] == "degraded"
        assert "results database unreachable" in report["problems"]
        assert str(db) in report["database"]["error"]
    finally:
        daemon.stop(grace=10)


def raw(port: int, request: bytes) -> tuple[bytes, bytes]:
    """Head and body of the reply to a raw ``request``, read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return head, body


@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/"])
def test_head_sends_the_headers_of_get_and_no_body(served: Served, path: str) -> None:
    """Read off the socket: http.client would discard a body after HEAD by itself."""
    head, body = raw(served.server.port, f"HEAD {path} HTTP/1.0\r\n\r\n".encode())
    _, get_body = raw(served.server.port, f"GET {path} HTTP/1.0\r\n\r\n".encode())
    assert head.split(b"\r\n")[0].endswith(b"200 OK")
    assert body == b""
    assert f"Content-Length: {len(get_body)}".encode() in head
    assert get_body


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("deflate, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("gzip;q=0, *", False),
        ("*;q=0.1", True),
        ("identity", False),
        ("deflate", False),
        ("gzip;q=nonsense", False),
        ("", False),
    ],
)
def test_gzip_follows_the_q_values_of_accept_encoding(
    base: str, accept_encoding: str, gzipped: bool
) -> None:
    status, headers, body = request(base + "/metrics", headers={"Accept-Encoding": accept_encoding})
    assert status == 200
    assert ("Content-Encoding" in headers) == gzipped
    text = gzip.decompress(body) if gzipped else body
    assert b"driftmon_test_value" in text


PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


@pytest.mark.parametrize("accept_encoding", ["", "gzip"])
def test_openmetrics_is_served_when_the_scraper_prefers_it(base: str, accept_encoding: str) -> None:
    status, headers, body = request(
        base + "/metrics",
        headers={"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": accept_encoding},
    )
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    text = (gzip.decompress(body) if accept_encoding else body).decode()
    assert text.endswith("\n# EOF\n")
    assert text.count("# EOF") == 1
    (family,) = openmetrics_families(text)
    assert family.name == "driftmon_test_value"
    assert family.samples[0].value == 1.5


@pytest.mark.parametrize(
    "accept",
    [
        "",
        "text/plain",
        "*/*",
        "application/openmetrics-text;q=0, text/plain",
        "text/plain;version=0.0.4, application/openmetrics-text;q=0.5",
        "application/openmetrics-text;q=0.5, text/plain;q=0.5",
    ],
)
def test_the_text_format_is_served_unless_openmetrics_ranks_higher(base: str, accept: str) -> None:
    status, headers, body = request(base + "/metrics", headers={"Accept": accept})
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=")
    assert b"# EOF" not in body


def test_accepted_reads_tokens_and_q_values() -> None:
    assert accepted("gzip;q=0.5, Deflate ,br;q=2, x;q=-1, y;q=nan, z;level=1, ,") == {
        "gzip": 0.5,
        "deflate": 1.0,
        "br": 0.0,
        "x": 0.0,
        "y": 0.0,
        "z": 1.0,
    }
    assert accepted("a;q=0.2, a;q=0.7") == {"a": 0.7}


class _Counting(Collector):
    """A collector that counts its collections (an expensive drift rendering)."""

    def __init__(self) -> None:
        self.collects = 0

    def collect(self) -> Iterable[Metric]:
        self.collects += 1
        g = GaugeMetricFamily("driftmon_test_collects", "Times collected.")
        g.add_metric([], float(self.collects))
        return [g]


def _burn_cpu(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


@pytest.mark.parametrize("openmetrics", [False, True])
@pytest.mark.parametrize("gzip_ok", [False, True])
def test_process_metrics_are_at_most_a_second_old_while_the_rest_is_cached(
    openmetrics: bool, gzip_ok: bool
) -> None:
    """The registry is rendered once per version; the process metrics appended to it are
    re-read once the last reading is ``fresh_max_age`` old (not on every scrape: under
    many scrapers that was most of the daemon's CPU)."""
    counting = _Counting()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(counting)
    process = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=process)
    endpoint = MetricsEndpoint(registry, lambda: 1, fresh=process, fresh_max_age=1.0)
    now = [100.0]
    endpoint._clock = lambda: now[0]

    def scrape() -> tuple[bytes, float]:
        body = endpoint.body(gzip_ok, openmetrics)
        text = (gzip.decompress(body) if gzip_ok else body).decode()
        parse = openmetrics_families if openmetrics else text_string_to_metric_families
        samples = {s.name: s.value for f in parse(text) for s in f.samples}
        assert samples["driftmon_test_collects"] == 1.0  # rendered once, then cached
        assert samples["process_resident_memory_bytes"] > 0
        assert "process_open_fds" in samples
        return body, samples["process_cpu_seconds_total"]

    first, cpu0 = scrape()
    _burn_cpu(0.1)
    now[0] += 0.9
    again, cpu1 = scrape()
    assert again == first  # within the second: the same body
    assert cpu1 == cpu0
    now[0] += 0.2
    _, cpu2 = scrape()
    assert cpu2 > cpu0  # a second later: read again
    assert counting.collects == 1


def test_promtool_accepts_the_text_exposition_with_the_process_metrics() -> None:
    promtool = require_tool("promtool", "prometheus")
    registry = CollectorRegistry(auto_describe=True)
    Gauge("driftmon_test_value", "A test gauge.", registry=registry).set(1.0)
    process = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=process)
    server = HttpServer("127.0.0.1", 0, make_app(registry, dict, fresh=process))
    server.start()
    try:
        status, _, body = request(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        server.stop()
    assert status == 200
    assert b"process_resident_memory_bytes" in body
    done = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
