"""SchedulerWatch notices a scheduler whose thread died or that stopped running jobs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from driftmon.clock import EPOCH
from driftmon.config import ScheduleConfig
from driftmon.service.triggers import make_trigger
from driftmon.service.watchdog import SchedulerWatch


def wait_for(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def scheduler() -> Iterator[BlockingScheduler]:
    s = BlockingScheduler(timezone="UTC")
    yield s
    if s.running:
        s.shutdown(wait=False)


def test_a_trigger_that_raises_kills_the_scheduler_thread_and_is_reported(
    scheduler: BlockingScheduler,
) -> None:
    """What `every: 1000000000000` did before validation bounded it: the scheduler's loop
    raised computing the next fire time, and nothing ran again."""
    huge = ScheduleConfig.model_construct(every=timedelta(seconds=10**12), cron=None)
    runs: list[int] = []
    scheduler.add_job(lambda: runs.append(1), make_trigger(huge), next_run_time=datetime.now(UTC))
    watch = SchedulerWatch(scheduler)
    watch.start()
    wait_for(lambda: watch.failure() is not None)
    failure = watch.failure()
    assert failure is not None
    assert "the scheduler's thread died: ValueError: year 33658 is out of range" in failure
    assert scheduler.running, "APScheduler still calls itself running: why a watch is needed"
    assert runs == []
    watch.shutdown()


def test_a_scheduler_that_runs_no_job_any_more_is_reported_after_the_stall_bound(
    scheduler: BlockingScheduler,
) -> None:
    # The stall bound is 15 heartbeats: a loaded machine can leave the heartbeat's thread
    # unscheduled for a few tenths of a second, which a 0.6 s bound could take for a stall.
    watch = SchedulerWatch(scheduler, heartbeat_seconds=0.1, stall_seconds=1.5)
    watch.start()
    time.sleep(2.0)  # past the stall bound: only the heartbeats keep it healthy
    assert watch.failure() is None, "a heartbeating scheduler is healthy"
    scheduler.pause()
    wait_for(lambda: watch.failure() is not None, timeout=15)
    failure = watch.failure()
    assert failure is not None
    assert failure.startswith("the scheduler has run no job for ")
    assert "(its heartbeat is due every 0.1 s)" in failure
    scheduler.resume()
    wait_for(lambda: watch.failure() is None, timeout=15)
    watch.shutdown()


def test_shutdown_is_not_a_failure_and_ends_the_loop(scheduler: BlockingScheduler) -> None:
    scheduler.add_job(lambda: None, IntervalTrigger(seconds=60, start_date=EPOCH, timezone="UTC"))
    watch = SchedulerWatch(scheduler)
    watch.start()
    assert watch.failure() is None
    watch.shutdown()
    assert not scheduler.running
    assert watch.failure() is None
