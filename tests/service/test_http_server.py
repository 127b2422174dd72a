"""Connections to the HTTP server, with real sockets: bounded threads, timeouts, room to serve.

Idle or trickling connections must hold no thread, the oldest of too many idle ones is
closed, requests run on a bounded pool, and a real scrape is answered meanwhile.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from driftmon.service.http_server import HttpServer

StartResponse = Any


def hello(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
    return [b"hello\n"]


def raw_request(port: int, request: bytes = b"GET / HTTP/1.0\r\n\r\n", timeout: float = 5) -> bytes:
    """Everything the server sends back to ``request`` until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` (EOF or reset) within ``within`` seconds."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@contextlib.contextmanager
def serving(app: Any = hello, **options: Any) -> Iterator[HttpServer]:
    server = HttpServer("127.0.0.1", 0, app, **options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def wait_until(pred: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def wait_queued(server: HttpServer, n: int) -> None:
    """Wait until ``n`` requests were handed to the workers (running or waiting for one):
    a fixed sleep could let a loaded machine reach the assertion first."""
    wait_until(lambda: server._queued == n)


@contextlib.contextmanager
def idle_sockets(port: int, n: int) -> Iterator[list[socket.socket]]:
    """``n`` connections that never send a byte."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(n)]
    try:
        yield socks
    finally:
        for s in socks:
            s.close()


def test_200_idle_connections_hold_no_thread_and_a_scrape_is_still_answered() -> None:
    before = threading.active_count()
    with serving() as server, idle_sockets(server.port, 200):
        time.sleep(0.5)  # let the server accept them all
        started = time.monotonic()
        assert raw_request(server.port).endswith(b"\r\n\r\nhello\n")
        assert time.monotonic() - started < 2
        # The accepting thread and a few workers; not one thread per connection.
        assert threading.active_count() <= before + 1 + 8


def test_a_connection_that_never_sends_its_request_is_closed_after_the_head_timeout() -> None:
    with serving(head_timeout=0.5) as server, idle_sockets(server.port, 1) as (idle,):
        started = time.monotonic()
        assert closed_by_server(idle, within=5)
        assert 0.4 < time.monotonic() - started < 3


def test_a_request_trickling_in_byte_by_byte_is_cut_at_the_head_timeout() -> None:
    """Slowloris: every byte arrives in time, the head as a whole does not."""
    with (
        serving(head_timeout=1.0) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as s,
    ):
        started = time.monotonic()
        closed = False
        for byte in b"GET / HTTP/1.0\r\nX-Slow: " + b"a" * 100:
            try:
                s.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.05)
            if time.monotonic() - started > 1.5:
                break
        assert closed or closed_by_server(s, within=3)
        assert time.monotonic() - started < 4


def test_the_oldest_idle_connection_makes_room_for_a_new_one() -> None:
    with serving(max_waiting=5) as server, idle_sockets(server.port, 8) as socks:
        # Closed as the server accepts the sixth to eighth: at once, unless load delays it.
        assert [closed_by_server(s, within=5) for s in socks[:3]] == [True] * 3
        assert raw_request(server.port).endswith(b"hello\n")
        assert not closed_by_server(socks[-1], within=0.2)


class _Blocking:
    """An app that holds each request until released, counting how many run at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.release.wait(10)
        with self._lock:
            self.running -= 1
        return hello(environ, start_response)


def test_at_most_workers_requests_run_at_once_and_the_rest_wait_their_turn() -> None:
    app = _Blocking()
    replies: list[bytes] = []
    with serving(app, workers=2) as server:
        clients = [
            threading.Thread(target=lambda: replies.append(raw_request(server.port, timeout=15)))
            for _ in range(6)
        ]
        for c in clients:
            c.start()
        wait_queued(server, 6)  # all six handed to the pool: two run, four wait
        wait_until(lambda: app.running == 2)  # the pool's threads start the first two
        app.release.set()
        for c in clients:
            c.join(15)
    assert app.most == 2
    assert len(replies) == 6
    assert all(r.startswith(b"HTTP/1.0 200") for r in replies)


def test_requests_beyond_the_queue_get_503_at_once() -> None:
    app = _Blocking()
    with serving(app, workers=1, max_queued=2) as server:
        held = [
            threading.Thread(target=raw_request, args=(server.port,), kwargs={"timeout": 15})
            for _ in range(2)
        ]
        for t in held:
            t.start()
        wait_queued(server, 2)
        started = time.monotonic()
        assert raw_request(server.port).startswith(b"HTTP/1.0 503")
        # A request queued instead would wait for the release, which never comes here (the
        # client gives up after 5 s): 3 s tells "at once" apart, with room for a loaded machine.
        assert time.monotonic() - started < 3
        app.release.set()
        for t in held:
            t.join(15)


def test_a_client_that_never_reads_its_reply_frees_the_worker_after_the_io_timeout() -> None:
    big = b"x" * (64 * 1024 * 1024)  # far beyond what socket buffers hold

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/big":
            start_response("200 OK", [("Content-Length", str(len(big)))])
            return [big]
        return hello(environ, start_response)

    with (
        serving(app, workers=1, io_timeout=0.5) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as stuck,
    ):
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.sendall(b"GET /big HTTP/1.0\r\n\r\n")  # and never reads
        wait_queued(server, 1)  # the only worker is writing to it
        started = time.monotonic()
        assert raw_request(server.port, timeout=10).endswith(b"hello\n")
        assert time.monotonic() - started < 3


def test_an_oversized_request_head_gets_431() -> None:
    with serving() as server:
        reply = raw_request(server.port, b"GET / HTTP/1.0\r\nX-Big: " + b"a" * 20_000)
    assert reply.startswith(b"HTTP/1.0 431")


@pytest.mark.parametrize("ending", [b"\r\n\r\n", b"\n\n"])
def test_a_request_head_is_complete_at_its_blank_line(ending: bytes) -> None:
    with serving() as server:
        reply = raw_request(server.port, b"GET / HTTP/1.1\r\nHost: x" + ending)
    assert reply.startswith(b"HTTP/1.0 200")
    assert reply.endswith(b"hello\n")


def test_stop_closes_idle_connections_and_the_port() -> None:
    with serving() as server, idle_sockets(server.port, 3) as socks:
        time.sleep(0.2)
        server.stop()
        assert all(closed_by_server(s, within=2) for s in socks)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
