"""Regressions found by benchmarks/bench_load.py: the schedule grid and the listen backlog.

No timing assertions: each test pins the mechanism (fire times, listen backlog), not a latency.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from driftmon.config import ScheduleConfig
from driftmon.service.daemon import make_trigger
from driftmon.service.http import HttpServer, make_app

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
        sock = server._server.socket
        assert server._server.request_queue_size >= 64
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
    finally:
        server.stop()
