"""Fixtures of the fault tests: the daemon as a subprocess, a TCP proxy that fails on
demand, a fresh PostgreSQL database per module, and small data files.

The real PostgreSQL server is never stopped: "PostgreSQL is down" is a closed proxy (new
connections are refused, open ones cut), "PostgreSQL is slow" a proxy that delays what the
client sends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

START_TIMEOUT = 20.0
LIVENESS_ROOM = 3.0
"""What the timeouts of ``wait_log``, ``wait_until`` and ``terminate`` are multiplied by.
They bound things that happen anyway (a start, a run, an exit), never a promised speed; under
foreign load on the 2-core CI machine a daemon took more than 20 s to start (its schema
upgrade) and a first run behind the slow link more than 15 s. A test that pins a latency
measures it itself with ``time.monotonic()`` and says so."""
Labels = tuple[tuple[str, str], ...]


# -- PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """The module's database, emptied (schema dropped) before the test."""
    engine = sa.create_engine(pg_database, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()
    return pg_database


def via_proxy(url: str, proxy: FaultProxy) -> str:
    """``url`` pointed at the proxy instead of the server."""
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(False)


def query(url: str, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Rows of one query on a direct (never proxied) connection."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.text(sql), dict(params or {}))]
    finally:
        engine.dispose()


RUNS_WITH_FEATURES = (
    "SELECT m.name AS monitor, r.id, r.window_end, r.status, r.error, r.live_rows, "
    "r.started_at, r.finished_at, COUNT(f.id) AS n_features "
    "FROM runs r JOIN monitors m ON m.id = r.monitor_id "
    "LEFT JOIN feature_results f ON f.run_id = r.id "
    "GROUP BY m.name, r.id, r.window_end, r.status, r.error, r.live_rows, r.started_at, "
    "r.finished_at ORDER BY m.name, r.window_end"
)


def stored_runs(url: str) -> list[dict[str, Any]]:
    """Every stored run with its monitor name and number of feature rows; times in UTC."""
    runs = query(url, RUNS_WITH_FEATURES)
    for r in runs:
        for key in ("window_end", "started_at", "finished_at"):
            r[key] = _utc(r[key])
    return runs


def _utc(value: datetime | str) -> datetime:
    """A stored time as aware UTC (SQLite hands back naive UTC text)."""
    t = datetime.fromisoformat(value) if isinstance(value, str) else value
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def assert_whole(runs: list[dict[str, Any]], features: Mapping[str, int]) -> None:
    """Every run has all its features (or none, for a run that could not read its sources)."""
    for r in runs:
        n = features[r["monitor"]]
        # A run that could not read its sources has no feature rows; any other has them all.
        expected = {0, n} if r["status"] == "error" else {n}
        assert r["n_features"] in expected, f"run stored half: {r}"


def assert_counts_match_stats(url: str) -> None:
    """monitor_stats counts exactly the stored runs (nothing pruned in these tests)."""
    rows = query(
        url,
        "SELECT m.name, "
        "s.runs_success + s.runs_partial + s.runs_failure + s.runs_insufficient_data AS counted, "
        "(SELECT COUNT(*) FROM runs r WHERE r.monitor_id = m.id) AS stored "
        "FROM monitors m JOIN monitor_stats s ON s.monitor_id = m.id",
    )
    for r in rows:
        assert r["counted"] == r["stored"], f"monitor_stats disagrees with the runs: {r}"


# -- a TCP proxy that fails on demand -----------------------------------------------------


class FaultProxy:
    """Forwards 127.0.0.1:``port`` to a server; the port stays the same across faults.

    ``cut()``: the listener closes (connections are refused) and open connections are cut,
    as when the server is stopped. ``restore()`` listens again on the same port.
    ``delay``: seconds to wait before forwarding each chunk the client sends (a slow link).
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self.delay = 0.0
        self.port = 0
        self._listen()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._accepting.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if listener is not self._listener:
                    client.close()
                    upstream.close()
                    return
                self._sockets |= {client, upstream}
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        try:
            while data := src.recv(65536):
                if from_client and self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Refuse new connections and cut the open ones."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() in progress
            listener.close()
        if self._accepting is not None:
            self._accepting.join(timeout=5)
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        """Accept connections again, on the same port."""
        if self._listener is None:
            self._listen()

    def close(self) -> None:
        self.cut()


@pytest.fixture
def proxies() -> Iterator[Callable[[str], FaultProxy]]:
    """Makes proxies to a database URL's server; all are closed at the end."""
    made: list[FaultProxy] = []

    def make(url: str) -> FaultProxy:
        u = make_url(url)
        p = FaultProxy(u.host or "127.0.0.1", u.port or 5432)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


class SilentServer:
    """A port that accepts connections and never says a word: a frozen database server."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port: int = self._listener.getsockname()[1]
        self._accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._accepted.append(conn)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=5)
        for conn in self._accepted:
            conn.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def dead_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.create_server(("127.0.0.1", 0)) as s:
        port: int = s.getsockname()[1]
    return port


# -- the daemon -----------------------------------------------------------------------------


class DaemonProcess:
    """``driftmon run`` in a subprocess with JSON logs in a file; its address from the log."""

    def __init__(
        self,
        config: Path,
        log: Path,
        *,
        wait: bool = True,
        args: Sequence[str] = (),
        python: Sequence[str] = (),
    ) -> None:
        """``python``: what follows the interpreter instead of ``-m driftmon.cli``."""
        self.log_path = log
        self._log = log.open("wb")
        env = {k: v for k, v in os.environ.items() if k != "DRIFTMON_CONFIG"}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                *(python or ("-m", "driftmon.cli")),
                "run",
                "-c",
                str(config),
                *args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.base = ""
        if wait:
            self.wait_started()

    def wait_started(self) -> None:
        started = self.wait_log(lambda e: e.get("event") == "daemon.started", START_TIMEOUT)
        self.base = started["listen"]

    def logs(self, event: str | None = None) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                entry = {"event": "<not json>", "line": line}
            if event is None or entry.get("event") == event:
                out.append(entry)
        return out

    def wait_log(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float, count: int = 1
    ) -> dict[str, Any]:
        """The ``count``-th log entry matching ``pred``, waiting up to ``timeout`` s (times
        ``LIVENESS_ROOM``)."""
        timeout *= LIVENESS_ROOM
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.logs() if pred(e)]
            if len(found) >= count:
                return found[count - 1]
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} matching log lines not seen:\n{self.text()}")
            time.sleep(0.05)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def get(self, path: str, timeout: float = 5) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=timeout) as resp:
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def health(self) -> tuple[int, dict[str, Any]]:
        status, body = self.get("/healthz")
        return status, json.loads(body)

    def metrics(self) -> dict[tuple[str, Labels], float]:
        status, body = self.get("/metrics")
        assert status == 200, body
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(body)
            for s in fam.samples
        }

    def sample(self, name: str, **labels: str) -> float | None:
        return self.metrics().get((name, tuple(sorted(labels.items()))))

    def wait_exit(self, timeout: float) -> int:
        """The exit code within ``timeout`` s (times ``LIVENESS_ROOM``)."""
        return self.proc.wait(timeout=timeout * LIVENESS_ROOM)

    def terminate(self, timeout: float = 15) -> int:
        """SIGTERM, then the exit code within ``timeout`` s (times ``LIVENESS_ROOM``)."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout * LIVENESS_ROOM)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """Starts daemons; any still running at the end is killed."""
    started: list[DaemonProcess] = []

    def start(
        config: Path,
        name: str = "daemon",
        *,
        wait: bool = True,
        args: Sequence[str] = (),
        python: Sequence[str] = (),
    ) -> DaemonProcess:
        d = DaemonProcess(
            config, tmp_path / f"{name}-{len(started)}.log", wait=wait, args=args, python=python
        )
        started.append(d)
        return d

    yield start
    for d in started:
        d.kill()


def wait_until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``pred`` until true, for up to ``timeout`` s (times ``LIVENESS_ROOM``)."""
    timeout *= LIVENESS_ROOM
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)


# -- data and configuration -----------------------------------------------------------------


def write_parquet(path: Path, columns: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(dict(columns)), path)
    return path


def data_columns(n: int = 1000, seed: int = 0, shift: float = 0.0) -> dict[str, Any]:
    """x ~ N(shift, 1), y ~ N(5, 2), c in {a, b, c}."""
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(shift, 1.0, n),
        "y": rng.normal(5.0, 2.0, n),
        "c": rng.choice(["a", "b", "c"], n).astype(object),
    }


