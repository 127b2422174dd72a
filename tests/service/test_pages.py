"""The status pages: /, /monitors/{name}, /monitors/{name}/features/{feature}, and .json."""

from __future__ import annotations

import dataclasses
import http.client
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from prometheus_client import CollectorRegistry

from driftmon.config import Config
from driftmon.history import RunSummary
from driftmon.results import RunResult
from driftmon.service.daemon import Daemon
from driftmon.service.http import make_app
from driftmon.service.http_server import HttpServer
from driftmon.service.pages import CSP, Pages
from driftmon.storage import MonitorSnapshot, Store
from tests.render.factories import HOSTILE, categorical, numeric, profile_of, run_of, scored

from .conftest import live_columns, make_config, monitor_dict, reference_columns, write_parquet

MONITOR = "m/1 <b>"
SLASHED = "a/b"
FEATURES: list[dict[str, Any]] = [
    {"name": "x", "bins": 5},
    {"name": HOSTILE, "type": "categorical"},
    {"name": SLASHED, "type": "categorical"},
]

Reply = tuple[int, dict[str, str], bytes]


class Page(HTMLParser):
    """A parsed page: its text, links, and every tag's name."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.links: dict[str, str] = {}
        self.tags: list[str] = []
        self.classes: list[str] = []
        self._href: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.classes.extend((dict(attrs).get("class") or "").split())
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._href = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._href is not None and data.strip():
            self.links[data.strip()] = self._href


def get(port: int, path: str, method: str = "GET") -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def monitor_path(name: str) -> str:
    return "/monitors/" + quote(name, safe="")


def feature_path(monitor: str, feature: str) -> str:
    return f"{monitor_path(monitor)}/features/{quote(feature, safe='')}"


def config_for(tmp: Path, url: str) -> Config:
    return make_config(tmp, url, monitor_dict(MONITOR, features=FEATURES), monitor_dict("empty"))


def latest_run() -> RunResult:
    fx = numeric("x", [float(i % 10) for i in range(200)])
    fh = categorical(HOSTILE, ["a", "b", "<script>"] * 50)
    fs = categorical(SLASHED, ["p", "q"] * 50)
    run = run_of(
        scored(fx, [float(i % 10) for i in range(100)]),
        scored(fh, ["<script>"] * 90 + ["a"] * 10),
        scored(fs, ["p", "q"] * 40),
        monitor=MONITOR,
    )
    return run


class Served:
    def __init__(self, config: Config, store: Store, timeout: float = 3.0) -> None:
        self.store = store
        self.config = config
        pages = Pages(config, store, timeout)
        app = make_app(CollectorRegistry(), lambda: {"status": "ok"}, pages=pages.answer)
        self.server = HttpServer("127.0.0.1", 0, app)
        self.server.start()
        self.port = self.server.port


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("pages")
    url = f"sqlite:///{tmp / 'results.db'}"
    store = Store(url)
    store.upgrade()
    run = latest_run()
    older = dataclasses.replace(
        run, window_end=run.window_end - timedelta(hours=1), features=run.features[:1]
    )
    store.save_run(older)
    store.save_run(run)
    fx = numeric("x", [float(i % 10) for i in range(200)])
    fh = categorical(HOSTILE, ["a", "b", "<script>"] * 50)
    fs = categorical(SLASHED, ["p", "q"] * 50)
    store.save_profile(MONITOR, "fp", profile_of(fx, fh, fs))
    s = Served(config_for(tmp, url), store)
    yield s
    s.server.stop()
    store.dispose()


def html_of(reply: Reply) -> Page:
    _status, headers, body = reply
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Security-Policy"] == CSP
    return Page(body.decode())


def test_the_index_lists_every_monitor_with_its_latest_run(served: Served) -> None:
    reply = get(served.port, "/")
    assert reply[0] == 200
    page = html_of(reply)
    text = " ".join(page.text)
    assert page.links[MONITOR] == monitor_path(MONITOR)
    assert page.links["empty"] == "/monitors/empty"
    assert "✖ critical" in " ".join(text.split())
    assert "2026-03-01 12:00:00" in text  # the latest window's end
    assert "No stored run of this monitor yet." in text
    assert "no failed run of 2" in " ".join(text.split())  # run health
    assert "spark" in page.classes  # the KL trends of its worst features
    assert "svg" in page.tags
    assert "b" not in page.tags  # the monitor name's <b> is text
    assert page.links["/metrics"] == "/metrics"
    assert page.links["/healthz"] == "/healthz"


def test_the_daemon_serves_the_pages(tmp_path: Path) -> None:
    """In-process daemon: / is the HTML index linking its monitor's page."""
    write_parquet(tmp_path / "reference.parquet", reference_columns())
    write_parquet(tmp_path / "live.parquet", live_columns())
    config = make_config(
        tmp_path, f"sqlite:///{tmp_path / 'results.db'}", monitor_dict(), server={"port": 0}
    )
    daemon = Daemon(config, Store(config.database.url))
    daemon.start()
    try:
        assert daemon.http is not None
        reply = get(daemon.http.port, "/")
        assert reply[0] == 200
        assert html_of(reply).links["m"] == "/monitors/m"
    finally:
        daemon.stop(grace=10)


