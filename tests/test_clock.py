"""Time: UTC conversion, interval alignment since the epoch, and cron window ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from driftmon.clock import EPOCH, as_utc, crontab_day_of_week, floor_time
from driftmon.config import ScheduleConfig
from driftmon.service.triggers import make_trigger
from driftmon.service.window_end import scheduled_window_end

PLUS2 = timezone(timedelta(hours=2))


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def test_as_utc_converts_offsets_and_takes_naive_times_as_utc() -> None:
    assert as_utc(datetime(2026, 3, 1, 14, 0, tzinfo=PLUS2)) == utc(2026, 3, 1, 12, 0)
    assert as_utc(datetime(2026, 3, 1, 12, 0)).tzinfo is UTC
    assert as_utc(datetime(2026, 3, 1, 12, 0)) == utc(2026, 3, 1, 12, 0)


@pytest.mark.parametrize(
    ("t", "every", "expected"),
    [
        (utc(2026, 3, 1, 12, 7, 30), timedelta(minutes=5), utc(2026, 3, 1, 12, 5)),
        (utc(2026, 3, 1, 12, 5), timedelta(minutes=5), utc(2026, 3, 1, 12, 5)),  # on a boundary
        (
            utc(2026, 3, 1, 12, 4, 59, 999_999),
            timedelta(minutes=5),
            utc(2026, 3, 1, 12, 0),
        ),
        (utc(2026, 3, 1, 12, 59), timedelta(hours=1), utc(2026, 3, 1, 12, 0)),
        (utc(2026, 3, 1, 12, 0, 0, 700_000), timedelta(seconds=1), utc(2026, 3, 1, 12, 0)),
        (datetime(2026, 3, 1, 14, 7, tzinfo=PLUS2), timedelta(minutes=5), utc(2026, 3, 1, 12, 5)),
        (datetime(2026, 3, 1, 12, 7), timedelta(minutes=5), utc(2026, 3, 1, 12, 5)),  # naive
        (utc(1969, 12, 31, 23, 59, 30), timedelta(minutes=1), utc(1969, 12, 31, 23, 59)),
    ],
)
def test_floor_time_is_the_latest_multiple_since_the_epoch(
    t: datetime, every: timedelta, expected: datetime
) -> None:
    got = floor_time(t, every)
    assert got == expected
    assert got.tzinfo is UTC


def test_floor_time_aligns_intervals_that_do_not_divide_an_hour_to_the_epoch() -> None:
    every = timedelta(minutes=7)
    for minute in range(0, 120, 11):
        got = floor_time(utc(2026, 3, 1, 12, 0) + timedelta(minutes=minute), every)
        assert (got - EPOCH) % every == timedelta(0)
        assert timedelta(0) <= utc(2026, 3, 1, 12, 0) + timedelta(minutes=minute) - got < every


@pytest.mark.parametrize("every", [timedelta(0), timedelta(seconds=-5)])
def test_floor_time_rejects_non_positive_intervals(every: timedelta) -> None:
    with pytest.raises(ValueError, match="positive"):
        floor_time(utc(2026, 3, 1), every)


def test_interval_window_ends_are_the_interval_boundaries() -> None:
    schedule = ScheduleConfig(every=timedelta(minutes=5))
    assert scheduled_window_end(schedule, utc(2026, 3, 1, 12, 7, 30)) == utc(2026, 3, 1, 12, 5)


# -- cron -----------------------------------------------------------------------------------

MONDAY = utc(2026, 3, 2)  # 2026-03-02 is a Monday


@pytest.mark.parametrize(
    ("cron", "now", "expected"),
    [
        ("*/5 * * * *", utc(2026, 3, 2, 12, 7, 30), utc(2026, 3, 2, 12, 5)),
        ("*/5 * * * *", utc(2026, 3, 2, 12, 5), utc(2026, 3, 2, 12, 5)),  # a fire time itself
        ("0 9,17 * * *", utc(2026, 3, 2, 8, 59), utc(2026, 3, 1, 17, 0)),
        ("0 0 1 * *", utc(2026, 3, 15), utc(2026, 3, 1)),
        # Weekdays at 09:00, asked on Monday before 09:00: Friday's run, not the weekend.
        ("0 9 * * 1-5", MONDAY + timedelta(hours=8), utc(2026, 2, 27, 9, 0)),
        ("0 9 * * 1-5", MONDAY + timedelta(hours=10), MONDAY + timedelta(hours=9)),
        ("0 9 * * mon-fri", MONDAY + timedelta(hours=8), utc(2026, 2, 27, 9, 0)),
        # Sundays (0 in crontab) at midnight, asked on Monday: the day before.
        ("0 0 * * 0", MONDAY + timedelta(hours=1), utc(2026, 3, 1)),
        ("0 0 * * sun", MONDAY + timedelta(hours=1), utc(2026, 3, 1)),
        ("0 0 29 2 *", MONDAY, utc(2024, 2, 29)),  # years apart
    ],
)
def test_cron_window_ends_are_the_latest_fire_time(
    cron: str, now: datetime, expected: datetime
) -> None:
    assert scheduled_window_end(ScheduleConfig(cron=cron), now) == expected


@pytest.mark.parametrize(
    ("cron", "weekdays"),
    [
        ("0 9 * * 1-5", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
        ("0 9 * * 0", {"Sun"}),
        ("0 9 * * 6,0", {"Sat", "Sun"}),
        ("0 9 * * */2", {"Sun", "Tue", "Thu", "Sat"}),
        ("0 9 * * 1-5/2", {"Mon", "Wed", "Fri"}),
        ("0 9 * * *", {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}),
        ("0 9 * * mon,wed", {"Mon", "Wed"}),
    ],
)
def test_cron_day_of_week_numbers_follow_crontab_where_0_is_sunday(
    cron: str, weekdays: set[str]
) -> None:
    """APScheduler 3 counts weekdays from Monday; crontab (and driftmon's config) from Sunday."""
    trigger = make_trigger(ScheduleConfig(cron=cron))
    fired: set[str] = set()
    t = trigger.get_next_fire_time(None, MONDAY)
    for _ in range(14):
        fired.add(t.strftime("%a"))
        t = trigger.get_next_fire_time(t, t + timedelta(seconds=1))
    assert fired == weekdays


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("*", "*"),
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("5-7", "fri,sat,sun"),
        ("*/3", "sun,wed,sat"),
        ("mon-fri", "mon-fri"),
        ("1,sat", "mon,sat"),
    ],
)
def test_crontab_day_of_week_translation(field: str, expected: str) -> None:
    assert crontab_day_of_week(field) == expected
