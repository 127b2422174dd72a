"""Windows across daylight-saving changes: naive Europe/Berlin timestamps, hourly UTC windows
scored one by one with `driftmon check --window-end`; every row lands in exactly one window."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from driftmon.cli import main

from .conftest import query, sqlite_table, write_config, write_parquet

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = timedelta(hours=1)
STEP = timedelta(minutes=10)
SPRING_JUMP = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 02:00 CET -> 03:00 CEST


def _autumn() -> list[datetime]:
    """Wall times a clock in Berlin showed every 10 min over 2026-10-25's change: 02:00-02:50
    twice (summer time, then winter time)."""
    start = datetime(2026, 10, 24, 21, 0, tzinfo=UTC)  # 23:00 CEST
    return [(start + i * STEP).astimezone(BERLIN).replace(tzinfo=None) for i in range(42)]


def _spring() -> list[datetime]:
    """Wall times every 10 min over 2026-03-29, 00:00-04:50, including the hour 02:00-02:59
    that does not exist there (a device with a badly set clock)."""
    return [datetime(2026, 3, 29, 0, 0) + i * STEP for i in range(30)]


def _instant(wall: datetime) -> datetime:
    """The documented rule: the earliest instant a naive Berlin wall time can mean; a
    nonexistent one is the last instant before the clocks jumped."""
    aware = wall.replace(tzinfo=BERLIN, fold=0).astimezone(UTC)
    if aware.astimezone(BERLIN).replace(tzinfo=None) != wall:  # in the spring gap
        return SPRING_JUMP - timedelta(microseconds=1)
    return aware


def _window_ends(walls: list[datetime]) -> list[datetime]:
    """Consecutive hourly UTC window ends covering every row, with an empty hour each side."""
    instants = [_instant(w) for w in walls]
    first = min(instants).replace(minute=0, second=0, microsecond=0)
    last = max(instants).replace(minute=0, second=0, microsecond=0) + HOUR
    return [first + i * HOUR for i in range(int((last - first) / HOUR) + 2)]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """main() points driftmon's log handler at this test's captured stderr; undo that."""
    saved = {n: logging.getLogger(n).handlers[:] for n in ("driftmon", "apscheduler", "alembic")}
    yield
    for name, handlers in saved.items():
        logging.getLogger(name).handlers[:] = handlers


def test_hourly_windows_across_both_dst_changes_count_every_row_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    walls = _autumn() + _spring()
    assert len(set(_autumn())) == 36, "the autumn data must repeat the hour 02:00-02:50"
    n = len(walls)
    write_parquet(tmp_path / "reference.parquet", {"c": ["a"] * 200})
    ts = pa.array(walls, type=pa.timestamp("us"))  # naive
    write_parquet(tmp_path / "live.parquet", {"ts": ts, "c": ["a"] * n})
    text = [w.strftime("%Y-%m-%d %H:%M:%S") for w in walls]
    (tmp_path / "live.csv").write_text("ts,c\n" + "".join(f"{t},a\n" for t in text))
    live_db = sqlite_table(tmp_path / "live.db", {"ts": text, "c": ["a"] * n})
    window: dict[str, str] = {"timestamp_column": "ts", "window": "1h", "timezone": "Europe/Berlin"}
    sources: dict[str, dict[str, str]] = {
        "parquet": {"path": "live.parquet"},
        "csv": {"path": "live.csv"},
        "sqlite": {"url": live_db, "table": "live"},
    }
    monitors: list[dict[str, Any]] = [
        {
            "name": name,
            "schedule": {"every": "1h"},
            "reference": {"path": "reference.parquet"},
            "live": {**live, **window},
            "features": [{"name": "c", "type": "categorical"}],
        }
        for name, live in sources.items()
    ]
    db = f"sqlite:///{tmp_path / 'results.db'}"
    config = str(write_config(tmp_path / "driftmon.yaml", db, monitors))
    # The host's own zone must not matter: windows are UTC.
    monkeypatch.setenv("TZ", "America/Sao_Paulo")
    time.tzset()
    ends = _window_ends(_autumn()) + _window_ends(_spring())
    results: dict[datetime, list[dict[str, Any]]] = {}
    try:
        for end in ends:  # `driftmon check` in this process: one start-up, not one per window
            code = main(["check", "-c", config, "--json", "--window-end", end.isoformat()])
            out, err = capsys.readouterr()
            assert code == 0, err
            results[end] = json.loads(out)
    finally:
        monkeypatch.undo()
        time.tzset()

    expected = Counter(_instant(w).replace(minute=0, second=0, microsecond=0) + HOUR for w in walls)
    assert expected[datetime(2026, 10, 25, 1, 0, tzinfo=UTC)] == 12  # both 02:xx hours
    assert expected[datetime(2026, 10, 25, 2, 0, tzinfo=UTC)] == 0
    for name in ("parquet", "csv", "sqlite"):
        got: dict[datetime, int] = {}
        for end, runs in results.items():
            (run,) = [r for r in runs if r["monitor"] == name]
            assert run["window_end"] == end.isoformat()
            assert run["window_start"] == (end - HOUR).isoformat()
            got[end] = run["live_rows"]
        assert sum(got.values()) == n, f"{name}: rows lost or counted twice: {got}"
        assert got == {end: expected[end] for end in ends}, name
    stored = query(
        db,
        "SELECT m.name, r.window_end, COUNT(*) AS n FROM runs r "
        "JOIN monitors m ON m.id = r.monitor_id GROUP BY m.name, r.window_end",
    )
    assert len(stored) == 3 * len(ends)
    assert all(r["n"] == 1 for r in stored)
