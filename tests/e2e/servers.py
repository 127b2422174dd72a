"""Start, wait for and stop the real servers the end-to-end tests run, all on 127.0.0.1.

Every process logs to a file; the conftest attaches the tail of each log to a failed test's
report, so a timeout says what the daemon, Prometheus or Alertmanager were complaining about.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[2]

# Every process started in this session, for the failure report (see conftest.py).
STARTED: list[ManagedProcess] = []


def free_port() -> int:
    """A port nothing listens on right now (the OS's choice; the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class ManagedProcess:
    """A subprocess with its output in ``log``; ``stop()`` terminates, then kills."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, cwd: Path | None = None):
        self.name = name
        self.argv = list(argv)
        self.log = log
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> ManagedProcess:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=env,
            )
        STARTED.append(self)
        return self

    def exited(self) -> int | None:
        """The exit code once the process is gone, else None."""
        return None if self.proc is None else self.proc.poll()

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class Daemon:
    """A running ``driftmon run`` and the port of its HTTP server."""

    process: ManagedProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def target(self) -> str:
        return f"{HOST}:{self.port}"


def wait_for(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.25,
    processes: Sequence[ManagedProcess] = (),
) -> T:
    """Poll ``check`` until it returns something other than None (or False); fail on timeout.

    Fails at once when one of ``processes`` exits: nothing it was supposed to do will happen.
    Exceptions from ``check`` (a server not listening yet) count as "not yet".
    """
    __tracebackhide__ = True
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        for p in processes:
            code = p.exited()
            if code is not None:
                pytest.fail(f"{p.name} exited with code {code} while waiting for {what}")
        try:
            value = check()
        except (OSError, ValueError, KeyError) as exc:
            last_error, value = exc, None
        if value is not None and value is not False:
            return value
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """Status and body of a GET; HTTP error statuses are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def get_json(url: str, timeout: float = 5.0) -> Any:
    status, body = http_get(url, timeout)
    if status != 200:
        raise OSError(f"GET {url}: HTTP {status}: {body[:300]!r}")
    return json.loads(body)


def driftmon_command(*args: str) -> list[str]:
    """The CLI through this interpreter, not .venv/bin/driftmon (which a reinstall replaces)."""
    return [sys.executable, "-m", "driftmon.cli", *args]


class WebhookReceiver:
    """An in-process Alertmanager webhook receiver recording (path, payload) per notification."""

    def __init__(self) -> None:
        self.notifications: list[tuple[str, dict[str, Any]]] = []
        lock = threading.Lock()
        self._lock = lock
        received = self.notifications

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}")
                with lock:
                    received.append((self.path, payload))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def alerts(self, path: str | None = None) -> list[dict[str, Any]]:
        """Every alert received so far (optionally only at ``path``), with ``receiver_path``."""
        with self._lock:
            received = list(self.notifications)
        return [
            {**alert, "receiver_path": p}
            for p, payload in received
            if path is None or p == path
            for alert in payload.get("alerts", [])
        ]
