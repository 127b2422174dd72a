"""SQL injection strings as monitor, feature, column and table names and as data values,
end to end through ``driftmon check`` on SQLite and PostgreSQL.

The source tables live in the results database itself, next to a ``students`` table: if
any name or value reached SQL as text, a table or rows would go. Everything must be
stored verbatim and nothing dropped.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from .conftest import DRIFTMON_TABLES, INJECTIONS, as_json, query, run_cli, table_rows, write_config

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DROP_RUNS, DELETE_MONITORS, BOBBY = INJECTIONS

REF_TABLE = DROP_RUNS  # table names
LIVE_TABLE = BOBBY
X_COL = DELETE_MONITORS  # column names
C_COL = DROP_RUNS
TS_COL = BOBBY
MISSING_COL = "nope'); DROP TABLE students;--"
# Category values: the injections, and the quotes that end literals in either dialect.
CATEGORIES = [*INJECTIONS, "'", '"', "''; --", "\\'; DROP TABLE students; --", "a`b`"]
STUDENTS = ["Alice", "Bob", "Robert'); DROP TABLE students;--"]


def _rows(n: int, seed: int, start: datetime, span: timedelta) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    xs = rng.normal(0.0, 1.0, n)
    cs = rng.choice(len(CATEGORIES), n)
    return [
        {X_COL: float(xs[i]), C_COL: CATEGORIES[cs[i]], TS_COL: start + i * (span / n)}
        for i in range(n)
    ]


def _create(url: str) -> None:
    """students (the victim), the reference and live tables named like injections."""
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    students = sa.Table(
        "students", meta, sa.Column("id", sa.Integer), sa.Column("name", sa.String(100))
    )
    tables = {
        name: sa.Table(
            name,
            meta,
            sa.Column(X_COL, sa.Float),
            sa.Column(C_COL, sa.Text),
            sa.Column(TS_COL, sa.DateTime(timezone=True)),
        )
        for name in (REF_TABLE, LIVE_TABLE)
    }
    with engine.begin() as conn:
        meta.create_all(conn)
        conn.execute(students.insert(), [{"id": i, "name": n} for i, n in enumerate(STUDENTS)])
        conn.execute(
            tables[REF_TABLE].insert(), _rows(600, 0, END - timedelta(days=2), timedelta(days=1))
        )
        # Half the live rows fall in the scored hour, half before it.
        conn.execute(
            tables[LIVE_TABLE].insert(), _rows(400, 1, END - timedelta(hours=2), timedelta(hours=2))
        )
    engine.dispose()


def _features(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"name": BOBBY, "column": X_COL, "type": "numeric", "bins": 5},
        {"name": DELETE_MONITORS, "column": C_COL, "type": "categorical"},
        *extra,
    ]


def _config(tmp_path: Path, url: str) -> Path:
    """Three monitors named like injections: SQL tables, files, a missing column."""
    ref_rows = _rows(600, 0, END - timedelta(days=2), timedelta(days=1))
    live_rows = _rows(200, 1, END - timedelta(hours=1), timedelta(hours=1))
    for name, rows in (("reference", ref_rows), ("live", live_rows)):
        cols = {k: [r[k] for r in rows] for k in (X_COL, C_COL, TS_COL)}
        pq.write_table(pa.table(cols), tmp_path / f"{name}.parquet")
    sql_live = {"url": url, "table": LIVE_TABLE, "timestamp_column": TS_COL, "window": "1h"}
    monitors = [
        {
            "name": DROP_RUNS,
            "schedule": {"every": "1h"},
            "reference": {"url": url, "table": REF_TABLE},
            "live": sql_live,
            "features": _features(),
        },
        {
            "name": DELETE_MONITORS,
            "schedule": {"every": "1h"},
            "reference": {"path": "reference.parquet"},
            "live": {"path": "live.parquet", "timestamp_column": TS_COL, "window": "1h"},
            "features": _features(),
        },
        {
            "name": BOBBY,
            "schedule": {"every": "1h"},
            "reference": {"url": url, "table": REF_TABLE},
            "live": sql_live,
            "features": _features({"name": MISSING_COL, "column": MISSING_COL}),
        },
    ]
    return write_config(
        tmp_path / "driftmon.yaml", {"database": {"url": url}, "monitors": monitors}
    )


def test_injection_strings_are_stored_verbatim_and_drop_nothing(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(db_url)
    config = _config(tmp_path, db_url)
    end = END.isoformat()
    for _ in range(2):  # a re-run replaces the stored window: still nothing dropped
        code, out, err = run_cli(capsys, "check", "-c", str(config), "--window-end", end, "--json")
        assert code == 3, out + err  # the third monitor's missing column cannot be scored
    runs = json.loads(out)
    assert [r["monitor"] for r in runs] == [DROP_RUNS, DELETE_MONITORS, BOBBY]
    for r in runs:
        assert r["live_rows"] == 200, r
        by_name = {f["feature"]: f for f in r["features"]}
        assert by_name[BOBBY]["kl_divergence"] is not None
        assert by_name[DELETE_MONITORS]["kl_divergence"] is not None
    missing = {f["feature"]: f for f in runs[2]["features"]}[MISSING_COL]
    assert missing["status"] == "error"
    assert repr(MISSING_COL) in missing["message"]

    counts = table_rows(db_url)
    assert set(counts) >= DRIFTMON_TABLES | {REF_TABLE, LIVE_TABLE, "students"}, counts
    assert counts["students"] == len(STUDENTS)
    assert counts[REF_TABLE] == 600
    assert counts[LIVE_TABLE] == 400
    assert counts["monitors"] == 3
    assert counts["runs"] == 3
    assert counts["feature_results"] == 7
    assert counts["reference_profiles"] == 3
    assert [r["name"] for r in query(db_url, "SELECT name FROM students ORDER BY id")] == STUDENTS

    stored_monitors = {r["name"] for r in query(db_url, "SELECT name FROM monitors")}
    assert stored_monitors == {DROP_RUNS, DELETE_MONITORS, BOBBY}
    stored = query(db_url, "SELECT feature, bin_labels, message FROM feature_results")
    assert {r["feature"] for r in stored} == {BOBBY, DELETE_MONITORS, MISSING_COL}
    for r in stored:
        if r["feature"] == DELETE_MONITORS:
            labels = as_json(r["bin_labels"])
            assert set(CATEGORIES) <= set(labels), labels
        if r["feature"] == MISSING_COL:
            assert repr(MISSING_COL) in r["message"]
