"""Scoring runs in worker processes, so that many monitors use every core.

The daemon's runs are mostly Python per feature (reading a window, counting it, scoring,
deciding), which holds the GIL: on one interpreter 20 monitors of 200 features queue
behind each other and behind the HTTP server's rendering. ``ScoringProcesses`` runs
``MonitorRunner.score`` in ``engine.processes`` worker processes instead. Each worker has
its own runner (profile cache, ``ColumnPool`` of its share of ``engine.threads``) and its
own connection to the results database, which it needs for reference profiles and
calibrations; results come back to the daemon, which stores them (``PendingRuns``) and
serves them, as before.

Workers are started with ``spawn`` (the daemon has threads by then, which ``fork`` does not
copy), ignore SIGINT and SIGTERM (the daemon decides when runs stop: a run in progress may
finish within the shutdown grace, then ``abandon`` stops it at its next batch), and exit
on their own when the daemon is gone (checked every second), so a ``kill -9`` leaves no
orphan. A worker that dies mid-run (killed, out of memory) fails that run with
``ScoringProcessError``, and so does any other run a worker had started at that moment
(``concurrent.futures`` stops a broken pool's other workers too); the pool is replaced for
the next runs, and the runs still queued go to it. A worker that died between runs is
replaced without failing any.

Runs queue for the workers as soon as they are due, so a worker that finishes a run finds
the next one waiting (a tick's runs keep both cores busy instead of waiting at each
hand-over for the daemon's threads). A queued run can be taken back (``run_claims``): it
waits for a worker while some worker's current run started less than
``WORKER_WAIT_SECONDS`` ago (it is likely to finish soon); once every worker has been on
its run for longer than that, the daemon scores the run in its own process instead. So a
tick's many short runs go to the workers (which share no GIL with each other or with the
HTTP server, and keep the daemon light), while a slow monitor (a stuck source, a huge
window) holding every worker delays the others by at most ``WORKER_WAIT_SECONDS`` and
starves none (tests/service/test_processes.py).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Any

from driftmon.config import Config, MonitorConfig
from driftmon.core.parallel import ColumnPool, available_cores
from driftmon.errors import DriftmonError
from driftmon.logs import configure
from driftmon.results import RunResult
from driftmon.service.run_claims import SLOTS, RunClaims
from driftmon.service.runner import MonitorRunner, RunAbandoned, StopFlag
from driftmon.storage import Store

log = logging.getLogger("driftmon.scoring")

PARENT_CHECK_SECONDS = 1.0
"""How often a worker checks that the daemon that started it is still there."""

WORKER_WAIT_SECONDS = 1.0
"""A run waits for a busy worker only while some worker's run is younger than this."""

CLAIM_POLL_SECONDS = 0.1
"""How often a queued run's thread looks whether to take the run back."""


class ScoringProcessError(DriftmonError):
    """The process scoring a run died before it returned a result."""


def scoring_processes(config: Config, store: Store) -> int:
    """How many processes the daemon scores in: ``engine.processes``, or by default one per
    core (at most ``engine.threads``) and at most one per enabled monitor; 0 (score in the
    daemon) for a results database other processes cannot open (in-memory SQLite)."""
    if not store.shareable:
        return 0
    configured = config.engine.processes
    if configured is not None:
        return configured
    enabled = sum(m.enabled for m in config.monitors)
    return max(1, min(config.engine.threads or available_cores(), available_cores(), enabled))


