"""Prometheus metrics of skipped ticks: scheduled times at which a monitor started no run.

APScheduler runs at most one instance of a monitor's job and coalesces the rest, so a run
slower than its schedule (or a stalled scheduler) makes the ticks during it start nothing,
with a log line of APScheduler's only. A monitor that catches up scores those windows late
(``catch_up_metrics``); for the others (batch sources, ``catch_up: null``) the windows are
never scored, so this says so: a counter, and how many runs in a row each came after a
skipped tick, which tells a monitor slower than its schedule from a one-off slow run (such
as a first run building reference profiles) whatever the schedule's interval.

Like the spool's and catch-up's metrics these describe this process since it started.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from driftmon.config import MonitorConfig


@dataclass(frozen=True)
class SkippedTicksState:
    """One monitor's figures at a scrape."""

    skipped: int
    """Ticks that started no run, since start."""
    runs_in_a_row: int
    """The latest runs, counted back from the last, that each came after skipped ticks."""


class SkippedTicks:
    """Skipped ticks per enabled monitor, recorded by the scheduler's threads, read by scrapes."""

    def __init__(self, monitors: Iterable[MonitorConfig]) -> None:
        names = [m.name for m in monitors if m.enabled]
        self._skipped = dict.fromkeys(names, 0)
        self._in_a_row = dict.fromkeys(names, 0)
        self._lock = threading.Lock()

    def run_started(self, monitor: str, skipped: int) -> None:
        """A run of ``monitor`` started after ``skipped`` ticks that started none (0: on time)."""
        if monitor not in self._skipped:
            raise ValueError(f"monitor {monitor!r} is not scheduled: nothing to record")
        if skipped < 0:
            raise ValueError(f"skipped ticks must be >= 0, got {skipped}")
        with self._lock:
            self._skipped[monitor] += skipped
            self._in_a_row[monitor] = self._in_a_row[monitor] + 1 if skipped else 0

    def state(self) -> dict[str, SkippedTicksState]:
        """Every scheduled monitor's figures, as last recorded."""
        with self._lock:
            return {
                name: SkippedTicksState(skipped, self._in_a_row[name])
                for name, skipped in self._skipped.items()
            }


def skipped_ticks_families(states: Mapping[str, SkippedTicksState] | None) -> list[Metric]:
    """The skipped-tick metric families, with samples per monitor of ``states`` (none if None)."""
    skipped = CounterMetricFamily(
        "driftmon_skipped_ticks",
        "Scheduled ticks of the monitor that started no run, since start: its previous run "
        "was still going or the scheduler stalled. A monitor that catches up scores their "
        "windows late; for the others they are never scored.",
        labels=["monitor"],
    )
    in_a_row = GaugeMetricFamily(
        "driftmon_skipped_ticks_runs_in_a_row",
        "How many of the monitor's latest runs in a row each came after skipped ticks (0: "
        "the latest run started on its own tick); growing when its runs are slower than "
        "its schedule.",
        labels=["monitor"],
    )
    for monitor, state in (states or {}).items():
        skipped.add_metric([monitor], float(state.skipped))
        in_a_row.add_metric([monitor], float(state.runs_in_a_row))
    return [skipped, in_a_row]
