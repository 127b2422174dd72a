"""The scheduler's thread dies in a running daemon: /healthz says so and the process exits 3.

Validation now refuses the config that did this (``schedule: {every: 1000000000000}``), so the
daemon is started through a small wrapper that hands the scheduler that trigger anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from .conftest import DaemonProcess, data_columns, monitor, write_config, write_parquet

# Supervision every 5 s instead of 1 s, so that /healthz can be read before the exit.
PROVOKE = """
import sys
from datetime import timedelta

import driftmon.cli as cli
import driftmon.service.daemon as daemon
from driftmon.config import ScheduleConfig

make_trigger = daemon.make_trigger
huge = ScheduleConfig.model_construct(every=timedelta(seconds=10**12), cron=None)
daemon.make_trigger = lambda schedule: make_trigger(huge)
cli.SUPERVISE_SECONDS = 5.0
sys.exit(cli.main(sys.argv[1:]))
"""
DIED = "the scheduler's thread died: ValueError: year 33658 is out of range"


def test_a_dead_scheduler_thread_makes_health_503_and_the_daemon_exit_3(
    tmp_path: Path, daemons: Callable[..., DaemonProcess]
) -> None:
    write_parquet(tmp_path / "reference.parquet", data_columns())
    write_parquet(tmp_path / "live.parquet", data_columns(300, seed=1))
    config = write_config(
        tmp_path / "driftmon.yaml",
        "sqlite:///results.db",
        [monitor("m", {"path": "live.parquet"})],
    )
    d = daemons(config, python=("-c", PROVOKE))
    d.wait_log(lambda e: e.get("event") == "scheduler.died", 10)
    status, health = d.health()
    assert status == 503, health
    assert health["status"] == "degraded"
    assert f"scheduler stopped: {DIED}" in health["problems"]
    assert health["scheduler"]["running"] is False
    assert DIED in health["scheduler"]["error"]

    t0 = time.monotonic()
    assert d.proc.wait(timeout=30) == 3, d.text()
    assert time.monotonic() - t0 < 30
    failed = d.logs("daemon.scheduler_failed")
    assert failed, d.text()
    assert DIED in failed[0]["error"]
    assert "daemon.stopped" in {e.get("event") for e in d.logs()}
    assert not d.logs("run.finished"), "no monitor could have run"
