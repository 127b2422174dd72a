"""The results database cannot hold the daemon forever: connect and statement timeouts.

A locked table stands for a database that accepts the connection but never answers the
statement; a socket that accepts and never replies for one that never finishes the handshake.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from driftmon.errors import StorageError
from driftmon.results import RunResult
from driftmon.storage import Store
from driftmon.storage.engine import libpq_connect_args
from driftmon.storage.store import _MIGRATION_LOCK_KEY

MakeRun = Callable[..., RunResult]


def finishes_within(
    seconds: float, call: Callable[[], object]
) -> tuple[bool, BaseException | None]:
    """Run ``call`` in a thread: whether it returned within ``seconds``, and what it raised."""
    raised: list[BaseException] = []

    def target() -> None:
        try:
            call()
        except BaseException as exc:  # reported to the test, not swallowed
            raised.append(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    return not worker.is_alive(), raised[0] if raised else None


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    listener.close()
    for conn in accepted:
        conn.close()


def test_libpq_parameters_bound_connect_and_statements_and_the_url_wins() -> None:
    args = libpq_connect_args(
        make_url("postgresql+psycopg://u@h/db?keepalives_idle=5&options=-c%20search_path%3Dx"),
        connect_timeout=0.5,
        statement_timeout=2.5,
        libpq_version=170_002,
    )
    assert args["connect_timeout"] == 2  # libpq's minimum; whole seconds
    assert "keepalives_idle" not in args  # the URL's own value is used
    assert args["keepalives_count"] == 3
    assert args["tcp_user_timeout"] == 60_000
    assert args["options"] == "-c search_path=x -c statement_timeout=2500"
    unbounded = libpq_connect_args(
        make_url("postgresql+psycopg://u@h/db?connect_timeout=9"), 5.0, None, libpq_version=0
    )
    assert "connect_timeout" not in unbounded
    assert "options" not in unbounded
    assert "tcp_user_timeout" not in unbounded  # an old libpq would refuse to connect
    own = make_url("postgresql+psycopg://u@h/db?options=-c%20statement_timeout%3D0")
    assert libpq_connect_args(own, 5.0, 1.0, libpq_version=0)["options"] == (
        "-c statement_timeout=0"
    )


def test_a_server_that_never_answers_the_handshake_fails_within_the_connect_timeout(
    silent_server: int,
) -> None:
    store = Store(f"postgresql+psycopg://u:pw@127.0.0.1:{silent_server}/db", connect_timeout=2)
    started = time.monotonic()
    done, raised = finishes_within(10, store.ping)
    assert done, "ping hung on a server that never answers"
    assert isinstance(raised, StorageError)
    assert time.monotonic() - started < 6
    store.dispose()


@pytest.mark.postgres
def test_a_statement_that_never_returns_fails_within_the_statement_timeout(
    pg_database: str, make_run: MakeRun
) -> None:
    """A table locked by someone else: saving a run gives up after statement_timeout."""
    Store(pg_database).upgrade()
    store = Store(pg_database, statement_timeout=1.0)
    locker = create_engine(pg_database)
    try:
        with locker.connect() as conn, conn.begin():
            conn.exec_driver_sql("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            done, raised = finishes_within(15, lambda: store.save_run(make_run()))
            took = time.monotonic() - started
            assert done, "save_run hung on a locked table"
            assert isinstance(raised, StorageError), raised
            assert "statement timeout" in str(raised)
            assert took < 5
        store.save_run(make_run())  # the lock is gone: stored
        assert len(store.runs("orders")) == 1
    finally:
        locker.dispose()
        store.dispose()


@pytest.mark.postgres
def test_a_schema_upgrade_is_not_bounded_by_the_statement_timeout(pg_database: str) -> None:
    """Waiting for another process's migration (its advisory lock) outlasts the timeout."""
    admin = create_engine(pg_database)
    store = Store(pg_database, statement_timeout=0.5)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            conn.commit()
            started = time.monotonic()
            upgrading = threading.Thread(target=store.upgrade, daemon=True)
            upgrading.start()
            upgrading.join(2.0)
            assert upgrading.is_alive(), "the upgrade did not wait for the lock"
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            conn.commit()
            upgrading.join(20)
        assert not upgrading.is_alive()
        assert time.monotonic() - started >= 2.0
        assert store.current_revision() is not None
    finally:
        admin.dispose()
        store.dispose()


def test_sqlite_waits_for_a_lock_at_most_the_statement_timeout(
    tmp_path: Path, make_run: MakeRun
) -> None:
    db = tmp_path / "results.db"
    Store(f"sqlite:///{db}").upgrade()
    store = Store(f"sqlite:///{db}", statement_timeout=0.5)
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        done, raised = finishes_within(15, lambda: store.save_run(make_run()))
        assert done
        assert isinstance(raised, StorageError)
        assert "locked" in str(raised)
        assert time.monotonic() - started < 5  # the default would wait 30 s
    finally:
        holder.rollback()
        holder.close()
        store.dispose()
