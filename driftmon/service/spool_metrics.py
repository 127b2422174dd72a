"""Prometheus metrics of the spool: runs waiting to be stored, their age, what was lost.

These describe this process (its spool folder), not the results database, so they are
read on every scrape from ``PendingRuns.state()``, like the ``process_*`` metrics.
"""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from driftmon.service.pending import DROP_REASONS, PendingState


def spool_families(state: PendingState | None) -> list[Metric]:
    """The spool's metric families, with samples from ``state`` (none when None)."""
    runs = GaugeMetricFamily(
        "driftmon_spool_runs",
        "Runs computed but not stored yet, kept in the spool (in memory without one) until "
        "the results database takes them.",
    )
    oldest = GaugeMetricFamily(
        "driftmon_spool_oldest_run_age_seconds",
        "How long the oldest run not stored yet has waited (0 when none waits).",
    )
    dropped = CounterMetricFamily(
        "driftmon_spool_dropped_runs",
        "Runs dropped from the spool unstored since start: reason full (beyond max_runs, "
        "oldest window first) or expired (window older than max_age).",
        labels=["reason"],
    )
    damaged = CounterMetricFamily(
        "driftmon_spool_damaged_files",
        "Spool files that could not be read back since start (set aside in damaged/).",
    )
    write_errors = CounterMetricFamily(
        "driftmon_spool_write_errors",
        "Runs the spool could not take since start (kept in memory only instead).",
    )
    if state is not None:
        runs.add_metric([], float(state.pending))
        oldest.add_metric([], state.oldest_wait_seconds)
        for reason in DROP_REASONS:
            dropped.add_metric([reason], float(state.dropped[reason]))
        damaged.add_metric([], float(state.damaged_files))
        write_errors.add_metric([], float(state.spool_write_errors))
    return [runs, oldest, dropped, damaged, write_errors]