def test_the_monitor_page_shows_the_latest_run_and_links_each_feature(served: Served) -> None:
    reply = get(served.port, monitor_path(MONITOR))
    assert reply[0] == 200
    page = html_of(reply)
    for name in ("x", HOSTILE, SLASHED):
        assert page.links[name] == feature_path(MONITOR, name)
    assert "img" not in page.tags
    assert "b" not in page.tags
    assert latest_run().window_end.isoformat() in " ".join(page.text)
    assert "spark" in page.classes  # a KL sparkline per feature
    newest, older = served.store.run_summaries(MONITOR)
    assert page.links["2026-03-01 12:00:00"] == f"?run={newest.run_id}"  # the recent runs
    assert page.links["2026-03-01 11:00:00"] == f"?run={older.run_id}"


@pytest.mark.parametrize("feature", ["x", HOSTILE, SLASHED])
def test_each_feature_page_is_reached_by_its_link_and_shows_the_name_as_text(
    served: Served, feature: str
) -> None:
    reply = get(served.port, feature_path(MONITOR, feature))
    assert reply[0] == 200
    page = html_of(reply)
    assert feature in " ".join(page.text)
    assert "img" not in page.tags
    assert "script" not in page.tags
    assert "live" in page.classes  # the histogram's bars
    assert "ref" in page.classes  # drawn against the stored reference profile
    # These runs were stored without a profile version: the current one is drawn, and said.
    text = " ".join(" ".join(page.text).split())
    assert "The reference profile this run was scored on is not stored" in text


def test_a_monitor_without_runs_says_so(served: Served) -> None:
    reply = get(served.port, "/monitors/empty")
    assert reply[0] == 200
    assert "No stored run of this monitor yet." in " ".join(html_of(reply).text)
    reply = get(served.port, "/monitors/empty/features/x")
    assert reply[0] == 200
    assert "No stored run of this monitor yet." in " ".join(html_of(reply).text)


@pytest.mark.parametrize(
    "path",
    [
        "/monitors/nope",
        "/monitors/",
        monitor_path(MONITOR) + "/features/nope",
        monitor_path(MONITOR) + "/features/",
        "/monitors/empty/extra",
    ],
)
def test_unknown_monitors_and_features_are_a_404_page(served: Served, path: str) -> None:
    reply = get(served.port, path)
    assert reply[0] == 404
    assert "Not found" in " ".join(html_of(reply).text)


@pytest.mark.parametrize("path", ["/", monitor_path(MONITOR), feature_path(MONITOR, HOSTILE)])
def test_head_sends_the_page_headers_without_a_body(served: Served, path: str) -> None:
    status, headers, body = get(served.port, path, "HEAD")
    got = get(served.port, path)
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == got[1]["Content-Length"] != "0"
    assert headers["Content-Security-Policy"] == CSP


