"""Serving the WSGI app over HTTP with a bounded number of threads and no idle connections.

One thread accepts connections and reads request heads without blocking; a connection is
handed to a worker thread only once its head is complete, so connections that stay idle
or trickle bytes (slowloris) hold a socket, never a thread. Each connection gets
``head_timeout`` seconds to send its head and a worker ``io_timeout`` seconds to send the
reply; at most ``max_waiting`` connections wait for their head (the oldest is closed to
make room: a flood of idle sockets cannot lock a scraper out) and at most ``max_queued``
complete requests wait for a worker (more get 503). One request per connection (HTTP/1.0,
as wsgiref answers), so keep-alive connections do not linger either.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler

from driftmon.service.http import App

log = logging.getLogger("driftmon.http")

WORKERS = 8
HEAD_TIMEOUT_SECONDS = 10.0
IO_TIMEOUT_SECONDS = 10.0
MAX_WAITING = 512
MAX_QUEUED = 64
MAX_HEAD_BYTES = 16_384
LISTEN_BACKLOG = 128
"""Pending connections the kernel queues: socketserver's 5 dropped SYNs of concurrent
scrapers, which then waited for TCP retransmits (a second or more)."""

_BUSY = b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_TOO_LARGE = (
    b"HTTP/1.0 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
    b"Connection: close\r\n\r\n"
)
_OUT_OF_FDS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


@dataclass
class _Waiting:
    """A connection whose request head is not complete yet."""

    address: tuple[str, int]
    deadline: float
    head: bytearray = field(default_factory=bytearray)


class _LogWriter(io.StringIO):
    """wsgiref's error stream: a failed request's traceback, one log line per flush."""

    def flush(self) -> None:
        text = self.getvalue().strip()
        if text:
            log.warning("http.request_failed", extra={"detail": text})
        self.seek(0)
        self.truncate()


class _Handler(WSGIRequestHandler):
    """wsgiref's request handler, fed the request head read by the event loop."""

    def __init__(self, conn: socket.socket, address: Any, server: HttpServer, head: bytes):
        self._head = head
        super().__init__(conn, address, server)  # type: ignore[arg-type]  # see base_environ

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the socket's own reader: it would keep the socket open
        self.rfile = io.BytesIO(self._head)

    def get_stderr(self) -> Any:
        return _LogWriter()

    def log_message(self, format: str, *args: Any) -> None:
        return None


