"""Prometheus metric of catch-up: missed windows the ``catch_up`` bound left unscored.

Like the spool's metrics it describes this process (since it started), not the results
database, so it is read on every scrape from the daemon's counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector


class CatchUpCollector(Collector):
    """Builds the catch-up metric family from fresh per-monitor counts on every scrape."""

    def __init__(self, dropped: Callable[[], Mapping[str, int]]) -> None:
        self._dropped = dropped

    def describe(self) -> Iterable[Metric]:
        return catch_up_families(None)

    def collect(self) -> Iterable[Metric]:
        return catch_up_families(self._dropped())


def catch_up_families(dropped: Mapping[str, int] | None) -> list[Metric]:
    """The catch-up metric families, with a sample per monitor of ``dropped`` (none if None)."""
    family = CounterMetricFamily(
        "driftmon_catch_up_dropped_windows",
        "Scheduled windows missed (daemon down, or skipped by a late tick) and never scored "
        "because they lie beyond the monitor's catch_up bound, since start.",
        labels=["monitor"],
    )
    for monitor, windows in (dropped or {}).items():
        family.add_metric([monitor], float(windows))
    return [family]
