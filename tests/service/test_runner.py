"""MonitorRunner.run against real files and a real results database (SQLite, PostgreSQL)."""

from __future__ import annotations

import dataclasses
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pytest
import sqlalchemy as sa

from driftmon.config import Config, MonitorConfig
from driftmon.core.profile import PROFILE_FORMAT, ReferenceProfile
from driftmon.core.status import Status
from driftmon.errors import ConfigError, SourceError
from driftmon.results import RunResult
from driftmon.service.runner import MonitorRunner, default_source_factory
from driftmon.sources.base import Source, Window
from driftmon.storage import Store

from .conftest import (
    END,
    WINDOWED,
    live_columns,
    make_config,
    monitor_dict,
    reference_columns,
    write_parquet,
)


class CountingSources:
    """A source factory that counts how often each role's rows are read (the passes of one
    reference build over one opened source count once)."""

    def __init__(self) -> None:
        self.reads: Counter[str] = Counter()

    def __call__(self, cfg: Any, monitor: MonitorConfig) -> Source:
        role = "live" if cfg is monitor.live else "reference"
        return _Counted(default_source_factory(cfg, monitor), role, self.reads)


class _Counted:
    def __init__(self, inner: Source, role: str, reads: Counter[str]) -> None:
        self._inner, self._role, self._reads = inner, role, reads
        self._read = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def batches(
        self, columns: Sequence[str], window: Window | None = None
    ) -> Iterator[pa.RecordBatch]:
        if not self._read:
            self._reads[self._role] += 1
            self._read = True
        return self._inner.batches(columns, window)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """reference.parquet and a live.parquet without drift, 600 rows over the 3 h before END."""
    write_parquet(tmp_path / "reference.parquet", reference_columns())
    write_parquet(tmp_path / "live.parquet", live_columns())
    return tmp_path


