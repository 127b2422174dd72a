"""``reference: {from_live: ...}``: the rolling reference's keys, window and errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from driftmon.config import FromLiveReference, ReferenceWindow

from .conftest import ErrorLoader, Loader, with_monitor

MONITOR = "monitors[0] (name 'example')"
LIVE = {"path": "data/live/*.parquet", "timestamp_column": "ts", "window": "1h"}


def test_from_live_loads_with_its_durations(load: Loader) -> None:
    cfg = load(with_monitor(reference={"from_live": {"offset": "7d", "window": "1d"}}))
    m = cfg.monitors[0]
    assert isinstance(m.reference, FromLiveReference)
    assert m.rolling is m.reference
    assert m.reference.from_live == ReferenceWindow(
        offset=timedelta(days=7), window=timedelta(days=1), align=None
    )


def test_a_fixed_reference_is_not_rolling(load: Loader) -> None:
    assert load(with_monitor()).monitors[0].rolling is None


def test_the_reference_window_is_offset_before_the_live_window_end() -> None:
    """[T - offset - window, T - offset), and with align the end is floored to its grid."""
    t = datetime(2026, 3, 10, 5, 30, tzinfo=UTC)
    plain = ReferenceWindow(offset=timedelta(days=7), window=timedelta(hours=2))
    assert plain.span(t) == (
        datetime(2026, 3, 3, 3, 30, tzinfo=UTC),
        datetime(2026, 3, 3, 5, 30, tzinfo=UTC),
    )
    aligned = ReferenceWindow(
        offset=timedelta(days=7), window=timedelta(days=1), align=timedelta(days=1)
    )
    assert aligned.span(t) == (
        datetime(2026, 3, 2, tzinfo=UTC),
        datetime(2026, 3, 3, tzinfo=UTC),
    )
    # Every live window of the same day shares that reference window.
    assert aligned.span(t + timedelta(hours=18)) == aligned.span(t)


def test_from_live_needs_a_time_windowed_live_source(load_error: ErrorLoader) -> None:
    message = load_error(
        with_monitor(
            reference={"from_live": {"offset": "7d", "window": "7d"}},
            live={"path": "data/live/*.parquet"},
        )
    )
    assert f"{MONITOR}: monitor 'example': reference 'from_live' needs a time-windowed" in message
    assert "'timestamp_column' and 'window'" in message


def test_from_live_may_not_overlap_the_live_window(load_error: ErrorLoader) -> None:
    message = load_error(
        with_monitor(reference={"from_live": {"offset": "30m", "window": "1d"}}, live=LIVE)
    )
    assert "monitor 'example': reference from_live.offset (30m) is shorter than the live" in (
        message
    )
    assert "window (1h)" in message


def test_an_offset_equal_to_the_live_window_is_the_previous_stretch(load: Loader) -> None:
    """offset = live window: "the previous N hours", right before the live window."""
    cfg = load(with_monitor(reference={"from_live": {"offset": "1h", "window": "1d"}}, live=LIVE))
    rolling = cfg.monitors[0].rolling
    assert rolling is not None
    assert rolling.from_live.offset == timedelta(hours=1)


@pytest.mark.parametrize(
    ("reference", "fragment"),
    [
        (
            {"from_live": {"offset": "7d", "window": "1d"}, "path": "ref.csv"},
            "'from_live' takes the reference from the live source and goes alone; also got 'path'",
        ),
        ({"from_live": {"offset": "7d"}}, "reference.from_live.window: missing required key"),
        (
            {"from_live": {"offset": "7d", "window": "1d", "every": "1d"}},
            "reference.from_live: unknown key 'every'; allowed keys: offset, window, align",
        ),
        ({"from_live": {"offset": "soon", "window": "1d"}}, "reference.from_live.offset:"),
        ({"from_live": "7d"}, "reference.from_live: expected a mapping with keys offset, window"),
        ({"live": True}, "'from_live' (a past window of the live source) or 'profile'"),
    ],
)
def test_bad_rolling_references_are_named(
    load_error: ErrorLoader, reference: dict[str, object], fragment: str
) -> None:
    message = load_error(with_monitor(reference=reference, live=LIVE))
    assert fragment in message, message
