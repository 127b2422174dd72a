"""The results database (PostgreSQL) goes away during a run and during scrapes, then returns;
or stays but never answers: a frozen server, a table locked by someone else."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from ..sqlite_lock import readers_held, run_pinned
from .conftest import (
    DaemonProcess,
    FaultProxy,
    SilentServer,
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

KL_X = ("driftmon_feature_kl_divergence", (("feature", "x"), ("monitor", "m")))
SCRAPE_ERRORS = ("driftmon_scrape_errors_total", ())


@pytest.mark.postgres
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
        [monitor("m", {"url": live_url, "query": "SELECT x, y, c FROM live"})],
    )
    d = daemons(config)
    d.wait_log(lambda e: e.get("event") == "run.finished", 15, count=2)
    before = d.metrics()
    kl = before[KL_X]
    assert kl > 0.2
    errors_before = before[SCRAPE_ERRORS]

    # Cut the database while a run is reading its live source: the live file is locked
    # across ticks of the 1 s grid, so a tick's run waits inside its read until after the cut
    # (run_pinned says when one does; a fixed 1.3 s could pass before a loaded daemon's tick).
    d.wait_log(lambda e: e.get("event") == "run.finished", 15, count=3)
    with readers_held(tmp_path / "live.db"):
        wait_until(lambda: run_pinned(d.logs(), "m"), 20, "a run waiting inside its read")
        proxy.cut()
        cut_at = datetime.now(UTC)

    # Scrapes: the last snapshot, at once, and a rising error counter.
    def errors_rose() -> bool:
        t0 = time.monotonic()
        m = d.metrics()
        # A latency promise, kept: a scrape answers from the last snapshot at once; 2 s
        # leaves room for a loaded machine.
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


SCRAPE_LIMIT_S = 3.0 + 0.8  # the snapshot's refresh timeout, and room for a loaded machine


def concurrent_scrapes(d: DaemonProcess, n: int) -> list[float]:
    """Seconds each of ``n`` simultaneous ``/metrics`` scrapes took; each must be a 200."""
    took: list[float] = []
    start = threading.Barrier(n)

    def scrape() -> None:
        start.wait(5)
        t0 = time.monotonic()
        with urllib.request.urlopen(d.base + "/metrics", timeout=60) as resp:
            assert resp.status == 200
            assert b"driftmon_build_info" in resp.read()
        took.append(time.monotonic() - t0)

    scrapers = [threading.Thread(target=scrape) for _ in range(n)]
    for t in scrapers:
        t.start()
    for t in scrapers:
        t.join(90)
    assert len(took) == n, "a scrape failed"
    return sorted(took)


def test_a_database_that_never_answers_holds_neither_scrapes_nor_scheduled_runs(
    tmp_path: Path, silent_server: SilentServer, daemons: Callable[..., DaemonProcess]
) -> None:
    """A frozen server (accepts connections, never replies): every one of 10 concurrent
    scrapers is served within ~3 s, /healthz says 503, and runs end within connect_timeout
    per attempt, kept as not stored; the schedule goes on."""
    write_parquet(tmp_path / "reference.parquet", data_columns())
    write_parquet(tmp_path / "live.parquet", data_columns(600, seed=1))
    config = write_config(
        tmp_path / "driftmon.yaml",
        f"postgresql+psycopg://driftmon@127.0.0.1:{silent_server.port}/results",
        [monitor("m", {"path": "live.parquet"})],
        database={"connect_timeout": "2s"},
    )
    d = daemons(config, args=["--no-upgrade"])
    for _ in range(2):  # the first round meets a refresh just started, the second a hung one
        took = concurrent_scrapes(d, 10)
        assert took[-1] < SCRAPE_LIMIT_S, took
    t0 = time.monotonic()
    status, health = d.health()
    assert time.monotonic() - t0 < SCRAPE_LIMIT_S
    assert status == 503
    assert "results database unreachable" in health["problems"]
    first = d.wait_log(lambda e: e.get("event") == "run.not_stored", 30)
    assert f"127.0.0.1:{silent_server.port}/results" in first["error"]
    # The scheduler is not stuck on the database: later windows are tried too.
    later = d.wait_log(lambda e: e.get("event") == "run.not_stored", 30, count=2)
    assert later["window_end"] != first["window_end"]
    assert "run.crashed" not in {e.get("event") for e in d.logs()}
    assert d.terminate() == 0


@pytest.mark.postgres
def test_a_locked_results_table_cannot_hang_scheduled_runs(
    tmp_path: Path, pg_url: str, daemons: Callable[..., DaemonProcess]
) -> None:
    """A session holds the runs table: statements give up at statement_timeout, the runs
    are kept and stored once the lock is gone; scrapes and /healthz answer meanwhile."""
    write_parquet(tmp_path / "reference.parquet", data_columns())
    write_parquet(tmp_path / "live.parquet", data_columns(600, seed=1))
    config = write_config(
        tmp_path / "driftmon.yaml",
        pg_url,
        [monitor("m", {"path": "live.parquet"})],
        database={"statement_timeout": "1s"},
    )
    d = daemons(config)
    d.wait_log(lambda e: e.get("event") == "run.finished", 15, count=2)
    locker = sa.create_engine(pg_url)
    try:
        with locker.connect() as conn:
            conn.exec_driver_sql("BEGIN")
            conn.exec_driver_sql("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
            locked_at = datetime.now(UTC)
            kept = d.wait_log(lambda e: e.get("event") == "run.not_stored", 15, count=2)
            assert "statement timeout" in kept["error"]
            took = concurrent_scrapes(d, 10)
            assert took[-1] < SCRAPE_LIMIT_S, took
            t0 = time.monotonic()
            status, health = d.health()
            assert time.monotonic() - t0 < SCRAPE_LIMIT_S
            assert status == 503
            assert "latest run could not be stored" in health["problems"]
            conn.exec_driver_sql("ROLLBACK")
    finally:
        locker.dispose()
    wait_until(
        lambda: any(
            datetime.fromisoformat(e["window_end"]) >= locked_at for e in d.logs("run.stored_late")
        ),
        15,
        "runs kept during the lock stored late",
    )
    wait_until(lambda: d.health()[0] == 200, 10, "health back to ok")
    assert d.terminate() == 0
    runs = stored_runs(pg_url)
    stored_ends = [r["window_end"] for r in runs]
    assert len(stored_ends) == len(set(stored_ends)), "a window was stored twice"
    assert_whole(runs, {"m": 3})
    assert_counts_match_stats(pg_url)
