"""Catch-up metrics: a counter at 0 from start for every monitor that catches up, the time of
its latest drop, its lag and its bound, read fresh on every scrape of a registry of its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from driftmon.service.catch_up import bound_seconds
from driftmon.service.catch_up_metrics import CatchUpTally, catch_up_families

from .conftest import END, WINDOWED, monitor_dict, monitors, sample, scraped

DROPPED = "driftmon_catch_up_dropped_windows_total"
LAST_DROPPED = "driftmon_catch_up_last_dropped_timestamp_seconds"
LAG = "driftmon_catch_up_lag_seconds"
BOUND = "driftmon_catch_up_bound_seconds"


FLEET = (
    monitor_dict("m", live=WINDOWED),
    monitor_dict("batch"),
    monitor_dict("never", live=WINDOWED, catch_up=None),
    monitor_dict("off", live=WINDOWED, enabled=False),
)


def test_every_catch_up_monitor_has_its_counter_at_zero_and_its_bound_from_start() -> None:
    """The first increment is then an increase Prometheus can see."""
    registry = scraped(catch_up_families, CatchUpTally(monitors(*FLEET), END).state)
    assert sample(registry, DROPPED) == 0
    assert sample(registry, BOUND) == 24 * 3600
    assert sample(registry, LAST_DROPPED) is None, "no drop yet: no time of one"
    assert sample(registry, LAG) is None, "no window scored yet: no lag"


@pytest.mark.parametrize("name", ["batch", "never", "off"])
def test_monitors_that_do_not_catch_up_have_no_series(name: str) -> None:
    registry = scraped(catch_up_families, CatchUpTally(monitors(*FLEET), END).state)
    for metric in (DROPPED, BOUND):
        assert sample(registry, metric, name) is None


def test_a_drop_adds_to_the_counter_and_says_when() -> None:
    """A drop before the first scrape still shows, as a recent time."""
    tally = CatchUpTally(monitors(*FLEET), END)
    tally.dropped("m", 27, END)
    registry = scraped(catch_up_families, tally.state)
    assert sample(registry, DROPPED) == 27
    assert sample(registry, LAST_DROPPED) == END.timestamp()
    tally.dropped("m", 2, END + timedelta(minutes=5))
    assert sample(registry, DROPPED) == 29
    assert sample(registry, LAST_DROPPED) == (END + timedelta(minutes=5)).timestamp()


def test_the_lag_is_the_latest_scored_windows_delay_after_its_end() -> None:
    tally = CatchUpTally(monitors(*FLEET), END)
    tally.scored("m", END, END + timedelta(seconds=90))
    registry = scraped(catch_up_families, tally.state)
    assert sample(registry, LAG) == 90
    tally.scored("m", END + timedelta(hours=1), END + timedelta(hours=1, seconds=4))
    assert sample(registry, LAG) == 4, "the latest window's, not the worst"


@pytest.mark.parametrize("name", ["batch", "never", "nobody"])
def test_recording_a_monitor_that_does_not_catch_up_is_refused(name: str) -> None:
    tally = CatchUpTally(monitors(*FLEET), END)
    with pytest.raises(ValueError, match=f"monitor '{name}' does not catch up"):
        tally.dropped(name, 1, END)
    with pytest.raises(ValueError, match=f"monitor '{name}' does not catch up"):
        tally.scored(name, END, END)


def test_a_cron_bound_is_taken_again_at_each_run() -> None:
    """{windows: N} of a cron whose gaps differ: N times the gap after the latest run."""
    (monitor,) = monitors(
        monitor_dict(live=WINDOWED, schedule={"cron": "0 9,17 * * *"}, catch_up={"windows": 2})
    )
    morning = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    tally = CatchUpTally([monitor], morning)
    registry = scraped(catch_up_families, tally.state)
    assert sample(registry, BOUND) == 2 * 8 * 3600, "from 9:00 to 17:00"
    tally.scored("m", morning + timedelta(hours=1), morning + timedelta(hours=2))
    assert sample(registry, BOUND) == 2 * 16 * 3600, "from 17:00 to 9:00 the next day"


def test_registration_describes_without_reading_the_tally() -> None:
    def state() -> Any:
        raise AssertionError("describe() must not read the state")

    scraped(catch_up_families, state)


@pytest.mark.parametrize(
    ("schedule", "catch_up", "seconds"),
    [
        ({"every": "1h"}, "2h", 7200),
        ({"every": "1h"}, {"windows": 3}, 3 * 3600),
        ({"every": "15m"}, {"windows": 48}, 48 * 900),
        ({"cron": "0 */2 * * *"}, {"windows": 2}, 2 * 7200),
    ],
)
def test_the_bound_as_a_span_of_time(schedule: Any, catch_up: Any, seconds: float) -> None:
    (monitor,) = monitors(monitor_dict(live=WINDOWED, schedule=schedule, catch_up=catch_up))
    assert bound_seconds(monitor, datetime(2026, 3, 1, 12, 30, tzinfo=UTC)) == seconds


def test_a_monitor_that_does_not_catch_up_has_no_bound() -> None:
    batch, never = monitors(
        monitor_dict("batch"), monitor_dict("never", live=WINDOWED, catch_up=None)
    )
    assert bound_seconds(batch, END) is None
    assert bound_seconds(never, END) is None
