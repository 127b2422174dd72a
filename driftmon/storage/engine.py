"""Engines tuned per backend, and the one place database errors become StorageError."""

from __future__ import annotations

import importlib
import json
import math
import sqlite3
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    ProgrammingError,
    StatementError,
)
from sqlalchemy.pool import StaticPool

from driftmon.drivers import missing_driver
from driftmon.errors import PermanentStorageError, StorageError
from driftmon.secrets import mask_url, scrub, url_secrets

# Execution option naming how a SQLite transaction begins (DEFERRED or IMMEDIATE).
SQLITE_BEGIN = "driftmon_sqlite_begin"

CONNECT_TIMEOUT_SECONDS = 5.0
"""Default longest wait for a new connection to the results database (its handshake too)."""
STATEMENT_TIMEOUT_SECONDS = 30.0
"""Default longest a statement on the results database may run (SQLite: wait for a lock)."""
POOL_RECYCLE_SECONDS = 1800
# TCP keepalives on PostgreSQL connections, and a bound on unacknowledged sends (libpq 12
# and later): a server that vanished (host down, network partition) is noticed after about
# a minute instead of the kernel's two hours (or 15 minutes of retransmits).
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10}
_KEEPALIVES_COUNT = 3
_TCP_USER_TIMEOUT_MS = 60_000
_TCP_USER_TIMEOUT_SINCE = 120_000  # libpq version number of 12.0
_MAX_ERROR_TEXT = 500
# SQLSTATE classes that blame the data written: 22 data exception (a value too long or out
# of range), 23 integrity constraint violation. Other classes, 42 included (a missing table,
# a revoked privilege), are the database's state, which an operator can fix: retried.
_DATA_SQLSTATE_CLASSES = ("22", "23")


def json_default(value: Any) -> Any:
    """JSON for numpy scalars and arrays and datetimes that reach profile metadata."""
    if hasattr(value, "tolist"):  # numpy scalar or array
        return value.tolist()
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store a {type(value).__name__} as JSON")


# PostgreSQL's json type rejects NaN/Infinity tokens; fail the same way on every backend.
# One encoder, not json.dumps with options (a new encoder at every call: two per feature row).
_JSON_ENCODER = json.JSONEncoder(default=json_default, allow_nan=False)


def json_serializer(value: Any) -> str:
    return _JSON_ENCODER.encode(value)


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _is_memory_sqlite(url: URL) -> bool:
    db = url.database or ""
    return db in ("", ":memory:") or url.query.get("mode") == "memory"


def make_engine(
    url: str,
    *,
    echo: bool = False,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    statement_timeout: float | None = STATEMENT_TIMEOUT_SECONDS,
) -> Engine:
    """An engine that fails fast when the server is down and reconnects when it is back.

    PostgreSQL: pre-ping on checkout, recycled connections, a connect timeout, a
    server-side ``statement_timeout`` (None: none) and TCP keepalives, unless the URL sets
    them itself. SQLite: foreign keys on, WAL for files, a busy timeout of
    ``statement_timeout`` (None: none), and SQLAlchemy (not the sqlite3 module) emitting
    BEGIN, so transactions and DDL are really transactional.
    A PostgreSQL URL without its driver installed raises ImportError naming the extra.
    """
    u = make_url(url)
    problem = missing_driver(u)
    if problem is not None:
        raise ImportError(problem)
    kwargs: dict[str, Any] = {
        "echo": echo,
        "pool_pre_ping": True,
        "hide_parameters": True,  # stored data must not end up in error text
        "json_serializer": json_serializer,
    }
    if _is_sqlite(u):
        if _is_memory_sqlite(u):
            # One shared connection, so every thread sees the same in-memory database.
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"] = {"check_same_thread": False}
        engine = create_engine(u, **kwargs)
        busy_ms = 0 if statement_timeout is None else math.ceil(statement_timeout * 1000)
        _configure_sqlite(engine, wal=not _is_memory_sqlite(u), busy_timeout_ms=busy_ms)
        return engine
    kwargs["pool_recycle"] = POOL_RECYCLE_SECONDS
    kwargs["pool_timeout"] = 10
    driver = u.get_driver_name()
    if u.get_backend_name() == "postgresql" and driver in ("psycopg", "psycopg2"):
        kwargs["connect_args"] = libpq_connect_args(
            u, connect_timeout, statement_timeout, libpq_version=_libpq_version(driver)
        )
    return create_engine(u, **kwargs)


