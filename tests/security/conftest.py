"""Fixtures of the security tests: results databases, the CLI in-process, the daemon as a
subprocess, and the hostile strings every test draws from.

PostgreSQL tests need DRIFTMON_TEST_POSTGRES_URL: each module gets a fresh database on
that server (dropped afterwards) whose schema is emptied before every test.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from driftmon.cli import main
from tests.ci import postgres_server_url

# Every table of the results schema (``migrations/``): none may go missing.
DRIFTMON_TABLES = frozenset(
    {
        "alembic_version",
        "monitors",
        "reference_profiles",
        "runs",
        "feature_results",
        "monitor_stats",
    }
)

# Strings that end a quoted SQL literal or identifier and append a statement.
INJECTIONS = (
    'x"; DROP TABLE runs; --',
    "'; DELETE FROM monitors; --",
    "Robert'); DROP TABLE students;--",
)

# Awkward but legal monitor and feature names (config names reject control characters).
HOSTILE_NAMES = (
    *INJECTIONS,
    'quote " and \\ backslash',
    "<script>alert(1)</script>",
    "emoji 🚨 naïve 日本",
    '{brace="x"} # not a label',
)


NO_HANG_WALL_FACTOR = 10
"""The wall-clock backstop of ``no_hang``, in multiples of its CPU-time bound."""


@contextmanager
def no_hang(seconds: float = 10) -> Iterator[None]:
    """Fail with TimeoutError instead of hanging when the body spends more than ``seconds``
    of CPU time (a parser or a loop spinning), or ``NO_HANG_WALL_FACTOR`` times as long on the
    wall clock (a hang that waits). CPU time, because foreign load stretches wall time:
    refusing "[" * 5000 takes about 1 s of CPU, 9.5 s of wall time at load 14 on 2 cores, and
    its 20 s wall bound ran out in a full run under load."""

    def _cpu(signum: int, frame: Any) -> None:
        raise TimeoutError(f"more than {seconds} s of CPU time: a hang")

    def _wall(signum: int, frame: Any) -> None:
        raise TimeoutError(f"no answer within {seconds * NO_HANG_WALL_FACTOR} s: a hang")

    previous_cpu = signal.signal(signal.SIGPROF, _cpu)
    previous_wall = signal.signal(signal.SIGALRM, _wall)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, seconds * NO_HANG_WALL_FACTOR)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGPROF, previous_cpu)
        signal.signal(signal.SIGALRM, previous_wall)


def pg_server() -> str:
    return postgres_server_url()


def reset_public_schema(url: str) -> None:
    """Drop every table, whatever its name, by recreating the ``public`` schema."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty results database (holding source tables too), once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.db'}"
    url: str = request.getfixturevalue("pg_database")
    reset_public_schema(url)
    return url


def table_rows(url: str) -> dict[str, int]:
    """Every table of the database with its row count."""
    engine = sa.create_engine(url)
    try:
        names = sa.inspect(engine).get_table_names()
        with engine.connect() as conn:
            return {
                n: conn.execute(sa.select(sa.func.count()).select_from(sa.table(n))).scalar_one()
                for n in names
            }
    finally:
        engine.dispose()


def query(url: str, sql: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def as_json(value: Any) -> Any:
    """A JSON column's value as Python, whichever form the driver returned it in."""
    return json.loads(value) if isinstance(value, str | bytes) else value


# -- the command line in-process ------------------------------------------------------------


@pytest.fixture(autouse=True)
def _restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """main() points driftmon's log handler at this test's captured stderr; undo that."""
    monkeypatch.delenv("DRIFTMON_CONFIG", raising=False)
    saved = {n: logging.getLogger(n).handlers[:] for n in ("driftmon", "apscheduler", "alembic")}
    yield
    for name, handlers in saved.items():
        logging.getLogger(name).handlers[:] = handlers


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``driftmon ARGV`` in-process: exit code, stdout, stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write_config(path: Path, data: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(data), allow_unicode=True, sort_keys=False))
    return path


# -- the daemon as a subprocess -------------------------------------------------------------

_LISTEN = re.compile(r"http://[^\s\"]+:(\d+)")


class DaemonProcess:
    """``driftmon run -c CONFIG`` with stdout and stderr in one file; ``base`` is its URL."""

    def __init__(self, config: Path, log: Path, env: Mapping[str, str] | None = None) -> None:
        self.log_path = log
        self._log = log.open("wb")
        base_env = {k: v for k, v in os.environ.items() if k != "DRIFTMON_CONFIG"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "driftmon.cli", "run", "-c", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**base_env, **(env or {})},
        )
        line = self.wait_for("daemon.started", 30)
        port = _LISTEN.search(line)
        assert port is not None, line
        self.port = int(port.group(1))
        self.base = f"http://127.0.0.1:{self.port}"

    def text(self) -> str:
        return self.log_path.read_bytes().decode("utf-8", errors="replace")

    def wait_for(self, needle: str, timeout: float, count: int = 1) -> str:
        """The ``count``-th log line containing ``needle``, waiting up to ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.text().splitlines() if needle in line]
            if len(found) >= count:
                return found[count - 1]
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {needle!r} line within {timeout} s:\n{self.text()}")
            time.sleep(0.05)

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def stop(self) -> int:
        """SIGTERM, then the exit code (killed if it does not stop in time)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        return self.proc.returncode


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Any]:
    """Starts daemons; any still running at the end is stopped."""
    started: list[DaemonProcess] = []

    def start(config: Path, name: str = "daemon", **kw: Any) -> DaemonProcess:
        d = DaemonProcess(config, tmp_path / f"{name}-{len(started)}.log", **kw)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()
