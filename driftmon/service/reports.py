"""What a report view needs of one monitor, read from the results store.

``driftmon report``, ``check --html`` and the daemon's pages all show a stored run with the
reference profile it is drawn against and the configured smoothing of each feature.
"""

from __future__ import annotations

from driftmon.config import MonitorConfig
from driftmon.core.profile import ReferenceProfile
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
    """``run`` of ``monitor`` as a report view, drawn against the reference profile version
    it was scored on; that profile is read only when there is a run to draw (and
    ``with_profile``)."""
    profile, note = (None, None)
    if with_profile and run is not None:
        profile, note = run_profile(store, monitor.name, run)
    return MonitorReport(
        monitor=monitor.name,
        run=run,
        profile=profile,
        profile_note=note,
        smoothing={f.name: f.effective_smoothing(monitor) for f in monitor.features},
        missing_reason=None if run is not None else missing_reason,
    )


def run_profile(
    store: Store, monitor: str, run: RunResult
) -> tuple[ReferenceProfile | None, str | None]:
    """The reference profile ``run`` was scored on; when that version is not stored (a run
    from before versions were kept, or one whose version was pruned), the current profile
    and a note saying so."""
    if run.profile_version is not None:
        own = store.load_profile_version(monitor, run.profile_version)
        if own is not None:
            return own.profile, None
    current = store.load_profile(monitor)
    if current is None:
        return None, None
    return current.profile, (
        "The reference profile this run was scored on is not stored (the run predates "
        "profile versions, or its version was pruned): the reference bars show the current "
        "profile."
    )
