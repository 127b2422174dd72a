"""Integer timestamps in s, ms, us or ns (``timestamp_unit``), and the time range a file
source's timestamps span (read for the message of an empty window)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from driftmon.errors import ColumnError, ConfigError
from driftmon.sources import FileSource, Window
from driftmon.sources.parquet_footer import footer
from driftmon.sources.timespan import (
    TimeSpan,
    empty_window_message,
    format_instant,
    merge_spans,
    span_of,
)
from driftmon.sources.timestamps import EpochUnit, to_utc

PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
START = datetime(2026, 1, 1, tzinfo=UTC)
UNITS: tuple[EpochUnit, ...] = ("s", "ms", "us", "ns")


def ids(batches: Iterable[pa.RecordBatch]) -> list[int]:
    return [v for b in batches for v in b.column("id").to_pylist()]


def epoch(dt: datetime, unit: str) -> int:
    return int(dt.timestamp()) * PER_SECOND[unit]


def half_hourly(unit: str, n: int = 6) -> pa.Table:
    """Rows 0..n-1 at START + 30 min * i, as integer epoch numbers in ``unit``."""
    stamps = [epoch(START + timedelta(minutes=30 * i), unit) for i in range(n)]
    return pa.table({"id": pa.array(range(n), pa.int64()), "ts": pa.array(stamps, pa.int64())})


def write(table: pa.Table, path: Path, *, statistics: bool = True) -> Path:
    if path.suffix == ".csv":
        cols = table.column_names
        rows = zip(*(table.column(c).to_pylist() for c in cols), strict=True)
        body = "".join(",".join("" if v is None else str(v) for v in r) + "\n" for r in rows)
        path.write_text(",".join(cols) + "\n" + body)
    else:
        pq.write_table(table, path, row_group_size=2, write_statistics=statistics)
    return path


@pytest.fixture(params=["csv", "parquet"])
def suffix(request: pytest.FixtureRequest) -> str:
    return "." + str(request.param)


# -- reading windows ----------------------------------------------------------------------


@pytest.mark.parametrize("unit", UNITS)
def test_integer_timestamps_in_the_configured_unit_fill_their_windows(
    tmp_path: Path, suffix: str, unit: EpochUnit
) -> None:
    f = write(half_hourly(unit), tmp_path / f"d{suffix}")
    src = FileSource(f, timestamp_column="ts", timestamp_unit=unit)
    window = Window(START + timedelta(minutes=30), START + timedelta(minutes=90))
    assert ids(src.batches(["id"], window)) == [1, 2]


def test_epoch_milliseconds_read_as_seconds_give_empty_windows(tmp_path: Path, suffix: str) -> None:
    """The issue's case: the default unit is seconds, so milliseconds land in year ~57970."""
    f = write(half_hourly("ms"), tmp_path / f"d{suffix}")
    src = FileSource(f, timestamp_column="ts")
    assert src.timestamp_unit == "s"
    assert ids(src.batches(["id"], Window(START, START + timedelta(days=1)))) == []


def test_parquet_row_groups_are_skipped_in_the_configured_unit(tmp_path: Path) -> None:
    """The statistics push-down compares in the unit too: only the matching group is read."""
    f = write(half_hourly("ms"), tmp_path / "d.parquet")
    src = FileSource(f, timestamp_column="ts", timestamp_unit="ms")
    window = Window(START + timedelta(minutes=60), START + timedelta(minutes=90))
    assert src._row_groups_in(footer(f), window) == [1]


def test_an_unknown_unit_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="timestamp_unit must be one of s, ms, us, ns"):
        FileSource(tmp_path / "d.csv", timestamp_unit="min")  # type: ignore[arg-type]


@pytest.mark.parametrize("unit", UNITS)
def test_digit_text_is_an_epoch_number_in_the_unit(unit: EpochUnit) -> None:
    utc = to_utc(pa.array([str(epoch(START, unit)), None]), "UTC", where="w", epoch_unit=unit)
    assert utc.to_pylist()[0] == START
    assert utc.null_count == 1


def test_digit_text_out_of_range_names_the_unit() -> None:
    """Nanoseconds read as seconds do not fit any timestamp: the error says which unit."""
    with pytest.raises(ColumnError, match="out of range in timestamp_unit 's'"):
        to_utc(pa.array([str(epoch(START, "ns"))]), "UTC", where="w")


# -- the time range -----------------------------------------------------------------------


def test_span_of_a_csv_or_parquet_file(tmp_path: Path, suffix: str) -> None:
    """First and last timestamp and the count, nulls ignored, integers in the given unit."""
    table = half_hourly("ms").set_column(
        1, "ts", pa.array([None, *half_hourly("ms").column("ts").to_pylist()[1:]], pa.int64())
    )
    f = write(table, tmp_path / f"d{suffix}")
    span = FileSource(f, timestamp_column="ts", timestamp_unit="ms").timestamp_span()
    assert span == TimeSpan(
        first_us=epoch(START + timedelta(minutes=30), "us"),
        last_us=epoch(START + timedelta(minutes=150), "us"),
        rows=5,
        epoch_unit="ms",
    )
    assert span.describe() == "2026-01-01T00:30:00Z to 2026-01-01T02:30:00Z"