def url_of(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def config(data: Path, store: Store, **monitor: Any) -> Config:
    return make_config(data, url_of(store), monitor_dict(**monitor))


def runner_for(cfg: Config, store: Store, sources: CountingSources | None = None) -> MonitorRunner:
    if sources is None:
        return MonitorRunner(cfg, store)
    return MonitorRunner(cfg, store, source_factory=sources)


def by_name(result: RunResult) -> dict[str, Any]:
    return {f.feature: f for f in result.features}


# -- reference profiles -------------------------------------------------------------------


def test_profile_is_built_once_and_reused_across_runs_and_restarts(
    data: Path, store: Store
) -> None:
    """The reference is read once; later runs, and a new runner on the same database, reuse it."""
    cfg = config(data, store, live=WINDOWED)
    sources = CountingSources()
    runner = runner_for(cfg, store, sources)
    runner.run(cfg.monitors[0], END - timedelta(hours=1))
    runner.run(cfg.monitors[0], END)
    assert sources.reads["reference"] == 1
    assert sources.reads["live"] == 2
    stored = store.load_profile("m")
    assert stored is not None

    restarted = CountingSources()
    result = runner_for(cfg, store, restarted).run(cfg.monitors[0], END)
    assert restarted.reads["reference"] == 0, "a restarted runner must load the stored profile"
    assert result.status == Status.OK
    again = store.load_profile("m")
    assert again is not None
    assert (again.fingerprint, again.created_at) == (stored.fingerprint, stored.created_at)


def test_profile_is_rebuilt_when_the_reference_file_changes(data: Path, store: Store) -> None:
    cfg = config(data, store)
    sources = CountingSources()
    runner = runner_for(cfg, store, sources)
    first = runner.run(cfg.monitors[0], END)
    before = store.load_profile("m")
    assert before is not None
    assert first.reference_rows == 2000

    ref = write_parquet(data / "reference.parquet", reference_columns(n=3000, seed=7))
    st = ref.stat()
    os.utime(ref, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    second = runner.run(cfg.monitors[0], END)
    after = store.load_profile("m")
    assert after is not None
    assert sources.reads["reference"] == 2
    assert after.fingerprint != before.fingerprint
    assert second.reference_rows == after.profile.rows == 3000
    # Each run records the profile it was scored on; the first one's is still stored.
    assert (first.profile_version, second.profile_version) == (before.version, after.version)
    assert after.version != before.version
    older = store.load_profile_version("m", before.version)
    assert older is not None
    assert older.profile.rows == 2000


def test_profile_is_rebuilt_when_a_feature_binning_changes(data: Path, store: Store) -> None:
    """A new bin count changes the fingerprint; a new threshold does not."""
    sources = CountingSources()
    cfg8 = config(data, store)
    runner_for(cfg8, store, sources).run(cfg8.monitors[0], END)
    fp8 = store.load_profile("m")

    stricter = monitor_dict(thresholds={"warning": 0.01, "critical": 0.02})
    cfg_thr = make_config(data, url_of(store), stricter)
    runner_for(cfg_thr, store, sources).run(cfg_thr.monitors[0], END)
    assert sources.reads["reference"] == 1, "thresholds are not part of the profile"

    features = [
        {"name": "x", "bins": 4},
        {"name": "y", "bins": 8},
        {"name": "c", "type": "categorical"},
    ]
    cfg4 = config(data, store, features=features)
    result = runner_for(cfg4, store, sources).run(cfg4.monitors[0], END)
    fp4 = store.load_profile("m")
    assert sources.reads["reference"] == 2
    assert fp8 is not None
    assert fp4 is not None
    assert fp4.fingerprint != fp8.fingerprint
    x = by_name(result)["x"]
    assert len(x.bin_labels) < len(by_name(result)["y"].bin_labels)


# -- live windows -------------------------------------------------------------------------


def test_windowed_live_source_scores_only_rows_in_the_half_open_window(
    data: Path, store: Store
) -> None:
    """Rows at end - window count, rows at end do not; 200 of the 600 rows are in [11:00, 12:00)."""
    cols = live_columns()
    # One more row exactly at END (excluded) and one just before the window (excluded).
    ts = [*cols["ts"].to_pylist(), END, END - timedelta(hours=1, microseconds=1)]
    extra = {k: [*list(v), v[0], v[0]] for k, v in cols.items() if k != "ts"}
    write_parquet(data / "live.parquet", {**extra, "ts": pa.array(ts)})
    cfg = config(data, store, live=WINDOWED)
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    assert result.window_start == END - timedelta(hours=1)
    assert result.window_end == END
    assert result.live_rows == 200
    assert {f.live_rows for f in result.features} == {200}
    assert {sum(f.live_counts) for f in result.features} == {200}
    assert store.runs("m")[0].live_rows == 200


def test_below_min_rows_the_run_and_features_are_insufficient_data_without_scores(
    data: Path, store: Store
) -> None:
    cfg = config(data, store, live={**WINDOWED, "min_rows": 201})
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    assert result.live_rows == 200
    assert result.status == Status.INSUFFICIENT_DATA
    assert {f.status for f in result.features} == {Status.INSUFFICIENT_DATA}
    assert all(f.scores is None for f in result.features)
    assert all("min_rows=201" in (f.message or "") for f in result.features)
    (stored,) = store.runs("m")
    assert stored.status == Status.INSUFFICIENT_DATA
    assert all(f.scores is None for f in stored.features)


def test_an_empty_live_window_is_insufficient_data(data: Path, store: Store) -> None:
    cfg = config(data, store, live=WINDOWED)
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END + timedelta(days=1))
    assert result.live_rows == 0
    assert result.status == Status.INSUFFICIENT_DATA
    assert {f.status for f in result.features} == {Status.INSUFFICIENT_DATA}
    assert result.error is None


def test_an_empty_live_file_is_insufficient_data(data: Path, store: Store) -> None:
    cols = reference_columns(n=0)
    write_parquet(data / "live.parquet", cols)
    cfg = config(data, store)
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    assert (result.status, result.live_rows) == (Status.INSUFFICIENT_DATA, 0)


# -- bad columns --------------------------------------------------------------------------


@pytest.mark.parametrize("missing_in", ["live", "reference"])
def test_a_missing_column_fails_only_its_feature_naming_the_column(
    data: Path, store: Store, missing_in: str
) -> None:
    ref, live = reference_columns(), live_columns()
    has_it = live if missing_in == "reference" else ref
    has_it["zeta"] = np.arange(len(has_it["x"]), dtype=float)
    write_parquet(data / "reference.parquet", ref)
    write_parquet(data / "live.parquet", live)
    features = [{"name": "x"}, {"name": "zeta"}, {"name": "c", "type": "categorical"}]
    cfg = config(data, store, features=features)
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    f = by_name(result)
    assert f["zeta"].status == Status.ERROR
    assert "'zeta'" in (f["zeta"].message or "")
    assert missing_in in (f["zeta"].message or "")
    assert f["zeta"].scores is None
    assert f["x"].status == f["c"].status == Status.OK
    assert f["x"].scores is not None
    assert f["c"].scores is not None
    assert result.status == Status.OK  # a feature error does not hide (or fake) drift
    (stored,) = store.runs("m")
    assert by_name(stored)["zeta"].message == f["zeta"].message


@pytest.mark.parametrize("missing_in", ["live", "reference"])
def test_a_missing_column_lists_the_columns_the_source_has(
    data: Path, store: Store, missing_in: str
) -> None:
    ref, live = reference_columns(), live_columns()
    has_it = live if missing_in == "reference" else ref
    has_it["zeta"] = np.arange(len(has_it["x"]), dtype=float)
    write_parquet(data / "reference.parquet", ref)
    write_parquet(data / "live.parquet", live)
    cfg = config(data, store, features=[{"name": "x"}, {"name": "zeta"}])
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    message = by_name(result)["zeta"].message or ""
    source = data / f"{missing_in}.parquet"
    expected = ", ".join(ref if missing_in == "reference" else live)
    assert (
        message
        == f"column 'zeta' not found in {missing_in} source parquet {source}; it has {expected}"
    )


def test_a_missing_column_of_a_very_wide_reference_lists_50_columns_and_how_many_more(
    data: Path, store: Store
) -> None:
    ref = reference_columns()
    for i in range(70):
        ref[f"extra{i:02d}"] = np.zeros(len(ref["x"]))
    write_parquet(data / "reference.parquet", ref)
    cfg = config(data, store, features=[{"name": "x"}, {"name": "zeta"}])
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    message = by_name(result)["zeta"].message or ""
    assert message.endswith("extra45, extra46, … and 23 more")
    assert "extra47" not in message


def test_text_in_a_numeric_live_column_fails_only_that_feature(data: Path, store: Store) -> None:
    live = live_columns()
    live["x"] = np.array(["n/a", "12.5", "lots"] * 200, dtype=object)
    write_parquet(data / "live.parquet", live)
    cfg = config(data, store)
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    f = by_name(result)
    assert f["x"].status == Status.ERROR
    assert "'x'" in (f["x"].message or "")
    assert f["y"].status == Status.OK
    assert f["c"].status == Status.OK


def test_an_all_nan_live_column_is_scored_in_the_missing_bin_with_finite_scores(
    data: Path, store: Store
) -> None:
    live = live_columns()
    live["x"] = np.full(600, np.nan)
    write_parquet(data / "live.parquet", live)
    cfg = config(data, store)
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    x = by_name(result)["x"]
    assert x.scores is not None
    assert x.missing_rows == 600
    assert x.missing_ratio == 1.0
    assert all(math.isfinite(v) for v in dataclasses.asdict(x.scores).values())
    assert x.status == Status.CRITICAL
    (stored,) = store.runs("m")
    assert by_name(stored)["x"].scores == x.scores


# -- failures -----------------------------------------------------------------------------


def _garbage(path: Path) -> None:
    path.write_bytes(b"PAR1 this is not really parquet PAR1")


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda d: (d / "live.parquet").unlink(), "live.parquet"),
        (lambda d: _garbage(d / "live.parquet"), "live.parquet"),
        (lambda d: (d / "reference.parquet").unlink(), "reference.parquet"),
    ],
    ids=["live-missing", "live-unreadable", "reference-missing"],
)
def test_an_unreadable_source_is_stored_as_an_error_run_and_earlier_runs_stay(
    data: Path, store: Store, damage: Any, expected: str
) -> None:
    cfg = config(data, store, live=WINDOWED)
    runner = MonitorRunner(cfg, store)
    good = runner.run(cfg.monitors[0], END - timedelta(hours=1))
    assert good.status == Status.OK
    damage(data)
    # A new runner: nothing cached in memory, as after a restart.
    failed = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    assert failed.status == Status.ERROR
    assert failed.error is not None
    assert expected in failed.error
    assert failed.features == ()
    newest, older = store.runs("m")
    assert newest.status == Status.ERROR
    assert newest.error == failed.error
    assert older == good


