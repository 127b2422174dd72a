"""A SQL table or query, read as streamed Arrow record batches through SQLAlchemy Core.

Safety: table, schema and column names reach SQL only through ``sqlalchemy.table()`` /
``column()``, which quote them; window bounds only as bound parameters. The source's
connections are read-only (PostgreSQL ``default_transaction_read_only``, SQLite
``PRAGMA query_only``) and PostgreSQL sessions run in UTC.

Window rule (same result as for files, see ``driftmon.sources.timestamps``):

- a query that uses ``:start`` / ``:end`` defines the window itself: both are bound to the
  window's UTC bounds (PostgreSQL and others: ``timestamptz``; SQLite: text
  ``YYYY-MM-DD HH:MM:SS[.ffffff]``, SQLite's own ``datetime()`` format) and nothing else
  is filtered. Write ``CAST(:start AS ...)``, not ``:start::...``;
- otherwise (a table, or a query without them, which is wrapped as a subquery) the database
  filters ``timestamp_column`` with bound parameters (exact for UTC; a superset covering
  the DST shifts for a local ``naive_timezone``; on SQLite through ``julianday()`` so ISO
  text with or without offset and epoch numbers compare as instants; elsewhere a column
  the driver reports as a number is compared with epoch numbers in ``timestamp_unit``) and
  the exact rule runs on each batch.

Push-down: ``histograms`` and ``reference_profile`` count in the database instead of
pulling rows where that is exact (``driftmon.sources.sql_pushdown``).

Time range: ``timestamp_span`` runs one ``SELECT count(ts), min(ts), max(ts)`` (min and max
as the database orders the values), for the message of an empty window.

Timeout: ``timeout_seconds`` bounds connecting and each database round trip (the query's
start, and each fetch of ``batch_rows`` rows), not a whole long read. PostgreSQL (psycopg):
``connect_timeout`` (at least libpq's 2 s) and ``statement_timeout``; SQLite: a progress
handler that interrupts a statement past the deadline, and the lock wait. Other dialects:
not enforced.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchTableError, SQLAlchemyError

from driftmon.core.profile import FeatureSpec
from driftmon.errors import ColumnError, ConfigError, SourceError
from driftmon.secrets import mask_url, scrub, url_secrets
from driftmon.sources import pg_bulk, sql_pushdown
from driftmon.sources.base import Window, column_list
from driftmon.sources.pushdown import PushedCounts, PushedFeature
from driftmon.sources.pushdown_reference import BuiltReference
from driftmon.sources.rows import column_to_arrow, rows_to_batch
from driftmon.sources.timespan import TimeSpan, span_of
from driftmon.sources.timestamps import (
    PER_SECOND,
    EpochUnit,
    bound,
    check_timezone,
    check_unit,
    check_window,
    filter_window,
    naive_superset,
    to_utc,
)

log = logging.getLogger("driftmon.sources")

_WINDOW_PARAMS = ("start", "end")
_SUBQUERY = "driftmon_q"
_JULIAN_UNIX_EPOCH = 2440587.5
_QUERY_CANCELED = "57014"  # PostgreSQL SQLSTATE of statement_timeout
_SQLITE_STEPS = 1000  # VM instructions between deadline checks
# The window a query using :start/:end is run over to find its time range.
_ALL_TIME = Window(datetime(1000, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC))


class SqlSource:
    """Rows of a table or of a query in any SQLAlchemy database; see the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        query: str | None = None,
        table: str | None = None,
        schema: str | None = None,
        timestamp_column: str | None = None,
        naive_timezone: str = "UTC",
        timestamp_unit: EpochUnit = "s",
        batch_rows: int = 65_536,
        timeout_seconds: float | None = None,
        bulk: bool = True,
        pushdown: bool = True,
        fingerprint_data: bool = True,
    ) -> None:
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError) as exc:
            raise ConfigError(f"invalid database URL {scrub(url)!r}") from exc
        self._secrets = url_secrets(url)
        self.masked_url = mask_url(url)
        if (query is None) == (table is None):
            raise ConfigError(f"{self.masked_url}: give exactly one of query or table")
        if schema is not None and table is None:
            raise ConfigError(f"{self.masked_url}: schema applies to a table, not a query")
        if batch_rows < 1:
            raise ConfigError(f"batch_rows must be at least 1, got {batch_rows}")
        if timeout_seconds is not None and not timeout_seconds > 0:
            raise ConfigError(f"timeout_seconds must be positive, got {timeout_seconds}")
        self._url = _with_driver(parsed)
        self.table = table
        self.schema = schema
        self.query = _strip_query(query) if query is not None else None
        self.timestamp_column = timestamp_column
        self.naive_timezone = check_timezone(naive_timezone)
        self.timestamp_unit = check_unit(timestamp_unit)
        self.batch_rows = batch_rows
        self.timeout_seconds = timeout_seconds
        self.bulk = bulk
        """PostgreSQL: read rows by binary COPY (``driftmon.sources.pg_bulk``) when possible."""
        self._bulk_fallback_logged = False
        self.pushdown = pushdown
        self.fingerprint_data = fingerprint_data
        self.uses_window_params = False
        if self.query is not None:
            params = set(sa.text(self.query).compile().params)
            unknown = params - set(_WINDOW_PARAMS)
            if unknown:
                raise ConfigError(
                    f"{self.describe()}: unknown bound parameter(s) "
                    f"{', '.join(':' + p for p in sorted(unknown))}; only :start and :end "
                    "are bound (write \\: for a literal colon)"
                )
            self.uses_window_params = bool(params)
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SqlSource({self.describe()!r})"

    def __enter__(self) -> SqlSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_sqlite(self) -> bool:
        return self._url.get_backend_name() == "sqlite"

    @property
    def dialect(self) -> str:
        """The SQLAlchemy backend name: postgresql, sqlite, duckdb, ..."""
        return str(self._url.get_backend_name())

    def describe(self) -> str:
        if self.table is not None:
            name = f"{self.schema}.{self.table}" if self.schema else self.table
            return f"{self.masked_url} table {name!r}"
        text = " ".join((self.query or "").split())
        return f"{self.masked_url} query {text[:200] + ('...' if len(text) > 200 else '')!r}"

    def close(self) -> None:
        """Dispose of the engine and its pooled connections; the next read makes a new one."""
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()

    def fingerprint(self) -> str:
        """sha256 of the masked URL and table/query; for a table also its row count and max ts.

        A query's data is not hashed (that would run it): rebuild its reference explicitly;
        nor a table's with ``fingerprint_data`` off (no count over a large table per run).
        """
        parts = ["sql", self.masked_url]
        if self.query is not None:
            parts += ["query", self.query]
        elif not self.fingerprint_data:
            parts += ["table", self.schema or "", self.table or "", "definition only"]
        else:
            parts += ["table", self.schema or "", self.table or "", self.timestamp_column or ""]
            with self._connect("fingerprinting") as (conn, _):
                t = self._table([self.timestamp_column] if self.timestamp_column else [])
                stats: list[Any] = [sa.func.count()]
                if self.timestamp_column:
                    stats.append(sa.func.max(t.c[self.timestamp_column]))
                row = conn.execute(sa.select(*stats).select_from(t)).one()
            parts += [str(v) for v in row]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def columns(self) -> list[str]:
        """Column names, from reflection (table) or a ``LIMIT 0`` run of the query."""
        with self._connect("reading columns of") as (conn, _):
            return self._columns(conn)

    def _window_columns(
        self, columns: Sequence[str], window: Window | None
    ) -> tuple[list[str], bool]:
        """The columns a read of ``window`` needs (``columns`` and the timestamp column when
        the window is cut by it), and whether it is; a window this source cannot cut, or a
        query needing one that was not given, is a SourceError."""
        needed = list(dict.fromkeys(columns))
        by_column = window is not None and not self.uses_window_params
        if window is not None:
            check_window(window)
        elif self.uses_window_params:
            raise SourceError(f"{self.describe()}: the query uses :start/:end; give a window")
        if by_column:
            ts = self.timestamp_column
            if ts is None:
                raise SourceError(
                    f"{self.describe()}: a window needs a timestamp_column "
                    "or a query that uses :start and :end"
                )
            if ts not in needed:
                needed.append(ts)
        return needed, by_column

    def _require_columns(self, conn: Connection, names: Sequence[str]) -> None:
        """A ColumnError naming the first of ``names`` the source lacks, and what it has."""
        available = self._columns(conn)
        for name in names:
            if name not in available:
                raise ColumnError(
                    f"{self.describe()}: column {name!r} not found; it has {column_list(available)}"
                )

    def batches(
        self, columns: Sequence[str], window: Window | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Batches of ``columns`` streamed from the database, ``batch_rows`` rows at a time."""
        wanted = list(dict.fromkeys(columns))
        ts = self.timestamp_column
        needed, by_column = self._window_columns(wanted, window)
        with self._connect("reading") as (conn, deadline):
            self._require_columns(conn, needed)
            numeric = by_column and self._numeric_timestamp(conn)
            stmt = self._select(needed, window if by_column else None, numeric=numeric)
            fetched = self._copied(conn, stmt, window, deadline)
            if fetched is None:
                fetched = self._fetched(conn, stmt, window, needed, deadline)
            for batch in fetched:
                if by_column and window is not None and ts is not None:
                    where = f"{self.describe()} column {ts!r}"
                    batch = filter_window(
                        batch,
                        ts,
                        window,
                        self.naive_timezone,
                        where=where,
                        epoch_unit=self.timestamp_unit,
                    )
                if batch.num_rows:
                    yield batch.select(wanted)

    def _fetched(
        self,
        conn: Connection,
        stmt: sa.Select[Any],
        window: Window | None,
        names: Sequence[str],
        deadline: _Deadline,
    ) -> Iterator[pa.RecordBatch]:
        """Rows fetched through SQLAlchemy, ``batch_rows`` at a time, as Arrow batches."""
        deadline.reset()
        result = conn.execution_options(yield_per=self.batch_rows).execute(
            stmt, self._window_params(window)
        )
        while True:
            deadline.reset()
            rows = result.fetchmany(self.batch_rows)
            if not rows:
                return
            yield rows_to_batch(names, rows, self.naive_timezone)

    def _copied(
        self, conn: Connection, stmt: sa.Select[Any], window: Window | None, deadline: _Deadline
    ) -> Iterator[pa.RecordBatch] | None:
        """The batches of ``stmt`` read by PostgreSQL's binary COPY, or None (with one log
        line) when this source cannot use it and its rows are fetched instead.

        The statement is the one ``_fetched`` runs, compiled for this connection's dialect
        and bound client-side by psycopg. ``statement_timeout`` bounds the whole COPY, which
        the runner's ``source_timeout`` (the same value) bounds anyway.
        """
        if not self.bulk or self._url.get_backend_name() != "postgresql":
            return None
        reason = pg_bulk.unavailable_reason()
        if reason is None and self._url.get_driver_name() != "psycopg":
            reason = f"the driver is {self._url.get_driver_name()}, not psycopg"
        if reason is not None:
            self._log_fallback(reason)
            return None
        compiled = stmt.compile(dialect=conn.dialect)
        params = {**compiled.params, **self._window_params(window)}
        query = pg_bulk.bind_client_side(conn.connection.driver_connection, str(compiled), params)
        deadline.reset()
        copied = pg_bulk.copy_batches(
            self._conninfo(),
            query,
            batch_rows=self.batch_rows,
            naive_timezone=self.naive_timezone,
        )
        try:
            first = next(copied)
        except StopIteration:
            return iter(())
        except pg_bulk.UnsupportedColumn as exc:
            self._log_fallback(str(exc))
            return None
        except _adbc_errors() as exc:
            raise self._error("reading", exc, deadline) from exc
        return self._guarded(itertools.chain([first], copied), deadline)

    def _guarded(
        self, batches: Iterator[pa.RecordBatch], deadline: _Deadline
    ) -> Iterator[pa.RecordBatch]:
        """``batches`` with driver errors as SourceError naming the source."""
        try:
            yield from batches
        except _adbc_errors() as exc:
            raise self._error("reading", exc, deadline) from exc

    def _log_fallback(self, reason: str) -> None:
        if not self._bulk_fallback_logged:
            self._bulk_fallback_logged = True
            log.info(
                "sql.bulk_fallback",
                extra={"source": self.describe(), "reason": reason, "path": "fetched rows"},
            )

    def _conninfo(self) -> str:
        """libpq connection string of this source, with its session settings."""
        from psycopg.conninfo import make_conninfo

        _, kwargs = self._get_engine().dialect.create_connect_args(self._url)
        merged = {**kwargs, **self._pg_connect_args()}
        # Only libpq's own settings: the dialect also passes psycopg objects (adapters).
        return make_conninfo("", **{k: v for k, v in merged.items() if isinstance(v, str | int)})

    def histograms(
        self, features: Mapping[str, PushedFeature], window: Window | None = None
    ) -> PushedCounts | None:
        """The window's histograms counted by the database; None (logged): pull rows."""
        return sql_pushdown.live_histograms(self, features, window)

    def reference_profile(
        self, specs: Sequence[tuple[str, FeatureSpec]], window: Window | None = None
    ) -> BuiltReference | None:
        """The reference profile built by the database (over ``window`` when given);
        None (logged): pull rows."""
        return sql_pushdown.reference(self, specs, window)

    def timestamp_span(self) -> TimeSpan | None:
        """Earliest and latest ``timestamp_column`` value (None: no row has one), from one
        aggregate query; a query using :start/:end is run over all of time."""
        ts = self.timestamp_column
        if ts is None:
            raise SourceError(f"{self.describe()}: a time range needs a timestamp_column")
        with self._connect("reading the time range of") as (conn, deadline):
            available = self._columns(conn)
            if ts not in available:
                raise ColumnError(
                    f"{self.describe()}: timestamp column {ts!r} not found; "
                    f"it has {', '.join(available)}"
                )
            col = self._source([ts]).c[ts]
            stmt = sa.select(sa.func.count(col), sa.func.min(col), sa.func.max(col))
            deadline.reset()
            rows, first, last = conn.execute(stmt, self._window_params(_ALL_TIME)).one()
        if not rows:
            return None
        values = column_to_arrow([first, last], self.naive_timezone)
        where = f"{self.describe()} column {ts!r}"
        utc = to_utc(values, self.naive_timezone, where=where, epoch_unit=self.timestamp_unit)
        unit = self.timestamp_unit if pa.types.is_integer(values.type) else None
        span = span_of(utc, unit)
        assert span is not None  # count(ts) > 0: min and max are not NULL
        return TimeSpan(span.first_us, span.last_us, int(rows), unit)

    # -- statements -------------------------------------------------------------------

    def _table(self, names: Sequence[str]) -> sa.TableClause:
        assert self.table is not None
        return sa.table(self.table, *(sa.column(n) for n in names), schema=self.schema)

    def _query_clause(self) -> sa.TextClause:
        assert self.query is not None
        clause = sa.text(self.query)
        if self.uses_window_params:
            kind: sa.types.TypeEngine[Any] = (
                sa.String() if self.is_sqlite else sa.DateTime(timezone=True)
            )
            present = set(clause.compile().params)
            clause = clause.bindparams(
                *(sa.bindparam(p, type_=kind) for p in _WINDOW_PARAMS if p in present)
            )
        return clause

    def _window_params(self, window: Window | None) -> dict[str, Any]:
        if not self.uses_window_params:
            return {}
        if window is None:  # only the LIMIT 0 probe of the columns gets here
            now = datetime.now(UTC)
            window = Window(now, now)
        return {
            "start": self._bind_instant(window.start),
            "end": self._bind_instant(window.end),
        }

    def _bind_instant(self, dt: datetime) -> datetime | str:
        utc = dt.astimezone(UTC)
        if not self.is_sqlite:
            return utc
        return utc.strftime("%Y-%m-%d %H:%M:%S" + (".%f" if utc.microsecond else ""))

    def _source(self, names: Sequence[str]) -> sa.TableClause | sa.Subquery:
        """The table, or the query as a subquery, with ``names`` as its columns."""
        if self.table is not None:
            return self._table(names)
        textual = self._query_clause().columns(*(sa.column(n) for n in names))
        return textual.subquery(_SUBQUERY)

    def _select(
        self, names: Sequence[str], window: Window | None, *, numeric: bool = False
    ) -> sa.Select[Any]:
        source = self._source(names)
        stmt = sa.select(*(source.c[n] for n in names))
        if window is not None and self.timestamp_column is not None:
            col = source.c[self.timestamp_column]
            stmt = stmt.where(self._prefilter(col, window, numeric=numeric))
        return stmt

    def _numeric_timestamp(self, conn: Connection) -> bool:
        """Whether the driver reports the timestamp column as a number (DB-API ``NUMBER``).

        SQLite needs no answer: its filter tells numbers from text row by row.
        """
        dbapi = getattr(conn.dialect, "loaded_dbapi", None)
        number = getattr(dbapi, "NUMBER", None)
        if self.is_sqlite or number is None or self.timestamp_column is None:
            return False
        ts = self.timestamp_column
        probe = sa.select(self._source([ts]).c[ts]).limit(0)
        result = conn.execute(probe)
        try:
            description = result.cursor.description if result.cursor is not None else None
        finally:
            result.close()
        return bool(description) and description[0][1] == number

    def _prefilter(
        self, col: sa.ColumnElement[Any], window: Window, *, numeric: bool = False
    ) -> sa.ColumnElement[bool]:
        """Rows possibly in the window (a superset); the exact rule runs client-side.

        ``numeric``: the column holds epoch numbers in ``timestamp_unit`` (not SQLite).
        """
        start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
        if self.naive_timezone != "UTC":
            # Naive local values need shifted bounds; covering UTC too keeps tz-aware
            # columns (that ignore naive_timezone) inside.
            lo_naive, hi_naive = naive_superset(window, self.naive_timezone)
            lo = min(start, lo_naive.replace(tzinfo=UTC))
            hi = max(end, hi_naive.replace(tzinfo=UTC))
        else:
            lo, hi = start, end
        if self.is_sqlite:
            julian = sa.func.julianday(col, type_=sa.Float())
            per_second = float(PER_SECOND[self.timestamp_unit])
            stored_as = sa.func.typeof(col)
            # Digits-only text is an epoch number too, as the exact rule reads it.
            digits = sa.and_(stored_as == "text", col != "", sa.not_(col.op("GLOB")("*[^0-9]*")))
            epoch = sa.case(
                (
                    sa.or_(stored_as.in_(["integer", "real"]), digits),
                    sa.cast(col, sa.Float()) / per_second,
                ),
                else_=(julian - _JULIAN_UNIX_EPOCH) * 86400.0,
            )
            # julianday() is a double (~50 µs near 2026): widen by 1 ms, stay a superset.
            return sa.and_(
                epoch >= sa.bindparam("driftmon_lo", lo.timestamp() - 1e-3, type_=sa.Float()),
                epoch < sa.bindparam("driftmon_hi", hi.timestamp() + 1e-3, type_=sa.Float()),
            )
        if numeric:
            unit = self.timestamp_unit
            # One unit of slack each side: a superset also for fractional values.
            return sa.and_(
                col >= sa.bindparam("driftmon_lo", bound(lo, unit) - 1, type_=sa.BigInteger()),
                col < sa.bindparam("driftmon_hi", bound(hi, unit) + 1, type_=sa.BigInteger()),
            )
        if self.naive_timezone == "UTC":
            kind: sa.types.TypeEngine[Any] = sa.DateTime(timezone=True)
            lo_v, hi_v = lo, hi
        else:
            kind = sa.DateTime()
            lo_v, hi_v = lo.replace(tzinfo=None), hi.replace(tzinfo=None)
        return sa.and_(
            col >= sa.bindparam("driftmon_lo", lo_v, type_=kind),
            col < sa.bindparam("driftmon_hi", hi_v, type_=kind),
        )

    def _columns(self, conn: Connection) -> list[str]:
        if self.table is not None and self.dialect == "duckdb":
            # duckdb-engine's reflection queries pg_collation, which DuckDB lacks.
            if not sa.inspect(conn).has_table(self.table, schema=self.schema):
                raise SourceError(f"{self.describe()}: table not found")
            probe_table: sa.Select[Any] = sa.select(sa.literal_column("*")).select_from(
                self._table([])
            )
            return [str(k) for k in conn.execute(probe_table.limit(0)).keys()]  # noqa: SIM118
        if self.table is not None:
            try:
                reflected = sa.inspect(conn).get_columns(self.table, schema=self.schema)
            except NoSuchTableError as exc:
                raise SourceError(f"{self.describe()}: table not found") from exc
            if not reflected:  # some dialects return [] rather than raise
                raise SourceError(f"{self.describe()}: table not found")
            return [str(c["name"]) for c in reflected]
        probe: sa.Select[Any] = (
            sa.select(sa.literal_column("*"))
            .select_from(self._query_clause().columns().subquery(_SUBQUERY))
            .limit(0)
        )
        keys = conn.execute(probe, self._window_params(None)).keys()
        return [str(k) for k in keys]

    # -- connections and errors ---------------------------------------------------------

    def _get_engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = self._make_engine()
            return self._engine

    def _make_engine(self) -> Engine:
        url, t = self._url, self.timeout_seconds
        connect_args: dict[str, Any] = {}
        if url.get_backend_name() == "postgresql" and url.get_driver_name() in (
            "psycopg",
            "psycopg2",
        ):
            connect_args = self._pg_connect_args()
        elif self.is_sqlite and t is not None:
            connect_args["timeout"] = t
        elif self.dialect == "duckdb":
            connect_args["read_only"] = True
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)
        if self.is_sqlite:
            sa.event.listen(engine, "connect", _sqlite_query_only)
        return engine

    def _pg_connect_args(self) -> dict[str, Any]:
        """libpq settings of every PostgreSQL session: UTC, read-only, the timeouts."""
        given = self._url.query.get("options")
        options = [given if isinstance(given, str) else ""]
        options += ["-c TimeZone=UTC", "-c default_transaction_read_only=on"]
        args: dict[str, Any] = {}
        t = self.timeout_seconds
        if t is not None:
            options.append(f"-c statement_timeout={math.ceil(t * 1000)}")
            args["connect_timeout"] = _connect_timeout(t)
        args["options"] = " ".join(o for o in options if o)
        return args

    @contextmanager
    def _connect(self, action: str) -> Iterator[tuple[Connection, _Deadline]]:
        """A connection whose SQLAlchemy/driver errors become SourceError naming the source."""
        deadline = _Deadline(self.timeout_seconds)
        try:
            self._check_sqlite_file()
            with self._get_engine().connect() as conn:
                raw = conn.connection.driver_connection if self.is_sqlite else None
                if raw is not None and self.timeout_seconds is not None:
                    raw.set_progress_handler(deadline.expired, _SQLITE_STEPS)
                try:
                    deadline.reset()
                    yield conn, deadline
                finally:
                    if raw is not None and self.timeout_seconds is not None:
                        raw.set_progress_handler(None, 0)
        except (SQLAlchemyError, ImportError) as exc:
            raise self._error(action, exc, deadline) from exc

    def _check_sqlite_file(self) -> None:
        db = self._url.database
        if not self.is_sqlite or not db or db == ":memory:" or db.startswith("file:"):
            return
        if not Path(db).is_file():
            raise SourceError(f"{self.describe()}: SQLite database file not found: {db}")

    def _error(self, action: str, exc: BaseException, deadline: _Deadline) -> SourceError:
        orig = getattr(exc, "orig", None) or exc
        t = self.timeout_seconds
        if t is not None and "timeout expired" in str(orig).lower():
            reason = f"connecting timed out after {_connect_timeout(t)} s"
        elif t is not None and (deadline.fired or _is_statement_timeout(orig)):
            reason = f"timed out after {t:g} s"
        else:
            lines = [ln.strip() for ln in str(orig).splitlines() if ln.strip()]
            reason = " ".join(lines[:2])[:500] or type(orig).__name__
        return SourceError(scrub(f"{action} {self.describe()}: {reason}", self._secrets))


