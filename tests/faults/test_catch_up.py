"""Windows missed while the daemon was down, or skipped while it was stalled, are scored
late, oldest first, within each monitor's catch_up (one rule); those beyond it are logged
and counted; a source without a window is not caught up."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .conftest import (
    LIVENESS_ROOM,
    DaemonProcess,
    data_columns,
    monitor,
    query,
    write_config,
    write_parquet,
)
from .test_spool import CATCH_UP_S, assert_every_window_once, windowed_live


def stored_ends(db: Path, name: str) -> list[datetime]:
    rows = query(
        f"sqlite:///{db}",
        "SELECT r.window_end FROM runs r JOIN monitors m ON m.id = r.monitor_id "
        "WHERE m.name = :name ORDER BY r.window_end",
        {"name": name},
    )
    return [datetime.fromisoformat(str(r["window_end"])).replace(tzinfo=UTC) for r in rows]


def catch_up_finished(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("event") == "catch_up.finished" and e["monitor"] == name


def three_monitors(tmp_path: Path) -> Path:
    """A config of three monitors every second: windowed with the default catch_up (24h),
    windowed with {windows: 2}, and one whose source has no window."""
    write_parquet(tmp_path / "reference.parquet", data_columns())
    write_parquet(tmp_path / "batch.parquet", data_columns(300, seed=1))
    live = windowed_live(tmp_path / "live.parquet")
    return write_config(
        tmp_path / "driftmon.yaml",
        "sqlite:///results.db",
        [
            monitor("all", live),
            monitor("two", live, catch_up={"windows": 2}),
            monitor("batch", {"path": "batch.parquet"}),
        ],
    )


def test_a_restart_scores_the_windows_missed_while_down_within_the_bound(
    tmp_path: Path, daemons: Callable[..., DaemonProcess]
) -> None:
    config = three_monitors(tmp_path)
    first = daemons(config, "first")
    first.wait_log(lambda e: e.get("event") == "run.finished" and e["monitor"] == "two", 20, 2)
    assert first.terminate() == 0
    time.sleep(5)  # about five windows pass with no daemon
    second = daemons(config, "second")
    finished = {m: second.wait_log(catch_up_finished(m), CATCH_UP_S) for m in ("all", "two")}
    started = {e["monitor"]: e for e in second.logs("catch_up.started")}
    assert set(started) == {"all", "two"}, "the batch monitor was caught up"
    assert started["all"]["windows"] >= 4
    assert started["all"]["bounded"] is False
    assert (started["two"]["windows"], started["two"]["bounded"]) == (2, True)
    assert started["two"]["catch_up"] == "2 windows"
    assert finished["all"]["windows"] >= started["all"]["windows"]
    restarted = datetime.now(UTC)
    second.wait_log(
        lambda e: (
            e.get("event") == "run.finished"
            and e["monitor"] == "all"
            and datetime.fromisoformat(e["window_end"]) > restarted
        ),
        15,
    )
    assert second.terminate() == 0

    db = tmp_path / "results.db"
    everything = stored_ends(db, "all")
    assert_every_window_once(everything, everything[0], everything[-1])
    bounded = stored_ends(db, "two")
    gap = [t for t in everything if t not in bounded]
    assert gap, "the bound of two windows left none out"
    caught = [datetime.fromisoformat(t) for t in (started["two"]["first"], started["two"]["last"])]
    assert caught[1] - caught[0] == timedelta(seconds=1)
    assert set(caught) <= set(bounded)


def test_a_stalled_daemon_scores_the_skipped_windows_within_the_bound(
    tmp_path: Path, daemons: Callable[..., DaemonProcess]
) -> None:
    """SIGSTOP for 5 s on a 1 s schedule: APScheduler coalesces the missed fires into one
    late tick, whose run scores the skipped windows first (before: at most 3 of them)."""
    config = three_monitors(tmp_path)
    d = daemons(config)
    d.wait_log(lambda e: e.get("event") == "run.finished" and e["monitor"] == "two", 20, 2)
    os.kill(d.proc.pid, signal.SIGSTOP)
    # Read after the signal: a run the daemon began between a reading before it and the stop
    # (a descheduled test, a whole second passing) ends a window later than that reading.
    stopped = datetime.now(UTC)
    try:
        time.sleep(5)
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)
    resumed = datetime.now(UTC)

    def since_the_stall(
        event: str, name: str, field: str, slack: float
    ) -> Callable[[dict[str, Any]], bool]:
        """Log lines ``event`` of monitor ``name`` whose time ``field`` is at most ``slack``
        seconds before the daemon resumed: what the first run after the stall logged."""
        return lambda e: (
            e.get("event") == event
            and e["monitor"] == name
            and datetime.fromisoformat(e[field]) >= resumed - timedelta(seconds=slack)
        )

    late = d.wait_log(since_the_stall("run.late_windows", "all", "last", 2), 15)
    assert datetime.fromisoformat(late["first"]) <= stopped + timedelta(seconds=1), late
    assert late["windows"] >= 4, late
    assert d.wait_log(since_the_stall("run.late_windows", "two", "last", 2), 15)["windows"] == 2
    dropped = d.wait_log(since_the_stall("catch_up.windows_dropped", "two", "before", 3), 15)
    assert (dropped["cause"], dropped["windows"] >= 2) == ("late tick", True), dropped
    assert dropped["catch_up"] == "2 windows"
    d.wait_log(
        lambda e: (
            e.get("event") == "run.finished"
            and e["monitor"] == "all"
            and datetime.fromisoformat(e["window_end"]) > resumed + timedelta(seconds=1)
        ),
        15,
    )
    logged = {
        name: sum(e["windows"] for e in d.logs("catch_up.windows_dropped") if e["monitor"] == name)
        for name in ("all", "two")
    }
    assert logged["all"] == 0, "the 24h bound dropped windows"
    assert d.sample("driftmon_catch_up_dropped_windows_total", monitor="two") == logged["two"]
    assert d.sample("driftmon_catch_up_dropped_windows_total", monitor="all") == 0
    assert d.sample("driftmon_catch_up_dropped_windows_total", monitor="batch") is None
    # The time of the drop, which the alert is timed from, and the lag once caught up.
    last_drop = d.sample("driftmon_catch_up_last_dropped_timestamp_seconds", monitor="two")
    assert last_drop is not None
    assert last_drop >= resumed.timestamp() - 1, last_drop
    assert d.sample("driftmon_catch_up_last_dropped_timestamp_seconds", monitor="all") is None
    assert d.sample("driftmon_catch_up_bound_seconds", monitor="two") == 2
    lag = d.sample("driftmon_catch_up_lag_seconds", monitor="all")
    assert lag is not None
    assert 0 <= lag < 5, lag
    assert not [e for e in d.logs("run.late_windows") if e["monitor"] == "batch"]
    # The batch monitor scores none of its skipped ticks' windows: said and counted instead.
    skipped = d.wait_log(since_the_stall("run.ticks_skipped", "batch", "before", 2), 15)
    assert skipped["ticks"] >= 3, skipped

    def logged_ticks() -> int:
        return sum(e["ticks"] for e in d.logs("run.ticks_skipped") if e["monitor"] == "batch")

    # A loaded machine may skip more ticks meanwhile; each is counted, then logged.
    before = logged_ticks()
    counted = d.sample("driftmon_skipped_ticks_total", monitor="batch")
    assert counted is not None
    assert counted >= before
    deadline = time.monotonic() + 5 * LIVENESS_ROOM
    while logged_ticks() < counted and time.monotonic() < deadline:
        time.sleep(0.1)
    assert logged_ticks() >= counted, "a skipped tick counted but not logged"
    assert d.sample("driftmon_skipped_ticks_total", monitor="all") >= late["windows"]
    assert not [e for e in d.logs("run.ticks_skipped") if e["monitor"] != "batch"]
    assert d.terminate() == 0

    db = tmp_path / "results.db"
    everything = stored_ends(db, "all")
    assert_every_window_once(everything, everything[0], everything[-1])
    bounded = stored_ends(db, "two")
    assert len(bounded) == len(set(bounded))
    gap = [t for t in everything if t not in bounded]
    assert len(gap) >= logged["two"] >= dropped["windows"], "the dropped windows were stored"
