"""Converting results to table rows and back, exactly (a round trip gives equal objects)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row, Select, Text, cast, select

from driftmon.core.drift import DriftScores
from driftmon.core.status import Status, Thresholds
from driftmon.results import FeatureResult, RunResult
from driftmon.storage.models import feature_results_table, monitors_table, runs_table

_STATUS = {s.value: s for s in Status}
AnyRow = Row[*tuple[Any, ...]]


def run_values(run: RunResult, monitor_id: int) -> dict[str, Any]:
    return {
        "monitor_id": monitor_id,
        "window_start": run.window_start,
        "window_end": run.window_end,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "status": Status(run.status).value,
        "live_rows": int(run.live_rows),
        "reference_rows": int(run.reference_rows),
        "error": run.error,
        "message": run.message,
        "profile_version_id": run.profile_version,
    }


def feature_values(run_id: int, position: int, f: FeatureResult) -> dict[str, Any]:
    s = f.scores
    return {
        "run_id": run_id,
        "position": position,
        "feature": f.feature,
        "status": Status(f.status).value,
        "kl_divergence": s.kl_divergence if s else None,
        "entropy": s.entropy if s else None,
        "cross_entropy": s.cross_entropy if s else None,
        "js_divergence": s.js_divergence if s else None,
        "psi": s.psi if s else None,
        "p_value": s.p_value if s else None,
        "g_statistic": s.g_statistic if s else None,
        "degrees_of_freedom": int(s.degrees_of_freedom) if s else None,
        "expected_kl": s.expected_kl if s else None,
        "score_live_rows": int(s.live_rows) if s else None,
        "score_reference_rows": int(s.reference_rows) if s else None,
        "live_rows": int(f.live_rows),
        "missing_rows": int(f.missing_rows),
        "threshold_policy": f.thresholds.policy,
        "threshold_warning": float(f.thresholds.warning),
        "threshold_critical": float(f.thresholds.critical),
        "live_counts": [int(c) for c in f.live_counts],
        "bin_labels": [str(b) for b in f.bin_labels],
        "message": f.message,
        "p_value_adjusted": f.p_value_adjusted,
    }


FEATURE_COLUMNS = (
    feature_results_table.c.run_id,
    feature_results_table.c.feature,
    feature_results_table.c.status,
    feature_results_table.c.kl_divergence,
    feature_results_table.c.entropy,
    feature_results_table.c.cross_entropy,
    feature_results_table.c.js_divergence,
    feature_results_table.c.psi,
    feature_results_table.c.g_statistic,
    feature_results_table.c.degrees_of_freedom,
    feature_results_table.c.p_value,
    feature_results_table.c.expected_kl,
    feature_results_table.c.score_live_rows,
    feature_results_table.c.score_reference_rows,
    feature_results_table.c.live_rows,
    feature_results_table.c.missing_rows,
    feature_results_table.c.threshold_policy,
    feature_results_table.c.threshold_warning,
    feature_results_table.c.threshold_critical,
    # Read as text and parsed here: psycopg's JSON loader is several times slower.
    cast(feature_results_table.c.live_counts, Text),
    cast(feature_results_table.c.bin_labels, Text),
    feature_results_table.c.message,
    feature_results_table.c.p_value_adjusted,
)

RUN_COLUMNS = (
    runs_table.c.id,
    monitors_table.c.name,
    runs_table.c.window_start,
    runs_table.c.window_end,
    runs_table.c.started_at,
    runs_table.c.finished_at,
    runs_table.c.status,
    runs_table.c.live_rows,
    runs_table.c.reference_rows,
    runs_table.c.error,
    runs_table.c.message,
    runs_table.c.profile_version_id,
)


def select_runs() -> Select[*tuple[Any, ...]]:
    """Runs with their monitor's name, in RUN_COLUMNS order."""
    return select(*RUN_COLUMNS).join(monitors_table, monitors_table.c.id == runs_table.c.monitor_id)


def select_features(run_ids: Sequence[int]) -> Select[*tuple[Any, ...]]:
    """Feature rows of the given runs, in FEATURE_COLUMNS order, each run in feature order."""
    return (
        select(*FEATURE_COLUMNS)
        .where(feature_results_table.c.run_id.in_(run_ids))
        .order_by(feature_results_table.c.run_id, feature_results_table.c.position)
    )


def _finite_guard(values: tuple[float | None, ...]) -> tuple[float, ...]:
    # SQLite stores NaN as NULL; DriftScores promises finite numbers, so this is a guard.
    return tuple(math.nan if v is None else v for v in values)


def features_by_run(rows: Sequence[AnyRow]) -> dict[int, tuple[FeatureResult, ...]]:
    """Rebuild FeatureResults from rows of ``select_features``, grouped by run id."""
    thresholds: dict[tuple[str, float, float], Thresholds] = {}
    grouped: dict[int, list[FeatureResult]] = {}
    for (
        run_id,
        feature,
        status,
        kl,
        ent,
        xent,
        js,
        psi,
        g,
        dof,
        p,
        ekl,
        s_live,
        s_ref,
        live_rows,
        missing_rows,
        policy,
        warn,
        crit,
        counts,
        labels,
        message,
        p_adjusted,
    ) in rows:
        key = (policy, warn, crit)
        th = thresholds.get(key)
        if th is None:
            th = thresholds[key] = Thresholds(warning=warn, critical=crit, policy=policy)
        scores = None
        if s_live is not None:  # scored features always have their row counts
            floats = (kl, ent, xent, js, psi, g, p, ekl)
            if None in floats:
                kl, ent, xent, js, psi, g, p, ekl = _finite_guard(floats)
            scores = DriftScores(
                kl_divergence=kl,
                entropy=ent,
                cross_entropy=xent,
                js_divergence=js,
                psi=psi,
                g_statistic=g,
                degrees_of_freedom=dof if dof is not None else 0,
                p_value=p,
                expected_kl=ekl,
                live_rows=s_live,
                reference_rows=s_ref if s_ref is not None else 0,
            )
        # One parse for both JSON arrays.
        live_counts, bin_labels = json.loads(f"[{counts},{labels}]")
        grouped.setdefault(run_id, []).append(
            FeatureResult(
                feature=feature,
                status=_STATUS[status],
                thresholds=th,
                live_rows=live_rows,
                missing_rows=missing_rows,
                scores=scores,
                live_counts=tuple(live_counts),
                bin_labels=tuple(bin_labels),
                message=message,
                p_value_adjusted=p_adjusted,
            )
        )
    return {k: tuple(v) for k, v in grouped.items()}


def run_from_row(row: AnyRow, features: Mapping[int, tuple[FeatureResult, ...]]) -> RunResult:
    """Rebuild a RunResult from a ``select_runs`` row and its features."""
    (
        run_id,
        name,
        w_start,
        w_end,
        started,
        finished,
        status,
        live,
        ref,
        error,
        message,
        version,
    ) = row
    return RunResult(
        monitor=name,
        window_start=w_start,
        window_end=w_end,
        started_at=started,
        finished_at=finished,
        status=_STATUS[status],
        live_rows=live,
        reference_rows=ref,
        features=features.get(run_id, ()),
        error=error,
        message=message,
        profile_version=version,
    )
