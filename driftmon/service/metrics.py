"""Prometheus metrics built from the latest stored results, never from the data sources.

A scrape reads a cached snapshot of the results database (refreshed after each stored run
and at most every ``max_age`` seconds otherwise). When the database cannot be read the last
snapshot is served and ``driftmon_scrape_errors_total`` rises, so a database outage shows
up as an alert-able counter instead of a failed scrape.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from driftmon import __version__
from driftmon.config import Config
from driftmon.core.status import Status
from driftmon.errors import StorageError
from driftmon.results import FeatureResult, RunResult
from driftmon.service.thresholds import resolve_thresholds
from driftmon.storage import OUTCOMES, DurationHistogram, MonitorSnapshot, Store

# The drift status as a number; features with no score (insufficient data, error) have none.
STATUS_VALUE = {Status.OK: 0, Status.WARNING: 1, Status.CRITICAL: 2}
FEATURE_STATUSES = tuple(s.value for s in Status)


@dataclass
class _Cached:
    snapshots: Sequence[MonitorSnapshot]
    taken_at: float


class SnapshotCache:
    """The latest results snapshot, refreshed lazily; survives database outages.

    A refresh runs in its own thread, one at a time, and callers wait for it until
    ``refresh_timeout`` seconds after it started, however many of them wait and however
    often one calls: a results database that accepts connections but never answers cannot
    hang ``/metrics``; scrapes serve the last snapshot and one error is counted instead.
    A refresh, failed or not, is tried again after ``max_age`` seconds or once a run was
    stored (``invalidate``), so one scrape waits for at most one refresh.
    """

    def __init__(self, store: Store, max_age: float = 5.0, refresh_timeout: float = 3.0) -> None:
        self._store = store
        self._max_age = max_age
        self._refresh_timeout = refresh_timeout
        self._lock = threading.Lock()
        self._cached: _Cached | None = None
        self._generation = 0  # rises with every invalidate()
        self._tried: tuple[int, float] | None = None  # generation and start of last refresh
        self._refresh: threading.Thread | None = None
        self._refresh_deadline = 0.0
        self._timed_out: threading.Thread | None = None
        self.errors_total = 0
        self.version = 0
        """Rises whenever what a scrape would show may have changed (refresh or error)."""
        self.last_error: str | None = None
        self.last_error_at: float | None = None

    def invalidate(self) -> None:
        """Called after a run is stored so the next scrape shows it."""
        with self._lock:
            self._generation += 1

    def get(self) -> Sequence[MonitorSnapshot]:
        with self._lock:
            now = time.monotonic()
            fresh = (
                self._tried is not None
                and self._tried[0] == self._generation
                and now - self._tried[1] < self._max_age
            )
            if not fresh and (self._refresh is None or not self._refresh.is_alive()):
                self._refresh = threading.Thread(
                    target=self._do_refresh,
                    args=(self._generation,),
                    name="driftmon-snapshot",
                    daemon=True,
                )
                self._refresh_deadline = now + self._refresh_timeout
                self._refresh.start()
            refresh, deadline = self._refresh, self._refresh_deadline
        if refresh is not None and refresh.is_alive():
            # Until the refresh's own deadline: a second call in the same scrape, or a
            # scraper arriving late, does not wait another refresh_timeout for it.
            refresh.join(max(0.0, deadline - time.monotonic()))
            with self._lock:
                # Count a hung refresh once, not once per waiting scraper.
                if refresh.is_alive() and self._timed_out is not refresh:
                    self._timed_out = refresh
                    self._fail(
                        f"the results database did not answer within {self._refresh_timeout:g} s"
                    )
        with self._lock:
            return self._cached.snapshots if self._cached else ()

    def _do_refresh(self, generation: int) -> None:
        started = time.monotonic()
        try:
            snapshots = self._store.snapshot()
        except StorageError as exc:
            with self._lock:
                self._tried = (generation, started)
                self._fail(str(exc))
            return
        with self._lock:
            self._tried = (generation, started)
            self._cached = _Cached(snapshots, started)
            self.last_error = None
            self.version += 1

    def _fail(self, message: str) -> None:
        """Record a failed refresh (caller holds the lock)."""
        self.errors_total += 1
        self.version += 1
        self.last_error = message
        self.last_error_at = time.time()

    @property
    def healthy(self) -> bool:
        return self.last_error is None

    def age_seconds(self) -> float | None:
        return None if self._cached is None else time.monotonic() - self._cached.taken_at


class DriftCollector(Collector):
    """Builds fresh metric families from the cached snapshot on every ``collect()``."""

    def __init__(self, config: Config, cache: SnapshotCache) -> None:
        self._config = config
        self._cache = cache

    def describe(self) -> Iterable[Metric]:
        # Registration must not query the database: describe the families with no samples.
        return _Families().all()

    def collect(self) -> Iterable[Metric]:
        snapshots = {s.monitor: s for s in self._cache.get()}
        fam = _Families()
        fam.build_info.add_metric([__version__], 1.0)
        fam.server_info.add_metric([self._config.server.external_url or ""], 1.0)
        fam.scrape_errors.add_metric([], float(self._cache.errors_total))
        for monitor in self._config.monitors:
            snap = snapshots.get(monitor.name)
            name = monitor.name
            fam.interval.add_metric([name], monitor.schedule.interval_seconds())
            scored = snap.latest_scored_run if snap else None
            by_feature = {f.feature: f for f in scored.features} if scored else {}
            statuses = _current_feature_statuses(snap)
            drifted = {"warning": 0, "critical": 0}
            errors = 0
            for feature in monitor.features:
                result = by_feature.get(feature.name)
                thresholds = result.thresholds if result else resolve_thresholds(monitor, feature)
                labels = [name, feature.name]
                fam.threshold.add_metric([*labels, "warning"], thresholds.warning)
                fam.threshold.add_metric([*labels, "critical"], thresholds.critical)
                fam.policy.add_metric([*labels, thresholds.policy], 1.0)
                current = statuses.get(feature.name)
                if current is not None:
                    for status in FEATURE_STATUSES:
                        fam.feature_status_info.add_metric(
                            [*labels, status], float(current == status)
                        )
                    if current == Status.ERROR:
                        errors += 1
                if result is None:
                    continue
                _feature_samples(fam, labels, result)
                if result.status == Status.WARNING:
                    drifted["warning"] += 1
                elif result.status == Status.CRITICAL:
                    drifted["critical"] += 1
            for severity, n in drifted.items():
                fam.drifted.add_metric([name, severity], float(n))
            fam.feature_errors.add_metric([name], float(errors))
            _monitor_samples(fam, name, snap)
        return fam.all()


def _current_feature_statuses(snap: MonitorSnapshot | None) -> dict[str, Status]:
    """Each feature's status in the monitor's latest run that reached its features.

    That is the latest run, unless it failed before scoring any feature (a source could not
    be read): then the per-feature state is still the latest scored run's, and the failure
    shows at monitor level (``driftmon_monitor_status``, ``driftmon_monitor_runs_total``).
    A run in which every feature is in error is an error run but does reach its features,
    so they show as ``error`` rather than as the older run's ``ok``.
    """
    if snap is None:
        return {}
    latest = snap.latest_run
    run = latest if latest is not None and latest.features else snap.latest_scored_run
    return {f.feature: f.status for f in run.features} if run is not None else {}


def _feature_samples(fam: _Families, labels: list[str], result: FeatureResult) -> None:
    if result.status == Status.ERROR:
        # Its column was not read (or not to the end): a row count or a missing ratio of 0
        # would look like data that is fine.
        return
    fam.live_rows.add_metric(labels, float(result.live_rows))
    fam.missing_ratio.add_metric(labels, result.missing_ratio)
    s = result.scores
    if s is None or result.status not in STATUS_VALUE:
        return
    fam.drift_status.add_metric(labels, float(STATUS_VALUE[result.status]))
    fam.kl.add_metric(labels, s.kl_divergence)
    fam.entropy.add_metric(labels, s.entropy)
    fam.cross_entropy.add_metric(labels, s.cross_entropy)
    fam.js.add_metric(labels, s.js_divergence)
    fam.psi.add_metric(labels, s.psi)
    fam.p_value.add_metric(labels, s.p_value)
    if result.p_value_adjusted is not None:
        fam.p_value_adjusted.add_metric(labels, result.p_value_adjusted)
    fam.expected_kl.add_metric(labels, s.expected_kl)


def _monitor_samples(fam: _Families, name: str, snap: MonitorSnapshot | None) -> None:
    counts = snap.runs_by_outcome if snap is not None else dict.fromkeys(OUTCOMES, 0)
    for outcome in OUTCOMES:
        fam.runs.add_metric([name, outcome], float(counts[outcome]))
    hist = snap.duration if snap is not None else DurationHistogram.empty()
    fam.duration.add_metric(
        [name],
        [*((repr(float(b)), float(c)) for b, c in hist.buckets), ("+Inf", float(hist.count))],
        hist.sum,
    )
    if snap is None:
        return
    if snap.last_run_at is not None:
        fam.last_run.add_metric([name], snap.last_run_at.timestamp())
    if snap.last_success_at is not None:
        fam.last_success.add_metric([name], snap.last_success_at.timestamp())
    if snap.first_seen_at is not None:
        fam.first_seen.add_metric([name], snap.first_seen_at.timestamp())
    latest: RunResult | None = snap.latest_run
    if latest is not None:
        for status in (s.value for s in Status):
            fam.run_status_info.add_metric([name, status], float(latest.status == status))


class _Families:
    """The metric families of one scrape, created empty, filled by the collector."""

    def __init__(self) -> None:
        f = ["monitor", "feature"]
        m = ["monitor"]
        self.kl = GaugeMetricFamily(
            "driftmon_feature_kl_divergence",
            "KL(live||reference) of the feature's latest scored window, in nats.",
            labels=f,
        )
        self.entropy = GaugeMetricFamily(
            "driftmon_feature_entropy", "Entropy H(P) of the live histogram, in nats.", labels=f
        )
        self.cross_entropy = GaugeMetricFamily(
            "driftmon_feature_cross_entropy",
            "Cross-entropy H(P,Q) of live against reference, in nats.",
            labels=f,
        )
        self.js = GaugeMetricFamily(
            "driftmon_feature_js_divergence",
            "Jensen-Shannon divergence of live and reference, in nats.",
            labels=f,
        )
        self.psi = GaugeMetricFamily(
            "driftmon_feature_psi",
            "Population stability index of live against reference.",
            labels=f,
        )
        self.p_value = GaugeMetricFamily(
            "driftmon_feature_p_value",
            "G-test p-value of live against reference (Williams-corrected; the one that "
            "decides under the significance policy; small means real drift).",
            labels=f,
        )
        self.p_value_adjusted = GaugeMetricFamily(
            "driftmon_feature_p_value_adjusted",
            "The p-value after the run's Bonferroni or Benjamini-Hochberg adjustment "
            "(significance policy with a correction only).",
            labels=f,
        )
        self.expected_kl = GaugeMetricFamily(
            "driftmon_feature_expected_kl",
            "KL expected with no drift at this window size (the plug-in bias), in nats.",
            labels=f,
        )
        self.threshold = GaugeMetricFamily(
            "driftmon_feature_kl_threshold",
            "KL threshold in nats applied to the feature, per severity.",
            labels=[*f, "severity"],
        )
        self.policy = GaugeMetricFamily(
            "driftmon_feature_threshold_policy_info",
            "The threshold policy applied to the feature (value always 1).",
            labels=[*f, "policy"],
        )
        self.drift_status = GaugeMetricFamily(
            "driftmon_feature_drift_status",
            "Drift status of the latest scored window: 0 ok, 1 warning, 2 critical.",
            labels=f,
        )
        self.feature_status_info = GaugeMetricFamily(
            "driftmon_feature_status",
            "1 for the feature's status (ok, warning, critical, insufficient_data, error) in "
            "the monitor's latest run that reached its features, 0 for the others.",
            labels=[*f, "status"],
        )
        self.feature_errors = GaugeMetricFamily(
            "driftmon_monitor_feature_errors",
            "Features of the monitor that could not be scored (status error) in its latest "
            "run that reached its features.",
            labels=m,
        )
        self.live_rows = GaugeMetricFamily(
            "driftmon_feature_live_rows", "Rows in the feature's latest live window.", labels=f
        )
        self.missing_ratio = GaugeMetricFamily(
            "driftmon_feature_missing_ratio",
            "Fraction of the latest live window's rows with the feature missing.",
            labels=f,
        )
        self.last_run = GaugeMetricFamily(
            "driftmon_monitor_last_run_timestamp_seconds",
            "Unix time at which the monitor's latest run finished, whatever its outcome.",
            labels=m,
        )
        self.last_success = GaugeMetricFamily(
            "driftmon_monitor_last_success_timestamp_seconds",
            "Unix time at which the monitor's latest run that scored drift (outcome success "
            "or partial) finished.",
            labels=m,
        )
        self.first_seen = GaugeMetricFamily(
            "driftmon_monitor_first_seen_timestamp_seconds",
            "Unix time at which the results database first recorded the monitor (its first "
            "run or reference profile).",
            labels=m,
        )
        self.runs = CounterMetricFamily(
            "driftmon_monitor_runs",
            "Runs of the monitor by outcome: success (every feature scored or short of data), "
            "partial (scored, but some feature in error), failure, insufficient_data.",
            labels=[*m, "outcome"],
        )
        self.duration = HistogramMetricFamily(
            "driftmon_monitor_run_duration_seconds",
            "Wall time of the monitor's runs, in seconds.",
            labels=m,
        )
        self.drifted = GaugeMetricFamily(
            "driftmon_monitor_drifted_features",
            "Features of the monitor whose latest status is at the given severity.",
            labels=[*m, "severity"],
        )
        self.run_status_info = GaugeMetricFamily(
            "driftmon_monitor_status",
            "1 for the status of the monitor's latest run, 0 for the others.",
            labels=[*m, "status"],
        )
        self.interval = GaugeMetricFamily(
            "driftmon_monitor_schedule_interval_seconds",
            "Seconds between the monitor's scheduled runs.",
            labels=m,
        )
        self.scrape_errors = CounterMetricFamily(
            "driftmon_scrape_errors",
            "Scrapes that could not read the results database and served the last snapshot.",
        )
        self.build_info = GaugeMetricFamily(
            "driftmon_build_info",
            "driftmon build information (value always 1).",
            labels=["version"],
        )

        self.server_info = GaugeMetricFamily(
            "driftmon_server_info",
            "Where people reach this daemon's pages: server.external_url, empty when not set "
            "(value always 1; the alert rules build their page links from it).",
            labels=["external_url"],
        )

    def all(self) -> list[Metric]:
        return [v for v in vars(self).values() if isinstance(v, Metric)]
