"""The results database (PostgreSQL) goes away during a run and during scrapes, then returns."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from .conftest import (
    DaemonProcess,
    FaultProxy,
    assert_counts_match_stats,
    assert_whole,
    data_columns,
    monitor,
    query,
    sqlite_table,
    stored_runs,
    via_proxy,
    wait_until,
    write_config,
    write_parquet,
)

pytestmark = pytest.mark.postgres

# About half a second of counting, so the database can go away while a run is reading.
SLOW_LIVE = (
    "SELECT x, y, c FROM live WHERE (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
    "SELECT i + 1 FROM n WHERE i < 2500000) SELECT count(*) FROM n) > 0"
)
KL_X = ("driftmon_feature_kl_divergence", (("feature", "x"), ("monitor", "m")))
SCRAPE_ERRORS = ("driftmon_scrape_errors_total", ())


def test_outage_serves_last_snapshot_keeps_runs_and_recovers_by_itself(
    tmp_path: Path,
    pg_url: str,
    proxies: Callable[[str], FaultProxy],
    daemons: Callable[..., DaemonProcess],
) -> None:
    """Metrics keep the last snapshot, health says why, kept runs are stored late, whole."""
    write_parquet(tmp_path / "reference.parquet", data_columns())
    live_url = sqlite_table(tmp_path / "live.db", data_columns(600, seed=1, shift=3.0))
    proxy = proxies(pg_url)
    config = write_config(
        tmp_path / "driftmon.yaml",
        via_proxy(pg_url, proxy),
        [monitor("m", {"url": live_url, "query": SLOW_LIVE})],
    )
    d = daemons(config)
    d.wait_log(lambda e: e.get("event") == "run.finished", 15, count=2)
    before = d.metrics()
    kl = before[KL_X]
    assert kl > 0.2
    errors_before = before[SCRAPE_ERRORS]

    # Cut the database while the next run is reading its live source.
    # Runs start on whole seconds (the 1 s grid) and read for about half a second.
    d.wait_log(lambda e: e.get("event") == "run.finished", 15, count=3)
    time.sleep(1.15 - time.time() % 1.0)
    proxy.cut()
    cut_at = datetime.now(UTC)

    # Scrapes: the last snapshot, at once, and a rising error counter.
    def errors_rose() -> bool:
        t0 = time.monotonic()
        m = d.metrics()
        assert time.monotonic() - t0 < 2.0, "a scrape waited on the dead database"
        assert m.get(KL_X) == pytest.approx(kl), "the last snapshot was not served"
        return m[SCRAPE_ERRORS] > errors_before

    wait_until(errors_rose, 10, "driftmon_scrape_errors_total rising")
    status, health = d.health()
    assert status == 503
    assert health["status"] == "degraded"
    assert "results database unreachable" in health["problems"]
    assert f"127.0.0.1:{proxy.port}" in health["database"]["error"]

    # Runs computed meanwhile are kept, among them the one running when the database went.
    not_stored = d.wait_log(lambda e: e.get("event") == "run.not_stored", 15, count=2)
    assert "latest run could not be stored" in d.health()[1]["problems"]
    kept = [e["window_end"] for e in d.logs("run.not_stored")]
    assert datetime.fromisoformat(kept[0]) < cut_at, "no run was in progress at the cut"
    assert not_stored["pending"] >= 2

    proxy.restore()
    restored_at = datetime.now(UTC)
    wait_until(
        lambda: {e["window_end"] for e in d.logs("run.stored_late")} >= set(kept),
        15,
        "every kept run stored late",
    )
    wait_until(lambda: d.health()[0] == 200, 10, "health back to ok")
    assert d.health()[1]["runs_pending"] == 0
    d.wait_log(
        lambda e: (
            e.get("event") == "run.finished"
            and datetime.fromisoformat(e["window_end"]) > restored_at
        ),
        15,
    )
    assert d.terminate() == 0

    runs = stored_runs(pg_url)
    stored_ends = [r["window_end"] for r in runs]
    assert len(stored_ends) == len(set(stored_ends)), "a window was stored twice"
    for end in kept:
        assert datetime.fromisoformat(end) in stored_ends, f"kept run {end} lost"
    assert any(end > restored_at for end in stored_ends), "no new run stored after recovery"
    assert all(r["status"] != "error" for r in runs), runs
    assert_whole(runs, {"m": 3})
    assert_counts_match_stats(pg_url)
    finished = {e["window_end"] for e in d.logs("run.finished")}
    assert {e.isoformat() for e in stored_ends} == finished, "a computed run was lost"
    events = {e.get("event") for e in d.logs()}
    assert "run.crashed" not in events
    assert "daemon.pending_runs_lost" not in events
    assert query(pg_url, "SELECT COUNT(*) AS n FROM runs")[0]["n"] == len(finished)
