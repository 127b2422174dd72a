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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from driftmon.clock import as_utc, utcnow
from driftmon.config import Config, FeatureConfig, MonitorConfig
from driftmon.config.models import ScoringScope
from driftmon.config.profile_reference import ProfileReferenceConfig
from driftmon.core.columns import column_cost
from driftmon.core.histogram import ColumnTypeError, Histogram
from driftmon.core.parallel import ColumnPool
from driftmon.core.profile import PROFILE_FORMAT, FeatureProfile, ReferenceProfile
from driftmon.core.reference_fit import FeatureFit
from driftmon.core.status import Status
from driftmon.core.thresholds import Calibration
from driftmon.errors import DriftmonError, SourceError
from driftmon.results import FeatureResult, RunResult
from driftmon.secrets import scrub
from driftmon.service.empty_windows import explain_empty_window
from driftmon.service.profile_reference import ProfileReference
from driftmon.service.rolling import (
    ProfileCache,
    empty_reference_run,
    reference_window,
    rolling_fingerprint,
    with_window,
)
from driftmon.service.scoring import (
    LiveTally,
    batch_column,
    calibrations_metadata,
    column_not_found,
    evaluate,
    noted,
    run_status,
)
from driftmon.service.thresholds import CALIBRATIONS_KEY
from driftmon.sources.base import HistogramSource, Source, Window, closing_source
from driftmon.sources.factory import source_from_config
from driftmon.sources.pushdown import PushedCounts, PushedFeature
from driftmon.storage import Store

if TYPE_CHECKING:
    import pyarrow as pa

Progress = Callable[[str, int], None]
"""Called as ``progress(stage, rows_so_far)`` while a source is read; stage is a short label."""

SourceFactory = Callable[[Any, MonitorConfig], Source]


def _no_progress(stage: str, rows: int) -> None:
    return None


