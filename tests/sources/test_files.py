"""FileSource: CSV and Parquet files and globs, windows, streaming, and bad input."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from driftmon.core.bins import CategoricalBins
from driftmon.core.histogram import ColumnTypeError, categorical_histogram, numeric_values
from driftmon.errors import ColumnError, ConfigError, SourceError
from driftmon.sources import FileSource, Source, Window

BERLIN = ZoneInfo("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def ids(batches: Iterable[pa.RecordBatch], column: str = "id") -> list[int]:
    return [v for b in batches for v in b.column(column).to_pylist()]


def write_csv(path: Path, header: str, rows: Iterable[str]) -> Path:
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows))
    return path


def hourly_windows(start: datetime, end: datetime) -> list[Window]:
    out = []
    t = start
    while t < end:
        out.append(Window(t, t + timedelta(hours=1)))
        t += timedelta(hours=1)
    return out


# -- reading ------------------------------------------------------------------------------


def test_csv_columns_and_batches_of_requested_columns(tmp_path: Path) -> None:
    """A CSV file yields only the requested columns, in the requested order."""
    f = write_csv(tmp_path / "d.csv", "id,age,country", ["1,30,DE", "2,41,FR", "3,,DE"])
    src = FileSource(f)
    assert isinstance(src, Source)
    assert src.columns() == ["id", "age", "country"]
    (batch,) = list(src.batches(["country", "age"]))
    assert batch.schema.names == ["country", "age"]
    assert batch.column("age").to_pylist() == [30, 41, None]
    assert batch.column("country").to_pylist() == ["DE", "FR", "DE"]
    assert src.describe() == f"csv {f}"


def test_gzipped_csv_is_read(tmp_path: Path) -> None:
    """.csv.gz is inferred as CSV and decompressed."""
    f = tmp_path / "d.csv.gz"
    with gzip.open(f, "wt") as out:
        out.write("id,x\n1,0.5\n2,1.5\n")
    src = FileSource(f)
    assert src.format == "csv"
    assert ids(src.batches(["id"])) == [1, 2]


def test_parquet_file(tmp_path: Path) -> None:
    """Parquet (.parquet and .pq) is read column by column."""
    t = pa.table({"id": [1, 2, 3], "amount": [1.0, None, 3.5], "c": ["a", "b", None]})
    for name in ("d.parquet", "d.pq"):
        pq.write_table(t, tmp_path / name)
        src = FileSource(tmp_path / name)
        assert src.format == "parquet"
        assert src.columns() == ["id", "amount", "c"]
        (batch,) = list(src.batches(["amount", "c"]))
        assert batch.to_pydict() == {"amount": [1.0, None, 3.5], "c": ["a", "b", None]}


def test_explicit_format_overrides_extension(tmp_path: Path) -> None:
    """format='csv' reads a file whose extension says nothing."""
    f = write_csv(tmp_path / "d.txt", "id", ["7"])
    assert ids(FileSource(f, format="csv").batches(["id"])) == [7]


def test_unknown_extension_without_format_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="format"):
        FileSource(tmp_path / "d.txt")


def test_bad_naive_timezone_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        FileSource(tmp_path / "d.csv", naive_timezone="Mars/Olympus")


def test_glob_reads_every_matching_file_in_name_order(tmp_path: Path) -> None:
    """A glob reads all matching files, sorted by name; hidden and other files are ignored."""
    for i, name in enumerate(["b.parquet", "a.parquet", "c.parquet"]):
        pq.write_table(pa.table({"id": [i * 10, i * 10 + 1]}), tmp_path / name)
    pq.write_table(pa.table({"id": [99]}), tmp_path / "other.pq")
    src = FileSource(str(tmp_path / "*.parquet"))
    assert [f.name for f in src.files()] == ["a.parquet", "b.parquet", "c.parquet"]
    assert ids(src.batches(["id"])) == [10, 11, 0, 1, 20, 21]


def test_recursive_glob(tmp_path: Path) -> None:
    (tmp_path / "2026" / "03").mkdir(parents=True)
    write_csv(tmp_path / "2026" / "03" / "x.csv", "id", ["1"])
    write_csv(tmp_path / "top.csv", "id", ["2"])
    assert sorted(ids(FileSource(str(tmp_path / "**" / "*.csv")).batches(["id"]))) == [1, 2]


def test_fingerprint_changes_with_the_data(tmp_path: Path) -> None:
    """Same files: same fingerprint; a rewritten or an added file changes it."""
    a = write_csv(tmp_path / "a.csv", "id", ["1"])
    src = FileSource(str(tmp_path / "*.csv"))
    first = src.fingerprint()
    assert first == src.fingerprint() == FileSource(str(tmp_path / "*.csv")).fingerprint()
    write_csv(a, "id", ["1", "2"])
    second = src.fingerprint()
    assert second != first
    write_csv(tmp_path / "b.csv", "id", ["3"])
    assert src.fingerprint() not in (first, second)
    os.utime(a, ns=(1, 1))
    assert len({first, second, src.fingerprint()}) == 3


def test_duplicate_requested_columns_come_once(tmp_path: Path) -> None:
    f = write_csv(tmp_path / "d.csv", "id,x", ["1,2"])
    (batch,) = list(FileSource(f).batches(["x", "id", "x"]))
    assert batch.schema.names == ["x", "id"]


# -- streaming ----------------------------------------------------------------------------


def test_parquet_streams_in_batches_of_at_most_batch_rows(tmp_path: Path) -> None:
    """A file with more rows than batch_rows comes as several batches, none larger."""
    n = 25_000
    pq.write_table(pa.table({"id": np.arange(n)}), tmp_path / "d.parquet")
    batches = list(FileSource(tmp_path / "d.parquet", batch_rows=4_000).batches(["id"]))
    assert len(batches) >= 7
    assert max(b.num_rows for b in batches) <= 4_000
    assert ids(batches) == list(range(n))


def test_csv_streams_in_batches_of_at_most_batch_rows(tmp_path: Path) -> None:
    """A CSV file larger than one read block and than batch_rows comes in several batches."""
    n = 200_000  # about 2.5 MB, more than the 1 MB read block
    f = write_csv(tmp_path / "d.csv", "id,x", (f"{i},{i * 0.5}" for i in range(n)))
    batches = list(FileSource(f, batch_rows=30_000).batches(["id"]))
    assert len(batches) >= 7
    assert max(b.num_rows for b in batches) <= 30_000
    assert ids(batches) == list(range(n))


def test_large_parquet_is_not_loaded_whole(tmp_path: Path) -> None:
    """Peak Arrow memory while streaming a 3M-row, one-row-group file stays far below its size.

    A single row group is the worst case: pre-buffered or dataset reads hold it whole.
    """
    n = 3_000_000
    rng = np.random.default_rng(0)
    table = pa.table({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)})
    full_bytes = table.select(["a", "b"]).nbytes  # 48 MB
    pq.write_table(table, tmp_path / "big.parquet", row_group_size=n)
    del table
    src = FileSource(tmp_path / "big.parquet", batch_rows=32_768)
    base = pa.total_allocated_bytes()
    peak = rows = 0
    for batch in src.batches(["a", "b"]):
        rows += batch.num_rows
        peak = max(peak, pa.total_allocated_bytes() - base)
    assert rows == n
    assert peak < full_bytes / 4, f"peak {peak / 1e6:.1f} MB of {full_bytes / 1e6:.1f} MB"


# -- windows ------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/St_Johns"])
def test_tz_aware_timestamps_are_compared_in_utc(tmp_path: Path, unit: str, zone: str) -> None:
    """Aware timestamps of any unit and zone select exactly start <= ts < end, in UTC.

    Small row groups make the Parquet statistics push-down prune some of them.
    """
    rng = np.random.default_rng(1)
    t0 = utc(2026, 3, 28)
    seconds = np.sort(rng.integers(0, 3 * 86_400, 2_000))
    stamps = [
        t0 + timedelta(seconds=int(s), microseconds=int(u))
        for s, u in zip(seconds, rng.integers(0, 1_000_000, seconds.size), strict=True)
    ]
    arr = pa.array(stamps, pa.timestamp("us", "UTC"))
    arr = arr.cast(pa.timestamp(unit, zone), safe=False)
    pq.write_table(
        pa.table({"id": np.arange(len(stamps)), "ts": arr}),
        tmp_path / "d.parquet",
        row_group_size=100,
    )
    src = FileSource(tmp_path / "d.parquet", timestamp_column="ts")
    as_read = arr.cast(pa.timestamp("us", "UTC"), safe=False).to_pylist()
    for w in [
        Window(utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 30)),
        Window(as_read[500], as_read[700]),  # bounds equal to row values: start in, end out
        Window(datetime(2026, 3, 29, 3, tzinfo=BERLIN), datetime(2026, 3, 29, 4, tzinfo=BERLIN)),
    ]:
        expected = [i for i, ts in enumerate(as_read) if w.start <= ts < w.end]
        assert ids(src.batches(["id"], w)) == expected


def test_naive_timestamps_default_to_utc(tmp_path: Path) -> None:
    stamps = [datetime(2026, 1, 1, h) for h in range(6)]
    pq.write_table(pa.table({"id": range(6), "ts": stamps}), tmp_path / "d.parquet")
    src = FileSource(tmp_path / "d.parquet", timestamp_column="ts")
    assert ids(src.batches(["id"], Window(utc(2026, 1, 1, 2), utc(2026, 1, 1, 4)))) == [2, 3]


def test_timestamp_column_need_not_be_requested(tmp_path: Path) -> None:
    """The window filter reads the timestamp column; the batches hold only what was asked."""
    f = write_csv(tmp_path / "d.csv", "id,ts", ["1,2026-01-01T00:00:00Z", "2,2026-01-01T02:00Z"])
    src = FileSource(f, timestamp_column="ts")
    (batch,) = list(src.batches(["id"], Window(utc(2026, 1, 1), utc(2026, 1, 1, 1))))
    assert batch.schema.names == ["id"]
    assert batch.column("id").to_pylist() == [1]
    (with_ts,) = list(src.batches(["ts", "id"], Window(utc(2026, 1, 1), utc(2026, 1, 1, 1))))
    assert with_ts.schema.names == ["ts", "id"]


def test_iso_strings_with_and_without_offsets(tmp_path: Path) -> None:
    """ISO-8601 text: offsets are honoured, naive text is read in naive_timezone."""
    rows = [
        "1,2026-06-01T10:00:00Z",  # 10:00Z
        "2,2026-06-01T12:30:00+02:00",  # 10:30Z
        "3,2026-06-01 12:45:00.250+0200",  # 10:45:00.25Z
        "4,2026-06-01T12:59:59",  # naive: Berlin summer time → 10:59:59Z
        "5,2026-06-01T13:00:00",  # naive → 11:00Z: out
        "6,2026-06-01T10:59:59-01",  # 11:59:59Z: out
        "7,",  # null: in no window
        "8,1780308000",  # epoch seconds: 2026-06-01T10:00:00Z
    ]
    f = write_csv(tmp_path / "d.csv", "id,ts", rows)
    src = FileSource(f, timestamp_column="ts", naive_timezone="Europe/Berlin")
    assert ids(src.batches(["id"], Window(utc(2026, 6, 1, 10), utc(2026, 6, 1, 11)))) == [
        1,
        2,
        3,
        4,
        8,
    ]
    as_parquet = pa.table({"id": list(range(1, 9)), "ts": [r.split(",")[1] or None for r in rows]})
    pq.write_table(as_parquet, tmp_path / "d.parquet")
    src = FileSource(tmp_path / "d.parquet", timestamp_column="ts", naive_timezone="Europe/Berlin")
    assert ids(src.batches(["id"], Window(utc(2026, 6, 1, 10), utc(2026, 6, 1, 11)))) == [
        1,
        2,
        3,
        4,
        8,
    ]


def test_integer_epoch_seconds(tmp_path: Path) -> None:
    """An integer timestamp column is epoch seconds (UTC)."""
    base = int(utc(2026, 1, 1).timestamp())
    t = pa.table({"id": range(5), "ts": pa.array([base + 1800 * i for i in range(5)], pa.int32())})
    pq.write_table(t, tmp_path / "d.parquet", row_group_size=2)
    src = FileSource(tmp_path / "d.parquet", timestamp_column="ts")
    assert ids(src.batches(["id"], Window(utc(2026, 1, 1, 0, 30), utc(2026, 1, 1, 1, 30)))) == [
        1,
        2,
    ]


def test_rows_with_null_timestamps_are_in_no_window(tmp_path: Path) -> None:
    stamps = [datetime(2026, 1, 1, 0, 10), None, datetime(2026, 1, 1, 0, 20)]
    pq.write_table(pa.table({"id": [1, 2, 3], "ts": stamps}), tmp_path / "d.parquet")
    src = FileSource(tmp_path / "d.parquet", timestamp_column="ts")
    assert ids(src.batches(["id"], Window(utc(2000, 1, 1), utc(2100, 1, 1)))) == [1, 3]
    assert ids(src.batches(["id"])) == [1, 2, 3]


def test_window_without_timestamp_column_is_an_error(tmp_path: Path) -> None:
    f = write_csv(tmp_path / "d.csv", "id", ["1"])
    with pytest.raises(SourceError, match="timestamp_column"):
        list(FileSource(f).batches(["id"], Window(utc(2026, 1, 1), utc(2026, 1, 2))))


def test_naive_window_bounds_are_refused(tmp_path: Path) -> None:
    f = write_csv(tmp_path / "d.csv", "id,ts", ["1,2026-01-01"])
    with pytest.raises(ValueError, match="timezone-aware"):
        list(
            FileSource(f, timestamp_column="ts").batches(
                ["id"], Window(datetime(2026, 1, 1), datetime(2026, 1, 2))
            )
        )


# -- daylight saving time -----------------------------------------------------------------


def berlin_naive_rows() -> list[datetime]:
    """Naive Berlin wall times every 10 min around both 2026 DST changes, gaps included."""
    out: list[datetime] = []
    for day in (datetime(2026, 3, 28, 20), datetime(2026, 10, 24, 20)):
        out += [day + timedelta(minutes=10 * i) for i in range(6 * 14)]
    return out


def berlin_windows() -> list[Window]:
    return hourly_windows(utc(2026, 3, 28, 17), utc(2026, 3, 29, 12)) + hourly_windows(
        utc(2026, 10, 24, 16), utc(2026, 10, 25, 12)
    )


def assert_each_row_in_exactly_one_window(src: FileSource, n: int) -> dict[int, Window]:
    seen: dict[int, Window] = {}
    for w in berlin_windows():
        for i in ids(src.batches(["id"], w)):
            assert i not in seen, f"row {i} in {seen[i]} and in {w}"
            seen[i] = w
    assert sorted(seen) == list(range(n)), "some rows landed in no window"
    return seen


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_dst_changes_neither_skip_nor_repeat_rows(tmp_path: Path, kind: str) -> None:
    """Naive Berlin times across 2026-03-29 and 2026-10-25: each row in one hourly UTC window.

    Rule: ambiguous and nonexistent wall times map to the earliest instant they could mean.
    """
    stamps = berlin_naive_rows()
    if kind == "parquet":
        path = tmp_path / "d.parquet"
        pq.write_table(pa.table({"id": range(len(stamps)), "ts": stamps}), path, row_group_size=7)
    else:
        path = write_csv(
            tmp_path / "d.csv", "id,ts", (f"{i},{ts.isoformat()}" for i, ts in enumerate(stamps))
        )
    src = FileSource(path, timestamp_column="ts", naive_timezone="Europe/Berlin")
    seen = assert_each_row_in_exactly_one_window(src, len(stamps))
    by_time = {ts: seen[i] for i, ts in enumerate(stamps)}
    # Ordinary hours: local 01:30 CET is 00:30Z; local 04:30 CEST is 02:30Z.
    assert by_time[datetime(2026, 3, 29, 1, 30)].start == utc(2026, 3, 29, 0)
    assert by_time[datetime(2026, 3, 29, 4, 30)].start == utc(2026, 3, 29, 2)
    # Nonexistent 02:30 (clocks jump 02:00 → 03:00): the last instant before the jump.
    assert by_time[datetime(2026, 3, 29, 2, 30)].start == utc(2026, 3, 29, 0)
    # Ambiguous 02:30 (03:00 → 02:00): the first occurrence, still summer time: 00:30Z.
    assert by_time[datetime(2026, 10, 25, 2, 30)].start == utc(2026, 10, 25, 0)
    assert by_time[datetime(2026, 10, 25, 3, 30)].start == utc(2026, 10, 25, 2)


def test_dst_repeated_hour_from_a_real_clock(tmp_path: Path) -> None:
    """Instants written as naive Berlin wall time collapse in the repeated hour, never lost."""
    instants = [utc(2026, 10, 24, 22) + timedelta(minutes=15 * i) for i in range(20)]
    naive = [t.astimezone(BERLIN).replace(tzinfo=None) for t in instants]
    pq.write_table(pa.table({"id": range(20), "ts": naive}), tmp_path / "d.parquet")
    src = FileSource(tmp_path / "d.parquet", timestamp_column="ts", naive_timezone="Europe/Berlin")
    counts = [
        len(ids(src.batches(["id"], w)))
        for w in hourly_windows(utc(2026, 10, 24, 22), utc(2026, 10, 25, 3))
    ]
    assert counts == [4, 4, 8, 0, 4]  # 00:00-01:00Z gets both 02:xx hours; 01:00-02:00Z none


# -- bad input ----------------------------------------------------------------------------


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    f = write_csv(tmp_path / "d.csv", "id,age", ["1,2"])
    with pytest.raises(ColumnError, match=r"d\.csv.*'salary'"):
        list(FileSource(f).batches(["id", "salary"]))


def test_missing_column_in_a_very_wide_file_lists_the_first_50_columns_and_how_many_more(
    tmp_path: Path,
) -> None:
    names = [f"c{i}" for i in range(60)]
    f = write_csv(tmp_path / "wide.csv", ",".join(names), [",".join(["1"] * 60)])
    with pytest.raises(ColumnError) as raised:
        list(FileSource(f).batches(["c0", "salary"]))
    message = str(raised.value)
    assert message.endswith(f"'salary' not found; it has {', '.join(names[:50])}, … and 10 more")
    assert "c50" not in message


def test_file_in_glob_missing_a_column_is_named(tmp_path: Path) -> None:
    """Every file must have the requested columns; the one that lacks it is named."""
    pq.write_table(pa.table({"id": [1], "x": [1.0]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"id": [2]}), tmp_path / "b.parquet")
    src = FileSource(str(tmp_path / "*.parquet"))
    with pytest.raises(ColumnError, match=r"b\.parquet.*'x'"):
        list(src.batches(["x"]))
    assert ids(src.batches(["id"])) == [1, 2]


def test_missing_timestamp_column_is_a_column_error(tmp_path: Path) -> None:
    f = write_csv(tmp_path / "d.csv", "id", ["1"])
    src = FileSource(f, timestamp_column="when")
    with pytest.raises(ColumnError, match="'when'"):
        list(src.batches(["id"], Window(utc(2026, 1, 1), utc(2026, 1, 2))))


def test_timestamp_column_of_unusable_type(tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": [1], "ts": [1.5]}), tmp_path / "d.parquet")
    src = FileSource(tmp_path / "d.parquet", timestamp_column="ts")
    with pytest.raises(ColumnError, match=r"d\.parquet.*'ts'.*double"):
        list(src.batches(["id"], Window(utc(2026, 1, 1), utc(2026, 1, 2))))


def test_timestamp_text_that_is_not_iso_8601(tmp_path: Path) -> None:
    f = write_csv(tmp_path / "d.csv", "id,ts", ["1,2026-01-01T00:00:00Z", "2,yesterday"])
    src = FileSource(f, timestamp_column="ts")
    with pytest.raises(ColumnError, match=r"d\.csv.*'ts'.*ISO-8601.*yesterday"):
        list(src.batches(["id"], Window(utc(2026, 1, 1), utc(2026, 1, 2))))


def test_glob_matching_nothing(tmp_path: Path) -> None:
    src = FileSource(str(tmp_path / "*.parquet"))
    for call in (src.columns, src.fingerprint, lambda: list(src.batches(["id"]))):
        with pytest.raises(SourceError, match=r"no parquet files match .*\*\.parquet"):
            call()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"not found: .*nope\.csv"):
        FileSource(tmp_path / "nope.csv").columns()


@pytest.mark.parametrize("content", [b"", b"not parquet at all", b"PAR1" + b"\x00" * 64 + b"PAR1"])
def test_corrupt_parquet_names_the_file(tmp_path: Path, content: bytes) -> None:
    f = tmp_path / "broken.parquet"
    f.write_bytes(content)
    src = FileSource(f)
    with pytest.raises(SourceError, match=r"cannot read parquet file .*broken\.parquet"):
        src.columns()
    with pytest.raises(SourceError, match=r"broken\.parquet"):
        list(src.batches(["id"]))


def test_truncated_parquet_in_a_glob_names_the_file(tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": range(1000)}), tmp_path / "a.parquet")
    good = (tmp_path / "a.parquet").read_bytes()
    (tmp_path / "b.parquet").write_bytes(good[: len(good) // 2])
    with pytest.raises(SourceError, match=r"b\.parquet"):
        list(FileSource(str(tmp_path / "*.parquet")).batches(["id"]))


def test_csv_parse_error_names_file_and_row(tmp_path: Path) -> None:
    f = write_csv(tmp_path / "d.csv", "id,x", ["1,2", "2,3,4", "3,4"])
    with pytest.raises(SourceError, match=r"d\.csv.*Row #3.*Expected 2 columns"):
        list(FileSource(f).batches(["id"]))


def test_csv_value_not_matching_inferred_type_later_in_file(tmp_path: Path) -> None:
    """A value that breaks the type inferred from the first block names the file and row."""
    f = write_csv(tmp_path / "d.csv", "id,x", [*(f"{i},{i}" for i in range(150_000)), "x,oops"])
    with pytest.raises(SourceError, match=r"d\.csv.*Row #150002"):
        list(FileSource(f).batches(["id"]))


def test_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads files regardless of permissions")
    f = write_csv(tmp_path / "d.csv", "id", ["1"])
    f.chmod(0)
    with pytest.raises(SourceError, match=r"d\.csv"):
        FileSource(f).columns()


def test_parquet_text_is_read_as_a_dictionary_and_counts_as_the_same_text(tmp_path: Path) -> None:
    """Text columns come as Arrow dictionaries (counting codes, not hashing strings): the
    categorical counts are those of the plain text, and a numeric feature on a text column
    still names the value type."""
    values = ["a", "b", None, "a", "ü", "b", "a"]
    f = tmp_path / "t.parquet"
    pq.write_table(pa.table({"c": pa.array(values), "x": pa.array(range(7))}), f)
    (batch,) = FileSource(f).batches(["c", "x"])
    column = batch.column("c")
    assert pa.types.is_dictionary(column.type)
    assert column.to_pylist() == values
    bins = CategoricalBins(("a", "b"))
    assert categorical_histogram(column, bins) == categorical_histogram(pa.array(values), bins)
    assert categorical_histogram(column, bins).to_list() == [3, 2, 1, 1]  # a, b, other, missing
    with pytest.raises(ColumnTypeError, match=r"expected numbers, got Arrow type string$"):
        numeric_values(column)