def test_span_of_parquet_comes_from_statistics_without_reading_the_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = write(half_hourly("s"), tmp_path / "d.parquet")
    src = FileSource(f, timestamp_column="ts")

    def no_reads(*args: object, **kwargs: object) -> Iterator[pa.RecordBatch]:
        raise AssertionError("the column was read although statistics cover it")

    monkeypatch.setattr(src, "_parquet_batches", no_reads)
    span = src.timestamp_span()
    assert span is not None
    assert (span.first_us, span.last_us, span.rows) == (
        epoch(START, "us"),
        epoch(START + timedelta(minutes=150), "us"),
        6,
    )


def test_span_of_parquet_without_statistics_reads_the_column(tmp_path: Path) -> None:
    with_stats = write(half_hourly("s"), tmp_path / "a.parquet")
    without = write(half_hourly("s"), tmp_path / "b.parquet", statistics=False)
    assert (
        FileSource(with_stats, timestamp_column="ts").timestamp_span()
        == FileSource(without, timestamp_column="ts").timestamp_span()
    )


def test_span_of_timestamp_typed_and_naive_columns(tmp_path: Path) -> None:
    """Timestamp columns: statistics in the column's zone; naive ones in naive_timezone."""
    naive = [datetime(2026, 1, 1, 1), None, datetime(2026, 1, 1, 3)]
    pq.write_table(pa.table({"ts": pa.array(naive, pa.timestamp("us"))}), tmp_path / "d.parquet")
    src = FileSource(tmp_path / "d.parquet", timestamp_column="ts", naive_timezone="Europe/Berlin")
    span = src.timestamp_span()
    assert span is not None
    assert span.describe() == "2026-01-01T00:00:00Z to 2026-01-01T02:00:00Z"
    assert (span.rows, span.epoch_unit) == (2, None)


def test_span_over_a_glob_covers_every_file(tmp_path: Path) -> None:
    write(half_hourly("s", n=2), tmp_path / "a.csv")
    later = half_hourly("s", n=6).slice(4)
    write(later, tmp_path / "b.csv")
    span = FileSource(tmp_path / "*.csv", timestamp_column="ts").timestamp_span()
    assert span is not None
    assert span.describe() == "2026-01-01T00:00:00Z to 2026-01-01T02:30:00Z"
    assert span.rows == 4


def test_span_of_a_file_without_timestamps_is_none(tmp_path: Path) -> None:
    f = tmp_path / "d.csv"
    f.write_text("id,ts\n1,\n2,NA\n")
    assert FileSource(f, timestamp_column="ts").timestamp_span() is None


def test_span_of_a_missing_timestamp_column_names_it(tmp_path: Path) -> None:
    f = write(half_hourly("s"), tmp_path / "d.csv")
    with pytest.raises(ColumnError, match="column 'when' not found; it has id, ts"):
        FileSource(f, timestamp_column="when").timestamp_span()


# -- formatting ---------------------------------------------------------------------------


def test_instants_beyond_year_9999_are_shown_as_an_approximate_year() -> None:
    """Epoch milliseconds read as seconds: no crash, an unmistakable year."""
    micros = epoch(START, "ms") * 1_000_000
    assert format_instant(micros).startswith("about the year 57,97")
    assert format_instant(0) == "1970-01-01T00:00:00Z"


def test_span_of_merges_and_ignores_nulls() -> None:
    a = span_of(pa.array([None, 5, 3], pa.timestamp("s", "UTC")), "s")
    b = span_of(pa.array([7_000], pa.timestamp("ns", "UTC")))
    assert a == TimeSpan(3_000_000, 5_000_000, 2, "s")
    assert b == TimeSpan(7, 7, 1, None)
    assert merge_spans([a, None, b]) == TimeSpan(7, 5_000_000, 3, "s")
    assert span_of(pa.array([None], pa.timestamp("s", "UTC"))) is None


def test_empty_window_message_names_window_span_and_unit() -> None:
    window = Window(START, START + timedelta(hours=1))
    span = TimeSpan(epoch(START, "ms") * 1_000_000, epoch(START, "ms") * 1_000_000, 6, "s")
    message = empty_window_message(window, "ts", span)
    assert message.startswith(
        "no rows in the window [2026-01-01T00:00:00Z, 2026-01-01T01:00:00Z), but the source's "
        "6 timestamp(s) in column 'ts' span about the year 57,97"
    )
    assert "integers read as epoch seconds; set timestamp_unit" in message
    assert empty_window_message(window, "ts", None).endswith(
        "the source has no rows with a timestamp in column 'ts'"
    )
