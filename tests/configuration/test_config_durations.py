"""Durations: 30s, 5m, 1h, 2d, 1w, combinations, integer seconds; positive where required."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from driftmon.config import format_duration, parse_duration

from .conftest import ErrorLoader, Loader, minimal_config, with_monitor


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        (" 90m ", timedelta(minutes=90)),
        (300, timedelta(seconds=300)),
        ("300", timedelta(seconds=300)),
        (0, timedelta(0)),
        (timedelta(hours=2), timedelta(hours=2)),
    ],
)
def test_parse_duration(value: object, expected: timedelta) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize(
    "value",
    ["", "m", "5 minutes", "1.5h", "30m1h", "5m5m", "-5m", "1y", "1H", 1.5, True, None, [5]],
)
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="expected a duration such as 30s, 5m"):
        parse_duration(value)


@pytest.mark.parametrize("value", [10**15, "99999999999999w"])
def test_parse_duration_rejects_durations_too_long_for_timedelta(value: object) -> None:
    with pytest.raises(ValueError, match="expected a duration shorter than 999999999 days"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(minutes=90), "1h30m"),
        (timedelta(weeks=1, seconds=1), "1w1s"),
        (timedelta(0), "0s"),
    ],
)
def test_format_duration(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text
    if delta > timedelta(0):
        assert parse_duration(text) == delta


def test_durations_in_config_become_timedeltas(load: Loader) -> None:
    data = with_monitor(schedule={"every": 90}, source_timeout="1h30m")
    data["retention"] = {"max_age": "2w"}
    cfg = load(data)
    m = cfg.monitors[0]
    assert m.schedule.every == timedelta(seconds=90)
    assert m.source_timeout == timedelta(minutes=90)
    assert m.live.window == timedelta(hours=1)
    assert cfg.retention.max_age == timedelta(weeks=2)


def test_null_disables_retention_and_source_timeout(load: Loader) -> None:
    data = with_monitor(source_timeout=None)
    data["retention"] = {"max_age": None}
    cfg = load(data)
    assert cfg.retention.max_age is None
    assert cfg.monitors[0].source_timeout is None


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (with_monitor(schedule={"every": 0}), "schedule.every"),
        (with_monitor(schedule={"every": "0s"}), "schedule.every"),
        (with_monitor(schedule={"every": -60}), "schedule.every"),
        (minimal_config(retention={"max_age": 0}), "retention.max_age"),
    ],
)
def test_intervals_must_be_positive(
    load_error: ErrorLoader, data: dict[str, object], path: str
) -> None:
    message = load_error(data)
    assert f"{path}: expected a duration > 0" in message


def test_bad_duration_in_config_names_the_key(load_error: ErrorLoader) -> None:
    data = with_monitor(live={"path": "l.csv", "timestamp_column": "ts", "window": "an hour"})
    message = load_error(data)
    assert "monitors[0] (name 'example').live.window: expected a duration such as" in message
    assert "got 'an hour'" in message


def test_parse_duration_is_fast_on_long_invalid_input() -> None:
    """No regex backtracking blow-up on pathological whitespace."""
    start = time.perf_counter()
    for text in (" " * 5000 + "1" + " " * 5000 + "x", "1h" * 5000 + "x", "1" * 4000 + "q"):
        with pytest.raises(ValueError, match="expected a duration"):
            parse_duration(text)
    assert time.perf_counter() - start < 1.0
