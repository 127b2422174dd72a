"""The daemon: one APScheduler job per monitor, the HTTP server, and clean shutdown.

Interval schedules fire on multiples of the interval since the Unix epoch (UTC), so every
daemon and every restart agrees on window ends; the database's unique (monitor, window_end)
constraint then makes a second daemon on the same database harmless (see README).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import BasePoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import CollectorRegistry, ProcessCollector

from driftmon import __version__
from driftmon.clock import utcnow
from driftmon.config import Config, MonitorConfig
from driftmon.core.status import Status
from driftmon.errors import StorageError
from driftmon.results import RunResult
from driftmon.schedule_times import TICK, count_fire_times, fire_times
from driftmon.secrets import mask_url, scrub
from driftmon.service.bounded import DatabaseUnavailableError, within
from driftmon.service.catch_up import (
    MAX_DROPPED_COUNTED,
    MissedWindows,
    catches_up,
    describe_bound,
    last_scheduled,
    missed_windows,
)
from driftmon.service.catch_up_metrics import CatchUpTally, catch_up_families
from driftmon.service.fresh_collector import FreshCollector
from driftmon.service.http import make_app
from driftmon.service.http_server import HttpServer
from driftmon.service.metrics import DriftCollector, SnapshotCache
from driftmon.service.pages import Pages
from driftmon.service.pending import MAX_PENDING_RUNS, PENDING_DEGRADED_SECONDS, PendingRuns
from driftmon.service.processes import ScoringProcesses, scoring_processes
from driftmon.service.runner import MonitorRunner, RunAbandoned
from driftmon.service.skipped_ticks import SkippedTicks, skipped_ticks_families
from driftmon.service.spool_metrics import spool_families
from driftmon.service.triggers import make_trigger
from driftmon.service.watchdog import SchedulerWatch
from driftmon.service.window_end import scheduled_window_end
from driftmon.spool import Spool
from driftmon.storage import Store

log = logging.getLogger("driftmon.daemon")

HEALTH_PING_TIMEOUT_SECONDS = 3.0
PENDING_RETRY_SECONDS = 5.0
"""How often runs waiting for the results database are retried."""
STORED_WINDOWS_LOOKED_AT = 50
"""Latest stored windows searched for one on the schedule, to catch up from."""
MAX_CATCH_UP_ROUNDS = 10
"""How often a monitor's first run scores the windows that ended while it caught up."""
STOP_TIMEOUT_SECONDS = 5.0
"""How long ``stop`` waits, after the grace, for abandoned runs to end before it goes on."""


