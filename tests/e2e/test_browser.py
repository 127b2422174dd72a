"""The status pages and the report file in a real browser: Debian's headless Chromium.

``driftmon run`` scores a small shop monitor (a drifted categorical feature, a numeric one, a
feature named like an HTML injection and one whose column does not exist) and serves its
pages; Chromium loads each page kind as a reader would, by following links from ``/``. Each
load must log no console error; each histogram must draw one reference and one live bar per
stored bin, their heights in the order of the stored counts; the hostile name must show as
text and nothing else. ``driftmon report`` writes the same views to a file, which Chromium
opens from ``file://`` without any other request. Screenshots of every page kind, light and
dark, are kept in each test's temporary directory (pytest keeps the last three runs' ones).
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from driftmon.core.bins import MISSING_LABEL, OTHER_LABEL
from driftmon.results import FeatureResult
from driftmon.storage import Store
from tests.ci import require_tool

from .browser import Browser, Loaded, chromium
from .servers import HOST, Daemon, ManagedProcess, driftmon_command, free_port, get_json, wait_for

pytestmark = pytest.mark.e2e

MONITOR = "shop"
HOSTILE = "<img src=x onerror=alert(1)>"
DRIFTED = "device"
NUMERIC = "amount"
NO_COLUMN = "agee"
SHOWN = (DRIFTED, NUMERIC, HOSTILE)
"""The features with bins to draw (NO_COLUMN is in error: no counts)."""

# Reference and live counts per device: mobile falls, tablet rises past it (critical).
DEVICES: dict[str, dict[str | None, int]] = {
    "reference": {"mobile": 600, "desktop": 300, "tablet": 100},
    "live": {"mobile": 200, "desktop": 300, "tablet": 450, None: 50},
}
# The hostile feature's values are hostile too: its bins are named like markup.
HOSTILE_VALUES: dict[str, dict[str | None, int]] = {
    "reference": {"<b>bold</b>": 500, "<script>alert(2)</script>": 300, "&amp;": 200},
    "live": {"<b>bold</b>": 450, "<script>alert(2)</script>": 350, "&amp;": 200},
}


def column(counts: dict[str | None, int]) -> list[str | None]:
    return [value for value, n in counts.items() for _ in range(n)]


def write_data(tmp: Path) -> None:
    for side in ("reference", "live"):
        devices = column(DEVICES[side])
        n = len(devices)
        hostile = column(HOSTILE_VALUES[side])
        hostile = (hostile * (n // len(hostile) + 1))[:n]
        shift = 0.0 if side == "reference" else 0.4
        amounts = [10.0 + 5.0 * math.sin(i * 0.7) + shift * (i % 7) for i in range(n)]
        table = pa.table({DRIFTED: devices, NUMERIC: amounts, HOSTILE: hostile})
        pq.write_table(table, tmp / f"{side}.parquet")


def write_config(tmp: Path, port: int) -> Path:
    config = {
        "database": {"url": f"sqlite:///{tmp / 'results.db'}"},
        "server": {"host": HOST, "port": port},
        "monitors": [
            {
                "name": MONITOR,
                "schedule": {"every": "1h"},  # the first run is at start
                "reference": {"path": str(tmp / "reference.parquet")},
                "live": {"path": str(tmp / "live.parquet")},
                "features": [
                    {"name": DRIFTED, "type": "categorical"},
                    {"name": NUMERIC, "type": "numeric", "bins": 6},
                    {"name": HOSTILE, "type": "categorical"},
                    {"name": NO_COLUMN, "type": "numeric"},
                ],
                "thresholds": {"policy": "static", "warning": 0.05, "critical": 0.2},
            }
        ],
    }
    path = tmp / "driftmon.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Shop:
    daemon: Daemon
    config: Path
    database: str

    def url(self, path: str) -> str:
        return self.daemon.url + path


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """``driftmon run`` on the shop monitor, with its first run stored."""
    tmp = tmp_path_factory.mktemp("shop")
    write_data(tmp)
    port = free_port()
    config = write_config(tmp, port)
    process = ManagedProcess(
        "driftmon", driftmon_command("run", "-c", str(config)), tmp / "driftmon.log", cwd=tmp
    ).start()
    daemon = Daemon(process, port)
    try:
        wait_for(
            lambda: get_json(f"{daemon.url}/index.json")["monitors"][0]["run"] is not None,
            timeout=60,
            what="the shop monitor's first stored run",
            processes=[process],
        )
        yield Shop(daemon, config, f"sqlite:///{tmp / 'results.db'}")
    finally:
        process.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    binary = require_tool("chromium", "chromium")
    driver = require_tool("chromedriver", "chromium-driver")
    with chromium(binary, driver, tmp_path_factory.mktemp("chromium")) as b:
        yield b


def monitor_path(name: str) -> str:
    return "/monitors/" + quote(name, safe="")


def feature_path(monitor: str, feature: str) -> str:
    return f"{monitor_path(monitor)}/features/{quote(feature, safe='')}"


def assert_clean(loaded: Loaded) -> None:
    assert loaded.console_errors == [], f"console errors on {loaded.url}"


def screenshots(browser: Browser, directory: Path, name: str) -> None:
    """``name``.png (light) and ``name``-dark.png of the page just loaded, reloaded dark."""
    light = browser.screenshot(directory / f"{name}.png")
    browser.dark(True)
    try:
        url = browser.driver.current_url
        assert_clean(browser.load(url))
        dark = browser.screenshot(directory / f"{name}-dark.png")
    finally:
        browser.dark(False)
    for path in (light, dark):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path


def assert_inert(browser: Browser, *, shows_name: bool = True) -> None:
    """The hostile name (and the markup-like bin values) are text: no element, no dialog."""
    assert browser.alert_text() is None
    found = browser.script("return document.querySelectorAll('img, script, [onerror], b').length")
    assert found == 0, "markup from a name or a value became an element"
    if shows_name:
        assert HOSTILE in browser.script("return document.body.innerText")


# -- the histogram --------------------------------------------------------------------------

# The bars of the histogram of the feature named arguments[0], as the browser laid them out.
HISTOGRAM_BARS = """
const svg = [...document.querySelectorAll('svg[data-chart="histogram"]')]
  .find(s => s.dataset.feature === arguments[0]);
