"""Storing the daemon's runs: one queue per monitor, in window order, retried independently.

Every run is queued, then its monitor's queue is stored oldest window first. A run the
database cannot take now (an outage: ``StorageError``) is first written to the durable
spool (``driftmon.spool``; with no spool configured it stays in memory only) and only then
counted as pending; it is retried by the next store of that monitor or by ``flush()``, and
never holds up another monitor. Runs left in the spool by an earlier process (SIGTERM,
``kill -9``, a reboot) are queued again by ``open()``. A run the database will never take
(``PermanentStorageError``: a value too long, a constraint) is not retried: an error run for
the same window, with the reason, is stored in its place (or, if even that is refused, the
run is dropped), logged and counted, and its spool file goes. Beyond ``limit`` runs, or for
runs whose window ended more than ``max_age`` ago, the oldest windows are dropped, logged
and counted.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from driftmon.clock import utcnow
from driftmon.core.status import Status
from driftmon.errors import PermanentStorageError, StorageError
from driftmon.results import RunResult
from driftmon.spool import Spool, SpoolEntry, SpoolError, SpoolFormatError

log = logging.getLogger("driftmon.daemon")

MAX_PENDING_RUNS = 1000
"""Runs kept in memory while the database is away, over all monitors: all of them without a
spool, those the spool could not take (a full disk) with one."""
PENDING_DEGRADED_SECONDS = 300.0
"""A run waiting longer than this to be stored makes /healthz degraded."""
DROP_REASONS = ("full", "expired")


class RunStore(Protocol):
    """Where runs go: ``driftmon.storage.Store`` (or a stand-in in tests)."""

    def save_run(self, run: RunResult, *, replace: bool = True) -> int: ...


@dataclass(eq=False)  # compared by identity: two waiting runs are never the same
class _Waiting:
    run: RunResult | None  # None while it is kept in the spool only (read back when due)
    monitor: str
    window_end: datetime
    since: float  # monotonic time the run was queued
    entry: SpoolEntry | None = None  # its spool file, once written
    refused: bool = False  # the database refused the run for good; ``run`` is its error run
    reported: bool = False  # logged and counted as not stored (and spooled, with a spool)


@dataclass(frozen=True)
class PendingState:
    """What the health endpoint and the spool metrics report about storing runs."""

    pending: int
    """Runs kept after an attempt to store them failed (in the spool, if there is one)."""
    oldest_wait_seconds: float
    """How long the oldest run not stored yet has waited, kept or being stored right now
    (0 when there is none): a write that hangs counts too. Runs read back from the spool
    count from when they were spooled."""
    not_stored: int
    """Runs whose first attempt to be stored failed (an outage), since start."""
    unstorable: int
    """Runs the database refused for good, since start (stored as error runs if possible)."""
    last_error: str | None
    """Why the latest attempt to store a run failed; None once a later one succeeded."""
    dropped: dict[str, int]
    """Runs dropped unstored since start, by reason: ``full`` (beyond the limit) or
    ``expired`` (window older than the maximum age)."""
    damaged_files: int
    """Spool files that could not be read back since start (set aside in ``damaged/``)."""
    spool_path: str | None
    """The spool's folder; None when runs are kept in memory only."""
    spool_error: str | None
    """Why the latest write to the spool failed; None once a later one succeeded."""
    spool_write_errors: int
    """Runs that could not be written to the spool since start (kept in memory instead)."""
    in_memory_only: int
    """Pending runs not in the spool (no spool, or it could not take them): lost if the
    process exits before they are stored."""


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
        spool: Spool | None = None,
        on_stored: Callable[[], None] = lambda: None,
        limit: int = MAX_PENDING_RUNS,
        max_age: timedelta | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._spool = spool
        self._on_stored = on_stored
        self._limit = limit
        self._max_age = max_age
        self._clock = clock
        self._wall_clock = wall_clock
        self._queues: dict[str, _Queue] = {}
        self._mutex = threading.Lock()  # guards the queues' lists and the counters
        self._not_stored = 0
        self._unstorable = 0
        self._last_error: str | None = None
        self._dropped = dict.fromkeys(DROP_REASONS, 0)
        self._damaged = 0
        self._spool_error: str | None = None
        self._spool_write_errors = 0

    def open(self) -> None:
        """Queue the runs an earlier process left in the spool (none without a spool).

        ``SpoolError`` when the spool folder cannot be created, written or listed. Damaged files are
        set aside and counted; the readable runs are kept.
        """
        if self._spool is None:
            return
        opened = self._spool.open()
        now, wall = self._clock(), self._wall_clock()
        with self._mutex:
            for entry in opened.entries:
                waited = max(0.0, (wall - entry.spooled_at).total_seconds())
                waiting = _Waiting(
                    None, entry.monitor, entry.window_end, now - waited, entry, reported=True
                )
                self._insert(self._queues.setdefault(entry.monitor, _Queue()), waiting)
            self._damaged += len(opened.damaged)
            self._drop_beyond_limit()
            self._drop_expired()
            runs = sum(len(q.waiting) for q in self._queues.values())
        log.info(
            "spool.opened",
            extra={
                "path": str(self._spool.directory),
                "runs": runs,
                "monitors": len({e.monitor for e in opened.entries}),
                "damaged_files": len(opened.damaged),
                "incomplete_writes_removed": opened.incomplete,
            },
        )

    def submit(self, run: RunResult) -> None:
        """Queue ``run`` and store its monitor's queue (``run`` included, unless an outage
        keeps older runs of the monitor waiting)."""
        waiting = _Waiting(run, run.monitor, run.window_end, self._clock())
        with self._mutex:
            queue = self._queues.setdefault(run.monitor, _Queue())
            self._insert(queue, waiting)
            self._drop_beyond_limit()
        with queue.lock:
            error = self._drain(queue)
            if error is not None:
                self._not_stored_now(waiting, error)

    def flush(self) -> None:
        """Drop expired runs, then retry every monitor's waiting runs, each monitor on its
        own (one being stored right now by its own job is left to that job)."""
        with self._mutex:
            self._drop_expired()
            queues = [q for q in self._queues.values() if q.waiting]
        for queue in queues:
            if queue.lock.acquire(blocking=False):
                try:
                    self._drain(queue)
                finally:
                    queue.lock.release()

    def waiting_for(self, monitor: str, window_end: datetime) -> bool:
        """Whether a run of ``monitor`` for ``window_end`` waits to be stored."""
        with self._mutex:
            queue = self._queues.get(monitor)
            return queue is not None and any(w.window_end == window_end for w in queue.waiting)

    def latest_window(self, monitor: str, *, before: datetime) -> datetime | None:
        """The latest window end of ``monitor`` before ``before`` waiting to be stored;
        None if none waits."""
        with self._mutex:
            queue = self._queues.get(monitor)
            ends = [w.window_end for w in queue.waiting] if queue is not None else []
        earlier = [t for t in ends if t < before]
        return earlier[-1] if earlier else None

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
                dropped=dict(self._dropped),
                damaged_files=self._damaged,
                spool_path=str(self._spool.directory) if self._spool is not None else None,
                spool_error=self._spool_error,
                spool_write_errors=self._spool_write_errors,
                in_memory_only=sum(w.reported and w.entry is None for w in waiting),
            )

    # -- inside a queue's lock ---------------------------------------------------------------

    def _drain(self, queue: _Queue) -> Exception | None:
        """Store the queue's runs oldest window first; stop at the first outage (returned)."""
        while True:
            with self._mutex:
                if not queue.waiting:
                    return None
                head = queue.waiting[0]
            run = head.run
            if run is None:  # kept in the spool only
                try:
                    run = self._read_back(queue, head)
                except SpoolError as exc:
                    log.error("spool.read_failed", extra={"error": str(exc)})
                    with self._mutex:
                        self._last_error = str(exc)
                    return exc
                if run is None:
                    continue  # gone (set aside, or stored by another daemon)
            try:
                self._store.save_run(run, replace=False)  # keep a run another daemon stored
            except PermanentStorageError as exc:
                if self._refused(head, run, exc):
                    continue  # store the error run in its place, right away
                self._forget(queue, head)
                continue
            except StorageError as exc:
                with self._mutex:
                    self._last_error = str(exc)
                self._not_stored_now(head, exc)
                return exc
            self._forget(queue, head)
            with self._mutex:
                self._last_error = None
            self._on_stored()
            if head.reported:
                log.info(
                    "run.stored_late",
                    extra={
                        "monitor": run.monitor,
                        "window_end": run.window_end.isoformat(),
                        "status": run.status.value,
                    },
                )

    def _read_back(self, queue: _Queue, head: _Waiting) -> RunResult | None:
        """The spooled run of ``head``; None (and ``head`` forgotten) when its file is gone
        or damaged. ``SpoolError`` when the file cannot be read now."""
        assert self._spool is not None  # a spooled run has a spool and an entry
        assert head.entry is not None
        try:
            run = self._spool.read(head.entry)
        except SpoolFormatError as exc:
            self._spool.set_aside(head.entry.path, str(exc))
            with self._mutex:
                self._damaged += 1
            self._remove(queue, head)
            return None
        if run is None:
            self._remove(queue, head)
        return run

    def _refused(self, head: _Waiting, run: RunResult, exc: PermanentStorageError) -> bool:
        """Count and log a run the database refused; True when its error run replaced it
        (to be stored next), False when it was the error run already (dropped)."""
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
        # Kept in memory: if the process stops first, the spooled original is refused again
        # at the next start, and replaced the same way.
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

    def _not_stored_now(self, waiting: _Waiting, exc: Exception) -> None:
        """Spool a run that must wait, then log and count it, once (later attempts fail the
        same way). A run the spool cannot take stays in memory, and the failure is logged."""
        with self._mutex:
            if waiting.reported or not any(waiting in q.waiting for q in self._queues.values()):
                return
        spooled = False
        if self._spool is not None and waiting.entry is None and waiting.run is not None:
            try:
                waiting.entry = self._spool.write(waiting.run, self._wall_clock())
            except SpoolError as spool_exc:
                with self._mutex:
                    self._spool_error = str(spool_exc)
                    self._spool_write_errors += 1
                log.error("spool.write_failed", extra={"error": str(spool_exc)})
            else:
                spooled = True
                if not waiting.refused:  # an error run is small; the spool has the original
                    waiting.run = None
                with self._mutex:
                    self._spool_error = None
        with self._mutex:
            waiting.reported = True
            self._not_stored += 1
            if not spooled:
                self._drop_beyond_limit()  # one more run in memory only
            pending = sum(w.reported for q in self._queues.values() for w in q.waiting)
        log.error(
            "run.not_stored",
            extra={
                "monitor": waiting.monitor,
                "window_end": waiting.window_end.isoformat(),
                "pending": pending,
                "spooled": spooled or waiting.entry is not None,
                "error": str(exc),
            },
        )

    def _forget(self, queue: _Queue, waiting: _Waiting) -> None:
        """``waiting`` is done with (stored or refused for good): out of the queue and spool."""
        self._remove(queue, waiting)
        if self._spool is not None and waiting.entry is not None:
            self._spool.remove(waiting.entry)

    def _remove(self, queue: _Queue, waiting: _Waiting) -> None:
        with self._mutex:
            if waiting in queue.waiting:
                queue.waiting.remove(waiting)

    # -- holding the mutex --------------------------------------------------------------------

    @staticmethod
    def _insert(queue: _Queue, waiting: _Waiting) -> None:
        ends = [w.window_end for w in queue.waiting]
        queue.waiting.insert(bisect.bisect_right(ends, waiting.window_end), waiting)

    def _drop_beyond_limit(self) -> None:
        """Drop the oldest windows waiting beyond the limit, and the oldest of those kept in
        memory only beyond ``MAX_PENDING_RUNS``."""
        while sum(len(q.waiting) for q in self._queues.values()) > self._limit:
            queue = min(
                (q for q in self._queues.values() if q.waiting),
                key=lambda q: (q.waiting[0].window_end, q.waiting[0].since),
            )
            self._drop(queue, queue.waiting[0], "full")
        in_memory = sorted(
            (
                (w.window_end, w.since, id(w), q, w)
                for q in self._queues.values()
                for w in q.waiting
                if w.reported and w.entry is None
            ),
            key=lambda item: item[:3],
        )
        for _, _, _, queue, waiting in in_memory[: max(0, len(in_memory) - MAX_PENDING_RUNS)]:
            self._drop(queue, waiting, "full")

    def _drop_expired(self) -> None:
        """Drop kept runs whose window ended more than ``max_age`` ago."""
        if self._max_age is None:
            return
        cutoff = self._wall_clock() - self._max_age
        for queue in self._queues.values():
            for waiting in [w for w in queue.waiting if w.reported and w.window_end < cutoff]:
                self._drop(queue, waiting, "expired")

    def _drop(self, queue: _Queue, waiting: _Waiting, reason: str) -> None:
        queue.waiting.remove(waiting)
        self._dropped[reason] += 1
        if self._spool is not None and waiting.entry is not None:
            self._spool.remove(waiting.entry)
        log.error(
            "run.pending_dropped",
            extra={
                "monitor": waiting.monitor,
                "window_end": waiting.window_end.isoformat(),
                "reason": reason,
                "limit": self._limit,
                "max_age_s": self._max_age.total_seconds() if self._max_age else "",
            },
        )