class _Deadline:
    """Time limit of one database round trip; ``expired`` is SQLite's progress handler."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.at = math.inf
        self.fired = False

    def reset(self) -> None:
        if self.seconds is not None:
            self.at = time.monotonic() + self.seconds

    def expired(self) -> int:
        if time.monotonic() > self.at:
            self.fired = True
            return 1
        return 0


def _adbc_errors() -> tuple[type[BaseException], ...]:
    """Errors of a bulk read: the ADBC driver's, and the Arrow reader's (a COPY failing
    midway surfaces as an Arrow I/O error, an ``OSError``)."""
    try:
        import adbc_driver_manager
    except ImportError:
        return (OSError, pa.ArrowException)
    return (adbc_driver_manager.Error, OSError, pa.ArrowException)


def _is_statement_timeout(orig: BaseException) -> bool:
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    # A COPY cut midway reaches the Arrow reader as text only, without its SQLSTATE.
    return bool(code == _QUERY_CANCELED) or "due to statement timeout" in str(orig)


def _connect_timeout(seconds: float) -> int:
    """libpq's connect_timeout: whole seconds, and below 2 it waits 2 anyway."""
    return max(2, math.ceil(seconds))


def _sqlite_query_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA query_only = ON")
    finally:
        cursor.close()


def _with_driver(url: URL) -> URL:
    """``postgresql://`` means psycopg2 to SQLAlchemy; use psycopg 3 when only it is installed."""
    if (
        url.drivername == "postgresql"
        and importlib.util.find_spec("psycopg2") is None
        and importlib.util.find_spec("psycopg") is not None
    ):
        return url.set(drivername="postgresql+psycopg")
    return url


def _strip_query(query: str) -> str:
    """The query without trailing semicolons, so it can be wrapped as a subquery."""
    q = query.strip()
    while q.endswith(";"):
        q = q[:-1].rstrip()
    if not q:
        raise ConfigError("the SQL query is empty")
    return q
