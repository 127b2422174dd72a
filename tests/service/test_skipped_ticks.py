"""Skipped ticks: every scheduled monitor has a counter at 0 from start and a count of its
latest runs in a row that came after skipped ticks, read fresh on every scrape; the daemon
counts the ticks between a monitor's previous window and its current one."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import driftmon.service.daemon as daemon_module
from driftmon.service.daemon import Daemon
from driftmon.service.skipped_ticks import SkippedTicks, skipped_ticks_families
from driftmon.storage import Store

from .conftest import END, WINDOWED, make_config, monitor_dict, monitors, sample, scraped

HOUR = timedelta(hours=1)
SKIPPED = "driftmon_skipped_ticks_total"
IN_A_ROW = "driftmon_skipped_ticks_runs_in_a_row"

FLEET = (
    monitor_dict("batch"),
    monitor_dict("never", live=WINDOWED, catch_up=None),
    monitor_dict("late", live=WINDOWED),
    monitor_dict("off", live=WINDOWED, enabled=False),
)


@pytest.mark.parametrize("name", ["batch", "never", "late"])
def test_every_scheduled_monitor_starts_at_zero(name: str) -> None:
    """The first increment is then an increase Prometheus can see."""
    registry = scraped(skipped_ticks_families, SkippedTicks(monitors(*FLEET)).state)
    assert (sample(registry, SKIPPED, name), sample(registry, IN_A_ROW, name)) == (0, 0)


def test_a_disabled_monitor_has_no_series_and_takes_no_record() -> None:
    tally = SkippedTicks(monitors(*FLEET))
    assert sample(scraped(skipped_ticks_families, tally.state), SKIPPED, "off") is None
    with pytest.raises(ValueError, match="'off' is not scheduled"):
        tally.run_started("off", 1)


def test_skipped_ticks_add_up_and_a_run_on_time_ends_the_run_in_a_row() -> None:
    tally = SkippedTicks(monitors(*FLEET))
    registry = scraped(skipped_ticks_families, tally.state)
    for skipped, total, in_a_row in [(2, 2, 1), (1, 3, 2), (3, 6, 3), (0, 6, 0), (1, 7, 1)]:
        tally.run_started("batch", skipped)
        assert (sample(registry, SKIPPED, "batch"), sample(registry, IN_A_ROW, "batch")) == (
            total,
            in_a_row,
        )
    assert sample(registry, SKIPPED, "never") == 0, "per monitor"


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        SkippedTicks(monitors(*FLEET)).run_started("batch", -1)


def daemon_for(tmp_path: Path, **extra: Any) -> Daemon:
    url = f"sqlite:///{tmp_path / 'results.db'}"
    return Daemon(make_config(tmp_path, url, monitor_dict(**extra)), Store(url))


def run_at(daemon: Daemon, monkeypatch: pytest.MonkeyPatch, minutes: float) -> None:
    """One scheduled run of the daemon's monitor at END + ``minutes``, scoring nothing."""
    monkeypatch.setattr(daemon_module, "utcnow", lambda: END + timedelta(minutes=minutes))
    daemon.run_monitor(daemon.config.monitors[0])


@pytest.mark.parametrize(
    "live", [{"path": "live.parquet"}, WINDOWED], ids=["batch source", "catch_up null"]
)
def test_ticks_skipped_by_a_slow_run_are_counted_and_logged(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    live: dict[str, str],
) -> None:
    """Hourly: runs at 0:03, then 3:05 (1:00 and 2:00 started nothing), then 4:01."""
    daemon = daemon_for(tmp_path, live=live, catch_up=None)
    scored: list[object] = []
    monkeypatch.setattr(daemon, "_run_window", lambda m, end: scored.append(end))
    registry = daemon.process_registry
    with caplog.at_level(logging.WARNING, "driftmon.daemon"):
        run_at(daemon, monkeypatch, 3)
        assert sample(registry, SKIPPED, "m") == 0, "the first run counts nothing"
        run_at(daemon, monkeypatch, 3 * 60 + 5)
    assert scored == [END, END + 3 * HOUR], "the skipped windows are not scored"
    assert (sample(registry, SKIPPED, "m"), sample(registry, IN_A_ROW, "m")) == (2, 1)
    (line,) = [r for r in caplog.records if r.getMessage() == "run.ticks_skipped"]
    fields = line.__dict__
    assert (fields["monitor"], fields["ticks"]) == ("m", 2)
    assert (fields["after"], fields["before"]) == (END.isoformat(), (END + 3 * HOUR).isoformat())
    assert fields["windows"].startswith("none" if "window" not in live else "not scored")
    run_at(daemon, monkeypatch, 4 * 60 + 1)
    assert (sample(registry, SKIPPED, "m"), sample(registry, IN_A_ROW, "m")) == (2, 0)


def test_a_monitor_that_catches_up_counts_its_skipped_ticks_without_the_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Its skipped windows are scored late (run.late_windows), not lost."""
    daemon = daemon_for(tmp_path, live=WINDOWED)
    scored: list[object] = []
    monkeypatch.setattr(daemon, "_run_window", lambda m, end: scored.append(end))
    with caplog.at_level(logging.INFO, "driftmon.daemon"):
        run_at(daemon, monkeypatch, 3)
        run_at(daemon, monkeypatch, 2 * 60 + 5)
    assert scored == [END, END + HOUR, END + 2 * HOUR]
    assert sample(daemon.process_registry, SKIPPED, "m") == 1
    messages = [r.getMessage() for r in caplog.records]
    assert "run.late_windows" in messages
    assert "run.ticks_skipped" not in messages


def test_runs_on_their_own_ticks_skip_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Late within their own interval (0:59) is still on time; so is a second run for the
    same window (a clock stepped back)."""
    daemon = daemon_for(tmp_path)
    monkeypatch.setattr(daemon, "_run_window", lambda m, end: None)
    for minutes in (3, 60 + 59, 2 * 60, 2 * 60 - 30):
        run_at(daemon, monkeypatch, minutes)
    registry = daemon.process_registry
    assert (sample(registry, SKIPPED, "m"), sample(registry, IN_A_ROW, "m")) == (0, 0)