class ScoringProcesses:
    """``processes`` workers scoring runs of ``config``'s monitors; ``score``, ``close``."""

    def __init__(self, config: Config, store: Store, processes: int) -> None:
        if processes < 1:
            raise ValueError(f"processes must be at least 1, got {processes}")
        self.processes = processes
        self.threads_each = max(1, (config.engine.threads or available_cores()) // processes)
        self._config = config
        self._store = store
        self._context = multiprocessing.get_context("spawn")
        self._abandon = self._context.Event()
        self._claims = RunClaims(self._context)
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = self._start()

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=self._context,
            initializer=_start_worker,
            initargs=(
                self._config,
                self._store,
                self.threads_each,
                self._abandon,
                self._claims,
                os.getpid(),
            ),
        )

    @property
    def idle(self) -> int:
        """How many workers are not on a run now."""
        return self.processes - len(self._claims.busy_since())

    def score_in_worker(
        self, monitor: MonitorConfig, window_end: datetime, *, wait: float = WORKER_WAIT_SECONDS
    ) -> RunResult | None:
        """``score`` in a worker, queued while some worker's run is younger than ``wait``
        seconds; None when every worker has been on its run for longer (the caller scores
        the run itself, so no run waits long behind a slow monitor's)."""
        return self._queue(monitor, window_end, wait)

    def score(self, monitor: MonitorConfig, window_end: datetime) -> RunResult:
        """``MonitorRunner.score`` of one window in a worker (``RunAbandoned`` propagates);
        it waits for a worker however long all are busy."""
        result = self._queue(monitor, window_end, None)
        assert result is not None  # only a bounded wait hands the run back
        return result

    def _queue(
        self, monitor: MonitorConfig, window_end: datetime, wait: float | None
    ) -> RunResult | None:
        claim = self._claims.open()
        if claim is None:  # more runs in flight than slots (SLOTS): not queued
            if wait is None:
                raise ScoringProcessError(
                    f"monitor {monitor.name!r}: {SLOTS} runs already wait for the scoring processes"
                )
            return None
        slot, run_id = claim
        try:
            while True:
                executor = self._current()
                try:
                    future = executor.submit(_score, monitor.name, window_end, slot, run_id)
                except BrokenProcessPool:  # a worker died between runs: nothing was lost
                    self._replace(executor)
                    continue
                try:
                    return self._await(future, slot, wait, monitor)
                except BrokenProcessPool as exc:
                    if self._abandon.is_set():  # killed at shutdown, after the grace
                        raise _abandoned(monitor.name) from exc
                    self._replace(executor)
                    if not self._claims.started(slot):
                        continue  # it was still queued: the new pool takes it
                    log.error("scoring.process_died", extra={"monitor": monitor.name})
                    raise ScoringProcessError(
                        f"monitor {monitor.name!r}: the process scoring the window ending "
                        f"{window_end.isoformat()} died ({exc}); the next run uses a new one"
                    ) from exc
        finally:
            self._claims.release(slot)

    def _await(
        self,
        future: Future[RunResult | None],
        slot: int,
        wait: float | None,
        monitor: MonitorConfig,
    ) -> RunResult | None:
        """The run's result; None once the daemon took it back (see ``score_in_worker``)."""
        while True:
            try:
                result = future.result(timeout=CLAIM_POLL_SECONDS)
            except FuturesTimeout:
                pass
            except CancelledError as exc:  # the pool was shut down under it
                raise _abandoned(monitor.name) from exc
            else:
                if result is None:  # only this thread takes the run back, and then stops here
                    raise RuntimeError(f"monitor {monitor.name!r}: run taken back twice")
                return result
            if self._abandon.is_set() and self._claims.take(slot):
                future.cancel()
                raise _abandoned(monitor.name)
            if wait is not None and self._workers_stuck(wait) and self._claims.take(slot):
                future.cancel()
                return None

    def _workers_stuck(self, wait: float) -> bool:
        """Every worker has been on its current run for more than ``wait`` seconds."""
        busy = self._claims.busy_since()
        return len(busy) >= self.processes and max(busy) + wait <= time.monotonic()

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                raise ScoringProcessError("the scoring processes are shut down")
            return self._executor

    def _replace(self, broken: ProcessPoolExecutor) -> ProcessPoolExecutor:
        """A new pool in place of ``broken`` (once, whichever run notices first)."""
        with self._lock:
            if self._executor is None:
                raise ScoringProcessError("the scoring processes are shut down")
            if self._executor is broken:
                self._executor = self._start()
            current = self._executor
        broken.shutdown(wait=False, cancel_futures=True)
        return current

    def pids(self) -> list[int]:
        """Process ids of the live workers (started as runs need them)."""
        with self._lock:
            executor = self._executor
        # ProcessPoolExecutor keeps its processes in a private dict; read only, for tests
        # and diagnostics.
        processes: dict[int, Any] = getattr(executor, "_processes", None) or {}
        return [p.pid for p in processes.values() if p.is_alive()]

    def abandon(self) -> None:
        """Stop the runs in progress at their next batch; they store nothing."""
        self._abandon.set()

    def close(self, *, terminate: bool = False) -> None:
        """Stop the workers once the runs handed to them have ended, or at once with
        ``terminate`` (runs that outlived the shutdown, e.g. stuck in a driver call)."""
        pids = self.pids() if terminate else []
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is None:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):  # they ignore SIGTERM (see above)
                os.kill(pid, signal.SIGKILL)
        executor.shutdown(wait=not terminate, cancel_futures=True)


def _abandoned(monitor: str) -> RunAbandoned:
    return RunAbandoned(f"monitor {monitor!r}: run abandoned at shutdown")


# -- in the worker processes ------------------------------------------------------------------

_runner: MonitorRunner | None = None
_claims: RunClaims | None = None


def _start_worker(
    config: Config,
    store: Store,
    threads: int,
    abandon: StopFlag,
    claims: RunClaims,
    parent: int,
) -> None:
    global _runner, _claims
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure(config.log.level, config.log.format)
    _runner = MonitorRunner(config, store, abandon=abandon, pool=ColumnPool(threads))
    _claims = claims
    threading.Thread(
        target=_exit_without_parent, args=(parent,), daemon=True, name="driftmon-orphan-check"
    ).start()


def _exit_without_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)  # the daemon is gone: nobody will store or ask for results


def _score(monitor: str, window_end: datetime, slot: int, run_id: int) -> RunResult | None:
    """Score the queued run unless the daemon took it back (then None, at once)."""
    runner = _require_runner()
    assert _claims is not None  # set with the runner
    if not _claims.start(slot, run_id):
        return None
    try:
        if runner.abandon.is_set():  # shutting down while this run waited in the queue
            raise _abandoned(monitor)
        return runner.score(runner.config.monitor(monitor), window_end)
    finally:
        _claims.finish(slot, run_id)


def _require_runner() -> MonitorRunner:
    if _runner is None:
        raise RuntimeError("not a scoring process: _start_worker has not run")
    return _runner
