"""``latest_window_problem`` (driftmon validate) on SQL live sources, SQLite and PostgreSQL:
an empty latest scheduled window is reported with the source's time range."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from driftmon.config import MonitorConfig
from driftmon.service.empty_windows import latest_window_problem

from .conftest import END, make_config, monitor_dict

NOW = END + timedelta(minutes=10)  # the latest scheduled window is [END - 1h, END)


def epoch_ms_table(url: str) -> str:
    """Table ``events``: 6 rows, ts as BIGINT epoch milliseconds, every 20 min before END."""
    engine = sa.create_engine(url)
    table = sa.Table(
        "events", sa.MetaData(), sa.Column("x", sa.Float), sa.Column("ts", sa.BigInteger)
    )
    try:
        with engine.begin() as conn:
            table.drop(conn, checkfirst=True)
            table.create(conn)
            stamps = [END - timedelta(minutes=20 * i) for i in range(1, 7)]
            conn.execute(
                table.insert(), [{"x": 1.0, "ts": int(t.timestamp() * 1000)} for t in stamps]
            )
    finally:
        engine.dispose()
    return "events"


def sql_monitor(tmp_path: Path, url: str, **live: Any) -> MonitorConfig:
    source = {"url": url, "timestamp_column": "ts", "window": "1h", **live}
    monitor = monitor_dict(live=source, features=[{"name": "x"}])
    return make_config(tmp_path, url, monitor).monitors[0]


def test_an_empty_latest_window_is_reported_with_the_range(tmp_path: Path, db_url: str) -> None:
    table = epoch_ms_table(db_url)
    problem = latest_window_problem(sql_monitor(tmp_path, db_url, table=table), NOW)
    assert problem is not None
    assert "table 'events': latest scheduled window is empty: no rows in the window " in problem
    assert "[2026-03-01T11:00:00Z, 2026-03-01T12:00:00Z), but the source's 6 timestamp(s)" in (
        problem
    )
    assert "span about the year 58," in problem
    assert "integers read as epoch seconds; set timestamp_unit" in problem


def test_the_right_unit_fills_the_latest_window(tmp_path: Path, db_url: str) -> None:
    table = epoch_ms_table(db_url)
    monitor = sql_monitor(tmp_path, db_url, table=table, timestamp_unit="ms")
    assert latest_window_problem(monitor, NOW) is None


def test_a_query_with_start_and_end_not_returning_its_timestamp(
    tmp_path: Path, db_url: str
) -> None:
    """The window is checked through the query's own columns; the range cannot be read
    without the timestamp column, and the note says so."""
    table = epoch_ms_table(db_url)
    query = f"SELECT x FROM {table} WHERE ts >= 0 AND :start <= :end"
    problem = latest_window_problem(sql_monitor(tmp_path, db_url, query=query), NOW)
    assert problem is None  # every row is returned: the window has rows
    empty = f"SELECT x FROM {table} WHERE ts < 0 AND :start <= :end"
    problem = latest_window_problem(sql_monitor(tmp_path, db_url, query=empty), NOW)
    assert problem is not None
    assert "could not be read" in problem
    assert "timestamp column 'ts' not found; it has x" in problem


def test_a_source_without_a_window_has_no_latest_window(tmp_path: Path, db_url: str) -> None:
    table = epoch_ms_table(db_url)
    source = {"url": db_url, "table": table}
    monitor = make_config(tmp_path, db_url, monitor_dict(live=source, features=[{"name": "x"}]))
    assert latest_window_problem(monitor.monitors[0], NOW) is None
