"""Prometheus metrics of catch-up: missed windows the ``catch_up`` bound left unscored, when
that last happened, and how far behind its schedule each monitor scores.

Like the spool's metrics they describe this process (since it started), not the results
database, so they are read on every scrape from the daemon's ``CatchUpTally``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from driftmon.config import MonitorConfig
from driftmon.service.catch_up import bound_seconds, catches_up


@dataclass(frozen=True)
class CatchUpState:
    """One catch-up monitor's figures at a scrape."""

    dropped: int
    """Missed windows left out by the bound since start."""
    last_dropped_at: float | None
    """Unix time of the latest drop; None before any. A drop counted before the first scrape
    shows here, where the counter's first sample shows no increase."""
    lag_seconds: float | None
    """How long after its end the latest scheduled window (a run's own, after its late
    windows) was scored; None before the first. Runs slower than the schedule raise it."""
    bound_seconds: float
    """``catch_up`` as a span of time: a lag near it means windows are about to be dropped."""


class CatchUpTally:
    """Drops and lag per catch-up monitor, recorded by the scheduler's threads, read by scrapes.

    Every monitor that catches up has a state from ``start`` (its counter at 0); the others
    none. A cron schedule's bound is taken at start and at each run, never by a scrape.
    """

    def __init__(self, monitors: Iterable[MonitorConfig], start: datetime) -> None:
        self._monitors = {m.name: m for m in monitors if m.enabled and catches_up(m)}
        self._dropped = dict.fromkeys(self._monitors, 0)
        self._last_dropped_at: dict[str, float] = {}
        self._lag: dict[str, float] = {}
        self._bound = {name: _bound(m, start) for name, m in self._monitors.items()}
        self._lock = threading.Lock()

    def dropped(self, monitor: str, windows: int, at: datetime) -> None:
        """``windows`` missed windows of ``monitor`` were left out at ``at``."""
        self._check(monitor)
        with self._lock:
            self._dropped[monitor] += windows
            self._last_dropped_at[monitor] = at.timestamp()

    def scored(self, monitor: str, window_end: datetime, at: datetime) -> None:
        """``monitor``'s scheduled window ending ``window_end`` was scored by ``at``."""
        self._check(monitor)
        bound = _bound(self._monitors[monitor], at)
        with self._lock:
            self._lag[monitor] = (at - window_end).total_seconds()
            self._bound[monitor] = bound

    def state(self) -> dict[str, CatchUpState]:
        """Every catch-up monitor's figures, as last recorded."""
        with self._lock:
            return {
                name: CatchUpState(
                    dropped,
                    self._last_dropped_at.get(name),
                    self._lag.get(name),
                    self._bound[name],
                )
                for name, dropped in self._dropped.items()
            }

    def _check(self, monitor: str) -> None:
        if monitor not in self._monitors:
            raise ValueError(f"monitor {monitor!r} does not catch up: nothing to record")


def _bound(monitor: MonitorConfig, at: datetime) -> float:
    bound = bound_seconds(monitor, at)
    assert bound is not None  # only monitors that catch up are kept
    return bound


def catch_up_families(states: Mapping[str, CatchUpState] | None) -> list[Metric]:
    """The catch-up metric families, with samples per monitor of ``states`` (none if None)."""
    dropped = CounterMetricFamily(
        "driftmon_catch_up_dropped_windows",
        "Scheduled windows missed (daemon down, or skipped by a late tick) and never scored "
        "because they lie beyond the monitor's catch_up bound, since start.",
        labels=["monitor"],
    )
    last_dropped = GaugeMetricFamily(
        "driftmon_catch_up_last_dropped_timestamp_seconds",
        "Unix time this process last dropped windows of the monitor beyond its catch_up "
        "bound (no sample before the first drop).",
        labels=["monitor"],
    )
    lag = GaugeMetricFamily(
        "driftmon_catch_up_lag_seconds",
        "How long after its end the monitor's latest scheduled window was scored (its late "
        "windows first); near catch_up_bound_seconds, windows are about to be dropped.",
        labels=["monitor"],
    )
    bound = GaugeMetricFamily(
        "driftmon_catch_up_bound_seconds",
        "The monitor's catch_up as a span of time ({windows: N}: N schedule intervals); "
        "missed windows further behind are dropped.",
        labels=["monitor"],
    )
    for monitor, state in (states or {}).items():
        dropped.add_metric([monitor], float(state.dropped))
        if state.last_dropped_at is not None:
            last_dropped.add_metric([monitor], state.last_dropped_at)
        if state.lag_seconds is not None:
            lag.add_metric([monitor], state.lag_seconds)
        bound.add_metric([monitor], state.bound_seconds)
    return [dropped, last_dropped, lag, bound]