def test_a_failed_live_read_stores_the_reference_rows_that_were_read(
    data: Path, store: Store
) -> None:
    (data / "live.parquet").unlink()
    cfg = config(data, store, live=WINDOWED)
    failed = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    assert failed.status == Status.ERROR
    assert failed.reference_rows == 2000
    (stored,) = store.runs("m")
    assert stored.reference_rows == 2000


def test_rerunning_a_window_replaces_it(data: Path, store: Store) -> None:
    cfg = config(data, store, live=WINDOWED)
    runner = MonitorRunner(cfg, store)
    runner.run(cfg.monitors[0], END)
    write_parquet(data / "live.parquet", live_columns(shift=3.0))
    second = runner.run(cfg.monitors[0], END)
    runs = store.runs("m")
    assert len(runs) == 1
    assert runs[0] == second
    assert second.status == Status.CRITICAL


@pytest.mark.parametrize(
    ("feature_thresholds", "expected"),
    [
        ({"x": (1.0, 2.0), "y": (1.0, 2.0)}, Status.OK),
        ({"x": (0.0, 2.0), "y": (1.0, 2.0)}, Status.WARNING),
        ({"x": (0.0, 2.0), "y": (0.0, 0.0)}, Status.CRITICAL),
        ({"x": (0.0, 0.0), "y": (1.0, 2.0)}, Status.CRITICAL),
    ],
)
def test_the_run_status_is_its_worst_feature_status(
    data: Path, store: Store, feature_thresholds: dict[str, tuple[float, float]], expected: Status
) -> None:
    """Thresholds of 0 make any KL a warning or critical, 1-2 nats keep it ok."""
    features = [
        {"name": n, "thresholds": {"warning": w, "critical": c}}
        for n, (w, c) in feature_thresholds.items()
    ]
    cfg = config(data, store, features=features)
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    assert result.status == expected
    assert expected in {f.status for f in result.features}
    assert store.runs("m")[0].status == expected