class _PoolExecutor(BasePoolExecutor):  # type: ignore[misc]  # APScheduler 3 has no type hints
    """APScheduler's thread-pool executor over a pool the daemon owns and can wait for."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        super().__init__(pool)


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
    if result.message:
        fields["note"] = result.message  # "message" is taken by logging.LogRecord
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
        # Runs are scored in worker processes (engine.processes) once started, and here when
        # every worker is busy or there are none.
        self.scoring: ScoringProcesses | None = None
        self.cache = SnapshotCache(store)
        # Scheduled runs execute here; stop() waits for this pool (running and queued runs).
        self._workers = ThreadPoolExecutor(
            max_workers=max(2, min(8, len(config.monitors))), thread_name_prefix="driftmon-job"
        )
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(DriftCollector(config, self.cache))
        # The standard process_* metrics change on every scrape: rendered for each one,
        # apart from the drift metrics, whose rendering is cached per snapshot version.
        self.process_registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.process_registry)
        # Blocking: SchedulerWatch runs its loop in a thread of ours, to see it die.
        self.scheduler = BlockingScheduler(
            timezone="UTC",
            executors={"default": _PoolExecutor(self._workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.watch = SchedulerWatch(self.scheduler)
        self.http: HttpServer | None = None
        self.started_at = utcnow()
        self._last_end: dict[str, datetime] = {}
        # Monitors that have yet to look for windows missed while the daemon was down.
        self._catch_up_due = {m.name for m in config.monitors if m.enabled and catches_up(m)}
        self._first_end: dict[str, datetime] = {}  # the first window end each monitor scored
        self._stopping = threading.Event()  # set by stop(): a catch-up ends at its next window
        # Missed windows the catch_up bound left out and each monitor's lag (metrics).
        self.catch_up = CatchUpTally(config.monitors, self.started_at)
        # Ticks at which a monitor started no run (its previous run still going).
        self.skipped_ticks = SkippedTicks(config.monitors)
        # Every run is stored through here; runs the database cannot take now wait in the
        # spool (in memory only without one).
        spool = config.database.spool
        self.pending = PendingRuns(
            store,
            spool=Spool(Path(spool.path)) if spool.path is not None else None,
            on_stored=self.cache.invalidate,
            limit=spool.max_runs if spool.path is not None else MAX_PENDING_RUNS,
            max_age=spool.max_age,
        )
        # The spool's state changes on every scrape's watch: rendered fresh, like process_*.
        self.process_registry.register(FreshCollector(spool_families, self.pending.state))
        self.process_registry.register(FreshCollector(catch_up_families, self.catch_up.state))
        self.process_registry.register(
            FreshCollector(skipped_ticks_families, self.skipped_ticks.state)
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Open the spool, upgrade the schema, serve HTTP and schedule the monitors.

        ``SpoolError`` when the spool folder cannot be created or written (before anything
        else is touched); ``OSError`` when the port cannot be used.
        """
        self.pending.open()
        if self.upgrade:
            self.store.upgrade()
        server = self.config.server
        pages = Pages(self.config, self.store, HEALTH_PING_TIMEOUT_SECONDS)
        app = make_app(
            self.registry,
            self.health,
            self._exposition_version,
            fresh=self.process_registry,
            pages=pages.answer,
        )
        self.http = HttpServer(server.host, server.port, app)
        self.http.start()
        processes = scoring_processes(self.config, self.store)
        if processes:
            self.scoring = ScoringProcesses(self.config, self.store, processes)
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
        self.scheduler.add_job(
            self.pending.flush,
            IntervalTrigger(seconds=PENDING_RETRY_SECONDS, timezone="UTC"),
            id="pending-runs",
            next_run_time=now,  # runs left in the spool by the last process go first
        )
        self.watch.start()
        log.info(
            "daemon.started",
            extra={
                "version": __version__,
                "monitors": len(self.config.monitors),
                "database": mask_url(self.config.database.url),
                "listen": f"http://{server.host}:{self.http.port}",
                "scoring_processes": processes,
            },
        )

    def stop(self, grace: float | None = None) -> None:
        """Stop scheduling; a run in progress may finish within ``grace`` seconds (default:
        ``engine.shutdown_grace``), after which it is abandoned at its next batch (nothing of
        it is stored); close the server.
        """
        if grace is None:
            grace = self.config.engine.shutdown_grace.total_seconds()
        log.info("daemon.stopping")
        self._stopping.set()
        self.watch.shutdown()
        done = threading.Event()

        def _join() -> None:
            self._workers.shutdown(wait=True)
            done.set()

        threading.Thread(target=_join, daemon=True).start()
        if not done.wait(grace):
            log.warning("daemon.abandoning_runs", extra={"grace_s": grace})
            self.runner.abandon.set()
            if self.scoring is not None:
                self.scoring.abandon()
            if not done.wait(STOP_TIMEOUT_SECONDS):
                log.warning("daemon.stop_timeout", extra={"waited_s": grace + STOP_TIMEOUT_SECONDS})
        if self.scoring is not None:
            self.scoring.close(terminate=not done.is_set())
        self.runner.columns.close()
        state = self.pending.state()
        if state.in_memory_only:
            log.error("daemon.pending_runs_lost", extra={"runs": state.in_memory_only})
        if state.pending > state.in_memory_only:
            log.warning(
                "daemon.pending_runs_spooled",
                extra={"runs": state.pending - state.in_memory_only, "spool": state.spool_path},
            )
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
        same database) is not computed again. A run that cannot be stored is kept in the
        spool and stored once the database is back (see ``PendingRuns``). The first run
        after start first scores the windows missed while the daemon was down; a later one,
        the windows a late tick skipped. Both within the monitor's ``catch_up``.
        """
        end = scheduled_window_end(monitor.schedule, utcnow())
        self._count_skipped_ticks(monitor, end)
        missed = self._missed_while_down(monitor, end)
        if missed:
            end = self._catch_up(monitor, missed, end)
        late = self._skipped_windows(monitor, end)
        if late and self._score_windows(monitor, late) < len(late):
            return None  # stopping: the windows left are caught up at the next start
        result = self._run_window(monitor, end)
        self._last_end[monitor.name] = end
        if catches_up(monitor):
            self.catch_up.scored(monitor.name, end, utcnow())
        return result

    def _catch_up(self, monitor: MonitorConfig, missed: list[datetime], end: datetime) -> datetime:
        """Score ``missed`` oldest first; on the monitor's first run, then also the windows
        that ended meanwhile (up to ``MAX_CATCH_UP_ROUNDS`` times: a monitor whose runs are
        slower than its schedule falls in with it instead of chasing it). Stops at the next
        window once the daemon is stopping: the rest is caught up at the next start.
        Returns the window end the run goes on with."""
        t0 = time.monotonic()
        scored = self._score_windows(monitor, missed)
        if monitor.name not in self._last_end and scored == len(missed):
            last = missed[-1]
            for _ in range(MAX_CATCH_UP_ROUNDS):
                end = scheduled_window_end(monitor.schedule, utcnow())
                meanwhile = list(fire_times(monitor.schedule, last + TICK, end))
                if not meanwhile or self._stopping.is_set():
                    break
                done = self._score_windows(monitor, meanwhile)
                scored += done
                if done < len(meanwhile):
                    break
                last = meanwhile[-1]
        log.info(
            "catch_up.finished",
            extra={
                "monitor": monitor.name,
                "windows": scored,
                "of": len(missed),
                "stopped": self._stopping.is_set(),
                "duration_s": round(time.monotonic() - t0, 3),
            },
        )
        return end

    def _score_windows(self, monitor: MonitorConfig, ends: list[datetime]) -> int:
        """Score ``ends`` in order until the daemon is stopping; how many were scored."""
        for i, window_end in enumerate(ends):
            if self._stopping.is_set():
                return i
            self._run_window(monitor, window_end)
        return len(ends)

    def _missed_while_down(self, monitor: MonitorConfig, end: datetime) -> list[datetime]:
        """Windows missed while the daemon was down, oldest first, once per monitor.

        They lie after the monitor's latest window stored (or waiting in the spool) and
        before the first window this process scored (``end`` on the first run), within the
        monitor's ``catch_up``. A monitor with no stored window has none. When the results
        database cannot say which window was stored last, the next run asks again.
        """
        if monitor.name not in self._catch_up_due:
            return []
        before = self._first_end.setdefault(monitor.name, end)
        try:
            recent = self.store.latest_window_ends(monitor.name, STORED_WINDOWS_LOOKED_AT)
        except StorageError as exc:
            log.warning(
                "catch_up.deferred",
                extra={"monitor": monitor.name, "error": str(exc)},
            )
            return []
        self._catch_up_due.discard(monitor.name)
        # Off-schedule windows (stored by `driftmon check`) do not count as caught up.
        stored = last_scheduled(monitor.schedule, recent) or (recent[-1] if recent else None)
        kept = self.pending.latest_window(monitor.name, before=before)
        known = [t for t in (stored, kept) if t is not None]
        if not known:
            return []
        last = max(known)
        missed = missed_windows(monitor, last, before)
        if missed.ends or missed.bounded:
            log.info(
                "catch_up.started",
                extra={
                    "monitor": monitor.name,
                    "windows": len(missed.ends),
                    "since": last.isoformat(),
                    "first": missed.ends[0].isoformat() if missed.ends else "",
                    "last": missed.ends[-1].isoformat() if missed.ends else "",
                    "bounded": missed.bounded,
                    "dropped": missed.dropped,
                    "catch_up": _bound(monitor),
                },
            )
        self._count_dropped(monitor, missed, last, before, "downtime")
        return missed.ends

    def _skipped_windows(self, monitor: MonitorConfig, end: datetime) -> list[datetime]:
        """Windows a late tick skipped since this monitor's previous run, oldest first.

        A tick is skipped while the monitor's previous run is still going (e.g. the first
        run building reference profiles) or the scheduler stalled; for time-windowed live
        sources those windows are scored late, before ``end``, within the monitor's
        ``catch_up``: the rule of windows missed while the daemon was down. Batch sources
        (no window) read the same data whenever they run, so they only score the latest.
        """
        last = self._last_end.get(monitor.name)
        if last is None or not catches_up(monitor) or end <= last:
            return []
        missed = missed_windows(monitor, last, end)
        if missed.ends:
            log.info(
                "run.late_windows",
                extra={
                    "monitor": monitor.name,
                    "windows": len(missed.ends),
                    "first": missed.ends[0].isoformat(),
                    "last": missed.ends[-1].isoformat(),
                    "catch_up": _bound(monitor),
                },
            )
        self._count_dropped(monitor, missed, last, end, "late tick")
        return missed.ends

    def _count_skipped_ticks(self, monitor: MonitorConfig, end: datetime) -> None:
        """Count (and, where their windows are lost, log) the ticks since this monitor's
        previous run that started no run: those strictly between its window end and ``end``.

        Nothing is counted on a monitor's first run in this process: the ticks before it
        fell while the daemon was down (catch-up's concern), not while a run was going.
        """
        last = self._last_end.get(monitor.name)
        if last is None:
            return
        skipped = 0
        if end > last:
            skipped = count_fire_times(monitor.schedule, last + TICK, end, MAX_DROPPED_COUNTED)
        self.skipped_ticks.run_started(monitor.name, skipped)
        if skipped and not catches_up(monitor):
            # A monitor that catches up scores these windows now (log run.late_windows).
            log.warning(
                "run.ticks_skipped",
                extra={
                    "monitor": monitor.name,
                    "ticks": skipped,
                    "after": last.isoformat(),
                    "before": end.isoformat(),
                    # The previous run outlasted the schedule interval, or the scheduler
                    # stalled (a run slower than its schedule skips at every run).
                    "windows": "not scored (catch_up: null)"
                    if monitor.live.window is not None
                    else "none: a batch source's next run reads its data as it is then",
                },
            )

    def _count_dropped(
        self,
        monitor: MonitorConfig,
        missed: MissedWindows,
        last: datetime,
        before: datetime,
        cause: str,
    ) -> None:
        """Log and count the missed windows the ``catch_up`` bound left out, if any."""
        if not missed.dropped:
            return
        self.catch_up.dropped(monitor.name, missed.dropped, utcnow())
        log.warning(
            "catch_up.windows_dropped",
            extra={
                "monitor": monitor.name,
                "windows": missed.dropped,
                "cause": cause,
                "after": last.isoformat(),
                "before": (missed.ends[0] if missed.ends else before).isoformat(),
                "catch_up": _bound(monitor),
            },
        )

    def _run_window(self, monitor: MonitorConfig, end: datetime) -> RunResult | None:
        """Score and store one window unless it is stored already (see ``run_monitor``)."""
        if self.pending.waiting_for(monitor.name, end):
            log.info(
                "run.skipped",
                extra={
                    "monitor": monitor.name,
                    "window_end": end.isoformat(),
                    "reason": "window scored already, waiting to be stored",
                },
            )
            return None
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
            in_worker = None
            if self.scoring is not None:
                in_worker = self.scoring.score_in_worker(monitor, end)
            result = in_worker if in_worker is not None else self.runner.score(monitor, end)
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
        self.pending.submit(result)
        return result

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

    def failure(self) -> str | None:
        """Why the daemon can no longer run monitors (its scheduler stopped); None if it can."""
        return self.watch.failure()

    def health(self) -> dict[str, Any]:
        problems: list[str] = []
        error = _ping_within(self.store, HEALTH_PING_TIMEOUT_SECONDS)
        db: dict[str, Any] = {"ok": True}
        if error is not None:
            db = {"ok": False, "error": error}
            problems.append("results database unreachable")
        pending = self.pending.state()
        if pending.last_error:
            problems.append("latest run could not be stored")
        if pending.spool_error:
            problems.append("runs cannot be written to the spool (kept in memory only)")
        if pending.oldest_wait_seconds > PENDING_DEGRADED_SECONDS:
            problems.append(
                f"runs waiting to be stored for more than {PENDING_DEGRADED_SECONDS:g} s "
                f"(the oldest for {pending.oldest_wait_seconds:.0f} s)"
            )
        scheduler_failure = self.failure()
        running = self.scheduler.running and scheduler_failure is None
        if not running:
            problems.append(f"scheduler stopped: {scheduler_failure or 'not running'}")
        scheduler: dict[str, Any] = {"running": running, "jobs": len(self.scheduler.get_jobs())}
        if scheduler_failure is not None:
            scheduler["error"] = scheduler_failure
        return {
            "status": "ok" if not problems else "degraded",
            "problems": problems,
            "version": __version__,
            "database": db,
            "scheduler": scheduler,
            "runs_not_stored": pending.not_stored,
            "runs_pending": pending.pending,
            "runs_unstorable": pending.unstorable,
            "spool": {
                "path": pending.spool_path,
                "runs": pending.pending,
                "in_memory_only": pending.in_memory_only,
                "oldest_age_seconds": round(pending.oldest_wait_seconds, 3),
                "dropped": pending.dropped,
                "damaged_files": pending.damaged_files,
                "write_errors": pending.spool_write_errors,
                "error": pending.spool_error,
            },
            "scrape_errors": self.cache.errors_total,
            "started_at": self.started_at.isoformat(),
        }


def _bound(monitor: MonitorConfig) -> str:
    """The monitor's ``catch_up`` as the configuration spells it, for log lines."""
    return describe_bound(monitor.catch_up) if monitor.catch_up is not None else ""


def _ping_within(store: Store, timeout: float) -> str | None:
    """None when the results database answers a ping within ``timeout``, else why not.

    The ping runs in its own thread so that a database that accepts connections but never
    answers cannot hang ``/healthz``.
    """
    late = f"the results database {store.display_url} did not answer within {timeout:g} s"
    try:
        within(store.ping, timeout, late, name="driftmon-health-ping")
    except DatabaseUnavailableError as exc:
        return str(exc)
    return None
