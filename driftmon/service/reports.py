"""What a report view needs of one monitor, read from the results store.

``driftmon report``, ``check --html`` and the daemon's pages all show a stored run with the
reference profile it is drawn against and the configured smoothing of each feature.
"""

from __future__ import annotations

from driftmon.config import MonitorConfig
from driftmon.render import MonitorReport
from driftmon.results import RunResult
from driftmon.storage import Store

NO_RUN_YET = "No stored run of this monitor yet."


def monitor_report(
    store: Store,
    monitor: MonitorConfig,
    run: RunResult | None,
    *,
    with_profile: bool = True,
    missing_reason: str = NO_RUN_YET,
) -> MonitorReport:
    """``run`` of ``monitor`` as a report view; the stored reference profile is read only
    when there is a run to draw against it (and ``with_profile``)."""
    stored = store.load_profile(monitor.name) if with_profile and run is not None else None
    return MonitorReport(
        monitor=monitor.name,
        run=run,
        profile=stored.profile if stored else None,
        smoothing={f.name: f.effective_smoothing(monitor) for f in monitor.features},
        missing_reason=None if run is not None else missing_reason,
    )
