"""Scoring live batches against a reference profile: what a run computes once rows arrive.

The runner (for the daemon and ``driftmon check``) and the Python API (``driftmon.compare``,
``driftmon.Profile``) both count live batches with ``LiveTally`` and decide statuses with
``evaluate``, so the same data gives the same numbers whichever way it comes in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import pyarrow as pa

from driftmon.config.models import FeatureConfig, ScoringScope
from driftmon.core.columns import column_cost, holds_gil
from driftmon.core.drift import score_all
from driftmon.core.histogram import ColumnTypeError, Histogram
from driftmon.core.kinds import ColumnKind, kind_of
from driftmon.core.parallel import ColumnPool
from driftmon.core.profile import FeatureProfile, ReferenceProfile
from driftmon.core.status import Status, worst
from driftmon.core.thresholds import (
    CalibratedPolicy,
    Calibration,
    PolicyInput,
    StaticPolicy,
    ThresholdPolicy,
    decide,
)
from driftmon.errors import ColumnError
from driftmon.results import FeatureResult
from driftmon.secrets import scrub
from driftmon.service.thresholds import (
    ensure_calibration,
    policy_for,
    stored_calibrations,
    unscored_thresholds,
)
from driftmon.sources.base import column_list


def column_not_found(column: str, role: str, described: str, available: Sequence[str]) -> str:
    """Why a feature has no column in a source (``described``: the source's ``describe()``)."""
    return (
        f"column {column!r} not found in {role} source {described}; it has {column_list(available)}"
    )


def batch_column(batch: pa.RecordBatch, feature: FeatureConfig) -> pa.Array:
    """The feature's column of ``batch``; ColumnError when a batch lacks it."""
    idx = batch.schema.get_field_index(feature.source_column)
    if idx < 0:
        raise ColumnError(f"column {feature.source_column!r} missing from a batch")
    return batch.column(idx)


class LiveTally:
    """Histograms of a live window on the profile's bins, built batch by batch.

    Features whose column the source lacks, or that the profile could not fit, are errors
    from the start; a feature whose live values cannot be binned (text in a numeric column,
    a kind without a lossless mapping) becomes an error and is no longer counted.
    """

    def __init__(
        self,
        scope: ScoringScope,
        profile: ReferenceProfile,
        available: Sequence[str],
        described: str,
        pool: ColumnPool | None = None,
    ) -> None:
        self.pool = pool or ColumnPool(1)
        """Threads counting a batch's columns (``driftmon.core.parallel``), where they pay."""
        self.errors: dict[str, str] = dict(profile.metadata.get("feature_errors", {}))
        present = set(available)
        by_feature = {f.name: f for f in profile.features}
        self.counting: dict[str, tuple[FeatureConfig, FeatureProfile]] = {}
        for feature in scope.features:
            col = feature.source_column
            if feature.name in self.errors:
                continue
            if col not in present:
                self.errors[feature.name] = column_not_found(col, "live", described, available)
            elif feature.name not in by_feature:
                self.errors[feature.name] = "no reference profile for this feature"
            else:
                self.counting[feature.name] = (feature, by_feature[feature.name])
        self.histograms = {
            name: Histogram.empty(fp.bins.n_bins) for name, (_, fp) in self.counting.items()
        }
        self.kinds: dict[str, set[ColumnKind]] = {name: set() for name in self.counting}
        self.rows = 0

    @property
    def columns(self) -> list[str]:
        """The source columns still to read."""
        return sorted({f.source_column for f, _ in self.counting.values()})

    def add(self, batch: pa.RecordBatch) -> None:
        """Count one batch of the live window (its columns on the pool's threads)."""
        self.rows += batch.num_rows
        names = list(self.counting)
        entries = [self.counting[name] for name in names]
        holds = None  # a batch the pool counts in this thread needs no flags
        if self.pool.pays(len(entries), batch.num_rows):
            holds = [holds_gil(fp.bins, batch_column(batch, f)) for f, fp in entries]
        counted = self.pool.map(
            partial(_count_live, batch),
            entries,
            batch.num_rows,
            [column_cost(fp.bins) for _, fp in entries],
            holds,
        )
        for name, (kind, hist, exc) in zip(names, counted, strict=True):
            if kind is not None:
                self.kinds[name].add(kind)
            if exc is not None:  # as for the reference
                feature = self.counting.pop(name)[0]
                self.errors[name] = f"column {feature.source_column!r} in live data: {exc}"
            elif hist is not None:
                self.histograms[name] = self.histograms[name] + hist

    def notes(self) -> dict[str, str]:
        """For scored features whose live kind differs from the reference's: what changed."""
        return {
            name: note
            for name, (_, fp) in self.counting.items()
            if (note := fp.kind_note(self.kinds[name])) is not None
        }


def _count_live(
    batch: pa.RecordBatch, counting: tuple[FeatureConfig, FeatureProfile]
) -> tuple[ColumnKind | None, Histogram | None, Exception | None]:
    """One feature's column of a live batch: its kind, its histogram or why not (run on a
    counting thread; a missing column raises, as it stops the run)."""
    feature, fp = counting
    column = batch_column(batch, feature)
    kind = kind_of(column)
    try:
        return kind, fp.live_histogram(column), None
    except (ColumnTypeError, ValueError) as exc:
        return kind, None, exc


_Scorable = tuple[FeatureConfig, FeatureProfile, Histogram, ThresholdPolicy, FeatureResult]
"""A feature with enough live rows, waiting for its scores: config, profile, live
histogram, threshold policy and its result so far."""


@dataclass(frozen=True)
class Evaluation:
    """A run's feature results, and the calibrations when some had to be (re)computed."""

    features: tuple[FeatureResult, ...]
    calibrations: dict[str, Calibration] | None


def evaluate(
    scope: ScoringScope,
    profile: ReferenceProfile,
    hists: dict[str, Histogram],
    errors: dict[str, str],
    rows: int,
    min_rows: int,
) -> Evaluation:
    """Score every feature, then apply the threshold policies to the run as a whole.

    Policies see all features of the run at once, so multiple-testing corrections
    (Bonferroni, Benjamini–Hochberg) span the run. Calibrations (``policy: calibrated``)
    are read from the profile's metadata and returned when they changed.
    """
    by_feature = {f.name: f for f in profile.features}
    enough = rows >= min_rows
    calibrations = stored_calibrations(profile.metadata)
    recalibrated = False
    results: dict[str, FeatureResult] = {}
    pending: list[tuple[FeatureConfig, FeatureResult, PolicyInput]] = []
    scorable: list[_Scorable] = []
    for feature in scope.features:
        fp, hist = by_feature.get(feature.name), hists.get(feature.name)
        policy = policy_for(scope, feature)
        unscored = unscored_thresholds(policy)
        if feature.name in errors or fp is None or hist is None:
            message = errors.get(feature.name, "feature could not be computed")
            results[feature.name] = FeatureResult(
                feature=feature.name,
                status=Status.ERROR,
                thresholds=unscored,
                live_rows=rows,
                message=scrub(message),
            )
            continue
        base = FeatureResult(
            feature=feature.name,
            status=Status.INSUFFICIENT_DATA,
            thresholds=unscored,
            live_rows=rows,
            missing_rows=int(hist.counts[fp.bins.missing_index]),
            live_counts=tuple(hist.counts.tolist()),
            bin_labels=fp.bins.label_tuple,
        )
        if not enough:
            results[feature.name] = replace(
                base, message=f"{rows} live rows, fewer than min_rows={min_rows}"
            )
            continue
        scorable.append((feature, fp, hist, policy, base))
    # Every feature of the run in one call: per-feature NumPy calls were most of a run's CPU.
    all_scores = score_all(
        [(hist, fp.reference, f.effective_smoothing(scope)) for f, fp, hist, _, _ in scorable],
        reference_is_sample=scope.reference_is_sample,
    )
    for (feature, fp, hist, policy, base), scores in zip(scorable, all_scores, strict=True):
        if scores is None:
            reason = "no live rows" if hist.total == 0 else "no reference rows for this feature"
            results[feature.name] = replace(base, message=reason)
            continue
        calibration = None
        if isinstance(policy, CalibratedPolicy):
            try:
                calibration, fresh = ensure_calibration(
                    calibrations.get(feature.name), scope, feature, fp, policy, rows
                )
            except ValueError as exc:
                results[feature.name] = replace(
                    base,
                    status=Status.ERROR,
                    message=f"configuration error: feature {feature.name!r}: {exc}",
                )
                continue
            calibrations[feature.name] = calibration
            recalibrated = recalibrated or fresh
        pending.append(
            (
                feature,
                replace(base, scores=scores),
                PolicyInput(feature.name, policy, scores, calibration, scope.reference_is_sample),
            )
        )
    decisions = decide([p for _, _, p in pending])
    for (feature, result, policy_input), decision in zip(pending, decisions, strict=True):
        static = isinstance(policy_input.policy, StaticPolicy)
        scores = result.scores
        if scores is not None and decision.p_value is not None:
            # Export the p-value that decided the status (a minimum-effect test's own).
            scores = replace(scores, p_value=decision.p_value)
        results[feature.name] = replace(
            result,
            status=decision.status,
            thresholds=decision.thresholds or result.thresholds,
            scores=scores if decision.status != Status.INSUFFICIENT_DATA else None,
            message=None if static else decision.detail,
            p_value_adjusted=decision.p_value_adjusted,
        )
    features = tuple(results[f.name] for f in scope.features)
    return Evaluation(features, calibrations if recalibrated else None)


def run_status(features: Sequence[FeatureResult], rows: int, min_rows: int) -> Status:
    """A run's status: insufficient data below ``min_rows`` live rows, else the worst."""
    if rows < min_rows:
        return Status.INSUFFICIENT_DATA
    return worst([f.status for f in features])


def noted(result: FeatureResult, note: str | None) -> FeatureResult:
    """``result`` with ``note`` leading its message."""
    if note is None:
        return result
    message = note if result.message is None else f"{note}; {result.message}"
    return replace(result, message=message)


def calibrations_metadata(calibrations: dict[str, Calibration]) -> dict[str, Any]:
    """Calibrations as stored in a profile's metadata."""
    return {k: c.to_dict() for k, c in calibrations.items()}