def test_reference_files_disagreeing_on_a_column_type_fail_only_that_feature(
    data: Path, store: Store
) -> None:
    """int64 and double unify; string and int64 do not, and only that feature fails."""
    ref = data / "ref"
    a, b = reference_columns(n=1000, seed=3), reference_columns(n=1000, seed=4)
    a["x"] = np.round(a["x"] * 10).astype("int64")
    b["c"] = np.arange(1000, dtype="int64")
    write_parquet(ref / "a.parquet", a)
    write_parquet(ref / "b.parquet", b)
    cfg = config(data, store, reference="ref/*.parquet")
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    f = by_name(result)
    assert result.reference_rows == 2000
    assert f["x"].scores is not None
    assert f["y"].scores is not None
    assert f["c"].status == Status.ERROR
    assert "'c'" in (f["c"].message or "")
    assert "string" in (f["c"].message or "")


def test_a_sql_reference_whose_first_batch_is_all_null_builds_a_profile(
    data: Path, store: Store
) -> None:
    """An all-NULL batch comes back as Arrow's null type; later batches hold doubles."""
    engine = sa.create_engine(f"sqlite:///{data / 'ref.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE ref (x REAL, y REAL, c TEXT)")
        rows = [(None, 1.0, "a")] * 3 + [(float(i), float(i), "b") for i in range(200)]
        conn.exec_driver_sql("INSERT INTO ref VALUES (?, ?, ?)", rows)
    engine.dispose()
    reference = {"url": f"sqlite:///{data / 'ref.db'}", "table": "ref", "batch_rows": 3}
    cfg = make_config(data, url_of(store), {**monitor_dict(), "reference": reference})
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    assert result.reference_rows == 203
    assert all(f.scores is not None for f in result.features), [f.message for f in result.features]


@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Berlin", "America/New_York"])
def test_windows_select_the_same_rows_with_and_without_time_zones(
    data: Path, store: Store, tz: str | None
) -> None:
    """Naive timestamps are read as UTC (the default), aware ones as the instants they are."""
    live = live_columns()
    live["ts"] = live["ts"].cast(pa.timestamp("us", tz))
    write_parquet(data / "live.parquet", live)
    cfg = config(data, store, live=WINDOWED)
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    assert result.error is None
    assert result.live_rows == 200


def test_a_missing_timestamp_column_fails_the_run_naming_it(data: Path, store: Store) -> None:
    live = live_columns()
    del live["ts"]
    write_parquet(data / "live.parquet", live)
    cfg = config(data, store, live=WINDOWED)
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    assert result.status == Status.ERROR
    assert "column 'ts' not found" in (result.error or "")