class StopFlag(Protocol):
    """Set at shutdown (a ``threading.Event``, or a ``multiprocessing`` one in a scoring
    process); runs check it at every batch."""

    def is_set(self) -> bool: ...

    def set(self) -> None: ...

    def wait(self, timeout: float | None = None) -> bool: ...


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
    """The profile each monitor's latest run used, with its fingerprint."""
    _checked: dict[str, tuple[str, float]] = field(default_factory=dict)
    """Per monitor: its reference settings and when (``time.monotonic``) the reference's
    fingerprint was last read, for ``refresh``."""
    _profile_versions: dict[str, int | None] = field(default_factory=dict)
    """The stored version id of that profile (None: not stored), recorded on the runs."""
    _rolling: ProfileCache = field(default_factory=ProfileCache)
    """Profiles of recent reference windows of monitors with a rolling reference."""
    abandon: StopFlag = field(default_factory=threading.Event)
    """Set at shutdown: runs in progress stop at their next batch, storing nothing."""
    pin_profiles: bool = False
    """Use a fixed reference's profile once loaded without fingerprinting the reference
    again (a backfill: one short process, where a SQL table's count per window would add up)."""
    pool: ColumnPool | None = None
    """Threads counting a batch's columns; None: ``engine.threads`` of the configuration."""

    def __post_init__(self) -> None:
        if self.pool is None:
            self.pool = ColumnPool(self.config.engine.threads)

    @property
    def columns(self) -> ColumnPool:
        assert self.pool is not None  # set by __post_init__
        return self.pool

    # -- reference -------------------------------------------------------------------------

    def reference_profile(
        self,
        monitor: MonitorConfig,
        *,
        rebuild: bool = False,
        window_end: datetime | None = None,
    ) -> ReferenceProfile:
        """The monitor's stored profile, rebuilt when asked, missing or stale (other data,
        other binning, or an older format that lacks the column kinds). A profile-file
        reference is read from its file (``driftmon.service.profile_reference``).

        A rolling reference's profile is that of the reference window of the live window
        ending at ``window_end`` (default: now). A SQL or Spark reference with ``refresh``
        reuses the profile in memory without reading its fingerprint (a count over the
        table) until ``refresh`` has passed since it was last read.
        """
        if monitor.rolling is not None:
            return self._rolling_profile(monitor, window_end or utcnow(), rebuild)
        if self.pin_profiles and not rebuild and monitor.name in self._profiles:
            return self._profiles[monitor.name][1]
        if isinstance(monitor.reference, ProfileReferenceConfig):
            saved = ProfileReference(monitor, monitor.reference)
            return self._cached_profile(monitor, saved.fingerprint(), saved.profile, rebuild)
        settings = _profile_fingerprint(repr(monitor.reference), monitor)
        if not rebuild and self._fresh(monitor, settings):
            return self._profiles[monitor.name][1]
        with _opened(self.source_factory, monitor.reference, monitor) as source:
            fingerprint = _profile_fingerprint(source.fingerprint(), monitor)
            self._checked[monitor.name] = (settings, time.monotonic())
            return self._cached_profile(
                monitor,
                fingerprint,
                lambda: build_reference_profile(
                    monitor, source, self.progress, self.abandon, self.columns
                ),
                rebuild,
            )

    def _fresh(self, monitor: MonitorConfig, settings: str) -> bool:
        """Whether the profile held for ``monitor`` may be used without reading the
        reference's fingerprint: its ``refresh`` has not passed since the last read, under
        the same reference settings."""
        refresh = getattr(monitor.reference, "refresh", None)
        checked = self._checked.get(monitor.name)
        return (
            refresh is not None
            and monitor.name in self._profiles
            and checked is not None
            and checked[0] == settings
            and time.monotonic() - checked[1] < refresh.total_seconds()
        )

    def _cached_profile(
        self,
        monitor: MonitorConfig,
        fingerprint: str,
        build: Callable[[], ReferenceProfile],
        rebuild: bool,
    ) -> ReferenceProfile:
        """The profile held or stored for ``fingerprint``, else ``build()`` (then stored as a
        new version, which the runs scored on it record)."""
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
                self._profile_versions[monitor.name] = stored.version
                return stored.profile
        profile = build()
        version = self.store.save_profile(monitor.name, fingerprint, profile)
        self._profiles[monitor.name] = (fingerprint, profile)
        self._profile_versions[monitor.name] = version
        return profile

    def _rolling_profile(
        self, monitor: MonitorConfig, window_end: datetime, rebuild: bool
    ) -> ReferenceProfile:
        """The profile of the live source's rows in the reference window of ``window_end``:
        from memory, from the store, or built (in the database where push-down applies)."""
        window = reference_window(monitor, window_end)
        fingerprint = rolling_fingerprint(monitor, window, _feature_specs(monitor))
        cached = None if rebuild else self._rolling.get(monitor.name, fingerprint)
        profile, version = cached if cached is not None else (None, None)
        if profile is None and not rebuild:
            stored = self.store.load_profile(monitor.name)
            if (
                stored is not None
                and stored.fingerprint == fingerprint
                and stored.profile.format == PROFILE_FORMAT
            ):
                profile, version = stored.profile, stored.version
        if profile is None:
            with _opened(self.source_factory, monitor.live, monitor) as source:
                built = build_reference_profile(
                    monitor, source, self.progress, self.abandon, self.columns, window=window
                )
            profile = with_window(built, window)
            if not profile.rows:
                # Said in the run, and neither kept nor stored: rows may still arrive.
                return profile
            version = self.store.save_profile(monitor.name, fingerprint, profile)
        self._rolling.put(monitor.name, fingerprint, profile, version)
        self._profiles[monitor.name] = (fingerprint, profile)
        self._profile_versions[monitor.name] = version
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
            profile = self.reference_profile(monitor, window_end=end)
            if monitor.rolling is not None and profile.rows == 0:
                result = self._empty_reference(monitor, window, end, started, t0)
            else:
                result = self._score_window(monitor, profile, window, end, started, t0)
                version = self._profile_versions.get(monitor.name)
                result = replace(result, profile_version=version)
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

    def _empty_reference(
        self,
        monitor: MonitorConfig,
        window: Window | None,
        end: datetime,
        started: datetime,
        t0: float,
    ) -> RunResult:
        ref_window = reference_window(monitor, end)
        with _opened(self.source_factory, monitor.live, monitor) as source:
            return empty_reference_run(
                monitor, source, ref_window, window, started, started + _elapsed(t0)
            )

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
            tally = LiveTally(
                monitor, profile, list(source.columns()), source.describe(), self.columns
            )
            deadline = _deadline(monitor)
            pushed = _pushed_histograms(source, tally.counting, window)
            if pushed is not None:
                _check_deadline(deadline, monitor, source, self.abandon)
                tally.histograms.update(pushed.histograms)
                tally.kinds.update(pushed.kinds)
                tally.rows = pushed.rows
            for batch in source.batches(tally.columns, window) if pushed is None else ():
                _check_deadline(deadline, monitor, source, self.abandon)
                tally.add(batch)
                self.progress(f"{monitor.name}: live", tally.rows)
            rows = tally.rows
            message = None
            if window is not None and rows == 0 and monitor.live.timestamp_column is not None:
                message = explain_empty_window(source, window, monitor.live.timestamp_column)
            # Scored features whose live kind differs from the reference's say so.
            notes = tally.notes()

        features = self._evaluate(monitor, profile, tally.histograms, tally.errors, rows)
        features = tuple(noted(f, notes.get(f.feature)) for f in features)
        status = run_status(features, rows, monitor.live.min_rows)
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
        """Score every feature (``driftmon.service.scoring.evaluate``); calibrations that had
        to be computed are stored with the reference profile."""
        evaluation = evaluate(monitor, profile, hists, errors, rows, monitor.live.min_rows)
        if evaluation.calibrations is not None:
            self._store_calibrations(monitor, profile, evaluation.calibrations)
        return evaluation.features

    def _store_calibrations(
        self,
        monitor: MonitorConfig,
        profile: ReferenceProfile,
        calibrations: dict[str, Calibration],
    ) -> None:
        """Keep calibrations with the reference profile, so they are computed once."""
        metadata = dict(profile.metadata)
        metadata[CALIBRATIONS_KEY] = calibrations_metadata(calibrations)
        updated = replace(profile, metadata=metadata)
        fingerprint = self._profiles[monitor.name][0]
        # Only the metadata changed: the store keeps the same version (see save_profile).
        version = self.store.save_profile(monitor.name, fingerprint, updated)
        self._profiles[monitor.name] = (fingerprint, updated)
        self._profile_versions[monitor.name] = version
        if monitor.rolling is not None:
            self._rolling.put(monitor.name, fingerprint, updated, version)


