"""The daemon as a subprocess on real files and SQLite: schedule, metrics, signals, faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ..sqlite_lock import readers_held, run_pinned
from .conftest import live_columns, monitor_dict, reference_columns, write_parquet

START_TIMEOUT = 20.0
LIVENESS_ROOM = 3.0
"""What the timeouts of the waits below are multiplied by: they bound a start, a run, an
exit, never a promised speed, and foreign load on the CI machine stretches those."""


def wait_until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``pred`` until true, for up to ``timeout`` s (times ``LIVENESS_ROOM``)."""
    deadline = time.monotonic() + timeout * LIVENESS_ROOM
    while not pred():
        assert time.monotonic() < deadline, f"not within {timeout * LIVENESS_ROOM:g} s: {what}"
        time.sleep(0.05)


class DaemonProcess:
    """``driftmon run`` in a subprocess, JSON logs in a file, port read from its start line."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log_path = log
        self._log = log.open("wb")
        env = {k: v for k, v in os.environ.items() if k != "DRIFTMON_CONFIG"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "driftmon.cli", "run", "-c", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        started = self.wait_log(lambda e: e.get("event") == "daemon.started", START_TIMEOUT)
        self.base = started["listen"]

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append({"event": "<not json>", "line": line})
        return out

    def wait_log(self, pred: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        timeout *= LIVENESS_ROOM
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.logs():
                if pred(entry):
                    return entry
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.text()}")
            time.sleep(0.05)
        raise AssertionError(f"no such log line within {timeout}s:\n{self.text()}")

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, body = self.get("/metrics")
        assert status == 200
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(body)
            for s in fam.samples
        }

    def sample(self, name: str, **labels: str) -> float | None:
        return self.metrics().get((name, tuple(sorted(labels.items()))))

    def wait_metric(
        self,
        name: str,
        pred: Callable[[float | None], bool],
        labels: dict[str, str],
        timeout: float = 10,
    ) -> float | None:
        deadline = time.monotonic() + timeout * LIVENESS_ROOM
        while True:
            v = self.sample(name, **labels)
            if pred(v):
                return v
            if time.monotonic() > deadline:
                raise AssertionError(f"{name}{labels} stayed {v}:\n{self.text()}")
            time.sleep(0.1)

    def terminate(self, timeout: float = 10) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout * LIVENESS_ROOM)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """Starts daemons; any still running at the end is killed."""
    started: list[DaemonProcess] = []

    def start(config: Path, name: str = "daemon") -> DaemonProcess:
        d = DaemonProcess(config, tmp_path / f"{name}-{len(started)}.log")
        started.append(d)
        return d

    yield start
    for d in started:
        d.kill()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """One monitor of x, y, c scheduled every second; results in tmp_path/results.db."""
    write_parquet(tmp_path / "reference.parquet", reference_columns())
    write_parquet(tmp_path / "live.parquet", live_columns(shift=3.0))
    data = {
        "database": {"url": "sqlite:///results.db"},
        "server": {"host": "127.0.0.1", "port": 0},
        "log": {"format": "json", "level": "INFO"},
        "monitors": [{**monitor_dict(), "schedule": {"every": "1s"}}],
    }
    path = tmp_path / "driftmon.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def stored_runs(tmp_path: Path) -> list[dict[str, Any]]:
    """Every stored run with its number of feature rows."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'results.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT r.id, r.window_end, r.status, r.error, COUNT(f.id) AS n "
                "FROM runs r LEFT JOIN feature_results f ON f.run_id = r.id "
                "GROUP BY r.id, r.window_end, r.status, r.error ORDER BY r.window_end"
            )
            return [dict(r._mapping) for r in rows]
    finally:
        engine.dispose()


def assert_every_run_whole(runs: list[dict[str, Any]]) -> None:
    for r in runs:
        expected = 0 if r["status"] == "error" else 3
        assert r["n"] == expected, f"half-written run: {r}"


SUCCESS = {"monitor": "m", "outcome": "success"}
FAILURE = {"monitor": "m", "outcome": "failure"}