if (svg === undefined) return null;
const height = (g, cls) => {
  const r = g.querySelector('rect.' + cls);
  return r === null ? null : r.getBoundingClientRect().height;
};
return [...svg.querySelectorAll('g.bin')].map(g => ({
  bin: g.dataset.bin, ref: height(g, 'ref'), live: height(g, 'live'),
  label: g.querySelector('text.label').textContent,
}));
"""


def shown_label(label: str) -> str:
    return {MISSING_LABEL: "(missing)", OTHER_LABEL: "(other)"}.get(label, label)


def shares(counts: tuple[int, ...] | list[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def same_order(heights: list[float], values: list[float], what: str) -> None:
    """Heights rank as ``values`` do: every pair compares the same way (equal within 0.01 px)."""
    for i, (h_i, v_i) in enumerate(zip(heights, values, strict=True)):
        for j, (h_j, v_j) in enumerate(zip(heights, values, strict=True)):
            if i < j:
                want = (v_i > v_j) - (v_i < v_j) if abs(v_i - v_j) > 1e-12 else 0
                got = (h_i > h_j + 0.01) - (h_i < h_j - 0.01)
                assert got == want, f"{what}: bins {i} and {j}: heights {h_i}, {h_j}"


def stored_feature(shop: Shop, feature: str) -> tuple[FeatureResult, list[int]]:
    """The feature of the latest stored run and the reference counts of its bins."""
    store = Store(shop.database)
    try:
        (run,) = store.runs(MONITOR, limit=1)
        stored = store.load_profile(MONITOR)
    finally:
        store.dispose()
    assert stored is not None
    (result,) = [f for f in run.features if f.feature == feature]
    return result, [int(c) for c in stored.profile.feature(feature).reference.counts]


def assert_histogram(browser: Browser, result: FeatureResult, reference: list[int]) -> None:
    bars: list[dict[str, Any]] | None = browser.script(HISTOGRAM_BARS, result.feature)
    assert bars is not None, "no histogram on the page"
    # One bar pair per stored bin, in the stored order, each labelled with its bin.
    assert [b["bin"] for b in bars] == [shown_label(x) for x in result.bin_labels]
    assert all(b["ref"] is not None and b["live"] is not None for b in bars)
    assert all(b["label"] for b in bars)
    live, ref = shares(result.live_counts), shares(reference)
    assert max(b["live"] for b in bars) > 20, "the tallest bar is drawn tall"
    same_order([b["live"] for b in bars], live, "live bars")
    same_order([b["ref"] for b in bars], ref, "reference bars")
    for b, p, q in zip(bars, live, ref, strict=True):
        same_order([b["ref"], b["live"]], [q, p], f"the pair of bin {b['bin']!r}")


# -- the pages ------------------------------------------------------------------------------


def test_index_lists_the_monitor_and_its_status(
    shop: Shop, browser: Browser, tmp_path: Path
) -> None:
    loaded = browser.load(shop.url("/"))
    assert_clean(loaded)
    assert loaded.requests == [shop.url("/")], "the page loads nothing but itself"
    text = browser.script("return document.body.innerText")
    assert MONITOR in text
    assert "critical" in text  # as a word, not only a colour
    screenshots(browser, tmp_path, "index")


def test_a_reader_follows_links_from_the_index_to_the_drifted_feature(
    shop: Shop, browser: Browser, tmp_path: Path
) -> None:
    assert_clean(browser.load(shop.url("/")))
    monitor = browser.click_link(MONITOR)
    assert monitor.url == shop.url(monitor_path(MONITOR))
    assert_clean(monitor)
    text = browser.script("return document.body.innerText")
    for feature in (*SHOWN, NO_COLUMN):
        assert feature in text
    assert_inert(browser)
    screenshots(browser, tmp_path, "monitor")

    page = browser.click_link(DRIFTED)
    assert page.url == shop.url(feature_path(MONITOR, DRIFTED))
    assert_clean(page)
    assert "critical" in browser.script("return document.querySelector('h3').innerText")
    result, reference = stored_feature(shop, DRIFTED)
    assert_histogram(browser, result, reference)
    screenshots(browser, tmp_path, "feature")


@pytest.mark.parametrize("feature", SHOWN, ids=["categorical", "numeric", "hostile"])
def test_every_feature_page_draws_its_stored_bins(
    shop: Shop, browser: Browser, tmp_path: Path, feature: str
) -> None:
    loaded = browser.load(shop.url(feature_path(MONITOR, feature)))
    assert_clean(loaded)
    assert loaded.requests == [loaded.url]
    result, reference = stored_feature(shop, feature)
    assert_histogram(browser, result, reference)
    assert_inert(browser, shows_name=feature == HOSTILE)
    screenshots(browser, tmp_path, "feature")


def test_a_feature_in_error_shows_its_reason(shop: Shop, browser: Browser) -> None:
    assert_clean(browser.load(shop.url(feature_path(MONITOR, NO_COLUMN))))
    store = Store(shop.database)
    try:
        (run,) = store.runs(MONITOR, limit=1)
    finally:
        store.dispose()
    (result,) = [f for f in run.features if f.feature == NO_COLUMN]
    assert result.message
    text = " ".join(browser.script("return document.body.innerText").split())
    assert "error" in text
    assert " ".join(result.message.split()) in text
    assert browser.script(HISTOGRAM_BARS, NO_COLUMN) is None


# -- the report file ------------------------------------------------------------------------


def test_the_report_opens_from_disk_without_any_request(
    shop: Shop, browser: Browser, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    done = subprocess.run(
        driftmon_command("report", "-c", str(shop.config), "-o", str(report)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr  # 1: a feature is critical
    assert report.is_file(), done.stderr
    url = report.as_uri()
    loaded = browser.load(url)
    assert_clean(loaded)
    assert loaded.requests == [url], "the report asked for something besides itself"
    assert browser.script("return performance.getEntriesByType('resource').length") == 0
    assert_inert(browser)
    drawn = browser.script(
        "return document.querySelectorAll('svg[data-chart=\"histogram\"]').length"
    )
    assert drawn == len(SHOWN)
    for feature in SHOWN:
        assert_histogram(browser, *stored_feature(shop, feature))
    screenshots(browser, tmp_path, "report")
