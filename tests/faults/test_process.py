"""The daemon process dies or is stopped mid-run: kill -9 while a run is being written, and
SIGTERM while runs would go on for longer than the shutdown grace."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from .conftest import (
    DaemonProcess,
    assert_counts_match_stats,
    assert_whole,
    data_columns,
    monitor,
    query,
    sqlite_table,
    stored_runs,
    wait_until,
    write_config,
    write_parquet,
)

N_WIDE = 40
# A backend of the test database inside a transaction that has written something.
WRITING = (
    "SELECT pid, query, wait_event_type FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
)


def _wide(n: int, seed: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"f{i:02d}": rng.normal(shift, 1.0, n) for i in range(N_WIDE)}


@pytest.mark.postgres
def test_kill_9_while_a_run_is_written_leaves_no_partial_run_and_a_restart_carries_on(
    tmp_path: Path,
    pg_url: str,
    daemons: Callable[..., DaemonProcess],
) -> None:
    """The transaction dies with the process; metrics come back at once; the next window runs."""
    write_parquet(tmp_path / "reference.parquet", _wide(1000, 0))
    write_parquet(tmp_path / "live.parquet", _wide(300, 1, shift=2.0))
    wide = monitor("wide", {"path": "live.parquet"})
    wide["features"] = [{"name": f"f{i:02d}", "bins": 8} for i in range(N_WIDE)]
    config = write_config(tmp_path / "driftmon.yaml", pg_url, [wide])

    first = daemons(config, "first")
    first.wait_log(lambda e: e.get("event") == "run.finished", 20, count=2)

    def run_being_written() -> bool:
        # The run and its feature rows inserted, its counters' update waiting for the lock
        # below: the transaction cannot reach its COMMIT before the kill. (Before: the kill
        # followed seeing the INSERT, a few 0.1 s round trips before the COMMIT, which a
        # loaded machine could let through first.)
        return any(r["wait_event_type"] == "Lock" for r in query(pg_url, WRITING))

    locker = sa.create_engine(pg_url)
    try:
        with locker.begin() as conn:  # reads of monitor_stats go on; writes wait
            conn.exec_driver_sql("LOCK TABLE monitor_stats IN EXCLUSIVE MODE")
            wait_until(run_being_written, 15, "a run being written")
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(timeout=10)
    finally:
        locker.dispose()
    killed_end = datetime.fromisoformat(first.logs("run.finished")[-1]["window_end"])
    wait_until(lambda: not query(pg_url, WRITING), 10, "the killed transaction rolled back")

    runs = stored_runs(pg_url)
    assert runs, "nothing was stored before the kill"
    assert killed_end not in [r["window_end"] for r in runs], "the killed run was stored"
    assert_whole(runs, {"wide": N_WIDE})
    assert_counts_match_stats(pg_url)
    stored_ok = query(
        pg_url,
        "SELECT f.kl_divergence AS kl, s.runs_success AS ok FROM feature_results f "
        "JOIN runs r ON r.id = f.run_id JOIN monitor_stats s ON s.monitor_id = r.monitor_id "
        "WHERE f.feature = 'f00' ORDER BY r.window_end DESC LIMIT 1",
    )[0]

    second = daemons(config, "second")
    metrics = second.metrics()  # the first scrape after the restart
    kl = metrics.get(("driftmon_feature_kl_divergence", (("feature", "f00"), ("monitor", "wide"))))
    assert kl == pytest.approx(stored_ok["kl"]), "the stored scores did not come back at once"
    ok = metrics[("driftmon_monitor_runs_total", (("monitor", "wide"), ("outcome", "success")))]
    assert ok >= stored_ok["ok"]
    after = second.wait_log(
        lambda e: (
            e.get("event") == "run.finished"
            and datetime.fromisoformat(e["window_end"]) > killed_end
        ),
        15,
    )
    assert second.terminate() == 0
    runs = stored_runs(pg_url)
    assert datetime.fromisoformat(after["window_end"]) in [r["window_end"] for r in runs]
    assert_whole(runs, {"wide": N_WIDE})
    assert_counts_match_stats(pg_url)
    ends = [r["window_end"] for r in runs]
    assert len(ends) == len(set(ends))


# engine.shutdown_grace of the SIGTERM test: the runs below outlast it many times over; the
# default 20 s would only make the test wait longer for the same steps.
GRACE_S = 3
# One row about every 60 ms (a correlated count per row), read one row per batch: ~36 s.
TRICKLE = (
    "SELECT x, y, c FROM live WHERE (WITH RECURSIVE n(i) AS (SELECT live.x * 0 + 1 "
    "UNION ALL SELECT i + 1 FROM n WHERE i < 300000) SELECT count(*) FROM n) > 0"
)
# One statement that never returns a row in the test's lifetime.
ENDLESS = (
    "SELECT x, y, c FROM live WHERE (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
    "SELECT i + 1 FROM n WHERE i < 10000000000) SELECT count(*) FROM n) > 0"
)


def test_sigterm_mid_run_exits_0_within_the_grace_and_stores_nothing_partial(
    tmp_path: Path, daemons: Callable[..., DaemonProcess]
) -> None:
    """Runs longer than the grace: abandoned (or left behind), exit 0 about 5 s after it."""
    write_parquet(tmp_path / "reference.parquet", data_columns())
    write_parquet(tmp_path / "live.parquet", data_columns(300, seed=1))
    live_url = sqlite_table(tmp_path / "live.db", data_columns(600, seed=2))
    monitors = [
        monitor("quick", {"path": "live.parquet"}),
        # Abandoned at a batch boundary: rows read in batches, not one pushed-down
        # aggregate (a single statement, which is left behind like ENDLESS).
        monitor("trickle", {"url": live_url, "query": TRICKLE, "batch_rows": 1, "pushdown": False}),
        monitor("endless", {"url": live_url, "query": ENDLESS}),
    ]
    for m in monitors[1:]:
        m["source_timeout"] = None
    db = f"sqlite:///{tmp_path / 'results.db'}"
    engine = {"shutdown_grace": f"{GRACE_S}s"}
    d = daemons(write_config(tmp_path / "driftmon.yaml", db, monitors, engine=engine))
    d.wait_log(lambda e: e.get("event") == "run.finished" and e["monitor"] == "quick", 10)
    time.sleep(1.0)

    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    try:
        code = d.proc.wait(timeout=35)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running 35 s after SIGTERM:\n{d.text()}")
    took = time.monotonic() - t0
    assert code == 0, d.text()
    assert took < 30, f"exit took {took:.1f} s"
    events = [e.get("event") for e in d.logs()]
    assert "daemon.stopped" in events
    # The configured grace is the one waited for, and the stuck statement outlived it.
    assert [e["grace_s"] for e in d.logs("daemon.abandoning_runs")] == [GRACE_S]
    assert [e["waited_s"] for e in d.logs("daemon.stop_timeout")] == [GRACE_S + 5]
    abandoned = {e["monitor"] for e in d.logs("run.abandoned")}
    assert "trickle" in abandoned, d.text()

    runs = stored_runs(db)
    assert {r["monitor"] for r in runs} == {"quick"}, "a run cut short was stored"
    assert_whole(runs, {"quick": 3})
    assert_counts_match_stats(db)
