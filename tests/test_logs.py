"""Structured logs: one line per run with its facts, text or JSON, and never a password."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prometheus_client import generate_latest

from driftmon.config import config_from_dict
from driftmon.core.drift import DriftScores
from driftmon.core.status import Status, Thresholds
from driftmon.logs import configure
from driftmon.results import FeatureResult, RunResult
from driftmon.service.daemon import Daemon, log_run
from driftmon.storage import Store

PASSWORD = "s3cret-Pa55"
URL = f"postgresql+psycopg://driftmon:{PASSWORD}@db.internal:5432/results"
END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    saved = {n: logging.getLogger(n).handlers[:] for n in ("driftmon", "apscheduler", "alembic")}
    yield
    for name, handlers in saved.items():
        logging.getLogger(name).handlers[:] = handlers


def scores(kl: float) -> DriftScores:
    return DriftScores(
        kl_divergence=kl,
        entropy=1.0,
        cross_entropy=1.0 + kl,
        js_divergence=kl / 4,
        psi=kl * 2,
        g_statistic=10.0,
        degrees_of_freedom=3,
        p_value=0.01,
        expected_kl=0.002,
        live_rows=500,
        reference_rows=2000,
    )


def a_run(status: Status = Status.CRITICAL, error: str | None = None) -> RunResult:
    thr = Thresholds(0.05, 0.2)
    features = (
        ()
        if error
        else (
            FeatureResult("age", Status.OK, thr, 500, 0, scores(0.01)),
            FeatureResult("amount in €", Status.CRITICAL, thr, 500, 5, scores(0.9)),
            FeatureResult("country", Status.WARNING, thr, 500, 0, scores(0.1)),
            FeatureResult("gone", Status.ERROR, thr, 500, message="column 'gone' not found"),
        )
    )
    return RunResult(
        monitor="orders eu",
        window_start=END - timedelta(hours=1),
        window_end=END,
        started_at=END,
        finished_at=END + timedelta(seconds=1.25),
        status=Status.ERROR if error else status,
        live_rows=0 if error else 500,
        reference_rows=2000,
        features=features,
        error=error,
    )


def text_fields(line: str) -> dict[str, str]:
    out = {}
    for key, raw in _FIELD.findall(line):
        out[key] = json.loads(raw) if raw.startswith('"') else raw
    return out


def test_one_text_line_per_run_with_monitor_window_rows_worst_feature_and_duration(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure("INFO", "text")
    log_run(a_run())
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    line = lines[0]
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ INFO run\.finished ", line)
    fields = text_fields(line)
    assert fields["monitor"] == "orders eu"
    assert fields["status"] == "critical"
    assert fields["window_start"] == "2026-03-01T11:00:00+00:00"
    assert fields["window_end"] == "2026-03-01T12:00:00+00:00"
    assert fields["live_rows"] == "500"
    assert fields["worst_feature"] == "amount in €"
    assert float(fields["worst_kl"]) == 0.9
    assert float(fields["duration_s"]) == 1.25
    assert fields["drifted"] == "2"


def test_json_lines_parse_and_carry_the_same_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure("INFO", "json")
    log_run(a_run())
    log_run(a_run(error="cannot read parquet file /data/live.parquet: bad magic"))
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["event"] == "run.finished"
    assert first["level"] == "INFO"
    assert first["logger"] == "driftmon.daemon"
    assert first["worst_feature"] == "amount in €"
    assert first["live_rows"] == 500
    assert first["duration_s"] == 1.25
    datetime.fromisoformat(first["ts"])
    assert second["event"] == "run.failed"
    assert second["level"] == "ERROR"
    assert second["worst_feature"] == ""
    assert "bad magic" in second["error"]


def test_the_note_of_an_empty_window_is_logged_with_the_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure("INFO", "json")
    note = "no rows in the window [...), but the source's 6 timestamp(s) in column 'ts' span ..."
    log_run(replace(a_run(Status.INSUFFICIENT_DATA), features=(), live_rows=0, message=note))
    (line,) = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert (line["event"], line["note"]) == ("run.finished", note)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_database_password_never_reaches_the_log(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("DEBUG", fmt)
    log = logging.getLogger("driftmon.test")
    log.info("connecting to %s", URL)
    log.warning("event", extra={"url": URL, "urls": [URL], "nested": {"db": URL}, "n": 3})
    log.error("event", extra={"cause": ValueError(f"cannot connect to {URL}")})
    try:
        raise ConnectionError(f"refused: {URL}")
    except ConnectionError:
        log.exception("crashed")
    log_run(a_run(error=f"reading {URL}: refused"))
    err = capsys.readouterr().err
    assert PASSWORD not in err
    assert err.count("driftmon:***@db.internal:5432/results") >= 6
    if fmt == "json":
        docs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        assert docs[1]["n"] == 3
        assert docs[1]["urls"] == ["postgresql+psycopg://driftmon:***@db.internal:5432/results"]


def test_a_failed_run_leaves_no_password_in_logs_store_metrics_or_health(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The live source is a PostgreSQL URL with a password on a port nothing listens on."""
    rng = np.random.default_rng(0)
    pq.write_table(pa.table({"x": rng.normal(size=500)}), tmp_path / "reference.parquet")
    live_url = f"postgresql+psycopg://driftmon:{PASSWORD}@127.0.0.1:1/events"
    config = config_from_dict(
        {
            "database": {"url": f"sqlite:///{tmp_path / 'results.db'}"},
            "monitors": [
                {
                    "name": "m",
                    "schedule": {"every": "1h"},
                    "reference": {"path": "reference.parquet"},
                    "live": {"url": live_url, "table": "events"},
                    "features": [{"name": "x"}],
                }
            ],
        },
        base_dir=tmp_path,
        environ={},
    )
    configure("DEBUG", "json")
    store = Store(config.database.url)
    store.upgrade()
    daemon = Daemon(config, store)
    try:
        result = daemon.run_monitor(config.monitors[0])
        assert result is not None
        assert result.status == Status.ERROR
        logs = capsys.readouterr().err
        assert "run.failed" in logs
        assert "127.0.0.1:1/events" in logs
        stored: Any = store.runs("m")[0]
        exposition = generate_latest(daemon.registry).decode()
        health = json.dumps(daemon.health())
        for where, text in {
            "logs": logs,
            "stored error": stored.error,
            "metrics": exposition,
            "health": health,
            "config repr": repr(config),
        }.items():
            assert PASSWORD not in text, where
    finally:
        store.dispose()
