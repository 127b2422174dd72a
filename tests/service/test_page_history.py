"""The pages' history: older runs by ``?run=`` or ``?window_end=``, each drawn against the
reference profile version it was scored on; the KL history chart; links under external_url."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from driftmon.core.status import Status
from driftmon.service.pages import Pages
from driftmon.storage import Store
from tests.render.factories import HOSTILE, categorical, profile_of, run_of, scored

from .conftest import make_config, monitor_dict
from .test_pages import Served, get, html_of

MONITOR = "m"
FEATURES = [{"name": "c", "type": "categorical"}, {"name": HOSTILE, "type": "categorical"}]
FEATURE_PATH = "/monitors/m/features/c"


@dataclasses.dataclass
class History:
    served: Served
    run_ids: list[int]
    """Oldest first: two runs on the first profile version, one on the rebuilt one."""


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    url = f"sqlite:///{tmp_path / 'results.db'}"
    store = Store(url)
    store.upgrade()
    first_c = categorical("c", ["a"] * 90 + ["b"] * 10)
    first_h = categorical(HOSTILE, ["x", "y"] * 10)
    first = store.save_profile(MONITOR, "fp-1", profile_of(first_c, first_h))
    ids = []
    for hours, live in ((2, ["a"] * 50 + ["b"] * 50), (1, ["a"] * 90 + ["b"] * 10)):
        run = run_of(scored(first_c, live), scored(first_h, ["x"] * 10), monitor=MONITOR)
        run = dataclasses.replace(
            run, window_end=run.window_end - timedelta(hours=hours), profile_version=first
        )
        ids.append(store.save_run(run))
    # The rebuilt reference: "b" is now most of it.
    rebuilt_c = categorical("c", ["a"] * 20 + ["b"] * 80)
    second = store.save_profile(MONITOR, "fp-2", profile_of(rebuilt_c, first_h))
    latest = run_of(scored(rebuilt_c, ["b"] * 100), scored(first_h, ["y"] * 10), monitor=MONITOR)
    ids.append(store.save_run(dataclasses.replace(latest, profile_version=second)))
    config = make_config(
        tmp_path,
        url,
        monitor_dict(MONITOR, features=FEATURES),
        server={"external_url": "https://ops.example.com/drift/"},
    )
    served = Served(config, store)
    yield History(served, ids)
    served.server.stop()
    store.dispose()


def reference_counts(body: bytes) -> list[str]:
    """The reference rows column of the per-bin table, in bin order."""
    rows = re.findall(r"<tr class=\"bin-[^\"]*\">(.*?)</tr>", body.decode(), re.S)
    return [re.findall(r'<td class="n">([^<]*)</td>', r)[0] for r in rows]


def test_an_old_run_is_drawn_against_the_profile_version_it_was_scored_on(
    history: History,
) -> None:
    port = history.served.port
    latest = get(port, FEATURE_PATH)
    oldest = get(port, f"{FEATURE_PATH}?run={history.run_ids[0]}")
    assert (latest[0], oldest[0]) == (200, 200)
    # Most frequent category first: b, a in the rebuilt reference; a, b in the first one.
    assert reference_counts(latest[2])[:2] == ["80", "20"]
    assert reference_counts(oldest[2])[:2] == ["90", "10"]
    text = " ".join(" ".join(html_of(oldest).text).split())
    assert "An older run:" in text
    assert "2026-03-01 10:00:00" in text
    assert "not stored" not in text  # its own version: no note about the current one
    assert "(the same)" in text  # the KL recomputed from that profile is the stored one
    assert "An older run:" not in " ".join(html_of(latest).text)


def test_the_feature_page_draws_the_kl_history_and_links_every_run(history: History) -> None:
    page = html_of(get(history.served.port, f"{FEATURE_PATH}?run={history.run_ids[1]}"))
    assert "threshold" in page.classes  # the warning and critical step lines
    assert "kl" in page.classes
    body = get(history.served.port, f"{FEATURE_PATH}?run={history.run_ids[1]}")[2].decode()
    for run_id in history.run_ids:
        assert f'href="?run={run_id}"' in body
    assert f'href="?run={history.run_ids[0]}" rel="prev"' in body
    assert f'href="?run={history.run_ids[2]}" rel="next"' in body
    assert '<form method="get"' in body
    assert 'name="window_end"' in body


@pytest.mark.parametrize(
    "query", ["window_end=2026-03-01T11:00:00Z", "window_end=2026-03-01T11:00:00 00:00"]
)
def test_a_run_is_chosen_by_its_window_end(history: History, query: str) -> None:
    reply = get(history.served.port, f"{FEATURE_PATH}?{quote(query, safe='=')}")
    assert reply[0] == 200
    text = " ".join(" ".join(html_of(reply).text).split())
    assert "whose window ended 2026-03-01 11:00:00 UTC" in text
    assert reference_counts(reply[2])[:2] == ["90", "10"]


@pytest.mark.parametrize(
    ("query", "status", "detail"),
    [
        ("run=abc", 400, "run must be a run id (a whole number), got 'abc'"),
        ("window_end=yesterday", 400, "window_end must be an ISO 8601 time"),
        ("run=999999", 404, "has no stored run 999999"),
        ("window_end=2020-01-01T00:00:00Z", 404, "no stored run whose window ended"),
    ],
)
def test_a_run_that_cannot_be_read_or_found_is_a_4xx_page(
    history: History, query: str, status: int, detail: str
) -> None:
    for path in (FEATURE_PATH, "/monitors/m"):
        reply = get(history.served.port, f"{path}?{query}")
        assert reply[0] == status
        assert detail in " ".join(" ".join(html_of(reply).text).split())


def test_the_monitor_page_shows_an_older_run_and_marks_it_among_the_recent_runs(
    history: History,
) -> None:
    reply = get(history.served.port, f"/monitors/m?run={history.run_ids[0]}")
    assert reply[0] == 200
    page = html_of(reply)
    text = " ".join(" ".join(page.text).split())
    assert "An older run:" in text
    assert "2026-03-01 10:00:00 (shown)" in text
    assert "shown" in page.classes


def test_links_start_with_the_path_of_the_external_url(history: History) -> None:
    index = html_of(get(history.served.port, "/"))
    assert index.links[MONITOR] == "/drift/monitors/m"
    assert index.links["/metrics"] == "/drift/metrics"
    monitor = html_of(get(history.served.port, "/monitors/m"))
    assert monitor.links["c"] == "/drift/monitors/m/features/c"
    assert monitor.links[HOSTILE] == "/drift/monitors/m/features/" + quote(HOSTILE, safe="")
    assert monitor.links["driftmon"] == "/drift/"


def test_the_index_trends_show_the_worst_features_first(history: History) -> None:
    page = html_of(get(history.served.port, "/"))
    store = history.served.store
    (latest,) = store.runs(MONITOR, limit=1)
    worst = sorted(latest.features, key=lambda f: -(f.scores.kl_divergence if f.scores else 0))
    names = [t for t in page.text if t.strip() in (HOSTILE, "c")]
    assert names[-2:] == [f.feature for f in worst]


def test_pages_wire_the_query_string_through_the_app(history: History) -> None:
    """Pages.answer gets the query string: the same run by URL and by a direct call."""
    pages = Pages(history.served.config, history.served.store, 3.0)
    direct = pages.answer("/monitors/m", f"run={history.run_ids[0]}")
    assert direct is not None
    served = get(history.served.port, f"/monitors/m?run={history.run_ids[0]}")
    assert direct.body == served[2]


def test_the_index_keeps_the_trends_when_the_latest_run_failed(history: History) -> None:
    """The worst features come from the latest run that scored any; the failure shows in
    the run health."""
    store = history.served.store
    (latest,) = store.runs(MONITOR, limit=1)
    failed = dataclasses.replace(
        latest,
        window_end=latest.window_end + timedelta(hours=1),
        status=Status.ERROR,
        features=(),
        error="source unreachable",
        profile_version=None,
    )
    store.save_run(failed)
    page = html_of(get(history.served.port, "/"))
    text = " ".join(" ".join(page.text).split())
    assert "⚠ 1 failed" in text
    assert "spark" in page.classes
    assert {HOSTILE, "c"} <= {t.strip() for t in page.text}
