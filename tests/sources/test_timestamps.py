"""The timestamp rules every source shares: parsing, UTC conversion, DST, window bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftmon.errors import ColumnError
from driftmon.sources.base import Window
from driftmon.sources.timestamps import bound, naive_superset, to_utc, window_mask


def test_bound_rounds_up_so_comparisons_stay_exact() -> None:
    t = datetime(2026, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC)
    seconds = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    assert bound(t, "s") == seconds + 1  # ts >= 00:00:00.5 ⇔ ts >= 00:00:01 for whole seconds
    assert bound(t, "ms") == seconds * 1_000 + 500
    assert bound(t, "us") == seconds * 1_000_000 + 500_000
    assert bound(t, "ns") == seconds * 1_000_000_000 + 500_000_000
    before_epoch = datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)
    assert bound(before_epoch, "s") == 0


def test_window_mask_is_half_open_and_null_is_out() -> None:
    ts = pa.array(
        [datetime(2026, 1, 1, h, tzinfo=UTC) for h in (0, 1, 2)] + [None],
        pa.timestamp("s", "UTC"),
    )
    w = Window(datetime(2026, 1, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 2, tzinfo=UTC))
    assert window_mask(ts, w).to_pylist() == [False, True, False, None]


def test_text_forms() -> None:
    """Offsets honoured, naive text in the given zone, digits as epoch seconds, blanks null."""
    text = pa.array(
        ["2026-01-01T00:00:00Z", "2026-01-01 01:00+01:00", "2026-01-01T01:00:00", "0", "  ", None]
    )
    got = to_utc(text, "Europe/Berlin", where="t").to_pylist()
    assert got[:4] == [
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
    ]
    assert got[4:] == [None, None]


def test_nanosecond_text_keeps_its_precision() -> None:
    got = to_utc(pa.array(["2026-01-01T00:00:00.123456789Z"]), "UTC", where="t")
    assert got.type == pa.timestamp("ns", "UTC")


def test_dates_are_local_midnight() -> None:
    from datetime import date

    got = to_utc(pa.array([date(2026, 7, 1)]), "Europe/Berlin", where="t").to_pylist()
    assert got == [datetime(2026, 6, 30, 22, tzinfo=UTC)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=40)), max_size=20))
def test_any_text_gives_timestamps_or_a_column_error(values: list[str | None]) -> None:
    """Fuzz: arbitrary text never raises anything but ColumnError."""
    out: pa.Array | None = None
    message = ""
    try:
        out = to_utc(pa.array(values, pa.string()), "Europe/Berlin", where="t")
    except ColumnError as exc:
        message = str(exc)
    if out is None:
        assert "ISO-8601" in message
    else:
        assert len(out) == len(values)
        assert out.type.tz == "UTC"


# Around the 2026 changes in Berlin, New York and Lord Howe (30-minute DST), as naive UTC.
DST_CHANGES_2026 = [
    datetime(2026, 3, 29, 1),
    datetime(2026, 10, 25, 1),
    datetime(2026, 3, 8, 7),
    datetime(2026, 11, 1, 6),
    datetime(2026, 4, 4, 15),
    datetime(2026, 10, 3, 15, 30),
]


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
@settings(max_examples=300, deadline=None)
@given(
    start=st.one_of(
        st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
        st.tuples(st.sampled_from(DST_CHANGES_2026), st.integers(-60, 12)).map(
            lambda t: t[0] + timedelta(hours=t[1])
        ),
    ),
    hours=st.integers(min_value=0, max_value=72),
    where=st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=50),
)
def test_naive_superset_contains_every_naive_time_mapped_into_the_window(
    zone: str, start: datetime, hours: int, where: list[float]
) -> None:
    """Any naive time whose instant (by the DST rule) is in the window is inside the bounds."""
    w = Window(start.replace(tzinfo=UTC), start.replace(tzinfo=UTC) + timedelta(hours=hours))
    local_start = w.start.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    # Naive times from 3 h before the window's local start to 3 h after its end.
    naive = [local_start + timedelta(minutes=-180 + f * (hours * 60 + 360)) for f in where]
    instants = to_utc(pa.array(naive, pa.timestamp("us")), zone, where="t").to_pylist()
    lo, hi = naive_superset(w, zone)
    for local, instant in zip(naive, instants, strict=True):
        if w.start <= instant < w.end:
            assert lo <= local < hi