def test_results_reach_metrics_and_sigterm_mid_run_finishes_it_and_exits_0(
    config: Path, tmp_path: Path, daemons: Callable[..., DaemonProcess]
) -> None:
    live = live_columns(shift=3.0)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'live.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE live (x REAL, y REAL, c TEXT)")
        rows = list(zip(live["x"].tolist(), live["y"].tolist(), live["c"].tolist(), strict=True))
        conn.exec_driver_sql("INSERT INTO live VALUES (?, ?, ?)", rows)
    engine.dispose()
    data = yaml.safe_load(config.read_text())
    data["monitors"][0]["live"] = {"url": "sqlite:///live.db", "query": "SELECT x, y, c FROM live"}
    config.write_text(yaml.safe_dump(data))

    d = daemons(config)
    d.wait_metric("driftmon_monitor_runs_total", lambda v: (v or 0) >= 1, SUCCESS, timeout=15)
    kl = d.sample("driftmon_feature_kl_divergence", monitor="m", feature="x")
    assert kl is not None
    assert kl > 0.2
    assert d.sample("driftmon_feature_drift_status", monitor="m", feature="x") == 2
    status, body = d.get("/healthz")
    assert status == 200, body

    # SIGTERM while a run is reading its live source: the live file is locked, so a run that
    # starts now waits inside its read (run_pinned says when one does). Before: SIGTERM 0.3 s
    # after a whole second, which under load could land between two runs.
    with readers_held(tmp_path / "live.db"):
        wait_until(lambda: run_pinned(d.logs(), "m"), 20, "a run waiting inside its read")
        d.proc.send_signal(signal.SIGTERM)
        d.wait_log(lambda e: e.get("event") == "daemon.stopping", 15)
    # Released: the run goes on, finishes within the shutdown grace, and the daemon exits.
    assert d.proc.wait(timeout=15 * LIVENESS_ROOM) == 0
    events = [e.get("event") for e in d.logs()]
    assert "daemon.stopped" in events
    assert "run.crashed" not in events
    after_stop = events[events.index("daemon.stopping") :]
    assert "run.finished" in after_stop, "the run in progress at SIGTERM was not finished"
    runs = stored_runs(tmp_path)
    assert len(runs) == events.count("run.finished")
    assert_every_run_whole(runs)


def test_a_failing_run_is_recorded_and_the_next_schedule_succeeds(
    config: Path, tmp_path: Path, daemons: Callable[..., DaemonProcess]
) -> None:
    d = daemons(config)
    d.wait_metric("driftmon_monitor_runs_total", lambda v: (v or 0) >= 1, SUCCESS)
    live = tmp_path / "live.parquet"
    live.rename(tmp_path / "live.parquet.away")
    d.wait_metric("driftmon_monitor_runs_total", lambda v: (v or 0) >= 1, FAILURE)
    assert d.wait_metric(
        "driftmon_monitor_status", lambda v: v == 1.0, {"monitor": "m", "status": "error"}
    )
    # The last scores stay exported while the source is broken.
    assert d.sample("driftmon_feature_kl_divergence", monitor="m", feature="x") is not None
    failed = d.wait_log(lambda e: e.get("event") == "run.failed", 5)
    assert "live.parquet" in failed["error"]

    successes = d.sample("driftmon_monitor_runs_total", **SUCCESS) or 0
    (tmp_path / "live.parquet.away").rename(live)
    d.wait_metric("driftmon_monitor_runs_total", lambda v: (v or 0) > successes, SUCCESS)
    assert d.proc.poll() is None, "the daemon must stay up"
    assert d.terminate() == 0
    runs = stored_runs(tmp_path)
    errors = [r for r in runs if r["status"] == "error"]
    assert errors
    assert all("live.parquet" in r["error"] for r in errors)
    assert runs[-1]["status"] != "error"
    assert_every_run_whole(runs)


def test_after_kill_9_a_restarted_daemon_serves_the_stored_metrics_at_once(
    config: Path, tmp_path: Path, daemons: Callable[..., DaemonProcess]
) -> None:
    first = daemons(config)
    first.wait_metric("driftmon_monitor_runs_total", lambda v: (v or 0) >= 2, SUCCESS)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(timeout=10)
    runs_before = stored_runs(tmp_path)
    assert_every_run_whole(runs_before)
    successes = sum(r["status"] != "error" for r in runs_before)

    # Without a live file every new run fails: scores can only come from the database.
    (tmp_path / "live.parquet").unlink()
    second = daemons(config)
    metrics = second.metrics()  # the first scrape after start
    kl = metrics.get(("driftmon_feature_kl_divergence", (("feature", "x"), ("monitor", "m"))))
    assert kl is not None
    assert kl > 0.2
    ok = metrics[("driftmon_monitor_runs_total", (("monitor", "m"), ("outcome", "success")))]
    assert ok >= successes
    second.wait_metric("driftmon_monitor_runs_total", lambda v: (v or 0) >= 1, FAILURE)
    assert second.terminate() == 0
    assert_every_run_whole(stored_runs(tmp_path))


def test_two_daemons_on_one_database_store_each_window_once(
    config: Path, tmp_path: Path, daemons: Callable[..., DaemonProcess]
) -> None:
    a = daemons(config, "a")
    b = daemons(config, "b")
    for d in (a, b):
        d.wait_metric("driftmon_monitor_runs_total", lambda v: (v or 0) >= 3, SUCCESS)
    assert a.terminate() == 0
    assert b.terminate() == 0
    runs = stored_runs(tmp_path)
    ends = [r["window_end"] for r in runs]
    assert len(ends) == len(set(ends)), "a (monitor, window_end) was stored twice"
    assert_every_run_whole(runs)
    for d in (a, b):
        events = {e.get("event") for e in d.logs()}
        assert "run.not_stored" not in events, d.text()
        assert "run.crashed" not in events, d.text()
