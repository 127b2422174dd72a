"""What the store hands back for metrics: per-monitor snapshots, counters and profiles.

A snapshot is everything a Prometheus scrape needs, read in a few queries; the counters
and the duration histogram live in their own table, so they survive restarts and pruning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from driftmon.core.profile import ReferenceProfile
from driftmon.core.status import Status
from driftmon.results import RunResult

Outcome = Literal["success", "partial", "failure", "insufficient_data"]
OUTCOMES: tuple[Outcome, ...] = ("success", "partial", "failure", "insufficient_data")
# Outcomes of a run that scored drift: they move ``last_success_at``.
SCORED_OUTCOMES: frozenset[Outcome] = frozenset({"success", "partial"})

# Upper bounds (seconds) of the run-duration histogram buckets; +Inf is implied.
DURATION_BUCKETS: tuple[float, ...] = (
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
)

_OUTCOME_OF: dict[Status, Outcome] = {
    Status.OK: "success",
    Status.WARNING: "success",
    Status.CRITICAL: "success",
    Status.INSUFFICIENT_DATA: "insufficient_data",
    Status.ERROR: "failure",
}


def outcome_of(status: Status, feature_statuses: Iterable[Status] = ()) -> Outcome:
    """The ``outcome`` label of ``driftmon_monitor_runs_total`` for a run.

    A run that scored drift (ok, warning or critical) while some of its features could not
    be scored (``error``) is ``partial``, not ``success``: a broken feature must not hide
    behind the others.
    """
    outcome = _OUTCOME_OF[Status(status)]
    if outcome == "success" and Status.ERROR in {Status(s) for s in feature_statuses}:
        return "partial"
    return outcome


@dataclass(frozen=True)
class DurationHistogram:
    """Run durations of one monitor, Prometheus-style.

    ``buckets`` pairs each bound of ``DURATION_BUCKETS`` with the cumulative number of
    runs that took at most that long; the +Inf bucket is ``count``.
    """

    buckets: tuple[tuple[float, int], ...]
    sum: float
    count: int

    @classmethod
    def empty(cls) -> DurationHistogram:
        return cls(tuple((b, 0) for b in DURATION_BUCKETS), 0.0, 0)


@dataclass(frozen=True)
class MonitorSnapshot:
    """The latest stored state of one monitor: what ``/metrics`` publishes."""

    monitor: str
    latest_run: RunResult | None
    """Latest run by window end, whatever its status."""
    latest_scored_run: RunResult | None
    """Latest run whose status is not ``error``: the source of per-feature gauges."""
    last_run_at: datetime | None
    """Latest ``finished_at`` of any saved run (UTC)."""
    last_success_at: datetime | None
    """Latest ``finished_at`` of a run that scored drift (outcome ``success`` or ``partial``)."""
    first_seen_at: datetime | None
    """When the results database first recorded the monitor (its first run or profile)."""
    runs_success: int
    runs_partial: int
    runs_failure: int
    runs_insufficient_data: int
    duration: DurationHistogram

    @property
    def runs_by_outcome(self) -> dict[Outcome, int]:
        """Counter values keyed by the ``outcome`` label."""
        return {
            "success": self.runs_success,
            "partial": self.runs_partial,
            "failure": self.runs_failure,
            "insufficient_data": self.runs_insufficient_data,
        }


@dataclass(frozen=True)
class StoredProfile:
    """A reference profile version of a monitor and the fingerprint of the data it came from."""

    fingerprint: str
    created_at: datetime
    profile: ReferenceProfile
    version: int
    """Its id in reference_profile_versions: what a run scored on it records."""
