"""Engines tuned per backend, and the one place database errors become StorageError."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote, quote_plus

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import StaticPool

from driftmon.drivers import missing_driver
from driftmon.errors import StorageError
from driftmon.secrets import mask_url, scrub

# Execution option naming how a SQLite transaction begins (DEFERRED or IMMEDIATE).
SQLITE_BEGIN = "driftmon_sqlite_begin"

CONNECT_TIMEOUT_SECONDS = 5
SQLITE_BUSY_TIMEOUT_MS = 30_000
POOL_RECYCLE_SECONDS = 1800
_MAX_ERROR_TEXT = 500


def json_default(value: Any) -> Any:
    """JSON for numpy scalars and arrays and datetimes that reach profile metadata."""
    if hasattr(value, "tolist"):  # numpy scalar or array
        return value.tolist()
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store a {type(value).__name__} as JSON")


def json_serializer(value: Any) -> str:
    # PostgreSQL's json type rejects NaN/Infinity tokens; fail the same way on every backend.
    return json.dumps(value, default=json_default, allow_nan=False)


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _is_memory_sqlite(url: URL) -> bool:
    db = url.database or ""
    return db in ("", ":memory:") or url.query.get("mode") == "memory"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine that fails fast when the server is down and reconnects when it is back.

    PostgreSQL: pre-ping on checkout, recycled connections, a connect timeout.
    SQLite: foreign keys on, WAL for files, a busy timeout, and SQLAlchemy (not the
    sqlite3 module) emitting BEGIN, so transactions and DDL are really transactional.
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
        _configure_sqlite(engine, wal=not _is_memory_sqlite(u))
        return engine
    kwargs["pool_recycle"] = POOL_RECYCLE_SECONDS
    kwargs["pool_timeout"] = 10
    libpq = u.get_driver_name() in ("psycopg", "psycopg2")
    if u.get_backend_name() == "postgresql" and libpq and "connect_timeout" not in u.query:
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    return create_engine(u, **kwargs)


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cur = dbapi_connection.cursor()
        try:
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
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


def storage_error(operation: str, url: str, exc: BaseException) -> StorageError:
    """A StorageError naming the operation and the masked URL; no password in its text."""
    secrets = _password_forms(url)
    cause: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        cause = exc.orig  # the driver's message, without SQLAlchemy's SQL echo and links
    text = " ".join(str(cause).split())
    if len(text) > _MAX_ERROR_TEXT:
        text = text[:_MAX_ERROR_TEXT] + "…"
    detail = scrub(f"{type(cause).__name__}: {text}" if text else type(cause).__name__, secrets)
    return StorageError(f"{operation} failed on {mask_url(url)}: {detail}")


def _password_forms(url: str) -> tuple[str, ...]:
    """The URL's password as given, decoded and re-encoded: every form text may show."""
    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):
        return ()
    if not password:
        return ()
    pw = str(password)
    return tuple(sorted({pw, quote(pw, safe=""), quote_plus(pw)}, key=len, reverse=True))
