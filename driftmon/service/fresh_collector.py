"""One Prometheus collector for the daemon's own figures (its spool, catch-up, skipped
ticks): they live in this process, not in the results database, so their families are built
from a state read afresh on every scrape, like the ``process_*`` metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

S = TypeVar("S")


class FreshCollector(Collector, Generic[S]):
    """``families(state())`` on every scrape; ``families(None)`` (no samples) to describe
    them at registration, without reading the state."""

    def __init__(
        self, families: Callable[[S | None], list[Metric]], state: Callable[[], S]
    ) -> None:
        self._families = families
        self._state = state

    def describe(self) -> Iterable[Metric]:
        return self._families(None)

    def collect(self) -> Iterable[Metric]:
        return self._families(self._state())
