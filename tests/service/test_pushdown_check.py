"""``driftmon check --json`` gives the same results with SQL push-down on and off, on
SQLite, DuckDB and PostgreSQL, and says in the log when rows are pulled and why."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
import yaml

from driftmon.cli import main

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """main() points driftmon's log handler at this test's captured stderr; undo that."""
    monkeypatch.delenv("DRIFTMON_CONFIG", raising=False)
    saved = {n: logging.getLogger(n).handlers[:] for n in ("driftmon", "apscheduler", "alembic")}
    yield
    for name, handlers in saved.items():
        logging.getLogger(name).handlers[:] = handlers


def _fill(url: str) -> None:
    """Tables ref and live: a float x with NaN/±inf/NULL, an int n, text c, bool b, ts."""
    rng = np.random.default_rng(7)
    meta = sa.MetaData()

    def columns() -> list[sa.Column[Any]]:
        return [
            sa.Column("x", sa.Double()),
            sa.Column("n", sa.BigInteger()),
            sa.Column("c", sa.Text()),
            sa.Column("b", sa.Boolean()),
            sa.Column("ts", sa.DateTime(timezone=True)),
        ]

    ref = sa.Table("ref", meta, *columns())
    live = sa.Table("live", meta, *columns())
    special = [float("nan"), float("inf"), float("-inf"), None]

    def rows(count: int, shift: float) -> list[dict[str, Any]]:
        out = []
        for i in range(count):
            x: float | None = float(rng.normal(shift, 1.0))
            if i % 50 == 0:
                x = special[(i // 50) % 4]
            out.append(
                {
                    "x": x,
                    "n": int(rng.integers(0, 6)) if i % 40 else None,
                    "c": str(rng.choice(["a", "A", "a ", "é", ""])) if i % 30 else None,
                    "b": bool(rng.integers(0, 2)),
                    "ts": END - timedelta(hours=2) + i * timedelta(hours=2) / count,
                }
            )
        return out

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            meta.create_all(conn)
            conn.execute(ref.insert(), rows(600, 0.0))
            conn.execute(live.insert(), rows(400, 0.7))
    finally:
        engine.dispose()


def _config(tmp_path: Path, url: str, pushdown: bool, dialect: str) -> str:
    if dialect == "sqlite":  # SQLite's window is pushed only as the query's own
        live: dict[str, Any] = {
            "query": "SELECT * FROM live WHERE ts >= :start AND ts < :end",
            "timestamp_column": "ts",
            "window": "1h",
        }
    else:
        live = {"table": "live", "timestamp_column": "ts", "window": "1h"}
    data = {
        "database": {"url": f"sqlite:///{tmp_path / f'results_{pushdown}.db'}"},
        "monitors": [
            {
                "name": "m",
                "schedule": {"every": "1h"},
                "reference": {"url": url, "table": "ref", "pushdown": pushdown},
                "live": {"url": url, "pushdown": pushdown, **live},
                "features": [
                    {"name": "x", "bins": 8},
                    {"name": "n", "bins": 4},
                    {"name": "b", "bins": 2},
                    {"name": "c", "type": "categorical", "max_categories": 3},
                    {"name": "n_cat", "column": "n", "type": "categorical"},
                    {"name": "b_cat", "column": "b", "type": "categorical"},
                ],
                "thresholds": {"warning": 0.05, "critical": 0.2},
            }
        ],
    }
    path = tmp_path / f"driftmon_{pushdown}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return str(path)


@pytest.fixture(params=["sqlite", "duckdb", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(dialect, URL) of a database holding the ref and live tables."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'src.db'}"
    elif request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'src.duckdb'}"
    else:
        url = request.getfixturevalue("pg_database")
    _fill(url)
    return request.param, url


def _check(capsys: pytest.CaptureFixture[str], cfg: str) -> tuple[list[dict[str, Any]], str]:
    code = main(["check", "-c", cfg, "--json", "--window-end", END.isoformat()])
    out, err = capsys.readouterr()
    assert code in (0, 1), out + err  # 1: some feature critical
    runs = json.loads(out)
    for run in runs:
        run.pop("duration_seconds")
    return runs, err


def test_check_json_is_the_same_with_pushdown_on_and_off(
    database: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same statuses, scores, counts and kinds notes; only ``pushdown: false`` logs that
    rows are pulled."""
    dialect, url = database
    pulled, pulled_log = _check(capsys, _config(tmp_path, url, False, dialect))
    pushed, pushed_log = _check(capsys, _config(tmp_path, url, True, dialect))
    assert pushed == pulled
    (run,) = pushed
    assert run["live_rows"] == 200
    assert run["reference_rows"] == 600
    assert all(f["status"] != "error" for f in run["features"]), run
    assert "rows are pulled, not counted in the database: pushdown: false" in pulled_log
    assert "built from pulled rows" in pulled_log
    assert "pulled" not in pushed_log


def test_a_sqlite_window_on_a_timestamp_column_pulls_rows_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SQLite timestamps are text, filtered row by row: the log names the column."""
    url = f"sqlite:///{tmp_path / 'src.db'}"
    _fill(url)
    cfg = yaml.safe_load(Path(_config(tmp_path, url, True, "duckdb")).read_text())
    path = tmp_path / "sqlite_ts.yaml"
    path.write_text(yaml.safe_dump(cfg))
    runs, log = _check(capsys, str(path))
    assert runs[0]["live_rows"] == 200
    assert "the window on timestamp column 'ts'" in log
    assert "is filtered row by row" in log
