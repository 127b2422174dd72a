"""Windows skipped by the schedule (a tick while the previous run was still going) are
scored late for time-windowed sources, at most MAX_CATCH_UP_WINDOWS of them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from driftmon.service.daemon import MAX_CATCH_UP_WINDOWS, Daemon
from driftmon.storage import Store

from .conftest import END, make_config, monitor_dict

WINDOWED = {"path": "live.parquet", "timestamp_column": "ts", "window": "1h"}


def daemon_for(tmp_path: Path, live: dict[str, str]) -> Daemon:
    url = f"sqlite:///{tmp_path / 'results.db'}"
    config = make_config(tmp_path, url, monitor_dict(live=live))
    return Daemon(config, Store(url))


def test_first_run_scores_only_the_current_window(tmp_path: Path) -> None:
    daemon = daemon_for(tmp_path, WINDOWED)
    (monitor,) = daemon.config.monitors
    assert daemon._windows_due(monitor, END) == [END]


def test_a_skipped_tick_is_scored_before_the_current_window(tmp_path: Path) -> None:
    daemon = daemon_for(tmp_path, WINDOWED)
    (monitor,) = daemon.config.monitors
    daemon._last_end[monitor.name] = END - timedelta(hours=2)
    assert daemon._windows_due(monitor, END) == [END - timedelta(hours=1), END]


def test_only_the_latest_skipped_windows_are_caught_up(tmp_path: Path) -> None:
    daemon = daemon_for(tmp_path, WINDOWED)
    (monitor,) = daemon.config.monitors
    daemon._last_end[monitor.name] = END - timedelta(hours=10)
    due = daemon._windows_due(monitor, END)
    assert len(due) == MAX_CATCH_UP_WINDOWS + 1
    assert due == [END - timedelta(hours=h) for h in range(MAX_CATCH_UP_WINDOWS, -1, -1)]


def test_batch_sources_score_only_the_latest_window(tmp_path: Path) -> None:
    """Without a time window every run reads the same data: nothing to catch up."""
    daemon = daemon_for(tmp_path, {"path": "live.parquet"})
    (monitor,) = daemon.config.monitors
    daemon._last_end[monitor.name] = END - timedelta(hours=5)
    assert daemon._windows_due(monitor, END) == [END]