def test_text_in_a_numeric_reference_column_fails_only_that_feature(
    data: Path, store: Store
) -> None:
    ref = reference_columns()
    ref["x"] = np.array(["a"] * 2000, dtype=object)
    write_parquet(data / "reference.parquet", ref)
    cfg = config(data, store)
    f = by_name(MonitorRunner(cfg, store).run(cfg.monitors[0], END))
    assert f["x"].status == Status.ERROR
    assert "reference data" in (f["x"].message or "")
    assert f["y"].status == Status.OK


def test_an_empty_reference_gives_insufficient_data_not_an_error(data: Path, store: Store) -> None:
    write_parquet(data / "reference.parquet", reference_columns(n=0))
    cfg = config(data, store)
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    assert result.status == Status.INSUFFICIENT_DATA
    assert all(f.message == "no reference rows for this feature" for f in result.features)


def test_live_int64_beyond_2_53_is_binned_as_the_nearest_floats(data: Path, store: Store) -> None:
    """int64 beyond 2**53 has no exact float; binning needs none, so such values are cast
    lossily and scored (here: all in the two outer bins), not rejected (issue 6)."""
    live = live_columns()
    live["x"] = np.array([2**63 - 1, -(2**63)] * 300, dtype=np.int64)
    write_parquet(data / "live.parquet", live)
    cfg = config(data, store)
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    f = by_name(result)
    assert f["x"].status == Status.CRITICAL
    assert (f["x"].live_counts[0], f["x"].live_counts[-2]) == (300, 300)
    assert f["y"].status == Status.OK
    assert store.runs("m")[0] == result


# -- empty windows ------------------------------------------------------------------------


def _epoch_ms_live(data: Path) -> None:
    """live.parquet with ts as integer epoch milliseconds (the 3 h before END)."""
    cols = live_columns()
    cols["ts"] = pa.array([int(t.timestamp() * 1000) for t in cols["ts"].to_pylist()], pa.int64())
    write_parquet(data / "live.parquet", cols)


def test_epoch_milliseconds_read_as_seconds_say_which_range_the_source_spans(
    data: Path, store: Store
) -> None:
    """The issue's case: the run is insufficient_data with a stored note naming the window
    read, the year the timestamps were read as, and timestamp_unit."""
    _epoch_ms_live(data)
    cfg = config(data, store, live=WINDOWED)
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    assert (result.status, result.live_rows, result.error) == (Status.INSUFFICIENT_DATA, 0, None)
    assert result.message is not None
    assert result.message.startswith(
        "no rows in the window [2026-03-01T11:00:00Z, 2026-03-01T12:00:00Z), but the "
        "source's 600 timestamp(s) in column 'ts' span about the year 58,"
    )
    assert "integers read as epoch seconds; set timestamp_unit" in result.message
    (stored,) = store.runs("m")
    assert stored.message == result.message


def test_timestamp_unit_ms_scores_the_same_file(data: Path, store: Store) -> None:
    _epoch_ms_live(data)
    cfg = config(data, store, live={**WINDOWED, "timestamp_unit": "ms"})
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    assert (result.status, result.live_rows, result.message) == (Status.OK, 200, None)


def test_an_empty_window_of_old_data_names_the_range_in_iso_form(data: Path, store: Store) -> None:
    cfg = config(data, store, live=WINDOWED)
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END + timedelta(days=1))
    assert result.message == (
        "no rows in the window [2026-03-02T11:00:00Z, 2026-03-02T12:00:00Z), but the "
        "source's 600 timestamp(s) in column 'ts' span 2026-03-01T09:00:00Z to "
        "2026-03-01T11:59:42Z"
    )


class _SpanReplaced(CountingSources):
    """Sources whose ``timestamp_span`` is ``span`` instead of their own."""

    def __init__(self, span: Callable[[], None]) -> None:
        super().__init__()
        self._span = span

    def __call__(self, cfg: Any, monitor: MonitorConfig) -> Source:
        source = super().__call__(cfg, monitor)
        source.timestamp_span = self._span  # type: ignore[attr-defined]
        return source


