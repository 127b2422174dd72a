"""Results and profiles built the way the runner builds them, for the rendering tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from driftmon.core.drift import score
from driftmon.core.profile import (
    FeatureProfile,
    FeatureSpec,
    ReferenceProfile,
    build_feature_profile,
)
from driftmon.core.status import Status, Thresholds
from driftmon.results import FeatureResult, RunResult

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
THRESHOLDS = Thresholds(0.05, 0.2, "static")
HOSTILE = "<img src=x onerror=alert(1)>"


def categorical(name: str, reference: Sequence[str | None]) -> FeatureProfile:
    values = pd.Series(list(reference), dtype=object)
    return build_feature_profile(values, FeatureSpec(name, kind="categorical"))


def numeric(name: str, reference: Sequence[float]) -> FeatureProfile:
    return build_feature_profile(np.asarray(reference, dtype=np.float64), FeatureSpec(name, bins=5))


def scored(fp: FeatureProfile, live: Sequence[object], smoothing: float = 0.5) -> FeatureResult:
    """A feature result with its scores, status by the static thresholds."""
    values = pd.Series(list(live), dtype=object if fp.kind == "categorical" else np.float64)
    hist = fp.live_histogram(values)
    s = score(hist, fp.reference, smoothing=smoothing)
    return FeatureResult(
        feature=fp.name,
        status=THRESHOLDS.classify(s.kl_divergence) if s else Status.INSUFFICIENT_DATA,
        thresholds=THRESHOLDS,
        live_rows=hist.total,
        missing_rows=int(hist.counts[fp.bins.missing_index]),
        scores=s,
        live_counts=tuple(int(c) for c in hist.counts),
        bin_labels=tuple(fp.bins.labels()),
    )


def run_of(
    *features: FeatureResult,
    monitor: str = "m",
    status: Status = Status.CRITICAL,
    error: str | None = None,
    message: str | None = None,
) -> RunResult:
    return RunResult(
        monitor=monitor,
        window_start=END - timedelta(hours=1),
        window_end=END,
        started_at=END,
        finished_at=END + timedelta(seconds=1),
        status=status,
        live_rows=max((f.live_rows for f in features), default=0),
        reference_rows=100,
        features=features,
        error=error,
        message=message,
    )


def profile_of(*features: FeatureProfile) -> ReferenceProfile:
    return ReferenceProfile(features=features, rows=max(f.reference_rows for f in features))
