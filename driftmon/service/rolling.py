"""Rolling references: which past window of the live source is a run's reference, how its
profile is recognised again, and the run stored when that window is empty.

The profile of a reference window is built once and kept (in memory, a few windows per
monitor; in the store, the latest one), keyed by a fingerprint of the live source's
definition, the window and the feature specs. Not by the source's data fingerprint: new
live rows arrive all the time, while the rows of a past window are taken to be final
(`driftmon reference rebuild` rebuilds the current window's profile after late data).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import replace
from datetime import datetime

from driftmon.config import MonitorConfig
from driftmon.core.profile import ReferenceProfile
from driftmon.core.status import Status
from driftmon.results import FeatureResult, RunResult
from driftmon.service.empty_windows import explain_empty_window
from driftmon.service.thresholds import policy_for, unscored_thresholds
from driftmon.sources.base import Source, Window
from driftmon.sources.timespan import format_window

REFERENCE_WINDOW_KEY = "reference_window"
"""Profile metadata: the ``[start, end)`` (ISO 8601) a rolling reference was built from."""
CACHED_WINDOWS = 4
"""Reference windows whose profiles a runner keeps in memory per monitor: a backfill whose
windows share a reference window (``align``) builds each profile once."""


def reference_window(monitor: MonitorConfig, live_window_end: datetime) -> Window:
    """The reference window of ``monitor``'s live window ending at ``live_window_end``."""
    rolling = monitor.rolling
    assert rolling is not None, "only a monitor with a rolling reference has one"
    start, end = rolling.from_live.span(live_window_end)
    return Window(start, end)


def rolling_fingerprint(monitor: MonitorConfig, window: Window, specs: list[dict[str, str]]) -> str:
    """Changes with the live source's definition, the reference window and the binning."""
    blob = json.dumps(
        {
            "live": monitor.live.model_dump(mode="json", by_alias=True),
            "window": [window.start.isoformat(), window.end.isoformat()],
            "features": specs,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def with_window(profile: ReferenceProfile, window: Window) -> ReferenceProfile:
    """``profile`` with the reference window it was built from in its metadata."""
    metadata = dict(profile.metadata)
    metadata[REFERENCE_WINDOW_KEY] = [window.start.isoformat(), window.end.isoformat()]
    return replace(profile, metadata=metadata)


class ProfileCache:
    """The profiles of the last few reference windows of each monitor, by fingerprint, with
    their stored version ids (what a run scored on one records)."""

    def __init__(self, per_monitor: int = CACHED_WINDOWS) -> None:
        self._per_monitor = per_monitor
        self._profiles: dict[str, OrderedDict[str, tuple[ReferenceProfile, int | None]]] = {}

    def get(self, monitor: str, fingerprint: str) -> tuple[ReferenceProfile, int | None] | None:
        kept = self._profiles.get(monitor)
        if kept is None or fingerprint not in kept:
            return None
        kept.move_to_end(fingerprint)
        return kept[fingerprint]

    def put(
        self, monitor: str, fingerprint: str, profile: ReferenceProfile, version: int | None
    ) -> None:
        kept = self._profiles.setdefault(monitor, OrderedDict())
        kept[fingerprint] = (profile, version)
        kept.move_to_end(fingerprint)
        while len(kept) > self._per_monitor:
            kept.popitem(last=False)


def empty_reference_run(
    monitor: MonitorConfig,
    source: Source,
    window: Window,
    live_window: Window | None,
    started: datetime,
    finished: datetime,
) -> RunResult:
    """The run of a live window whose reference window has no rows: ``insufficient_data``,
    every feature unscored, and a note with the reference window and the source's range."""
    ts = monitor.live.timestamp_column
    assert ts is not None  # a rolling reference needs a windowed live source (config)
    reason = explain_empty_window(source, window, ts)
    note = f"rolling reference: {reason}; the live window was not scored"
    features = tuple(
        FeatureResult(
            feature=f.name,
            status=Status.INSUFFICIENT_DATA,
            thresholds=unscored_thresholds(policy_for(monitor, f)),
            message=f"no reference rows in the reference window {format_window(window)}",
        )
        for f in monitor.features
    )
    assert live_window is not None  # as above
    return RunResult(
        monitor=monitor.name,
        window_start=live_window.start,
        window_end=live_window.end,
        started_at=started,
        finished_at=finished,
        status=Status.INSUFFICIENT_DATA,
        features=features,
        message=note,
    )
