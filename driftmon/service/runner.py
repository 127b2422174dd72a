"""Running one monitor over one window: the one place where I/O meets the maths.

The scheduler calls ``run_monitor``, ``driftmon check`` calls it, tests call it with an
in-memory store and files in a temporary folder. It reads the reference profile (building
it when missing or stale), streams the live window in batches (or takes its counts from a
source that computes them where the data lives, ``HistogramSource``), scores every feature
and stores the whole run in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from driftmon.clock import as_utc, utcnow
from driftmon.config import Config, FeatureConfig, MonitorConfig
from driftmon.core.drift import score
from driftmon.core.histogram import ColumnTypeError, Histogram
from driftmon.core.kinds import ColumnKind, kind_of
from driftmon.core.profile import PROFILE_FORMAT, FeatureProfile, ReferenceProfile
from driftmon.core.reference_fit import FeatureFit
from driftmon.core.status import Status, worst
from driftmon.core.thresholds import CalibratedPolicy, PolicyInput, StaticPolicy, decide
from driftmon.errors import ColumnError, DriftmonError, SourceError
from driftmon.results import FeatureResult, RunResult
from driftmon.secrets import scrub
from driftmon.service.empty_windows import explain_empty_window
from driftmon.service.thresholds import (
    CALIBRATIONS_KEY,
    ensure_calibration,
    policy_for,
    stored_calibrations,
    unscored_thresholds,
)
from driftmon.sources.base import HistogramSource, Source, Window, closing_source, column_list
from driftmon.sources.factory import source_from_config
from driftmon.sources.pushdown import PushedCounts, PushedFeature
from driftmon.storage import Store

Progress = Callable[[str, int], None]
"""Called as ``progress(stage, rows_so_far)`` while a source is read; stage is a short label."""

SourceFactory = Callable[[Any, MonitorConfig], Source]


def _no_progress(stage: str, rows: int) -> None:
    return None


def default_source_factory(source_cfg: Any, monitor: MonitorConfig) -> Source:
    return source_from_config(source_cfg, monitor)


@dataclass
class MonitorRunner:
    """Runs monitors of one configuration against one results store."""

    config: Config
    store: Store
    source_factory: SourceFactory = default_source_factory
    progress: Progress = _no_progress
    _profiles: dict[str, tuple[str, ReferenceProfile]] = field(default_factory=dict)
    _checked: dict[str, tuple[str, float]] = field(default_factory=dict)
    """Per monitor: its reference settings and when (``time.monotonic``) the reference's
    fingerprint was last read, for ``refresh``."""
    abandon: threading.Event = field(default_factory=threading.Event)
    """Set at shutdown: runs in progress stop at their next batch, storing nothing."""

    # -- reference -------------------------------------------------------------------------

    def reference_profile(
        self, monitor: MonitorConfig, *, rebuild: bool = False
    ) -> ReferenceProfile:
        """The monitor's stored profile, rebuilt when asked, missing or stale (other data,
        other binning, or an older format that lacks the column kinds). A reference with
        ``refresh`` reuses the profile in memory without reading its fingerprint (a count
        over the table) until ``refresh`` has passed since it was last read."""
        settings = _profile_fingerprint(repr(monitor.reference), monitor)
        refresh = getattr(monitor.reference, "refresh", None)
        cached = self._profiles.get(monitor.name)
        checked = self._checked.get(monitor.name)
        if (
            not rebuild
            and refresh is not None
            and cached is not None
            and checked is not None
            and checked[0] == settings
            and time.monotonic() - checked[1] < refresh.total_seconds()
        ):
            return cached[1]
        with _opened(self.source_factory, monitor.reference, monitor) as source:
            fingerprint = _profile_fingerprint(source.fingerprint(), monitor)
            self._checked[monitor.name] = (settings, time.monotonic())
            if not rebuild:
                cached = self._profiles.get(monitor.name)
                if cached and cached[0] == fingerprint:
                    return cached[1]
                stored = self.store.load_profile(monitor.name)
                if (
                    stored is not None
                    and stored.fingerprint == fingerprint
                    and stored.profile.format == PROFILE_FORMAT
                ):
                    self._profiles[monitor.name] = (fingerprint, stored.profile)
                    return stored.profile
            profile = build_reference_profile(monitor, source, self.progress, self.abandon)
            self.store.save_profile(monitor.name, fingerprint, profile)
            self._profiles[monitor.name] = (fingerprint, profile)
            return profile

    # -- one run ---------------------------------------------------------------------------

    def run(self, monitor: MonitorConfig, window_end: datetime | None = None) -> RunResult:
        """Score one window of ``monitor`` and store it; source failures are stored as errors.

        Storage failures propagate (there is nowhere to record them); the caller logs them
        and the next schedule tries again.
        """
        result = self.score(monitor, window_end)
        self.store.save_run(result)
        return result

    def score(self, monitor: MonitorConfig, window_end: datetime | None = None) -> RunResult:
        """Score one window without storing the run (the daemon stores it, or keeps it
        pending while the results database is away). Source and storage failures become an
        error result; ``RunAbandoned`` propagates when ``abandon`` is set mid-run."""
        started = utcnow()
        t0 = time.monotonic()
        end = as_utc(window_end) if window_end is not None else started
        live_cfg = monitor.live
        window = Window(end - live_cfg.window, end) if live_cfg.window is not None else None
        profile: ReferenceProfile | None = None
        try:
            profile = self.reference_profile(monitor)
            result = self._score_window(monitor, profile, window, end, started, t0)
        except DriftmonError as exc:
            result = RunResult(
                monitor=monitor.name,
                window_start=window.start if window else None,
                window_end=end,
                started_at=started,
                finished_at=started + _elapsed(t0),
                status=Status.ERROR,
                # The reference may have been read before the live source failed.
                reference_rows=profile.rows if profile is not None else 0,
                error=scrub(str(exc)),
            )
        return result

    def _score_window(
        self,
        monitor: MonitorConfig,
        profile: ReferenceProfile,
        window: Window | None,
        end: datetime,
        started: datetime,
        t0: float,
    ) -> RunResult:
        with _opened(self.source_factory, monitor.live, monitor) as source:
            errors: dict[str, str] = dict(profile.metadata.get("feature_errors", {}))
            available = list(source.columns())
            present = set(available)
            by_feature = {f.name: f for f in profile.features}
            counting: dict[str, tuple[FeatureConfig, FeatureProfile]] = {}
            for feature in monitor.features:
                col = feature.source_column
                if feature.name in errors:
                    continue
                if col not in present:
                    errors[feature.name] = _column_not_found(col, "live", source, available)
                elif feature.name not in by_feature:
                    errors[feature.name] = "no reference profile for this feature"
                else:
                    counting[feature.name] = (feature, by_feature[feature.name])

            hists = {name: Histogram.empty(fp.bins.n_bins) for name, (_, fp) in counting.items()}
            live_kinds: dict[str, set[ColumnKind]] = {name: set() for name in counting}
            rows = 0
            deadline = _deadline(monitor)
            columns = sorted({f.source_column for f, _ in counting.values()})
            pushed = _pushed_histograms(source, counting, window)
            if pushed is not None:
                _check_deadline(deadline, monitor, source, self.abandon)
                hists.update(pushed.histograms)
                live_kinds.update(pushed.kinds)
                rows = pushed.rows
            for batch in source.batches(columns, window) if pushed is None else ():
                _check_deadline(deadline, monitor, source, self.abandon)
                rows += batch.num_rows
                for name in list(counting):
                    feature, fp = counting[name]
                    column = _column(batch, feature)
                    if (kind := kind_of(column)) is not None:
                        live_kinds[name].add(kind)
                    try:
                        hists[name] = hists[name] + fp.live_histogram(column)
                    except (ColumnTypeError, ValueError) as exc:  # as for the reference
                        errors[name] = f"column {feature.source_column!r} in live data: {exc}"
                        del counting[name]
                self.progress(f"{monitor.name}: live", rows)
            message = None
            if window is not None and rows == 0 and monitor.live.timestamp_column is not None:
                message = explain_empty_window(source, window, monitor.live.timestamp_column)
            # Scored features whose live kind differs from the reference's say so.
            notes = {
                name: note
                for name, (_, fp) in counting.items()
                if (note := fp.kind_note(live_kinds[name])) is not None
            }

        features = self._evaluate(monitor, profile, hists, errors, rows)
        features = tuple(_noted(f, notes.get(f.feature)) for f in features)
        if rows < monitor.live.min_rows:
            status = Status.INSUFFICIENT_DATA
        else:
            status = worst([f.status for f in features])
        return RunResult(
            monitor=monitor.name,
            window_start=window.start if window else None,
            window_end=end,
            started_at=started,
            finished_at=started + _elapsed(t0),
            status=status,
            live_rows=rows,
            reference_rows=profile.rows,
            features=features,
            message=scrub(message) if message else None,
        )

    def _evaluate(
        self,
        monitor: MonitorConfig,
        profile: ReferenceProfile,
        hists: dict[str, Histogram],
        errors: dict[str, str],
        rows: int,
    ) -> tuple[FeatureResult, ...]:
        """Score every feature, then apply the threshold policies to the run as a whole.

        Policies see all features of the run at once, so multiple-testing corrections
        (Bonferroni, Benjamini–Hochberg) span the run.
        """
        by_feature = {f.name: f for f in profile.features}
        enough = rows >= monitor.live.min_rows
        calibrations = stored_calibrations(profile.metadata)
        recalibrated = False
        results: dict[str, FeatureResult] = {}
        pending: list[tuple[FeatureConfig, FeatureResult, PolicyInput]] = []
        for feature in monitor.features:
            fp, hist = by_feature.get(feature.name), hists.get(feature.name)
            policy = policy_for(monitor, feature)
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
                live_counts=tuple(int(c) for c in hist.counts),
                bin_labels=tuple(fp.bins.labels()),
            )
            if not enough:
                results[feature.name] = replace(
                    base, message=f"{rows} live rows, fewer than min_rows={monitor.live.min_rows}"
                )
                continue
            scores = score(
                hist,
                fp.reference,
                smoothing=feature.effective_smoothing(monitor),
                reference_is_sample=monitor.reference_is_sample,
            )
            if scores is None:
                reason = "no live rows" if hist.total == 0 else "no reference rows for this feature"
                results[feature.name] = replace(base, message=reason)
                continue
            calibration = None
            if isinstance(policy, CalibratedPolicy):
                try:
                    calibration, fresh = ensure_calibration(
                        calibrations.get(feature.name), monitor, feature, fp, policy, rows
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
                    PolicyInput(
                        feature.name, policy, scores, calibration, monitor.reference_is_sample
                    ),
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
        if recalibrated:
            self._store_calibrations(monitor, profile, calibrations)
        return tuple(results[f.name] for f in monitor.features)

    def _store_calibrations(
        self, monitor: MonitorConfig, profile: ReferenceProfile, calibrations: dict[str, Any]
    ) -> None:
        """Keep calibrations with the reference profile, so they are computed once."""
        metadata = dict(profile.metadata)
        metadata[CALIBRATIONS_KEY] = {k: c.to_dict() for k, c in calibrations.items()}
        updated = replace(profile, metadata=metadata)
        fingerprint = self._profiles[monitor.name][0]
        self.store.save_profile(monitor.name, fingerprint, updated)
        self._profiles[monitor.name] = (fingerprint, updated)


def build_reference_profile(
    monitor: MonitorConfig,
    source: Source,
    progress: Progress = _no_progress,
    abandon: threading.Event | None = None,
) -> ReferenceProfile:
    """Fit every feature in passes over the reference; a bad feature is recorded, not fatal.

    Memory is bounded by the batch and the bin layouts, never a whole column
    (``driftmon.core.reference_fit``): categorical features and explicit edges take one
    pass, uniform edges two, quantile edges usually four or five (``driftmon.core.selection``).
    """
    available = list(source.columns())
    present = set(available)
    errors: dict[str, str] = {}
    fits: dict[str, tuple[FeatureConfig, FeatureFit]] = {}
    for feature in monitor.features:
        if feature.source_column in present:
            fits[feature.name] = (feature, FeatureFit(feature.feature_spec()))
        else:
            errors[feature.name] = _column_not_found(
                feature.source_column, "reference", source, available
            )
    if isinstance(source, HistogramSource):
        built = source.reference_profile(
            [(f.source_column, f.feature_spec()) for f, _ in fits.values()]
        )
        if built is not None:
            for feature, _ in fits.values():
                if feature.name in built.errors:
                    errors[feature.name] = (
                        f"column {feature.source_column!r} in reference data: "
                        f"{built.errors[feature.name]}"
                    )
            return ReferenceProfile(
                features=tuple(built.profiles),
                rows=built.rows,
                metadata={"feature_errors": errors, "source": source.describe()},
            )
    profiles: dict[str, FeatureProfile] = {}
    rows: int | None = None
    deadline = _deadline(monitor)
    passes = 0
    while fits:
        passes += 1
        stage = f"{monitor.name}: reference" + (f" (pass {passes})" if passes > 1 else "")
        columns = sorted({f.source_column for f, _ in fits.values()})
        seen = 0
        for batch in source.batches(columns, None):
            _check_deadline(deadline, monitor, source, abandon)
            seen += batch.num_rows
            for name, (feature, fit) in list(fits.items()):
                try:
                    fit.feed(_column(batch, feature))
                except (ColumnTypeError, ValueError) as exc:
                    errors[name] = _reference_error(feature, exc)
                    del fits[name]
            progress(stage, seen)
        if rows is not None and seen != rows:
            raise SourceError(
                f"monitor {monitor.name!r}: the reference {source.describe()} changed while "
                f"it was read ({rows} rows, then {seen}); rebuild the reference"
            )
        rows = seen
        for name, (feature, fit) in list(fits.items()):
            try:
                fit.end_pass()
            except (ColumnTypeError, ValueError) as exc:
                errors[name] = _reference_error(feature, exc)
                del fits[name]
                continue
            if not fit.needs_pass:
                profiles[name] = fit.profile()
                del fits[name]
    return ReferenceProfile(
        features=tuple(profiles[f.name] for f in monitor.features if f.name in profiles),
        rows=rows or 0,
        metadata={"feature_errors": errors, "source": source.describe()},
    )


def _reference_error(feature: FeatureConfig, exc: Exception) -> str:
    return f"column {feature.source_column!r} in reference data: {exc}"


def _pushed_histograms(
    source: Source,
    counting: dict[str, tuple[FeatureConfig, FeatureProfile]],
    window: Window | None,
) -> PushedCounts | None:
    """The window counted where the data lives, when the source can (None: read rows)."""
    if not isinstance(source, HistogramSource):
        return None
    features = {
        name: PushedFeature(feature.source_column, fp.bins, fp.column_kind)
        for name, (feature, fp) in counting.items()
    }
    return source.histograms(features, window)


def _column_not_found(column: str, role: str, source: Source, available: Sequence[str]) -> str:
    return (
        f"column {column!r} not found in {role} source {source.describe()}; "
        f"it has {column_list(available)}"
    )


@contextmanager
def _opened(factory: SourceFactory, cfg: Any, monitor: MonitorConfig) -> Iterator[Source]:
    """A source for one run, closed afterwards so pooled SQL connections don't pile up."""
    with closing_source(factory(cfg, monitor)) as source:
        yield source


