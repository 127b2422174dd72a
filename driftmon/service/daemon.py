"""The daemon: one APScheduler job per monitor, the HTTP server, and clean shutdown.

Interval schedules fire on multiples of the interval since the Unix epoch (UTC), so every
daemon and every restart agrees on window ends; the database's unique (monitor, window_end)
constraint then makes a second daemon on the same database harmless (see README).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from apscheduler.executors.pool import BasePoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import CollectorRegistry

from driftmon import __version__
from driftmon.clock import as_utc, floor_time, utcnow
from driftmon.config import Config, MonitorConfig, ScheduleConfig
from driftmon.core.status import Status
from driftmon.errors import StorageError
from driftmon.results import RunResult
from driftmon.secrets import mask_url, scrub
from driftmon.service.http import HttpServer, make_app
from driftmon.service.metrics import DriftCollector, SnapshotCache
from driftmon.service.runner import MonitorRunner, RunAbandoned
from driftmon.storage import Store

log = logging.getLogger("driftmon.daemon")

MAX_PENDING_RUNS = 1000
HEALTH_PING_TIMEOUT_SECONDS = 3.0
MAX_CATCH_UP_WINDOWS = 3
"""Skipped windows a monitor scores late, at most, before its current one."""
SHUTDOWN_GRACE_SECONDS = 20.0
"""How long a run in progress may go on after SIGTERM before it is abandoned."""


class _PoolExecutor(BasePoolExecutor):  # type: ignore[misc]  # APScheduler 3 has no type hints
    """APScheduler's thread-pool executor over a pool the daemon owns and can wait for."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        super().__init__(pool)


def make_trigger(schedule: ScheduleConfig) -> BaseTrigger:
    """The schedule's APScheduler trigger (epoch-aligned intervals, crontab weekdays)."""
    trigger = schedule.trigger()
    return _OnGrid(trigger) if isinstance(trigger, IntervalTrigger) else trigger


