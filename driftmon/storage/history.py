"""Reading a monitor's history: run summaries, one feature's KL over runs, sampled trends.

Each read is bounded whatever the retention and schedule: by a ``LIMIT`` on the runs, read
newest first through the UNIQUE(monitor_id, window_end) index, and then by run ids through
the UNIQUE(run_id, feature) index of feature_results. Functions here run inside a
transaction the ``Store`` opened.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from driftmon.core.status import Status
from driftmon.history import KLPoint, RunSummary
from driftmon.storage.models import feature_results_table, monitors_table, runs_table

_DRIFTED = (Status.WARNING.value, Status.CRITICAL.value)
_STATUS = {s.value: s for s in Status}


def run_summaries(conn: Connection, monitor: str, limit: int) -> list[RunSummary]:
    """The monitor's latest ``limit`` runs, newest first, with their feature counts."""
    rows = conn.execute(
        select(
            runs_table.c.id,
            runs_table.c.window_start,
            runs_table.c.window_end,
            runs_table.c.finished_at,
            runs_table.c.status,
            runs_table.c.live_rows,
            runs_table.c.error,
            runs_table.c.message,
        )
        .join(monitors_table, monitors_table.c.id == runs_table.c.monitor_id)
        .where(monitors_table.c.name == monitor)
        .order_by(runs_table.c.window_end.desc())
        .limit(limit)
    ).all()
    if not rows:
        return []
    counts: dict[tuple[int, str], int] = {}
    status = feature_results_table.c.status
    for run_id, s, n in conn.execute(
        select(feature_results_table.c.run_id, status, func.count())
        .where(
            feature_results_table.c.run_id.in_([r.id for r in rows]),
            status.in_([*_DRIFTED, Status.ERROR.value]),
        )
        .group_by(feature_results_table.c.run_id, status)
    ):
        counts[(run_id, s)] = int(n)
    return [
        RunSummary(
            run_id=int(r.id),
            window_start=r.window_start,
            window_end=r.window_end,
            finished_at=r.finished_at,
            status=Status(r.status),
            live_rows=int(r.live_rows),
            error=r.error,
            message=r.message,
            drifted=sum(counts.get((r.id, s), 0) for s in _DRIFTED),
            failed=counts.get((r.id, Status.ERROR.value), 0),
        )
        for r in rows
    ]


def feature_history(conn: Connection, monitor: str, feature: str, limit: int) -> list[KLPoint]:
    """One feature's KL in each of the monitor's latest ``limit`` runs, oldest first; a run
    with no row for the feature (an error run) is a point without KL, in the run's status."""
    recent = (
        select(runs_table.c.id, runs_table.c.window_end, runs_table.c.status)
        .join(monitors_table, monitors_table.c.id == runs_table.c.monitor_id)
        .where(monitors_table.c.name == monitor)
        .order_by(runs_table.c.window_end.desc())
        .limit(limit)
        .subquery()
    )
    fr = feature_results_table
    rows = conn.execute(
        select(
            recent.c.id,
            recent.c.window_end,
            recent.c.status,
            fr.c.status,
            fr.c.kl_divergence,
            fr.c.threshold_warning,
            fr.c.threshold_critical,
        )
        .select_from(recent)
        .outerjoin(fr, and_(fr.c.run_id == recent.c.id, fr.c.feature == feature))
        .order_by(recent.c.window_end)
    ).all()
    return [
        KLPoint(
            run_id=int(run_id),
            window_end=end,
            status=Status(f_status if f_status is not None else run_status),
            kl=kl,
            warning=warning,
            critical=critical,
        )
        for run_id, end, run_status, f_status, kl, warning, critical in rows
    ]


def sampled_runs(conn: Connection, monitor: str, points: int, limit: int) -> list[int]:
    """Up to ``points`` run ids spread evenly over the monitor's latest ``limit`` runs,
    oldest first; the latest run is always one of them."""
    latest = conn.execute(
        select(runs_table.c.id)
        .join(monitors_table, monitors_table.c.id == runs_table.c.monitor_id)
        .where(monitors_table.c.name == monitor)
        .order_by(runs_table.c.window_end.desc())
        .limit(limit)
    ).scalars()
    ids = [int(i) for i in latest][::-1]
    if len(ids) <= points:
        return ids
    step = (len(ids) - 1) / (points - 1)  # the first and the last run are both kept
    return [ids[round(k * step)] for k in range(points)]


def kl_trends(
    conn: Connection, run_ids: Sequence[int], features: Sequence[str] | None
) -> dict[str, list[KLPoint]]:
    """Each feature's KL in the given runs (all features, or only ``features``), in the
    order of ``run_ids``; a run where a feature has no row is left out of its trend."""
    if not run_ids:
        return {}
    fr = feature_results_table
    ends = {
        run_id: end
        for run_id, end in conn.execute(
            select(runs_table.c.id, runs_table.c.window_end).where(
                runs_table.c.id.in_(list(run_ids))
            )
        )
    }
    # Only the few columns a sparkline needs; the window ends come from the runs once.
    query = select(
        fr.c.run_id,
        fr.c.feature,
        fr.c.status,
        fr.c.kl_divergence,
        fr.c.threshold_warning,
        fr.c.threshold_critical,
    ).where(fr.c.run_id.in_(list(run_ids)))
    if features is not None:
        query = query.where(fr.c.feature.in_(list(features)))
    order = {run_id: i for i, run_id in enumerate(run_ids)}
    trends: dict[str, list[KLPoint]] = {}
    for run_id, feature, status, kl, warning, critical in sorted(
        conn.execute(query), key=lambda r: order[r[0]]
    ):
        point = KLPoint(run_id, ends[run_id], _STATUS[status], kl, warning, critical)
        trends.setdefault(feature, []).append(point)
    return trends