def _profile_fingerprint(source_fingerprint: str, monitor: MonitorConfig) -> str:
    """Changes with the reference data and with anything that changes how it is binned."""
    specs = [{"spec": repr(f.feature_spec()), "column": f.source_column} for f in monitor.features]
    blob = json.dumps({"source": source_fingerprint, "features": specs}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _noted(result: FeatureResult, note: str | None) -> FeatureResult:
    """``result`` with ``note`` leading its message."""
    if note is None:
        return result
    message = note if result.message is None else f"{note}; {result.message}"
    return replace(result, message=message)


def _column(batch: pa.RecordBatch, feature: FeatureConfig) -> pa.Array:
    idx = batch.schema.get_field_index(feature.source_column)
    if idx < 0:
        raise ColumnError(f"column {feature.source_column!r} missing from a batch")
    return batch.column(idx)


def _elapsed(t0: float) -> timedelta:
    return timedelta(seconds=time.monotonic() - t0)


def _deadline(monitor: MonitorConfig) -> float | None:
    timeout = monitor.source_timeout
    return time.monotonic() + timeout.total_seconds() if timeout is not None else None


class RunAbandoned(Exception):  # noqa: N818 - not an error: the daemon is shutting down
    """The daemon is stopping: the run in progress is dropped, nothing of it is stored."""


def _check_deadline(
    deadline: float | None,
    monitor: MonitorConfig,
    source: Source,
    abandon: threading.Event | None = None,
) -> None:
    if abandon is not None and abandon.is_set():
        raise RunAbandoned(f"monitor {monitor.name!r}: run abandoned at shutdown")
    if deadline is not None and time.monotonic() > deadline:
        raise SourceError(
            f"monitor {monitor.name!r}: reading {source.describe()} took longer than "
            f"source_timeout={monitor.source_timeout}"
        )