def test_a_lost_database_is_a_503_page(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    db.mkdir()  # not a file SQLite can open
    store = Store(f"sqlite:///{db}")
    s = Served(config_for(tmp_path, f"sqlite:///{db}"), store)
    try:
        for path in ("/", monitor_path(MONITOR), feature_path(MONITOR, "x")):
            reply = get(s.port, path)
            assert reply[0] == 503, path
            assert "Results database unavailable" in " ".join(html_of(reply).text)
    finally:
        s.server.stop()


class HangingStore(Store):
    """A store whose reads wait until released: a database that never answers."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.release = threading.Event()

    def snapshot(self) -> list[MonitorSnapshot]:
        self.release.wait(10)
        return []

    def run_summaries(self, monitor: str, limit: int = 20) -> list[RunSummary]:
        self.release.wait(10)
        return []


def test_a_database_that_does_not_answer_is_a_503_page_within_the_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'results.db'}"
    store = HangingStore(url)
    s = Served(config_for(tmp_path, url), store, timeout=0.2)
    try:
        for path in ("/", monitor_path(MONITOR)):
            reply = get(s.port, path)
            assert reply[0] == 503
            assert "did not answer within 0.2 s" in " ".join(html_of(reply).text)
    finally:
        store.release.set()
        s.server.stop()


def json_of(reply: Reply) -> Any:
    status, headers, body = reply
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    return json.loads(body)


def test_the_pages_are_served_as_json_from_the_same_results(served: Served) -> None:
    (stored,) = served.store.runs(MONITOR, limit=1)
    newest, older = served.store.run_summaries(MONITOR)
    index = json_of(get(served.port, "/index.json"))
    (health, no_health) = (m.pop("health") for m in index["monitors"])
    assert index == {
        "monitors": [
            {"monitor": MONITOR, "run": stored.as_json()},
            {"monitor": "empty", "run": None},
        ]
    }
    assert (health["runs_success"], health["runs_failure"], no_health) == (2, 0, None)
    monitor = json_of(get(served.port, monitor_path(MONITOR) + ".json"))
    recent = monitor.pop("recent_runs")
    assert monitor == {"monitor": MONITOR, "run_id": newest.run_id, "run": stored.as_json()}
    assert [r["run_id"] for r in recent] == [newest.run_id, older.run_id]
    assert recent[0]["features_drifted"] == sum(
        f.status.value in ("warning", "critical") for f in stored.features
    )
    assert json_of(get(served.port, "/monitors/empty.json")) == {
        "monitor": "empty",
        "run_id": None,
        "run": None,
        "recent_runs": [],
    }
    feature = json_of(get(served.port, feature_path(MONITOR, HOSTILE) + ".json"))
    (hostile,) = [f for f in stored.features if f.feature == HOSTILE]
    history = feature.pop("history")
    assert feature == {
        "monitor": MONITOR,
        "run_id": newest.run_id,
        "window_end": stored.window_end.isoformat(),
        "profile_version": None,
        "feature": hostile.as_json(),
    }
    # The older run has no row for this feature: a point without KL.
    assert [(h["run_id"], h["kl_divergence"] is None) for h in history] == [
        (older.run_id, True),
        (newest.run_id, False),
    ]


@pytest.mark.parametrize(
    "path", ["/monitors/nope.json", monitor_path(MONITOR) + "/features/nope.json"]
)
def test_unknown_names_at_json_paths_are_a_json_404(served: Served, path: str) -> None:
    status, headers, body = get(served.port, path)
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"] == "Not found"


def test_a_lost_database_at_a_json_path_is_a_json_503(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    db.mkdir()  # not a file SQLite can open
    s = Served(config_for(tmp_path, f"sqlite:///{db}"), Store(f"sqlite:///{db}"))
    try:
        status, headers, body = get(s.port, "/index.json")
        assert status == 503
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body)["error"] == "Results database unavailable"
        assert str(db) in json.loads(body)["detail"]
    finally:
        s.server.stop()