FEATURES = [
    {"name": "x", "bins": 8},
    {"name": "y", "bins": 8},
    {"name": "c", "type": "categorical"},
]


def sqlite_table(path: Path, columns: Mapping[str, Any], table: str = "live") -> str:
    """``columns`` as a table in a SQLite file; returns its URL."""
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    try:
        names = list(columns)
        rows = [
            dict(zip(names, vals, strict=True))
            for vals in zip(*(list(np.asarray(columns[n]).tolist()) for n in names), strict=True)
        ]
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE TABLE {table} ({', '.join(names)})")
            conn.execute(
                sa.text(f"INSERT INTO {table} VALUES ({', '.join(':' + n for n in names)})"), rows
            )
    finally:
        engine.dispose()
    return url


def write_config(
    path: Path,
    database_url: str,
    monitors: list[dict[str, Any]],
    *,
    database: Mapping[str, Any] | None = None,
    **top: Any,
) -> Path:
    """A daemon config; ``database`` adds keys (timeouts) to the ``database:`` section."""
    data = {
        "database": {"url": database_url, **(database or {})},
        "server": {"host": "127.0.0.1", "port": 0},
        "log": {"format": "json", "level": "INFO"},
        "monitors": monitors,
        **top,
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def monitor(name: str, live: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """A monitor of x, y, c on ``reference.parquet``, every second, static thresholds."""
    return {
        "name": name,
        "schedule": {"every": "1s"},
        "reference": {"path": "reference.parquet"},
        "live": dict(live),
        "features": FEATURES,
        "thresholds": {"warning": 0.05, "critical": 0.2},
        **extra,
    }
