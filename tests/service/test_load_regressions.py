"""Regressions found by benchmarks/bench_load.py: schedule grid, listen backlog, renders.

No timing assertions: each test pins a mechanism (fire times, the listen backlog, when a
new version is rendered, on a fake clock), not a latency.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from driftmon.config import ScheduleConfig
from driftmon.service.http import MetricsEndpoint, make_app
from driftmon.service.http_server import HttpServer
from driftmon.service.triggers import make_trigger

START = datetime(2026, 3, 1, 12, 0, 7, 300_000, tzinfo=UTC)  # off the 10 s grid


def test_interval_runs_after_an_immediate_first_run_fall_back_on_the_epoch_grid() -> None:
    """The start-up run is at 'now'; the next ones must be at multiples of the interval."""
    trigger = make_trigger(ScheduleConfig(every=timedelta(seconds=10)))
    fired = [START]
    for _ in range(5):
        fired.append(trigger.get_next_fire_time(fired[-1], fired[-1]))
    assert fired[1:] == [datetime(2026, 3, 1, 12, 0, s, tzinfo=UTC) for s in (10, 20, 30, 40, 50)]


def test_interval_trigger_moves_past_a_fire_time_on_the_grid() -> None:
    """A previous fire time on the grid gives the next multiple, never itself (no loop)."""
    trigger = make_trigger(ScheduleConfig(every=timedelta(minutes=5)))
    on_grid = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
    assert trigger.get_next_fire_time(on_grid, on_grid) == on_grid + timedelta(minutes=5)
    late = on_grid + timedelta(minutes=12)  # a missed fire: the next one is after 'now'
    assert trigger.get_next_fire_time(on_grid, late) == on_grid + timedelta(minutes=15)


def test_http_server_queues_more_pending_connections_than_scrapers() -> None:
    """socketserver's default backlog (5) drops SYNs of the 6th concurrent scraper."""
    server = HttpServer("127.0.0.1", 0, make_app(CollectorRegistry(), lambda: {}))
    server.start()
    try:
        sock = server._listener
        assert server.listen_backlog >= 64
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
    finally:
        server.stop()


class _SlowCollector(Collector):
    """Exports how many times it was collected; each collect 'takes' 1 s of a fake clock."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.collects = 0

    def collect(self) -> Iterable[Metric]:
        self.collects += 1
        self.clock[0] += 1.0
        g = GaugeMetricFamily("driftmon_test_collects", "Times collected.")
        g.add_metric([], float(self.collects))
        return [g]


def test_a_new_version_is_rendered_at_most_a_quarter_of_the_time() -> None:
    """After a 1 s render the next version waits until 4 s after that render started."""
    clock = [100.0]
    collector = _SlowCollector(clock)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    versions = itertools.count()
    endpoint = MetricsEndpoint(registry, lambda: next(versions))  # changes on every call
    endpoint._clock = lambda: clock[0]

    assert b"driftmon_test_collects 1.0" in endpoint.body(gzip_ok=False)  # 100 -> 101
    clock[0] = 103.5
    assert b"driftmon_test_collects 1.0" in endpoint.body(gzip_ok=False)  # not yet due
    clock[0] = 104.0
    assert b"driftmon_test_collects 2.0" in endpoint.body(gzip_ok=False)
    assert collector.collects == 2
