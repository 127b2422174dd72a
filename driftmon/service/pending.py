"""Storing the daemon's runs: one queue per monitor, in window order, retried independently.

Every run is queued, then its monitor's queue is stored oldest window first. A run the
database cannot take now (an outage: ``StorageError``) waits in memory and is retried by
the next store of that monitor or by ``flush()``; it never holds up another monitor. A run
the database will never take (``PermanentStorageError``: a value too long, a constraint) is
not retried: an error run for the same window, with the reason, is stored in its place (or,
if even that is refused, the run is dropped), logged and counted.

Everything about runs waiting to be stored lives here, so that a durable spool can replace
the in-memory queues without touching the daemon.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from driftmon.core.status import Status
from driftmon.errors import PermanentStorageError, StorageError
from driftmon.results import RunResult

log = logging.getLogger("driftmon.daemon")

MAX_PENDING_RUNS = 1000
"""Runs kept while the database is away, over all monitors; beyond it the oldest is lost."""
PENDING_DEGRADED_SECONDS = 300.0
"""A run waiting longer than this to be stored makes /healthz degraded."""


class RunStore(Protocol):
    """Where runs go: ``driftmon.storage.Store`` (or a stand-in in tests)."""

    def save_run(self, run: RunResult, *, replace: bool = True) -> int: ...


@dataclass(eq=False)  # compared by identity: two waiting runs are never the same
class _Waiting:
    run: RunResult
    since: float  # monotonic time the run was queued
    refused: bool = False  # the database refused the run for good; ``run`` is its error run
    reported: bool = False  # logged and counted as not stored


@dataclass(frozen=True)
class PendingState:
    """What the health endpoint reports about storing runs."""

    pending: int
    """Runs kept after an attempt to store them failed, waiting to be retried."""
    oldest_wait_seconds: float
    """How long the oldest run not stored yet has waited, kept or being stored right now
    (0 when there is none): a write that hangs counts too."""
    not_stored: int
    """Runs whose first attempt to be stored failed (an outage), since start."""
    unstorable: int
    """Runs the database refused for good, since start (stored as error runs if possible)."""
    last_error: str | None
    """Why the latest attempt to store a run failed; None once a later one succeeded."""


@dataclass
class _Queue:
    lock: threading.Lock = field(default_factory=threading.Lock)
    waiting: list[_Waiting] = field(default_factory=list)  # by window end


class PendingRuns:
    """Stores runs through per-monitor queues; see the module docstring."""

    def __init__(
        self,
        store: RunStore,
        *,
        on_stored: Callable[[], None] = lambda: None,
        limit: int = MAX_PENDING_RUNS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._on_stored = on_stored
        self._limit = limit
        self._clock = clock
        self._queues: dict[str, _Queue] = {}
        self._mutex = threading.Lock()  # guards the queues' lists and the counters
        self._not_stored = 0
        self._unstorable = 0
        self._last_error: str | None = None

    def submit(self, run: RunResult) -> None:
        """Queue ``run`` and store its monitor's queue (``run`` included, unless an outage
        keeps older runs of the monitor waiting)."""
        waiting = _Waiting(run, self._clock())
        with self._mutex:
            queue = self._queues.setdefault(run.monitor, _Queue())
            ends = [w.run.window_end for w in queue.waiting]
            queue.waiting.insert(bisect.bisect_right(ends, run.window_end), waiting)
            self._drop_beyond_limit()
        with queue.lock:
            error = self._drain(queue)
        if error is not None:
            self._not_stored_now(waiting, error)

    def flush(self) -> None:
        """Retry every monitor's waiting runs, each monitor on its own (one being stored
        right now by its own job is left to that job)."""
        with self._mutex:
            queues = [q for q in self._queues.values() if q.waiting]
        for queue in queues:
            if queue.lock.acquire(blocking=False):
                try:
                    self._drain(queue)
                finally:
                    queue.lock.release()

    def state(self) -> PendingState:
        with self._mutex:
            waiting = [w for q in self._queues.values() for w in q.waiting]
            oldest = min((w.since for w in waiting), default=None)
            return PendingState(
                pending=sum(w.reported for w in waiting),
                oldest_wait_seconds=0.0 if oldest is None else self._clock() - oldest,
                not_stored=self._not_stored,
                unstorable=self._unstorable,
                last_error=self._last_error,
            )

    # -- inside a queue's lock ---------------------------------------------------------------

    def _drain(self, queue: _Queue) -> StorageError | None:
        """Store the queue's runs oldest window first; stop at the first outage (returned)."""
        while True:
            with self._mutex:
                if not queue.waiting:
                    return None
                head = queue.waiting[0]
            try:
                self._store.save_run(head.run, replace=False)  # keep a run another daemon stored
            except PermanentStorageError as exc:
                if self._refused(head, exc):
                    continue  # store the error run in its place, right away
                self._remove(queue, head)
                continue
            except StorageError as exc:
                with self._mutex:
                    self._last_error = str(exc)
                self._not_stored_now(head, exc)
                return exc
            self._remove(queue, head)
            with self._mutex:
                self._last_error = None
            self._on_stored()
            if head.reported:
                log.info(
                    "run.stored_late",
                    extra={
                        "monitor": head.run.monitor,
                        "window_end": head.run.window_end.isoformat(),
                        "status": head.run.status.value,
                    },
                )

    def _refused(self, head: _Waiting, exc: PermanentStorageError) -> bool:
        """Count and log a run the database refused; True when its error run replaced it
        (to be stored next), False when it was the error run already (dropped)."""
        run = head.run
        replace = not head.refused
        with self._mutex:
            if replace:
                self._unstorable += 1
        log.error(
            "run.unstorable" if replace else "run.dropped",
            extra={
                "monitor": run.monitor,
                "window_end": run.window_end.isoformat(),
                "status": run.status.value,
                "error": str(exc),
            },
        )
        if not replace:
            return False
        head.refused = True
        head.run = RunResult(
            monitor=run.monitor,
            window_start=run.window_start,
            window_end=run.window_end,
            started_at=run.started_at,
            finished_at=run.finished_at,
            status=Status.ERROR,
            live_rows=run.live_rows,
            reference_rows=run.reference_rows,
            error=f"the run (status {run.status.value}) could not be stored: {exc}",
        )
        return True

    def _not_stored_now(self, waiting: _Waiting, exc: StorageError) -> None:
        """Log and count a run that must wait, once (later attempts fail the same way)."""
        with self._mutex:
            if waiting.reported or not any(waiting in q.waiting for q in self._queues.values()):
                return
            waiting.reported = True
            self._not_stored += 1
            pending = sum(w.reported for q in self._queues.values() for w in q.waiting)
        log.error(
            "run.not_stored",
            extra={
                "monitor": waiting.run.monitor,
                "window_end": waiting.run.window_end.isoformat(),
                "pending": pending,
                "error": str(exc),
            },
        )

    def _remove(self, queue: _Queue, waiting: _Waiting) -> None:
        with self._mutex:
            if waiting in queue.waiting:
                queue.waiting.remove(waiting)

    def _drop_beyond_limit(self) -> None:
        """Lose the oldest waiting runs beyond the limit (called holding the mutex)."""
        while sum(len(q.waiting) for q in self._queues.values()) > self._limit:
            queue = min(
                (q for q in self._queues.values() if q.waiting), key=lambda q: q.waiting[0].since
            )
            lost = queue.waiting.pop(0)
            log.error(
                "run.pending_dropped",
                extra={
                    "monitor": lost.run.monitor,
                    "window_end": lost.run.window_end.isoformat(),
                    "limit": self._limit,
                },
            )