def test_a_window_with_rows_reads_no_time_range(data: Path, store: Store) -> None:
    """The range is read only for an empty window: a run with rows has no note."""

    def refuse() -> None:
        raise AssertionError("time range read for a window with rows")

    cfg = config(data, store, live=WINDOWED)
    result = runner_for(cfg, store, _SpanReplaced(refuse)).run(cfg.monitors[0], END)
    assert (result.live_rows, result.message) == (200, None)


def test_an_unreadable_time_range_is_reported_in_the_note(data: Path, store: Store) -> None:
    """Reading the range fails: the run keeps its status, the note says why."""

    def fail() -> None:
        raise SourceError("the disk went away")

    cfg = config(data, store, live=WINDOWED)
    result = runner_for(cfg, store, _SpanReplaced(fail)).run(
        cfg.monitors[0], END + timedelta(days=1)
    )
    assert result.status == Status.INSUFFICIENT_DATA
    assert result.message is not None
    assert result.message.endswith(
        "the time range of the source's column 'ts' could not be read: the disk went away"
    )


# -- column kinds (issue 9) ---------------------------------------------------------------


def _flags(n: int, seed: int) -> npt.NDArray[np.bool_]:
    return np.random.default_rng(seed).random(n) < 0.3


def _with(columns: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**columns, **extra}


@pytest.mark.parametrize("binning", ["categorical", "numeric"])
def test_live_0_1_integers_against_a_bool_reference_are_scored_as_booleans_with_a_note(
    data: Path, store: Store, binning: str
) -> None:
    """A bool column arriving as 0/1 integers scores exactly as the same booleans would,
    and says that the kind changed (it used to land in "other": KL 11.5, critical)."""
    write_parquet(data / "reference.parquet", _with(reference_columns(), flag=_flags(2000, 0)))
    flags = _flags(600, 1)
    features = [{"name": "flag", "type": binning}]
    cfg = config(data, store, features=features)

    write_parquet(data / "live.parquet", _with(live_columns(), flag=flags))
    as_bool = by_name(MonitorRunner(cfg, store).run(cfg.monitors[0], END))["flag"]
    write_parquet(data / "live.parquet", _with(live_columns(), flag=flags.astype(np.int64)))
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    flag = by_name(result)["flag"]

    assert as_bool.message is None
    assert flag.status == as_bool.status == Status.OK
    assert flag.scores == as_bool.scores
    assert flag.live_counts == as_bool.live_counts
    assert flag.message is not None
    assert "reference bool, live integer" in flag.message
    assert by_name(store.runs("m")[0])["flag"].message == flag.message


@pytest.mark.parametrize("binning", ["categorical", "numeric"])
def test_live_integers_beyond_0_1_against_a_bool_reference_are_a_feature_error(
    data: Path, store: Store, binning: str
) -> None:
    write_parquet(data / "reference.parquet", _with(reference_columns(), flag=_flags(2000, 0)))
    write_parquet(data / "live.parquet", _with(live_columns(), flag=np.arange(600) % 3))
    cfg = config(data, store, features=[{"name": "flag", "type": binning}, {"name": "x"}])
    f = by_name(MonitorRunner(cfg, store).run(cfg.monitors[0], END))
    assert f["flag"].status == Status.ERROR
    assert f["flag"].scores is None
    message = f["flag"].message or ""
    assert "'flag'" in message
    assert "integer" in message
    assert "bool" in message
    assert "such as 2" in message
    assert f["x"].status == Status.OK


def test_a_float_reference_and_integer_live_values_are_compared_as_numbers_with_a_note(
    data: Path, store: Store
) -> None:
    """Numeric features read integers and floats alike: same counts, plus the note."""
    ref = reference_columns()
    write_parquet(data / "reference.parquet", _with(ref, n=np.round(ref["x"] * 3)))
    whole = np.round(live_columns()["x"] * 3)
    cfg = config(data, store, features=[{"name": "n", "bins": 6}])

    write_parquet(data / "live.parquet", _with(live_columns(), n=whole))
    as_float = by_name(MonitorRunner(cfg, store).run(cfg.monitors[0], END))["n"]
    write_parquet(data / "live.parquet", _with(live_columns(), n=whole.astype(np.int64)))
    n = by_name(MonitorRunner(cfg, store).run(cfg.monitors[0], END))["n"]

    assert as_float.message is None
    assert n.scores == as_float.scores
    assert n.status == as_float.status == Status.OK
    assert "reference float, live integer" in (n.message or "")