class _OnGrid(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 has no type hints
    """An interval trigger that returns to its epoch grid after an off-grid fire time.

    The first run is immediate (``next_run_time=now``) and APScheduler's IntervalTrigger
    adds the interval to the previous fire time, so later runs kept start-up's offset from
    the grid; a job that then waited in the pool past the next multiple scored the wrong
    window (``scheduled_window_end`` floors the clock): one window skipped, the next twice.
    """

    def __init__(self, interval: IntervalTrigger) -> None:
        self._interval = interval

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is not None:
            now = max(now, previous_fire_time + timedelta(microseconds=1))
        fire: datetime | None = self._interval.get_next_fire_time(None, now)
        return fire

    def __str__(self) -> str:
        return str(self._interval)


_MAX_CRON_LOOKBACK = timedelta(days=9 * 366)  # beyond the gap of "0 0 29 2 *" (leap days)


def scheduled_window_end(schedule: ScheduleConfig, now: datetime) -> datetime:
    """The latest scheduled fire time at or before ``now``: the end of the window to score."""
    now = as_utc(now)
    if schedule.every is not None:
        return floor_time(now, schedule.every)
    trigger = make_trigger(schedule)
    # Look back over a growing span: a cron's gaps vary (weekends, months, leap days), so
    # no single look-back derived from one gap is sure to reach the previous fire time.
    lookback = timedelta(minutes=2)
    while lookback < _MAX_CRON_LOOKBACK:
        last: datetime | None = None
        t = trigger.get_next_fire_time(None, now - lookback)
        while t is not None and t <= now:
            last = t
            t = trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
        if last is not None:
            return as_utc(last)
        lookback *= 4
    return floor_time(now, timedelta(seconds=1))


def log_run(result: RunResult) -> None:
    """The one log line per run: monitor, window, rows, worst feature, duration, status."""
    scored = [f for f in result.features if f.scores is not None]
    worst = max(scored, key=lambda f: f.scores.kl_divergence if f.scores else 0.0, default=None)
    fields: dict[str, Any] = {
        "monitor": result.monitor,
        "status": result.status.value,
        "window_start": result.window_start.isoformat() if result.window_start else "",
        "window_end": result.window_end.isoformat(),
        "live_rows": result.live_rows,
        "features": len(result.features),
        "drifted": sum(f.status.value in ("warning", "critical") for f in result.features),
        "worst_feature": worst.feature if worst else "",
        "worst_kl": round(worst.scores.kl_divergence, 6) if worst and worst.scores else "",
        "duration_s": round(result.duration_seconds, 3),
    }
    if result.error:
        fields["error"] = result.error
        log.error("run.failed", extra=fields)
    else:
        log.info("run.finished", extra=fields)


class Daemon:
    """Scheduler + HTTP server over one configuration; ``start()``, then ``stop()``."""

    def __init__(self, config: Config, store: Store, *, upgrade: bool = True) -> None:
        self.config = config
        self.store = store
        self.upgrade = upgrade
        self.runner = MonitorRunner(config, store)
        self.cache = SnapshotCache(store)
        # Scheduled runs execute here; stop() waits for this pool (running and queued runs).
        self._workers = ThreadPoolExecutor(
            max_workers=max(2, min(8, len(config.monitors))), thread_name_prefix="driftmon-job"
        )
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(DriftCollector(config, self.cache))
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            executors={"default": _PoolExecutor(self._workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.http: HttpServer | None = None
        self.started_at = utcnow()
        self._storage_failures = 0
        self._last_end: dict[str, datetime] = {}
        # Runs computed while the results database was away, stored when it is back. Bounded:
        # beyond MAX_PENDING_RUNS the oldest are dropped (and lost if the process exits).
        self._pending: deque[RunResult] = deque(maxlen=MAX_PENDING_RUNS)
        self._last_storage_error: str | None = None
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self.upgrade:
            self.store.upgrade()
        server = self.config.server
        self.http = HttpServer(
            server.host, server.port, make_app(self.registry, self.health, self._exposition_version)
        )
        self.http.start()
        now = utcnow()
        for monitor in self.config.monitors:
            if not monitor.enabled:
                continue
            self.scheduler.add_job(
                self.run_monitor,
                trigger=make_trigger(monitor.schedule),
                args=[monitor],
                id=f"monitor:{monitor.name}",
                name=monitor.name,
                next_run_time=now,
            )
        if self.config.retention.max_age is not None:
            self.scheduler.add_job(
                self.prune,
                IntervalTrigger(hours=1, timezone="UTC"),
                id="retention",
                next_run_time=now,
            )
        self.scheduler.start()
        log.info(
            "daemon.started",
            extra={
                "version": __version__,
                "monitors": len(self.config.monitors),
                "database": mask_url(self.config.database.url),
                "listen": f"http://{server.host}:{self.http.port}",
            },
        )

    def stop(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Stop scheduling; a run in progress may finish within ``grace`` seconds, after
        which it is abandoned at its next batch (nothing of it is stored); close the server.
        """
        log.info("daemon.stopping")
        self.scheduler.shutdown(wait=False)
        done = threading.Event()

        def _join() -> None:
            self._workers.shutdown(wait=True)
            done.set()

        threading.Thread(target=_join, daemon=True).start()
        if not done.wait(grace):
            log.warning("daemon.abandoning_runs", extra={"grace_s": grace})
            self.runner.abandon.set()
            if not done.wait(5.0):
                log.warning("daemon.stop_timeout", extra={"waited_s": grace + 5.0})
        with self._lock:
            if self._pending:
                log.error("daemon.pending_runs_lost", extra={"runs": len(self._pending)})
        if self.http is not None:
            self.http.stop()
        self.store.dispose()
        log.info("daemon.stopped")

    def _exposition_version(self) -> tuple[int, int]:
        self.cache.get()  # refresh the snapshot first if it is due
        return (self.cache.version, self.cache.errors_total)

    # -- jobs ------------------------------------------------------------------------------

    def run_monitor(self, monitor: MonitorConfig) -> RunResult | None:
        """One scheduled run; never raises, so the scheduler and daemon stay up.

        A window already stored without error (by a restart, or by a second daemon on the
        same database) is not computed again. A run that cannot be stored is kept in memory
        and stored by a later job once the database is back (see ``_flush_pending``).
        """
        end = scheduled_window_end(monitor.schedule, utcnow())
        self._flush_pending()
        result = None
        for window_end in self._windows_due(monitor, end):
            result = self._run_window(monitor, window_end)
            self._last_end[monitor.name] = window_end
        return result

    def _windows_due(self, monitor: MonitorConfig, end: datetime) -> list[datetime]:
        """The window ending at ``end``, preceded by windows this daemon's schedule skipped.

        A tick is skipped while the monitor's previous run is still going (e.g. the first
        run building reference profiles); for time-windowed live sources those windows are
        scored late, the most recent ``MAX_CATCH_UP_WINDOWS`` of them. Batch sources (no
        window) read the same data whenever they run, so they only score the latest.
        """
        last = self._last_end.get(monitor.name)
        if last is None or monitor.live.window is None or end <= last:
            return [end]
        trigger = make_trigger(monitor.schedule)
        missed: list[datetime] = []
        t = trigger.get_next_fire_time(last, last + timedelta(microseconds=1))
        while t is not None and as_utc(t) < end:
            missed.append(as_utc(t))
            t = trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
        if len(missed) > MAX_CATCH_UP_WINDOWS:
            log.warning(
                "run.windows_dropped",
                extra={
                    "monitor": monitor.name,
                    "windows": len(missed) - MAX_CATCH_UP_WINDOWS,
                    "first": missed[0].isoformat(),
                },
            )
            missed = missed[-MAX_CATCH_UP_WINDOWS:]
        return [*missed, end]

    def _run_window(self, monitor: MonitorConfig, end: datetime) -> RunResult | None:
        """Score and store one window unless it is stored already (see ``run_monitor``)."""
        try:
            stored = self.store.stored_status(monitor.name, end)
        except StorageError:
            stored = None  # find out when storing; the run is kept pending if that fails
        if stored is not None and stored != Status.ERROR:
            log.info(
                "run.skipped",
                extra={
                    "monitor": monitor.name,
                    "window_end": end.isoformat(),
                    "reason": f"window already stored with status {stored.value}",
                },
            )
            return None
        started = utcnow()
        try:
            result = self.runner.score(monitor, end)
        except RunAbandoned:
            log.warning(
                "run.abandoned", extra={"monitor": monitor.name, "window_end": end.isoformat()}
            )
            return None
        except Exception as exc:
            log.exception(
                "run.crashed", extra={"monitor": monitor.name, "window_end": end.isoformat()}
            )
            result = RunResult(
                monitor=monitor.name,
                window_start=None,
                window_end=end,
                started_at=started,
                finished_at=utcnow(),
                status=Status.ERROR,
                error=scrub(f"internal error: {type(exc).__name__}: {exc}"),
            )
        log_run(result)
        self._store(result)
        return result

    def _store(self, result: RunResult) -> bool:
        try:
            self.store.save_run(result, replace=False)  # keep a run another daemon stored
        except StorageError as exc:
            with self._lock:
                self._storage_failures += 1
                self._last_storage_error = str(exc)
                self._pending.append(result)
            log.error(
                "run.not_stored",
                extra={
                    "monitor": result.monitor,
                    "window_end": result.window_end.isoformat(),
                    "pending": len(self._pending),
                    "error": str(exc),
                },
            )
            return False
        with self._lock:
            self._last_storage_error = None
        self.cache.invalidate()
        return True

    def _flush_pending(self) -> None:
        """Store runs kept while the database was away, oldest first; stop at a failure."""
        while True:
            with self._lock:
                if not self._pending:
                    return
                result = self._pending[0]
            try:
                self.store.save_run(result, replace=False)
            except StorageError:
                return
            with self._lock:
                if self._pending and self._pending[0] is result:
                    self._pending.popleft()
                self._last_storage_error = None
            self.cache.invalidate()
            log.info(
                "run.stored_late",
                extra={
                    "monitor": result.monitor,
                    "window_end": result.window_end.isoformat(),
                    "status": result.status.value,
                },
            )

    def prune(self) -> None:
        max_age = self.config.retention.max_age
        if max_age is None:
            return
        try:
            n = self.store.prune(utcnow() - max_age)
        except StorageError as exc:
            log.error("retention.failed", extra={"error": str(exc)})
            return
        if n:
            self.cache.invalidate()
            log.info("retention.pruned", extra={"runs": n})

    # -- health ----------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        problems: list[str] = []
        error = _ping_within(self.store, HEALTH_PING_TIMEOUT_SECONDS)
        db: dict[str, Any] = {"ok": True}
        if error is not None:
            db = {"ok": False, "error": error}
            problems.append("results database unreachable")
        with self._lock:
            if self._last_storage_error:
                problems.append("latest run could not be stored")
        running = self.scheduler.running
        if not running:
            problems.append("scheduler not running")
        return {
            "status": "ok" if not problems else "degraded",
            "problems": problems,
            "version": __version__,
            "database": db,
            "scheduler": {"running": running, "jobs": len(self.scheduler.get_jobs())},
            "runs_not_stored": self._storage_failures,
            "runs_pending": len(self._pending),
            "scrape_errors": self.cache.errors_total,
            "started_at": self.started_at.isoformat(),
        }


def _ping_within(store: Store, timeout: float) -> str | None:
    """None when the results database answers a ping within ``timeout``, else why not.

    The ping runs in its own thread so that a database that accepts connections but never
    answers cannot hang ``/healthz``.
    """
    outcome: list[str | None] = []

    def _ping() -> None:
        try:
            store.ping()
            outcome.append(None)
        except StorageError as exc:
            outcome.append(str(exc))

    worker = threading.Thread(target=_ping, name="driftmon-health-ping", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        return f"the results database {store.display_url} did not answer within {timeout:g} s"
    return outcome[0]
