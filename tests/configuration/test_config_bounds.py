"""Upper bounds on durations, bin counts, calibration and name lengths, checked at validation,
so that no value a config accepts can overflow a datetime, stall the scheduler, exhaust
memory or make a run that the results database cannot store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from driftmon.config import ScheduleConfig
from driftmon.config.durations import MAX_SPAN, MAX_TIMEOUT
from driftmon.config.models import (
    MAX_BINS,
    MAX_CALIBRATION_DRAWS,
    MAX_CATEGORIES,
    stored_name_lengths,
)
from driftmon.config.sources import MAX_BATCH_ROWS
from driftmon.config.thresholds import MAX_CALIBRATION_WINDOWS, MAX_WINDOW_ROWS
from driftmon.service.triggers import make_trigger
from driftmon.service.window_end import scheduled_window_end
from driftmon.storage.models import feature_results_table, monitors_table

from .conftest import ErrorLoader, Loader, minimal_config, with_feature, with_monitor

MONITOR = "monitors[0] (name 'example')"
LIVE = {"path": "l.csv", "timestamp_column": "ts"}
SPAN = "expected a duration between 1s and 36500d (100 years)"


@pytest.mark.parametrize(
    ("data", "path", "got"),
    [
        (with_monitor(schedule={"every": 1_000_000_000_000}), "schedule.every", "1000000000000"),
        (with_monitor(schedule={"every": "36501d"}), "schedule.every", "'36501d'"),
        (with_monitor(live={**LIVE, "window": "999999999d"}), "live.window", "'999999999d'"),
        (minimal_config(retention={"max_age": "999999999d"}), "retention.max_age", ""),
    ],
)
def test_spans_beyond_100_years_are_refused_with_key_and_range(
    load_error: ErrorLoader, data: dict[str, Any], path: str, got: str
) -> None:
    message = load_error(data)
    where = path if path.startswith("retention") else f"{MONITOR}.{path}"
    assert f"{where}: {SPAN}, got {got}" in message


def test_source_timeout_beyond_a_week_is_refused(load_error: ErrorLoader) -> None:
    message = load_error(with_monitor(source_timeout="30d"))
    assert f"{MONITOR}.source_timeout: expected a duration between 1s and 7d, got '30d'" in message


def test_durations_at_their_bounds_are_accepted(load: Loader) -> None:
    data = with_monitor(
        schedule={"every": f"{MAX_SPAN.days}d"},
        live={**LIVE, "window": f"{MAX_SPAN.days}d"},
        source_timeout=f"{MAX_TIMEOUT.days}d",
    )
    data["retention"] = {"max_age": f"{MAX_SPAN.days}d"}
    cfg = load(data)
    assert cfg.monitors[0].schedule.every == MAX_SPAN
    assert cfg.monitors[0].live.window == MAX_SPAN


def test_the_longest_interval_and_window_are_representable_by_scheduler_and_datetime() -> None:
    """What the daemon computes from the bound (next fire times, window start, prune cut-off)
    stays inside datetime's range, even late in this century."""
    schedule = ScheduleConfig(every=MAX_SPAN)
    trigger = make_trigger(schedule)
    for now in (datetime.now(UTC), datetime(2099, 12, 31, tzinfo=UTC)):
        first = trigger.get_next_fire_time(None, now)
        assert first is not None
        second = trigger.get_next_fire_time(first, first + timedelta(microseconds=1))
        assert second is not None
        assert second - first == MAX_SPAN
        end = scheduled_window_end(schedule, now)
        assert end - MAX_SPAN < end <= now
        assert now - MAX_SPAN < now


@pytest.mark.parametrize(
    ("data", "path", "expected"),
    [
        (with_feature(0, bins=1_000_000_000), "features[0] (name 'age').bins", "<= 1000"),
        (
            with_feature(2, max_categories=10**9),
            "features[2] (name 'country').max_categories",
            f"<= {MAX_CATEGORIES}",
        ),
        (
            with_monitor(reference={"path": "r.csv", "batch_rows": 10**12}),
            "reference.batch_rows",
            f"<= {MAX_BATCH_ROWS}",
        ),
        (
            with_monitor(thresholds={"policy": "calibrated", "windows": 10**9}),
            "thresholds.windows",
            f"<= {MAX_CALIBRATION_WINDOWS}",
        ),
        (
            with_monitor(thresholds={"policy": "calibrated", "window_rows": 10**13}),
            "thresholds.window_rows",
            f"<= {MAX_WINDOW_ROWS}",
        ),
    ],
)
def test_counts_have_sane_upper_bounds(
    load_error: ErrorLoader, data: dict[str, Any], path: str, expected: str
) -> None:
    message = load_error(data)
    assert f"{MONITOR}.{path}: expected an integer {expected}, got " in message


def test_bins_at_the_bound_are_accepted(load: Loader) -> None:
    assert load(with_feature(0, bins=MAX_BINS)).monitors[0].features[0].bins == MAX_BINS


def test_too_many_edges_are_refused(load_error: ErrorLoader) -> None:
    message = load_error(with_feature(1, edges=list(range(MAX_BINS))))
    assert (
        f"{MONITOR}.features[1] (name 'amount').edges: expected at most {MAX_BINS - 1} edges "
        f"({MAX_BINS} bins), got {MAX_BINS}"
    ) in message


def test_calibration_that_would_not_fit_in_memory_is_refused(load_error: ErrorLoader) -> None:
    """Each bound alone is fine; windows x categories together would draw 1.6 billion counts."""
    data = with_monitor(thresholds={"policy": "calibrated", "windows": 160_000})
    data["monitors"][0]["features"][2]["max_categories"] = MAX_CATEGORIES
    message = load_error(data)
    assert f"{MONITOR}: feature 'country': calibrated thresholds would draw" in message
    assert f"expected at most {MAX_CALIBRATION_DRAWS:,}" in message


def test_default_calibration_with_the_most_bins_is_accepted(load: Loader) -> None:
    data = with_monitor(thresholds={"policy": "calibrated"})
    data["monitors"][0]["features"][0]["bins"] = MAX_BINS
    assert load(data).monitors[0].features[0].bins == MAX_BINS


def test_name_limits_come_from_the_results_schema() -> None:
    assert stored_name_lengths() == {
        "monitor": getattr(monitors_table.c.name.type, "length", None),
        "feature": getattr(feature_results_table.c.feature.type, "length", None),
    }


@pytest.mark.parametrize("what", ["monitor", "feature"])
def test_names_longer_than_the_results_schema_holds_are_refused(
    load_error: ErrorLoader, load: Loader, what: str
) -> None:
    limit = stored_name_lengths()[what]

    def config(name: str) -> dict[str, Any]:
        return with_monitor(name=name) if what == "monitor" else with_feature(0, name=name)

    message = load_error(config("n" * (limit + 1)))
    where = "monitors[0] (name 'nnn" if what == "monitor" else f"{MONITOR}.features[0] (name 'nnn"
    assert where in message
    assert (
        f"expected a {what} name of at most {limit} characters (the results database stores "
        f"no longer ones), got {limit + 1} characters"
    ) in message
    cfg = load(config("é" * limit))  # characters, not bytes
    assert len(cfg.monitors[0].name if what == "monitor" else cfg.monitors[0].features[0].name) == (
        limit
    )
