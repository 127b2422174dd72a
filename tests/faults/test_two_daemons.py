"""Two (here three) daemons on one PostgreSQL results database: each window stored once."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .conftest import (
    LIVENESS_ROOM,
    DaemonProcess,
    FaultProxy,
    assert_whole,
    data_columns,
    monitor,
    query,
    stored_runs,
    via_proxy,
    write_config,
    write_parquet,
)

pytestmark = pytest.mark.postgres


def test_daemons_on_one_database_store_each_window_once_and_a_late_one_skips(
    tmp_path: Path,
    pg_url: str,
    proxies: Callable[[str], FaultProxy],
    daemons: Callable[..., DaemonProcess],
) -> None:
    """a and b race for every window (the constraint decides); c, behind a slow link,
    finds each window already stored and skips it (run.skipped)."""
    write_parquet(tmp_path / "reference.parquet", data_columns())
    write_parquet(tmp_path / "live.parquet", data_columns(400, seed=1, shift=1.0))
    monitors = [monitor("m", {"path": "live.parquet"})]
    direct = write_config(tmp_path / "direct.yaml", pg_url, monitors)
    proxy = proxies(pg_url)
    slow = write_config(tmp_path / "slow.yaml", via_proxy(pg_url, proxy), monitors)

    a, b, c = (
        daemons(cfg, name, wait=False) for cfg, name in ((direct, "a"), (direct, "b"), (slow, "c"))
    )
    for d in (a, b, c):
        d.wait_started()
    proxy.delay = 0.15  # from now on c's every statement arrives 0.15 s late
    c.wait_log(lambda e: e.get("event") == "run.skipped", 15, count=2)
    for d in (a, b):
        d.wait_log(lambda e: e.get("event") in ("run.finished", "run.skipped"), 15, count=3)
    for d in (a, b, c):
        d.proc.send_signal(signal.SIGTERM)
    for d in (a, b, c):
        assert d.proc.wait(timeout=15 * LIVENESS_ROOM) == 0

    dups = query(
        pg_url,
        "SELECT monitor_id, window_end, COUNT(*) AS n FROM runs "
        "GROUP BY monitor_id, window_end HAVING COUNT(*) > 1",
    )
    assert dups == [], "a (monitor, window_end) was stored twice"
    runs = stored_runs(pg_url)
    assert_whole(runs, {"m": 3})
    stored = {r["window_end"].isoformat() for r in runs}
    for d in (a, b, c):
        events = {e.get("event") for e in d.logs()}
        assert "run.not_stored" not in events, d.text()
        assert "run.crashed" not in events, d.text()
        # Whatever a daemon computed or skipped is in the database.
        seen = {
            e["window_end"] for e in d.logs() if e.get("event") in ("run.finished", "run.skipped")
        }
        assert seen <= stored
    skipped = c.logs("run.skipped")
    assert all("already stored" in e["reason"] for e in skipped)
    # Runs counted once per stored window, however many daemons computed it.
    (stats,) = query(
        pg_url,
        "SELECT runs_success + runs_partial + runs_failure + runs_insufficient_data AS n "
        "FROM monitor_stats",
    )
    assert stats["n"] == len(runs), "a window was counted by more than one daemon"


def test_the_unique_constraint_refuses_a_second_run_of_a_window(pg_url: str) -> None:
    """The database itself, not timing, keeps (monitor, window_end) unique."""
    from driftmon.storage import Store

    store = Store(pg_url)
    store.upgrade()
    store.dispose()
    engine = sa.create_engine(pg_url)
    row = (
        "INSERT INTO runs (monitor_id, window_start, window_end, started_at, finished_at, "
        "status, live_rows, reference_rows) VALUES (:m, NULL, '2026-10-25 01:00+00', now(), "
        "now(), 'ok', 1, 1)"
    )
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO monitors (name, created_at) VALUES ('m', now())")
            m = conn.exec_driver_sql("SELECT id FROM monitors").scalar_one()
            conn.execute(sa.text(row), {"m": m})
        with pytest.raises(IntegrityError, match=r"(?i)unique"), engine.begin() as conn:
            conn.execute(sa.text(row), {"m": m})
    finally:
        engine.dispose()
