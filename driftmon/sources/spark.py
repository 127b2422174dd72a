"""A table, a query or files read by a Spark cluster through Spark Connect (``sc://``).

The source opens its own Spark Connect session, registers what it reads as a temporary
view of that session, and runs on it the push-down aggregates of
``driftmon.sources.pushdown`` compiled to Spark SQL (``driftmon.sources.spark_sql``): the
live window's histograms are one aggregate job, the reference profile a few
(``driftmon.sources.pushdown_reference``; quantile edges from ``percentile_approx``), and
only counts cross the wire. What Spark cannot count exactly as the in-process engine does
(decimals, dates, float categories, strings with a non-binary collation, a window on epoch
numbers or text timestamps) is read as Arrow batches instead, with one log line saying why.

Window rule: a ``timestamp_column`` of Spark type TIMESTAMP (an instant), or TIMESTAMP_NTZ
with ``timezone`` UTC, is filtered by Spark exactly; any other column is pre-filtered by
Spark where it can be (a superset) and the exact rule runs on each batch, as for SQL sources.

Timeout: ``timeout_seconds`` bounds each aggregate job (push-down counts, each step of a
reference build, the fingerprint, the time range); past it the session's operations are
interrupted (``interruptAll``) and the read fails with a SourceError saying so. Pulled rows
are not bounded per batch: their stream is one job.

pyspark is imported only when a Spark source is opened (``pip install 'driftmon[spark]'``).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from driftmon.core.profile import FeatureSpec
from driftmon.errors import ColumnError, ConfigError, SourceError
from driftmon.secrets import scrub
from driftmon.sources.base import Window, column_list
from driftmon.sources.pushdown import (
    NotPushable,
    PushedCounts,
    PushedFeature,
    decode_row,
    histogram_select,
    spark_sql_type,
)
from driftmon.sources.pushdown_reference import BuiltReference, build_reference
from driftmon.sources.rows import column_to_arrow
from driftmon.sources.spark_sql import to_spark_sql
from driftmon.sources.timespan import TimeSpan, span_of
from driftmon.sources.timestamps import (
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

SPARK_INSTALL = "pip install 'driftmon[spark]'"
DIALECT = "spark"
_CSV_DEFAULTS = {"header": "true", "inferSchema": "true"}
_WINDOWED = "driftmon_reference_window"
_CODEGEN_MAX_FIELDS = 10_000
_CONNECT_RETRIES = 4
"""Retries of a failed gRPC call: an unreachable server fails a run after about 15 s."""


class SparkSource:
    """Rows a Spark Connect server reads; see the module docstring."""

    def __init__(
        self,
        remote: str,
        *,
        table: str | None = None,
        query: str | None = None,
        path: str | None = None,
        format: str | None = None,
        options: Mapping[str, str] | None = None,
        schema: str | None = None,
        timestamp_column: str | None = None,
        naive_timezone: str = "UTC",
        timestamp_unit: EpochUnit = "s",
        batch_rows: int = 65_536,
        timeout_seconds: float | None = None,
        pushdown: bool = True,
        fingerprint_data: bool = True,
    ) -> None:
        if not remote.startswith("sc://"):
            raise ConfigError(f"expected a Spark Connect URL sc://host:port, got {scrub(remote)!r}")
        if sum(x is not None for x in (table, query, path)) != 1:
            raise ConfigError(f"{scrub(remote)}: give exactly one of table, query or path")
        if path is not None and format is None:
            raise ConfigError(f"{scrub(remote)}: path {path!r} needs a format")
        if batch_rows < 1:
            raise ConfigError(f"batch_rows must be at least 1, got {batch_rows}")
        if timeout_seconds is not None and not timeout_seconds > 0:
            raise ConfigError(f"timeout_seconds must be positive, got {timeout_seconds}")
        self.remote = remote
        self.masked_remote = scrub(remote)
        self._secrets = _url_secrets(remote)
        self.table = table
        self.query = query
        self.path = path
        self.format = format
        self.options = dict(options or {})
        self.schema = schema
        self.timestamp_column = timestamp_column
        self.naive_timezone = check_timezone(naive_timezone)
        self.timestamp_unit = check_unit(timestamp_unit)
        self.batch_rows = batch_rows
        self.timeout_seconds = timeout_seconds
        self.pushdown = pushdown
        self.fingerprint_data = fingerprint_data
        self._view = f"driftmon_src_{secrets.token_hex(6)}"
        self._session: Any = None
        self._types: dict[str, str | None] = {}
        """Each column's type as ``driftmon.sources.pushdown`` names it (None: not counted)."""
        self._type_names: dict[str, str] = {}
        """Each column's Spark type, for messages."""
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SparkSource({self.describe()!r})"

    def __enter__(self) -> SparkSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        where = f"spark {self.masked_remote}"
        if self.table is not None:
            return f"{where} table {self.table!r}"
        if self.path is not None:
            return f"{where} {self.format} {self.path!r}"
        text = " ".join((self.query or "").split())
        return f"{where} query {text[:200] + ('...' if len(text) > 200 else '')!r}"

    def close(self) -> None:
        """End the Spark Connect session (its temporary view goes with it)."""
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            try:
                session.stop()
            except Exception as exc:
                log.info("%s: closing the Spark session: %s", self.describe(), self._scrub(exc))

    # -- the Source protocol -------------------------------------------------------------

    def fingerprint(self) -> str:
        """sha256 of the settings; for a table or files also their row count and latest
        timestamp (one Spark job), unless ``fingerprint_data`` is off. A query's data is not
        hashed (that would run it): rebuild its reference explicitly."""
        parts = ["spark", self.masked_remote, self.table or "", self.query or "", self.path or ""]
        parts += [self.format or "", repr(sorted(self.options.items())), self.schema or ""]
        if self.query is None and self.fingerprint_data:
            ts = self.timestamp_column
            names = [ts] if ts else []
            view = self._relation(names)
            stats: list[Any] = [sa.func.count()]
            if ts:
                stats.append(sa.func.max(view.c[ts]))
            row = self._one(sa.select(*stats).select_from(view), "fingerprinting")
            parts += ["data", ts or "", *(str(v) for v in row)]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def columns(self) -> list[str]:
        self._open("reading columns of")
        return list(self._types)

    def batches(
        self, columns: Sequence[str], window: Window | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Arrow batches of ``columns`` as Spark streams them (at most ``batch_rows`` rows)."""
        wanted = list(dict.fromkeys(columns))
        needed = self._needed(wanted, window)
        view = self._relation(needed)
        stmt = sa.select(*(view.c[n] for n in needed))
        ts = self.timestamp_column
        if window is not None and ts is not None:
            pre = self._prefilter(view.c[ts], self._types.get(ts), window)
            if pre is not None:
                stmt = stmt.where(pre)
        where = f"{self.describe()} column {ts!r}"
        for batch in self._stream(to_spark_sql(stmt)):
            if window is not None and ts is not None:
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

    # -- push-down (HistogramSource) -----------------------------------------------------

    def histograms(
        self, features: Mapping[str, PushedFeature], window: Window | None = None
    ) -> PushedCounts | None:
        """The window's histograms counted by Spark; None (logged): pull rows."""
        reason = "pushdown: false"
        if self.pushdown:
            try:
                return self._histograms(features, window)
            except NotPushable as exc:
                reason = str(exc)
        log.info("%s: rows are pulled, not counted in Spark: %s", self.describe(), reason)
        return None

    def reference_profile(
        self, specs: Sequence[tuple[str, FeatureSpec]], window: Window | None = None
    ) -> BuiltReference | None:
        """The reference profile built by Spark, over the rows in ``window`` when given (a
        rolling reference); None (logged): pull rows."""
        reason = "pushdown: false"
        if self.pushdown:
            needed = self._needed([c for c, _ in specs], window)
            run = self._runner("building the reference profile in")
            try:
                rows = self._reference_rows(needed, window)
                return build_reference(run, rows, specs, self._types, DIALECT)
            except NotPushable as exc:
                reason = str(exc)
        log.info(
            "%s: the reference profile is built from pulled rows, not in Spark: %s",
            self.describe(),
            reason,
        )
        return None

    def timestamp_span(self) -> TimeSpan | None:
        """Earliest and latest ``timestamp_column`` value (None: no row has one)."""
        ts = self.timestamp_column
        if ts is None:
            raise SourceError(f"{self.describe()}: a time range needs a timestamp_column")
        self._open("reading the time range of")
        if ts not in self._types:
            raise ColumnError(
                f"{self.describe()}: timestamp column {ts!r} not found; "
                f"it has {column_list(list(self._types))}"
            )
        col = self._relation([ts]).c[ts]
        stmt = sa.select(sa.func.count(col), sa.func.min(col), sa.func.max(col))
        rows, first, last = self._one(stmt, "reading the time range of")
        if not rows:
            return None
        values = column_to_arrow([first, last], self.naive_timezone)
        where = f"{self.describe()} column {ts!r}"
        utc = to_utc(values, self.naive_timezone, where=where, epoch_unit=self.timestamp_unit)
        unit = self.timestamp_unit if pa.types.is_integer(values.type) else None
        span = span_of(utc, unit)
        assert span is not None  # count(ts) > 0: min and max are not NULL
        return TimeSpan(span.first_us, span.last_us, int(rows), unit)

    # -- statements ----------------------------------------------------------------------

    def _histograms(
        self, features: Mapping[str, PushedFeature], window: Window | None
    ) -> PushedCounts:
        needed = self._needed([f.column for f in features.values()], window)
        view = self._relation(needed)
        ts = self.timestamp_column
        where = None
        if window is not None and ts is not None:
            where = self._exact_window(view.c[ts], self._types.get(ts), window)
        stmt, slices = histogram_select(view, features, self._types, DIALECT, where)
        row = self._one(stmt, "counting")
        return decode_row(row, features, slices, self._types, DIALECT)

    def _reference_rows(self, names: Sequence[str], window: Window | None) -> sa.FromClause:
        """The view, or its rows in ``window`` (cut exactly by Spark, else NotPushable)."""
        view = self._relation(names)
        ts = self.timestamp_column
        if window is None or ts is None:
            return view
        where = self._exact_window(view.c[ts], self._types.get(ts), window)
        return sa.select(*(view.c[n] for n in names)).where(where).subquery(_WINDOWED)

    def _needed(self, columns: Sequence[str], window: Window | None) -> list[str]:
        """``columns`` and the timestamp column a window is cut by; errors name what is
        missing."""
        needed = list(dict.fromkeys(columns))
        if window is not None:
            check_window(window)
            ts = self.timestamp_column
            if ts is None:
                raise SourceError(f"{self.describe()}: a window needs a timestamp_column")
            if ts not in needed:
                needed.append(ts)
        self._open("reading")
        for name in needed:
            if name not in self._types:
                raise ColumnError(
                    f"{self.describe()}: column {name!r} not found; "
                    f"it has {column_list(list(self._types))}"
                )
        return needed

    def _relation(self, names: Sequence[str]) -> sa.TableClause:
        """The source's temporary view with ``names`` as its columns."""
        self._open("reading")
        return sa.table(self._view, *(sa.column(n) for n in names))

    def _exact_window(
        self, col: sa.ColumnElement[Any], spark_type: str | None, window: Window
    ) -> sa.ColumnElement[bool]:
        """``start <= ts < end`` as the in-process rule decides it; NotPushable otherwise."""
        start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
        if spark_type == "timestamptz" or (
            spark_type == "timestamp" and self.naive_timezone == "UTC"
        ):
            aware = spark_type == "timestamptz"
            lo: datetime = start if aware else start.replace(tzinfo=None)
            hi: datetime = end if aware else end.replace(tzinfo=None)
            kind = sa.DateTime(timezone=aware)
            return sa.and_(
                col >= sa.bindparam("driftmon_lo", lo, type_=kind),
                col < sa.bindparam("driftmon_hi", hi, type_=kind),
            )
        what = self._type_names.get(self.timestamp_column or "", "unknown")
        raise NotPushable(
            f"the window on timestamp column {self.timestamp_column!r} ({what}, timezone "
            f"{self.naive_timezone}) is filtered row by row"
        )

    def _prefilter(
        self, col: sa.ColumnElement[Any], spark_type: str | None, window: Window
    ) -> sa.ColumnElement[bool] | None:
        """Rows possibly in ``window`` (a superset), or None: every row is read."""
        try:
            return self._exact_window(col, spark_type, window)
        except NotPushable:
            pass
        if spark_type == "timestamp":  # naive wall times in another zone
            lo, hi = naive_superset(window, self.naive_timezone)
            return sa.and_(
                col >= sa.bindparam("driftmon_lo", lo, type_=sa.DateTime()),
                col < sa.bindparam("driftmon_hi", hi, type_=sa.DateTime()),
            )
        if spark_type == "integer":  # epoch numbers; one unit of slack each side
            unit = self.timestamp_unit
            return sa.and_(
                col >= bound(window.start.astimezone(UTC), unit) - 1,
                col < bound(window.end.astimezone(UTC), unit) + 1,
            )
        return None

    # -- Spark ---------------------------------------------------------------------------

    def _open(self, action: str) -> Any:
        """The Spark Connect session, with the source registered as its temporary view."""
        with self._lock:
            if self._session is not None:
                return self._session
            with self._errors(action):
                session = _connect(self.remote)
                try:
                    _tune(session, self.describe())
                    frame = self._frame(session)
                    frame.createOrReplaceTempView(self._view)
                    fields = frame.schema.fields
                except BaseException:
                    session.stop()
                    raise
            self._type_names = {f.name: f.dataType.simpleString() for f in fields}
            self._types = {n: spark_sql_type(t) for n, t in self._type_names.items()}
            self._session = session
            return session

    def _frame(self, session: Any) -> Any:
        if self.table is not None:
            return session.table(self.table)
        if self.query is not None:
            return session.sql(self.query)
        reader = session.read.format(self.format)
        options = {**_CSV_DEFAULTS, **self.options} if self.format == "csv" else self.options
        if options:
            reader = reader.options(**options)
        if self.schema is not None:
            reader = reader.schema(self.schema)
        return reader.load(self.path)

    def _runner(self, action: str) -> Callable[[sa.Select[Any]], list[tuple[Any, ...]]]:
        return lambda stmt: self._rows(stmt, action)

    def _rows(self, stmt: sa.ClauseElement, action: str) -> list[tuple[Any, ...]]:
        table = self._collect(to_spark_sql(stmt), action)
        return list(zip(*(c.to_pylist() for c in table.columns), strict=True))

    def _one(self, stmt: sa.ClauseElement, action: str) -> tuple[Any, ...]:
        rows = self._rows(stmt, action)
        if len(rows) != 1:
            raise SourceError(f"{action} {self.describe()}: expected one row, got {len(rows)}")
        return rows[0]

    def _collect(self, text: str, action: str) -> pa.Table:
        session = self._open(action)
        with self._deadline(session), self._errors(action):
            return session.sql(text).toArrow()

    def _stream(self, text: str) -> Iterator[pa.RecordBatch]:
        """The result of ``text`` as Arrow batches while Spark sends them (Spark Connect's
        streamed ExecutePlan; ``toArrow`` would hold the whole result)."""
        session = self._open("reading")
        with self._errors("reading"):
            frame = session.sql(text)
            client = session.client
            plan = frame._plan.to_proto(client)
            chunks = client.to_table_as_iterator(plan, frame._plan.observations)
            for chunk in chunks:
                if isinstance(chunk, pa.Table):
                    yield from chunk.to_batches(max_chunksize=self.batch_rows)

    @contextmanager
    def _deadline(self, session: Any) -> Iterator[None]:
        """Interrupt the session's jobs once ``timeout_seconds`` have passed."""
        if self.timeout_seconds is None:
            yield
            return
        fired = threading.Event()

        def interrupt() -> None:
            fired.set()
            session.interruptAll()

        timer = threading.Timer(self.timeout_seconds, interrupt)
        timer.daemon = True
        timer.start()
        try:
            yield
        except SourceError as exc:
            if fired.is_set():
                raise SourceError(
                    f"{self.describe()}: timed out after {self.timeout_seconds:g} s"
                ) from exc
            raise
        finally:
            timer.cancel()

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """pyspark and gRPC errors as SourceError naming the source, token removed."""
        try:
            yield
        except ImportError as exc:
            raise SourceError(
                f"{action} {self.describe()}: Spark support is not installed ({exc}): "
                f"{SPARK_INSTALL}"
            ) from exc
        except (SourceError, NotPushable):
            raise
        except Exception as exc:
            if not _is_spark_error(exc):
                raise
            raise SourceError(f"{action} {self.describe()}: {self._scrub(exc)}") from exc

    def _scrub(self, exc: BaseException) -> str:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        reason = " ".join(lines[:2])[:500] or type(exc).__name__
        return scrub(reason, self._secrets)


def _connect(remote: str) -> Any:
    """A new Spark Connect session on ``remote`` (pyspark imported here, not at start-up)."""
    with warnings.catch_warnings():
        # pyspark warns at import about pandas versions it has not been tested with;
        # driftmon exchanges Arrow with it, not pandas.
        warnings.simplefilter("ignore", FutureWarning)
        from pyspark.sql.connect.client.retries import DefaultPolicy
        from pyspark.sql.connect.session import SparkSession

        session = SparkSession.builder.remote(remote).create()
    # pyspark retries an unreachable server for ten minutes; a run fails within seconds.
    session.client.set_retry_policies([DefaultPolicy(max_retries=_CONNECT_RETRIES)])
    return session


def _tune(session: Any, describe: str) -> None:
    """Let Spark compile the aggregate of many features into Java code: above
    ``spark.sql.codegen.maxFields`` (100) result columns it interprets the plan instead,
    about 2× slower (11 features × 12 bins, measured). A cluster that refuses the setting
    still counts correctly."""
    try:
        session.conf.set("spark.sql.codegen.maxFields", str(_CODEGEN_MAX_FIELDS))
    except Exception as exc:
        if not _is_spark_error(exc):
            raise
        log.info("%s: spark.sql.codegen.maxFields stays as it is: %s", describe, exc)


def _is_spark_error(exc: BaseException) -> bool:
    """An error raised by pyspark or its gRPC channel (not a bug of driftmon's)."""
    module = type(exc).__module__
    return module.startswith(("pyspark", "grpc", "py4j"))


def _url_secrets(remote: str) -> tuple[str, ...]:
    """The values of credential-like ``;name=value`` parameters of a Spark Connect URL."""
    from driftmon.secrets import is_secret_param

    found = []
    for part in remote.split(";")[1:]:
        name, _, value = part.partition("=")
        if value and is_secret_param(name):
            found.append(value)
    return tuple(sorted(found, key=len, reverse=True))