def build_reference_profile(
    monitor: ScoringScope,
    source: Source,
    progress: Progress = _no_progress,
    abandon: StopFlag | None = None,
    pool: ColumnPool | None = None,
    *,
    window: Window | None = None,
) -> ReferenceProfile:
    """Fit every feature in passes over the reference (the rows of ``window`` only, when
    given: a rolling reference); a bad feature is recorded, not fatal.

    Memory is bounded by the batch and the bin layouts, never a whole column
    (``driftmon.core.reference_fit``): categorical features and explicit edges take one
    pass, uniform edges two, quantile edges usually four or five (``driftmon.core.selection``).
    A batch's columns are fed to their fits on ``pool``'s threads when that pays.
    """
    pool = pool or ColumnPool(1)
    available = list(source.columns())
    present = set(available)
    errors: dict[str, str] = {}
    fits: dict[str, tuple[FeatureConfig, FeatureFit]] = {}
    for feature in monitor.features:
        if feature.source_column in present:
            fits[feature.name] = (feature, FeatureFit(feature.feature_spec()))
        else:
            errors[feature.name] = column_not_found(
                feature.source_column, "reference", source.describe(), available
            )
    if isinstance(source, HistogramSource):
        built = source.reference_profile(
            [(f.source_column, f.feature_spec()) for f, _ in fits.values()], window
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
        for batch in source.batches(columns, window):
            _check_deadline(deadline, monitor, source, abandon)
            seen += batch.num_rows
            names = list(fits)
            failures = pool.map(
                partial(_feed, batch),
                [fits[name] for name in names],
                batch.num_rows,
                [column_cost(fit.spec) for _, fit in (fits[name] for name in names)],
            )
            for name, exc in zip(names, failures, strict=True):
                if exc is not None:
                    errors[name] = _reference_error(fits.pop(name)[0], exc)
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


def _feed(batch: pa.RecordBatch, fitting: tuple[FeatureConfig, FeatureFit]) -> Exception | None:
    """One feature's column of a reference batch fed to its fit; the error, if any."""
    feature, fit = fitting
    try:
        fit.feed(batch_column(batch, feature))
    except (ColumnTypeError, ValueError) as exc:
        return exc
    return None


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


@contextmanager
def _opened(factory: SourceFactory, cfg: Any, monitor: MonitorConfig) -> Iterator[Source]:
    """A source for one run, closed afterwards so pooled SQL connections don't pile up."""
    with closing_source(factory(cfg, monitor)) as source:
        yield source


def _feature_specs(monitor: MonitorConfig) -> list[dict[str, str]]:
    """What decides how the reference is binned, per feature."""
    return [{"spec": repr(f.feature_spec()), "column": f.source_column} for f in monitor.features]


def _profile_fingerprint(source_fingerprint: str, monitor: MonitorConfig) -> str:
    """Changes with the reference data and with anything that changes how it is binned."""
    specs = _feature_specs(monitor)
    blob = json.dumps({"source": source_fingerprint, "features": specs}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _elapsed(t0: float) -> timedelta:
    return timedelta(seconds=time.monotonic() - t0)


def _deadline(monitor: ScoringScope) -> float | None:
    timeout = monitor.source_timeout
    return time.monotonic() + timeout.total_seconds() if timeout is not None else None


class RunAbandoned(Exception):  # noqa: N818 - not an error: the daemon is shutting down
    """The daemon is stopping: the run in progress is dropped, nothing of it is stored."""


def _check_deadline(
    deadline: float | None,
    monitor: ScoringScope,
    source: Source,
    abandon: StopFlag | None = None,
) -> None:
    if abandon is not None and abandon.is_set():
        raise RunAbandoned(f"monitor {monitor.name!r}: run abandoned at shutdown")
    if deadline is not None and time.monotonic() > deadline:
        raise SourceError(
            f"monitor {monitor.name!r}: reading {source.describe()} took longer than "
            f"source_timeout={monitor.source_timeout}"
        )