def libpq_connect_args(
    url: URL, connect_timeout: float, statement_timeout: float | None, *, libpq_version: int
) -> dict[str, Any]:
    """libpq connection parameters bounding every wait on the server; the URL's own win.

    libpq counts ``connect_timeout`` in whole seconds (at least 2); ``statement_timeout``
    is sent as a server setting in ``options``, after the URL's own ``options``.
    ``tcp_user_timeout`` is left out for a libpq older than 12, which would refuse it.
    """
    args: dict[str, Any] = {
        "connect_timeout": max(2, math.ceil(connect_timeout)),
        **_KEEPALIVES,
        "keepalives_count": _KEEPALIVES_COUNT,
    }
    if libpq_version >= _TCP_USER_TIMEOUT_SINCE:
        args["tcp_user_timeout"] = _TCP_USER_TIMEOUT_MS
    args = {k: v for k, v in args.items() if k not in url.query}
    given = url.query.get("options")
    options = [given] if isinstance(given, str) and given else []
    if statement_timeout is not None and "statement_timeout" not in " ".join(options):
        options.append(f"-c statement_timeout={math.ceil(statement_timeout * 1000)}")
    if options:
        args["options"] = " ".join(options)
    return args


def _libpq_version(driver: str) -> int:
    """The version number (170002 for 17.2) of the libpq the driver uses; 0 if unknown."""
    try:
        if driver == "psycopg":
            import psycopg

            return int(psycopg.pq.version())
        # Not a dependency (driftmon ships psycopg 3): looked up by name, untyped.
        extensions = importlib.import_module("psycopg2.extensions")
        return int(extensions.libpq_version())
    except ImportError:
        return 0  # create_engine reports the missing driver itself


def _configure_sqlite(engine: Engine, *, wal: bool, busy_timeout_ms: int) -> None:
    # A run's feature rows as multi-row INSERTs (SQLAlchemy's "insertmanyvalues"), not
    # sqlite3's executemany: that steps row by row and gives the GIL up and back at every
    # row, so with other threads busy (the HTTP server under scrapers) storing 200 rows
    # took 1.6 s instead of 3 ms; as one statement, 32 ms (benchmarks/README.md).
    engine.dialect.use_insertmanyvalues_wo_returning = True

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cur = dbapi_connection.cursor()
        try:
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            if wal:
                cur.execute("PRAGMA journal_mode=WAL")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the lock up front (IMMEDIATE): a deferred transaction that read
        # first could not upgrade to a writer if another one committed meanwhile.
        mode = conn.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        if mode not in ("DEFERRED", "IMMEDIATE"):
            raise ValueError(f"unknown SQLite begin mode {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")


def is_permanent(exc: BaseException) -> bool:
    """True when ``exc`` says the database refused the data itself: retrying cannot help.

    Connection and operational errors (an outage, a timeout, a lock, a failover) are not.
    """
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return False
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if isinstance(code, str) and len(code) == 5:
            return code[:2] in _DATA_SQLSTATE_CLASSES
        # No SQLSTATE (SQLite): the DB-API class says it; ProgrammingError is a value that
        # cannot be bound there, never a lost connection. Other drivers without a SQLSTATE
        # (psycopg refusing a connection option) describe a setup an operator can fix.
        if isinstance(exc.orig, sqlite3.Error):
            return isinstance(exc, DataError | IntegrityError | ProgrammingError)
        return False
    # A value SQLAlchemy could not turn into a parameter (e.g. NaN into JSON).
    return isinstance(exc, StatementError)


def storage_error(
    operation: str, url: str, exc: BaseException, *, permanent: bool | None = None
) -> StorageError:
    """A StorageError naming the operation and the masked URL; no password in its text.

    A ``PermanentStorageError`` when the database refused the data (``is_permanent``, unless
    ``permanent`` says otherwise).
    """
    secrets = url_secrets(url)
    cause: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        cause = exc.orig  # the driver's message, without SQLAlchemy's SQL echo and links
    text = " ".join(str(cause).split())
    if len(text) > _MAX_ERROR_TEXT:
        text = text[:_MAX_ERROR_TEXT] + "…"
    detail = scrub(f"{type(cause).__name__}: {text}" if text else type(cause).__name__, secrets)
    if permanent is None:
        permanent = is_permanent(exc)
    kind = PermanentStorageError if permanent else StorageError
    return kind(f"{operation} failed on {mask_url(url)}: {detail}")