class HttpServer:
    """The WSGI app served from background threads; ``start()``, then ``stop()``."""

    def __init__(
        self,
        host: str,
        port: int,
        app: App,
        *,
        workers: int = WORKERS,
        head_timeout: float = HEAD_TIMEOUT_SECONDS,
        io_timeout: float = IO_TIMEOUT_SECONDS,
        max_waiting: int = MAX_WAITING,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self._app = app
        self._head_timeout = head_timeout
        self._io_timeout = io_timeout
        self._max_waiting = max_waiting
        self._max_queued = max_queued
        self._listener = socket.create_server((host, port), backlog=LISTEN_BACKLOG)
        self._listener.setblocking(False)
        self._port = int(self._listener.getsockname()[1])
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="driftmon-http")
        self._queued = 0
        self._queued_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="driftmon-http", daemon=True)
        self.base_environ = {  # what wsgiref's handler reads from its server
            "SERVER_NAME": socket.getfqdn(host) if host else "localhost",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PORT": str(self.port),
            "REMOTE_HOST": "",
            "CONTENT_LENGTH": "",
            "SCRIPT_NAME": "",
        }

    @property
    def port(self) -> int:
        return self._port

    @property
    def listen_backlog(self) -> int:
        return LISTEN_BACKLOG

    def get_app(self) -> App:
        return self._app

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, close waiting connections; requests in progress may finish."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._listener.close()
        self._pool.shutdown(wait=False)  # queued requests are still answered
        self._wake_r.close()
        self._wake_w.close()

    # -- the event loop -------------------------------------------------------------------

    def _loop(self) -> None:
        waiting: dict[socket.socket, _Waiting] = {}  # in order of arrival: oldest first
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                timeout = 1.0
                if waiting:
                    first = next(iter(waiting.values()))
                    timeout = min(timeout, max(0.0, first.deadline - time.monotonic()))
                for key, _ in selector.select(timeout):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self._listener:
                        self._accept(selector, waiting)
                    elif sock is not self._wake_r and sock in waiting:
                        try:
                            self._read(selector, waiting, sock)
                        except Exception:
                            # One connection's trouble must not stop the server.
                            log.exception("http.connection_error")
                            if sock in waiting:
                                self._drop(selector, waiting, sock)
                self._expire(selector, waiting)
            for sock in list(waiting):
                self._drop(selector, waiting, sock)

    def _accept(
        self, selector: selectors.BaseSelector, waiting: dict[socket.socket, _Waiting]
    ) -> None:
        while True:
            try:
                conn, address = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_FDS:
                    # Out of file descriptors: free one, the oldest idle connection.
                    log.warning("http.accept_failed", extra={"error": str(exc)})
                    if waiting:
                        self._drop(selector, waiting, next(iter(waiting)))
                    else:
                        time.sleep(0.05)
                # Anything else (a client that reset before accept) concerns that client.
                return
            if len(waiting) >= self._max_waiting:
                self._drop(selector, waiting, next(iter(waiting)))
            conn.setblocking(False)
            waiting[conn] = _Waiting(address, time.monotonic() + self._head_timeout)
            selector.register(conn, selectors.EVENT_READ)

    def _read(
        self,
        selector: selectors.BaseSelector,
        waiting: dict[socket.socket, _Waiting],
        conn: socket.socket,
    ) -> None:
        state = waiting[conn]
        try:
            data = conn.recv(MAX_HEAD_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._drop(selector, waiting, conn)
            return
        state.head += data
        # The end of the head; a bare LF ends lines in lenient clients (wsgiref reads those).
        if b"\r\n\r\n" in state.head or b"\n\n" in state.head:
            selector.unregister(conn)
            del waiting[conn]
            self._dispatch(conn, state.address, bytes(state.head))
        elif len(state.head) > MAX_HEAD_BYTES:
            self._drop(selector, waiting, conn, reply=_TOO_LARGE)

    def _expire(
        self, selector: selectors.BaseSelector, waiting: dict[socket.socket, _Waiting]
    ) -> None:
        now = time.monotonic()
        while waiting:
            conn, state = next(iter(waiting.items()))
            if state.deadline > now:
                return
            self._drop(selector, waiting, conn)

    def _drop(
        self,
        selector: selectors.BaseSelector,
        waiting: dict[socket.socket, _Waiting],
        conn: socket.socket,
        reply: bytes = b"",
    ) -> None:
        selector.unregister(conn)
        del waiting[conn]
        _close(conn, reply)

    # -- the workers ----------------------------------------------------------------------

    def _dispatch(self, conn: socket.socket, address: tuple[str, int], head: bytes) -> None:
        with self._queued_lock:
            busy = self._queued >= self._max_queued
            if not busy:
                self._queued += 1
        if busy:
            _close(conn, _BUSY)
            return
        try:
            self._pool.submit(self._handle, conn, address, head)
        except RuntimeError:  # the pool is shut down: the server is stopping
            with self._queued_lock:
                self._queued -= 1
            _close(conn, _BUSY)

    def _handle(self, conn: socket.socket, address: tuple[str, int], head: bytes) -> None:
        try:
            conn.setblocking(True)
            conn.settimeout(self._io_timeout)  # for sendall: the whole reply, in total
            _Handler(conn, address, self, head)
        except OSError as exc:  # the client stopped reading, or went away
            log.debug("http.client_gone", extra={"client": address[0], "error": str(exc)})
        finally:
            with self._queued_lock:
                self._queued -= 1
            _close(conn)


def _close(conn: socket.socket, reply: bytes = b"") -> None:
    with contextlib.suppress(OSError):
        if reply:
            conn.setblocking(False)
            conn.send(reply)  # best effort: never wait for a client here
        conn.shutdown(socket.SHUT_RDWR)
    conn.close()
