"""Watching the scheduler: its loop must stay alive and keep running jobs.

APScheduler 3 does not catch an exception raised while it works out fire times (a trigger
raising ``ValueError: year 33658 is out of range``, say): its thread ends, no job ever runs
again, and the scheduler still calls itself running. So the loop runs in a thread of ours
(``BlockingScheduler.start`` returns only at shutdown, or raises), whose end is noticed, and
a heartbeat job on an executor of its own shows that jobs are still being run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.events import EVENT_SCHEDULER_STARTED, SchedulerEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger("driftmon.daemon")

HEARTBEAT_SECONDS = 5.0
"""How often the heartbeat job runs."""
STALL_SECONDS = 60.0
"""A scheduler that has run no heartbeat for this long is taken to have stopped."""
START_TIMEOUT_SECONDS = 10.0
_EXECUTOR = "driftmon-heartbeat"


class SchedulerWatch:
    """Runs ``scheduler`` in its own thread; ``failure()`` says when it stopped working."""

    def __init__(
        self,
        scheduler: BlockingScheduler,
        *,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        stall_seconds: float = STALL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scheduler = scheduler
        self._heartbeat = heartbeat_seconds
        self._stall = stall_seconds
        self._clock = clock
        self._last_beat = clock()
        self._failure: str | None = None
        self._stopping = False
        self._started = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the scheduler's loop in a new thread; return once it runs (or has failed)."""
        self.scheduler.add_executor(ThreadPoolExecutor(max_workers=1), alias=_EXECUTOR)
        self.scheduler.add_job(
            self._beat,
            IntervalTrigger(seconds=self._heartbeat, timezone="UTC"),
            id="heartbeat",
            executor=_EXECUTOR,
            next_run_time=datetime.now(UTC),
        )
        self.scheduler.add_listener(self._on_started, EVENT_SCHEDULER_STARTED)
        self._last_beat = self._clock()
        self._thread = threading.Thread(target=self._loop, name="driftmon-scheduler", daemon=True)
        self._thread.start()
        self._started.wait(START_TIMEOUT_SECONDS)  # failure() tells if it did not

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the scheduler (runs in progress go on) and wait for its loop to end."""
        self._stopping = True
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._thread is not None:
            self._thread.join(timeout)

    def failure(self) -> str | None:
        """Why the scheduler stopped running jobs; None while it runs them."""
        if self._failure is not None:
            return self._failure
        if self._thread is None or self._stopping:
            return None
        if not self._started.is_set():
            return "the scheduler has not started"
        if not self._thread.is_alive():
            return "the scheduler's thread ended"
        silent = self._clock() - self._last_beat
        if silent > self._stall:
            return (
                f"the scheduler has run no job for {silent:.0f} s "
                f"(its heartbeat is due every {self._heartbeat:g} s)"
            )
        return None

    def _loop(self) -> None:
        try:
            self.scheduler.start()  # returns at shutdown
        except BaseException as exc:
            self._failure = f"the scheduler's thread died: {type(exc).__name__}: {exc}"
            log.critical("scheduler.died", exc_info=True, extra={"error": self._failure})
        finally:
            self._started.set()  # a scheduler that died starting must not hold up start()

    def _on_started(self, _event: SchedulerEvent) -> None:
        self._started.set()

    def _beat(self) -> None:
        self._last_beat = self._clock()