def test_integral_floats_against_an_integer_categorical_reference_are_read_as_integers(
    data: Path, store: Store
) -> None:
    """1e20 spells "1e+20" as a float: without the mapping it would miss its category."""
    codes = np.array([1, 2, 3, 10**20 // 10**3], dtype=np.int64)
    rng = np.random.default_rng(0)
    write_parquet(data / "reference.parquet", _with(reference_columns(), k=rng.choice(codes, 2000)))
    live_codes = rng.choice(codes, 600)
    cfg = config(data, store, features=[{"name": "k", "type": "categorical"}])

    write_parquet(data / "live.parquet", _with(live_columns(), k=live_codes))
    as_int = by_name(MonitorRunner(cfg, store).run(cfg.monitors[0], END))["k"]
    write_parquet(data / "live.parquet", _with(live_columns(), k=live_codes.astype(np.float64)))
    k = by_name(MonitorRunner(cfg, store).run(cfg.monitors[0], END))["k"]

    assert k.live_counts == as_int.live_counts
    assert k.live_counts[-2] == 0  # nothing in "other"
    assert k.scores == as_int.scores
    assert "reference integer, live float" in (k.message or "")


def test_fractional_floats_against_an_integer_categorical_reference_are_a_feature_error(
    data: Path, store: Store
) -> None:
    k = np.random.default_rng(0).integers(0, 4, 2000)
    write_parquet(data / "reference.parquet", _with(reference_columns(), k=k))
    write_parquet(data / "live.parquet", _with(live_columns(), k=np.tile([1.0, 2.5], 300)))
    cfg = config(data, store, features=[{"name": "k", "type": "categorical"}])
    k_result = by_name(MonitorRunner(cfg, store).run(cfg.monitors[0], END))["k"]
    assert k_result.status == Status.ERROR
    assert "such as 2.5" in (k_result.message or "")
    assert "float" in (k_result.message or "")


@pytest.mark.parametrize(
    ("feature", "reference", "live", "kinds"),
    [
        (
            {"name": "v"},
            np.arange(2000.0),
            np.array(["1.5", "2"] * 300, dtype=object),
            ("text", "float"),
        ),
        (
            {"name": "v", "type": "categorical"},
            np.array(["a", "b"] * 1000, dtype=object),
            np.arange(600.0),
            ("float", "text"),
        ),
    ],
    ids=["float-reference-text-live", "text-reference-float-live"],
)
def test_text_against_a_numeric_reference_and_back_is_a_feature_error_naming_both_kinds(
    data: Path,
    store: Store,
    feature: dict[str, Any],
    reference: Any,
    live: Any,
    kinds: tuple[str, str],
) -> None:
    write_parquet(data / "reference.parquet", _with(reference_columns(), v=reference))
    write_parquet(data / "live.parquet", _with(live_columns(), v=live))
    cfg = config(data, store, features=[feature, {"name": "y"}])
    f = by_name(MonitorRunner(cfg, store).run(cfg.monitors[0], END))
    live_kind, ref_kind = kinds
    assert f["v"].status == Status.ERROR
    assert f" {live_kind} (Arrow " in (f["v"].message or "")
    assert f"the reference's are {ref_kind}" in (f["v"].message or "")
    assert f["y"].status == Status.OK


@pytest.mark.parametrize(
    ("feature", "values", "reason"),
    [
        (
            {"name": "v"},
            np.full(2000, np.inf),
            "no finite value in its 2000 rows (2000 +inf) to compare live data with",
        ),
        (
            {"name": "v", "edges": [0.0, 1.0]},
            np.r_[np.full(1000, -np.inf), np.full(1000, np.nan)],
            "no finite value in its 2000 rows (1000 -inf, 1000 missing) to compare live data with",
        ),
        ({"name": "v", "type": "categorical"}, [None] * 2000, "all 2000 rows are missing"),
    ],
    ids=["all-inf", "inf-and-nan-with-edges", "all-null-categories"],
)
def test_a_reference_column_without_a_value_to_fit_is_a_feature_error_with_its_reason(
    data: Path, store: Store, feature: dict[str, Any], values: Any, reason: str
) -> None:
    """Such a column used to give an empty profile, and finite live data then scored KL 0."""
    write_parquet(data / "reference.parquet", _with(reference_columns(), v=values))
    write_parquet(data / "live.parquet", _with(live_columns(), v=np.arange(600.0)))
    cfg = config(data, store, features=[feature, {"name": "x"}])
    result = MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    f = by_name(result)
    assert f["v"].status == Status.ERROR
    assert f["v"].message == f"column 'v' in reference data: {reason}"
    assert f["x"].status == Status.OK
    assert by_name(store.runs("m")[0])["v"].message == f["v"].message


def test_a_profile_stored_without_column_kinds_is_rebuilt(data: Path, store: Store) -> None:
    """A profile stored before kinds were recorded (format 1) would skip the kind check."""
    write_parquet(data / "reference.parquet", _with(reference_columns(), flag=_flags(2000, 0)))
    write_parquet(data / "live.parquet", _with(live_columns(), flag=np.arange(600) % 3))
    cfg = config(data, store, features=[{"name": "flag", "type": "categorical"}])
    MonitorRunner(cfg, store).run(cfg.monitors[0], END)
    stored = store.load_profile("m")
    assert stored is not None
    old = stored.profile.to_dict()
    old["format"] = 1
    for f in old["features"]:
        del f["column_kind"]
    store.save_profile("m", stored.fingerprint, ReferenceProfile.from_dict(old))

    sources = CountingSources()
    result = runner_for(cfg, store, sources).run(cfg.monitors[0], END)
    assert sources.reads["reference"] == 1
    assert by_name(result)["flag"].status == Status.ERROR
    rebuilt = store.load_profile("m")
    assert rebuilt is not None
    assert rebuilt.profile.format == PROFILE_FORMAT
    assert rebuilt.profile.feature("flag").column_kind == "bool"


class _FingerprintCounting:
    """A source factory counting how often the reference's fingerprint is read."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self, cfg: Any, monitor: MonitorConfig) -> Source:
        source = default_source_factory(cfg, monitor)
        if cfg is monitor.reference:
            inner = source.fingerprint

            def fingerprint() -> str:
                self.reads += 1
                return inner()

            source.fingerprint = fingerprint  # type: ignore[method-assign]
        return source


class _Clock:
    """Stands in for the runner's ``time`` module: ``monotonic()`` is ``now``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.mark.parametrize("refresh", [None, "1h", "1s"])
def test_refresh_reads_a_table_reference_fingerprint_at_most_that_often(
    data: Path, store: Store, refresh: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``refresh: 1h``: three runs read the table's fingerprint (a count) once, and rows added
    in between do not rebuild the profile; past ``refresh`` (1s) and without it (every run)
    they do."""
    # The runner's clock moves only when the test says: on the real one, a second run slower
    # than 1 s (a loaded machine) let ``refresh: 1s`` pass again before the third.
    clock = _Clock()
    monkeypatch.setattr("driftmon.service.runner.time", clock)
    db = data / "warehouse.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    ref = pa.table(reference_columns()).to_pylist()
    table = sa.Table(
        "ref", sa.MetaData(), sa.Column("x", sa.Double), sa.Column("y", sa.Double),
        sa.Column("c", sa.Text),
    )  # fmt: skip
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(table.insert(), ref)
    reference = {"url": f"sqlite:///{db}", "table": "ref", "refresh": refresh}
    cfg = make_config(data, url_of(store), {**monitor_dict(live=WINDOWED), "reference": reference})
    sources = _FingerprintCounting()
    runner = runner_for(cfg, store)
    runner.source_factory = sources
    first = runner.run(cfg.monitors[0], END - timedelta(hours=1))
    with engine.begin() as conn:
        conn.execute(table.insert(), ref[:500])
    if refresh == "1s":
        clock.now += 1.2
    runner.run(cfg.monitors[0], END)
    last = runner.run(cfg.monitors[0], END)
    engine.dispose()
    if refresh == "1h":
        assert sources.reads == 1
        assert last.reference_rows == first.reference_rows == 2000
    else:
        assert sources.reads == (2 if refresh == "1s" else 3)
        assert last.reference_rows == 2500


def test_refresh_with_a_definition_fingerprint_is_refused(data: Path, store: Store) -> None:
    reference = {
        "url": "sqlite:///w.db",
        "table": "ref",
        "refresh": "1h",
        "fingerprint": "definition",
    }
    with pytest.raises(ConfigError, match="'refresh' applies to fingerprint: data"):
        make_config(data, url_of(store), {**monitor_dict(), "reference": reference})
