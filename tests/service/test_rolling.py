"""Rolling references (``reference: {from_live: ...}``): the runner scores each live window
against its own past window of the live source, builds each reference window's profile
once, says so when that window is empty; the daemon does the same on schedule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa
import yaml

from driftmon.config import Config, MonitorConfig
from driftmon.core.status import Status
from driftmon.service.rolling import REFERENCE_WINDOW_KEY
from driftmon.service.runner import MonitorRunner, default_source_factory
from driftmon.service.validation import ProblemKind, find_problems
from driftmon.sources.base import Source, Window
from driftmon.storage import Store

from .conftest import END, make_config, write_parquet

DAY, HOUR = timedelta(days=1), timedelta(hours=1)
LIVE = {"path": "live.parquet", "timestamp_column": "ts", "window": "1h"}
TS_WINDOW = {"timestamp_column": "ts", "window": "1h"}
FEATURES = [{"name": "x", "bins": 8}, {"name": "c", "type": "categorical"}]


def minute_rows(end: datetime, hours: int, shifted_hours: int, seed: int = 0) -> dict[str, Any]:
    """One row a minute over the ``hours`` before ``end``; x ~ N(0, 1), shifted by 3 in the
    last ``shifted_hours``; c in {a, b, c}."""
    n = hours * 60
    rng = np.random.default_rng(seed)
    ts = [end - timedelta(hours=hours) + i * timedelta(minutes=1) for i in range(n)]
    x = rng.normal(0.0, 1.0, n)
    x[n - shifted_hours * 60 :] += 3.0
    return {"ts": pa.array(ts), "x": x, "c": rng.choice(["a", "b", "c"], n).astype(object)}


def rolling_monitor(**from_live: Any) -> dict[str, Any]:
    return {
        "name": "m",
        "schedule": {"every": "1h"},
        "reference": {"from_live": {"offset": "1d", "window": "1h", **from_live}},
        "live": LIVE,
        "features": FEATURES,
    }


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """live.parquet: three days of rows up to END, x shifted in the last two hours."""
    write_parquet(tmp_path / "live.parquet", minute_rows(END, 72, 2))
    return tmp_path


def url_of(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


class WindowsRead:
    """A source factory recording the window of every read of the live source."""

    def __init__(self) -> None:
        self.windows: list[Window | None] = []

    def __call__(self, cfg: Any, monitor: MonitorConfig) -> Source:
        return _Recorded(default_source_factory(cfg, monitor), self.windows)

    def reference_reads(self, live_windows: set[Window]) -> list[Window | None]:
        return [w for w in self.windows if w not in live_windows]


class _Recorded:
    def __init__(self, inner: Source, windows: list[Window | None]) -> None:
        self._inner, self._windows = inner, windows

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def batches(
        self, columns: Sequence[str], window: Window | None = None
    ) -> Iterator[pa.RecordBatch]:
        self._windows.append(window)
        return self._inner.batches(columns, window)


def runner(cfg: Config, store: Store, reads: WindowsRead | None = None) -> MonitorRunner:
    return MonitorRunner(cfg, store, source_factory=reads or default_source_factory)


def test_each_live_window_is_scored_against_the_same_hour_a_day_before(
    data: Path, store: Store
) -> None:
    cfg = make_config(data, url_of(store), rolling_monitor())
    r = runner(cfg, store)
    drifted = r.run(cfg.monitors[0], END)
    assert drifted.reference_rows == 60
    assert drifted.live_rows == 60
    x = {f.feature: f for f in drifted.features}["x"]
    assert x.status == Status.CRITICAL
    calm = r.run(cfg.monitors[0], END - 3 * HOUR)
    assert calm.reference_rows == 60
    assert {f.feature: f.status for f in calm.features}["x"] != Status.CRITICAL
    stored = store.load_profile("m")
    assert stored is not None
    start, end = END - 3 * HOUR - DAY - HOUR, END - 3 * HOUR - DAY
    assert stored.profile.metadata[REFERENCE_WINDOW_KEY] == [start.isoformat(), end.isoformat()]


def test_a_rolling_reference_gives_the_numbers_of_the_same_rows_as_a_fixed_reference(
    data: Path, store: Store
) -> None:
    """The reference window's rows written to their own file, as a fixed reference, score
    the live window exactly alike."""
    rows = pa.table(minute_rows(END, 72, 2))
    ts = rows.column("ts").to_pylist()
    keep = [END - DAY - HOUR <= t.replace(tzinfo=UTC) < END - DAY for t in ts]
    write_parquet(data / "past.parquet", rows.filter(pa.array(keep)).to_pydict())
    fixed = {**rolling_monitor(), "name": "fixed", "reference": {"path": "past.parquet"}}
    cfg = make_config(data, url_of(store), rolling_monitor(), fixed)
    r = runner(cfg, store)
    rolling, same = (r.run(m, END) for m in cfg.monitors)
    assert rolling.reference_rows == same.reference_rows == 60
    for a, b in zip(rolling.features, same.features, strict=True):
        assert (a.feature, a.status, a.live_counts) == (b.feature, b.status, b.live_counts)
        assert a.scores is not None
        assert b.scores is not None
        assert a.scores.kl_divergence == b.scores.kl_divergence
        assert a.scores.p_value == b.scores.p_value


def test_the_profile_is_built_once_per_reference_window(data: Path, store: Store) -> None:
    """With align: 1d the four live windows of a morning share one reference window: its
    profile is read once; without align each live window reads its own."""
    ends = [END - i * HOUR for i in range(4)]
    live = {Window(t - HOUR, t) for t in ends}

    aligned = make_config(data, url_of(store), rolling_monitor(window="1d", align="1d"))
    reads = WindowsRead()
    r = runner(aligned, store, reads)
    r.run(aligned.monitors[0], ends[0])
    built = reads.reference_reads(live)
    # [floor(T - 1d, 1d) - 1d, floor(T - 1d, 1d)) for T on 2026-03-01 between 09:00 and 12:00
    day_before = datetime(2026, 2, 28, tzinfo=UTC)
    assert set(built) == {Window(day_before - DAY, day_before)}
    for t in ends[1:]:
        r.run(aligned.monitors[0], t)
    assert reads.reference_reads(live) == built, "the reference window was read again"
    # One reference window, one profile version, recorded on every run scored on it.
    assert {run.profile_version for run in store.runs("m")} == {store_version(store)}

    moving = make_config(data, url_of(store), rolling_monitor())
    reads = WindowsRead()
    r = runner(moving, store, reads)
    results = [r.run(moving.monitors[0], t) for t in ends]
    assert set(reads.reference_reads(live)) == {Window(t - DAY - HOUR, t - DAY) for t in ends}
    # A profile version per reference window; each run is drawn against its own window's.
    versions = [run.profile_version for run in results]
    assert len(set(versions)) == 4
    for run, version in zip(results, versions, strict=True):
        assert version is not None
        stored = store.load_profile_version(run.monitor, version)
        assert stored is not None
        assert stored.profile.rows == run.reference_rows


def store_version(store: Store) -> int | None:
    current = store.load_profile("m")
    return current.version if current else None


def test_a_restarted_runner_takes_the_stored_profile_of_its_reference_window(
    data: Path, store: Store
) -> None:
    cfg = make_config(data, url_of(store), rolling_monitor(window="1d", align="1d"))
    runner(cfg, store).run(cfg.monitors[0], END)
    reads = WindowsRead()
    again = runner(cfg, store, reads).run(cfg.monitors[0], END - HOUR)
    assert again.reference_rows == 24 * 60
    assert reads.windows == [Window(END - 2 * HOUR, END - HOUR)], "the reference was read again"


def test_an_empty_reference_window_stores_an_insufficient_data_run_that_says_why(
    data: Path, store: Store
) -> None:
    cfg = make_config(data, url_of(store), rolling_monitor())
    # The data start 72 h before END: the reference window of END - 48 h is before them.
    result = runner(cfg, store).run(cfg.monitors[0], END - 2 * DAY)
    assert result.status == Status.INSUFFICIENT_DATA
    assert result.message is not None
    assert result.message.startswith("rolling reference: no rows in the window [")
    assert "2026-02-26T11:00:00Z, 2026-02-26T12:00:00Z)" in result.message
    assert "span 2026-02-26T12:00:00Z to" in result.message  # the range the source has
    assert "the live window was not scored" in result.message
    assert [f.status for f in result.features] == [Status.INSUFFICIENT_DATA] * 2
    assert all("no reference rows" in (f.message or "") for f in result.features)
    assert store.load_profile("m") is None, "an empty window's profile is not kept"
    assert store.stored_status("m", END - 2 * DAY) == Status.INSUFFICIENT_DATA


def test_an_empty_reference_window_is_read_again_when_rows_arrive(data: Path, store: Store) -> None:
    cfg = make_config(data, url_of(store), rolling_monitor())
    r = runner(cfg, store)
    assert r.run(cfg.monitors[0], END - 2 * DAY).reference_rows == 0
    write_parquet(data / "live.parquet", minute_rows(END, 96, 2))  # a day further back
    again = r.run(cfg.monitors[0], END - 2 * DAY)
    assert (again.status, again.reference_rows) == (Status.OK, 60)


# -- push-down: the reference window's profile built in the database --------------------


def _live_table(url: str) -> None:
    meta = sa.MetaData()
    live = sa.Table(
        "live",
        meta,
        sa.Column("ts", sa.DateTime(timezone=True)),
        sa.Column("x", sa.Double()),
        sa.Column("c", sa.Text()),
    )
    cols = minute_rows(END, 72, 2)
    rows = [
        {"ts": t, "x": float(x), "c": c}
        for t, x, c in zip(cols["ts"].to_pylist(), cols["x"], cols["c"], strict=True)
    ]
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            meta.drop_all(conn)
            meta.create_all(conn)
            conn.execute(live.insert(), rows)
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("query", [False, True], ids=["table", "query with :start/:end"])
def test_postgresql_builds_the_reference_window_profile_in_the_database_alike(
    pg_database: str, tmp_path: Path, query: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """The same profile and scores with push-down on (built in PostgreSQL) and off."""
    _live_table(pg_database)
    source: dict[str, Any] = (
        {"query": "SELECT ts, x, c FROM live WHERE ts >= :start AND ts < :end"}
        if query
        else {"table": "live"}
    )
    monitors = [
        {
            **rolling_monitor(window="6h"),
            "name": f"pushdown {on}",
            "live": {**source, "url": pg_database, "pushdown": on, **TS_WINDOW},
        }
        for on in (True, False)
    ]
    cfg = make_config(tmp_path, f"sqlite:///{tmp_path / 'r.db'}", *monitors)
    store = Store(cfg.database.url)
    store.upgrade()
    try:
        r = runner(cfg, store)
        with caplog.at_level("INFO", logger="driftmon.sources"):
            pushed, pulled = (r.run(m, END) for m in cfg.monitors)
        built = [m.message for m in caplog.records if "reference profile is built" in m.message]
        assert len(built) == 1, built  # only the pushdown: false monitor pulled rows
        assert "pushdown: false" in built[0]
        assert pushed.reference_rows == pulled.reference_rows == 6 * 60
        for a, b in zip(pushed.features, pulled.features, strict=True):
            assert (a.status, a.live_counts) == (b.status, b.live_counts)
            assert a.bin_labels == b.bin_labels
            assert a.scores is not None
            assert b.scores is not None
            assert a.scores.kl_divergence == pytest.approx(b.scores.kl_divergence, rel=1e-12)
        profiles = [store.load_profile(m.name) for m in cfg.monitors]
        assert profiles[0] is not None
        assert profiles[1] is not None
        assert [f.to_dict() for f in profiles[0].profile.features] == [
            f.to_dict() for f in profiles[1].profile.features
        ]
    finally:
        store.dispose()


# -- the daemon ------------------------------------------------------------------------------


def test_the_daemon_scores_each_scheduled_window_against_its_rolling_reference(
    tmp_path: Path,
) -> None:
    """Every second, the last minute against the minute an hour before it: x shifted in the
    last 20 minutes, so runs are critical, each with 60 reference rows of its own window."""
    now = datetime.now(UTC).replace(microsecond=0)
    n = 3 * 3600 + 600  # one row a second over the last three hours and ten minutes to come
    rng = np.random.default_rng(3)
    ts = [now - timedelta(hours=3) + timedelta(seconds=i) for i in range(n)]
    x = rng.normal(0.0, 1.0, n)
    x[[t >= now - timedelta(minutes=20) for t in ts]] += 3.0
    write_parquet(
        tmp_path / "live.parquet",
        {"ts": pa.array(ts), "x": x, "c": rng.choice(["a", "b"], n).astype(object)},
    )
    data = {
        "database": {"url": "sqlite:///results.db"},
        "server": {"host": "127.0.0.1", "port": 0},
        "log": {"format": "json", "level": "INFO"},
        "monitors": [
            {
                "name": "m",
                "schedule": {"every": "1s"},
                "reference": {"from_live": {"offset": "1h", "window": "1m"}},
                "live": {**LIVE, "window": "1m"},
                "features": FEATURES,
                "thresholds": {"warning": 0.05, "critical": 0.2},
            }
        ],
    }
    config = tmp_path / "driftmon.yaml"
    config.write_text(yaml.safe_dump(data))
    log = tmp_path / "daemon.log"
    env = {k: v for k, v in os.environ.items() if k != "DRIFTMON_CONFIG"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "driftmon.cli", "run", "-c", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            runs = _wait_for_runs(tmp_path / "results.db", proc, log, count=3)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert proc.returncode == 0, log.read_text()[-3000:]
    for window_end, status, reference_rows, live_rows in runs:
        assert (status, reference_rows, live_rows) == ("critical", 60, 60), window_end
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'results.db'}")
    try:
        with engine.connect() as conn:
            profile = json.loads(
                conn.exec_driver_sql(
                    "SELECT v.profile FROM reference_profiles p "
                    "JOIN reference_profile_versions v ON v.id = p.version_id"
                ).scalar_one()
            )
            # Each run records the version of its own reference window's profile.
            unversioned = conn.exec_driver_sql(
                "SELECT count(*) FROM runs WHERE profile_version_id IS NULL"
            ).scalar_one()
    finally:
        engine.dispose()
    assert unversioned == 0
    ends = {datetime.fromisoformat(str(r[0])).replace(tzinfo=UTC) for r in runs}
    start, end = (datetime.fromisoformat(t) for t in profile["metadata"][REFERENCE_WINDOW_KEY])
    assert end - start == timedelta(minutes=1)
    assert end + timedelta(hours=1) >= max(ends), "the stored profile is not of a run's window"
    finished = [
        json.loads(line) for line in log.read_text().splitlines() if '"run.finished"' in line
    ]
    assert finished
    assert all(e["status"] == "critical" for e in finished)


def _wait_for_runs(
    db: Path, proc: subprocess.Popen[bytes], log: Path, count: int
) -> list[tuple[Any, ...]]:
    deadline = time.monotonic() + 90  # an upper bound (a start and 3 runs), for a loaded machine
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        if db.exists():
            engine = sa.create_engine(f"sqlite:///{db}")
            try:
                with engine.connect() as conn:
                    rows = conn.exec_driver_sql(
                        "SELECT window_end, status, reference_rows, live_rows FROM runs "
                        "ORDER BY window_end"
                    ).all()
            except sa.exc.OperationalError:  # the tables are not there yet
                rows = []
            finally:
                engine.dispose()
            if len(rows) >= count:
                return [tuple(r) for r in rows]
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} runs within 90 s:\n{log.read_text()[-3000:]}")


@pytest.mark.postgres
def test_postgresql_an_empty_reference_window_pushed_down_says_so(
    pg_database: str, tmp_path: Path
) -> None:
    _live_table(pg_database)
    live = {"url": pg_database, "table": "live", **TS_WINDOW}
    cfg = make_config(
        tmp_path, f"sqlite:///{tmp_path / 'r.db'}", {**rolling_monitor(), "live": live}
    )
    store = Store(cfg.database.url)
    store.upgrade()
    try:
        result = runner(cfg, store).run(cfg.monitors[0], END - 2 * DAY)
    finally:
        store.dispose()
    assert result.status == Status.INSUFFICIENT_DATA
    assert result.error is None
    assert result.message is not None
    assert "rolling reference: no rows in the window [2026-02-26T11:00:00Z" in result.message


def test_validate_says_when_the_latest_rolling_reference_window_is_empty(tmp_path: Path) -> None:
    """Three days of rows up to now: a day-old reference window has rows, a week-old one
    none, which ``validate`` reports as a source problem naming the window."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    write_parquet(tmp_path / "live.parquet", minute_rows(now + HOUR, 72, 0))
    fine = rolling_monitor()
    week = {**rolling_monitor(offset="7d"), "name": "week"}
    cfg = make_config(tmp_path, f"sqlite:///{tmp_path / 'r.db'}", fine, week)
    problems = find_problems(cfg)
    assert [p.kind for p in problems] == [ProblemKind.SOURCE]
    message = problems[0].message
    assert message.startswith("monitor 'week': reference: ")
    assert "the rolling reference window of the window ending" in message
    assert "is empty: no rows in the window [" in message
