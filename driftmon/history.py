"""A monitor's stored runs over time, summarised: what the pages draw history from.

Plain records read by ``driftmon.storage`` and drawn by ``driftmon.render``, so neither
knows the other: a run without its bins (``RunSummary``), one feature's KL in one run
(``KLPoint``), and the health counters of a monitor (``RunHealth``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from driftmon.core.status import Status

HISTORY_RUNS = 5000
"""The most recent runs a history reads (a year of hourly runs is 8,760: charts then show
the last 5,000; a page's cost stays bounded whatever the schedule and retention)."""


@dataclass(frozen=True)
class RunSummary:
    """One stored run of a monitor, without its features' bins."""

    run_id: int
    window_start: datetime | None
    window_end: datetime
    finished_at: datetime
    status: Status
    live_rows: int
    error: str | None = None
    message: str | None = None
    drifted: int = 0
    """Features at warning or critical."""
    failed: int = 0
    """Features in error (could not be scored)."""


@dataclass(frozen=True)
class KLPoint:
    """One feature in one run: its KL (None: not scored) and the thresholds it was judged by."""

    run_id: int
    window_end: datetime
    status: Status
    """The feature's status; the run's (``error``) when the run has no row for the feature."""
    kl: float | None
    warning: float | None
    critical: float | None


@dataclass(frozen=True)
class RunHealth:
    """How a monitor's runs have gone since it was first stored (pruning keeps these)."""

    runs_success: int
    runs_partial: int
    runs_failure: int
    runs_insufficient_data: int
    last_run_at: datetime | None
    last_success_at: datetime | None

    @property
    def runs_total(self) -> int:
        return (
            self.runs_success + self.runs_partial + self.runs_failure + self.runs_insufficient_data
        )
