"""Daemon.stop: scheduled runs in progress finish within the grace, or are abandoned after it."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from driftmon.service.daemon import Daemon
from driftmon.storage import Store

from .conftest import make_config, monitor_dict


def idle_daemon(tmp_path: Path) -> Daemon:
    """A started daemon whose only monitor is disabled: the test schedules its own jobs."""
    url = f"sqlite:///{tmp_path / 'results.db'}"
    config = make_config(tmp_path, url, monitor_dict(enabled=False), server={"port": 0})
    daemon = Daemon(config, Store(url))
    daemon.start()
    return daemon


def schedule_now(daemon: Daemon, job: object) -> None:
    daemon.scheduler.add_job(job, next_run_time=datetime.now(UTC))


def test_stop_waits_for_a_run_in_progress_that_ends_within_the_grace(tmp_path: Path) -> None:
    daemon = idle_daemon(tmp_path)
    started, finished = threading.Event(), threading.Event()

    def run() -> None:
        started.set()
        time.sleep(0.5)
        finished.set()

    schedule_now(daemon, run)
    assert started.wait(10)
    daemon.stop(grace=10)
    assert finished.is_set()
    assert not daemon.runner.abandon.is_set()


def test_stop_abandons_a_run_that_outlives_the_grace(tmp_path: Path) -> None:
    daemon = idle_daemon(tmp_path)
    started, finished = threading.Event(), threading.Event()

    def run() -> None:  # a run that notices the abandon flag at its next batch
        started.set()
        daemon.runner.abandon.wait(30)
        finished.set()

    schedule_now(daemon, run)
    assert started.wait(10)
    t0 = time.monotonic()
    daemon.stop(grace=0.3)
    assert daemon.runner.abandon.is_set()
    assert finished.is_set()
    assert time.monotonic() - t0 < 5


def test_stop_waits_for_runs_queued_behind_busy_workers(tmp_path: Path) -> None:
    """Runs already handed to the scheduler's pool but not yet started are waited for too."""
    daemon = idle_daemon(tmp_path)  # one monitor: a pool of 2 workers
    release = threading.Event()
    done: list[int] = []

    def run(i: int) -> None:
        release.wait(10)
        time.sleep(0.05)
        done.append(i)

    ids = {
        daemon.scheduler.add_job(run, args=[i], next_run_time=datetime.now(UTC)).id
        for i in range(4)
    }
    deadline = time.monotonic() + 10
    while ids & {j.id for j in daemon.scheduler.get_jobs()}:
        assert time.monotonic() < deadline, "the scheduler never handed the jobs to its pool"
        time.sleep(0.01)  # one-off jobs leave the job store when handed to the pool
    threading.Timer(0.2, release.set).start()
    daemon.stop(grace=10)
    assert sorted(done) == [0, 1, 2, 3]
