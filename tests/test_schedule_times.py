"""A schedule's fire times in a half-open span: the one answer catch-up and backfill share.

Interval schedules are computed without APScheduler, so they are checked against the
trigger the daemon schedules with; cron schedules are UTC, so daylight-saving changes
move nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import islice

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftmon.config import ScheduleConfig
from driftmon.schedule_times import TICK, count_fire_times, fire_times
from driftmon.service.triggers import make_trigger

T0 = datetime(2026, 3, 1, tzinfo=UTC)  # a Sunday
HOUR = timedelta(hours=1)
HOURLY = ScheduleConfig(every=HOUR)


def test_the_span_includes_its_start_and_excludes_its_stop() -> None:
    assert list(fire_times(HOURLY, T0, T0 + 3 * HOUR)) == [T0, T0 + HOUR, T0 + 2 * HOUR]
    assert list(fire_times(HOURLY, T0 + TICK, T0 + 3 * HOUR + TICK)) == [
        T0 + HOUR,
        T0 + 2 * HOUR,
        T0 + 3 * HOUR,
    ]
    assert list(fire_times(HOURLY, T0, T0)) == []
    assert list(fire_times(HOURLY, T0 + HOUR, T0)) == [], "a reversed span is empty"
    assert count_fire_times(HOURLY, T0, T0 + 3 * HOUR) == 3
    assert count_fire_times(HOURLY, T0 + TICK, T0 + 3 * HOUR + TICK) == 3
    assert count_fire_times(HOURLY, T0 + HOUR, T0) == 0


def test_cron_spans_are_half_open_too() -> None:
    at_nine = ScheduleConfig(cron="0 9 * * *")
    nine = T0 + 9 * HOUR
    assert list(fire_times(at_nine, nine, nine + timedelta(days=2))) == [nine, nine + 24 * HOUR]
    assert list(fire_times(at_nine, nine + TICK, nine + 24 * HOUR)) == []


def test_bounds_in_another_zone_or_naive_are_the_same_instants() -> None:
    plus_two = timezone(timedelta(hours=2))
    local = datetime(2026, 3, 1, 2, 0, tzinfo=plus_two)  # = T0
    naive = datetime(2026, 3, 1, 2, 0)  # taken as UTC: T0 + 2h
    assert next(fire_times(HOURLY, local, local + HOUR)) == T0
    assert next(fire_times(HOURLY, naive, naive + HOUR)) == T0 + 2 * HOUR
    assert next(fire_times(HOURLY, local, local + HOUR)).tzinfo is UTC


@pytest.mark.parametrize(
    ("first_day", "what"),
    [(datetime(2026, 3, 28, tzinfo=UTC), "spring"), (datetime(2026, 10, 24, tzinfo=UTC), "autumn")],
)
def test_a_cron_fires_at_the_same_utc_hour_across_a_daylight_saving_change(
    first_day: datetime, what: str
) -> None:
    """Europe changes clocks on 2026-03-29 and 2026-10-25: a UTC schedule does not."""
    ends = list(fire_times(ScheduleConfig(cron="30 1 * * *"), first_day, first_day + 3 * 24 * HOUR))
    assert ends == [first_day + timedelta(days=d, hours=1, minutes=30) for d in range(3)], what


def test_the_grid_ends_quietly_before_the_last_representable_time() -> None:
    late = datetime(9999, 12, 1, tzinfo=UTC)
    last = datetime.max.replace(tzinfo=UTC)
    every_100d = ScheduleConfig(every=timedelta(days=100))
    assert list(fire_times(every_100d, late, last)) == []
    assert count_fire_times(every_100d, late, last) == 0


@settings(max_examples=200, deadline=None)
@given(
    every_s=st.sampled_from([1, 7, 60, 90, 3600, 5400, 86_400, 7 * 86_400]),
    offset_us=st.integers(min_value=0, max_value=10**13),
)
def test_interval_fire_times_are_the_daemons_trigger_fire_times(
    every_s: int, offset_us: int
) -> None:
    """Computed without APScheduler, they must be the instants the daemon's trigger fires."""
    schedule = ScheduleConfig(every=timedelta(seconds=every_s))
    start = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(microseconds=offset_us)
    ours = list(islice(fire_times(schedule, start, start + 5 * timedelta(seconds=every_s)), 5))
    trigger = make_trigger(schedule)
    theirs: list[datetime] = []
    t = trigger.get_next_fire_time(None, start)
    while len(theirs) < 5:
        theirs.append(t.astimezone(UTC))
        t = trigger.get_next_fire_time(t, t + TICK)
    assert ours == theirs


@settings(max_examples=100, deadline=None)
@given(
    schedule=st.sampled_from(
        [
            ScheduleConfig(every=timedelta(seconds=1)),
            ScheduleConfig(every=timedelta(minutes=7)),
            ScheduleConfig(every=timedelta(hours=5)),
            ScheduleConfig(cron="*/15 * * * *"),
            ScheduleConfig(cron="0 9 * * 1-5"),
        ]
    ),
    start_us=st.integers(min_value=0, max_value=30 * 86_400 * 10**6),
    span_us=st.integers(min_value=-(10**9), max_value=3 * 86_400 * 10**6),
)
def test_counting_agrees_with_listing(
    schedule: ScheduleConfig, start_us: int, span_us: int
) -> None:
    start = T0 + timedelta(microseconds=start_us)
    stop = start + timedelta(microseconds=span_us)
    if schedule.every == timedelta(seconds=1):
        stop = min(stop, start + timedelta(hours=2))  # keep the listing short
    n = len(list(fire_times(schedule, start, stop)))
    assert count_fire_times(schedule, start, stop) == n
    assert count_fire_times(schedule, start, stop, limit=3) == min(n, 3)


def test_counting_a_long_interval_span_does_not_walk_it() -> None:
    """Ten years of 1 s windows, counted at once (the catch-up counts what it leaves out)."""
    every_second = ScheduleConfig(every=timedelta(seconds=1))
    ten_years = timedelta(days=3653)
    assert count_fire_times(every_second, T0, T0 + ten_years) == int(ten_years.total_seconds())
