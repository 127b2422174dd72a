"""SQLAlchemy Core statements compiled to Spark SQL text, so the push-down aggregates of
``driftmon.sources.pushdown`` run on Spark from the same expression builder as on
PostgreSQL, SQLite and DuckDB.

A small dialect: identifiers always in backticks (a backtick doubled), Spark's type names
(``DOUBLE``, ``STRING``, ``BIGINT``, ``TIMESTAMP``, ``TIMESTAMP_NTZ``), and every bound value
rendered inline as a literal Spark parses back to exactly that value:

- floats as double literals (``2.5D``, ``-1e-300D``: Java's correctly rounded parse of
  Python's shortest round-trip repr), ±inf and NaN as ``CAST('Infinity' AS DOUBLE)``,
  ``CAST('-Infinity' AS DOUBLE)`` and ``CAST('NaN' AS DOUBLE)``;
- integers in decimal (Spark types them INT, or BIGINT beyond int32);
- text between single quotes when it holds only printable characters other than ``'``,
  ``\\``, ``$`` (no escape or ``${var}`` substitution can touch it), else as its UTF-8 bytes,
  ``CAST(X'...' AS STRING)``, which no parser setting changes;
- timezone-aware datetimes as ``TIMESTAMP '... +00:00'`` (an instant, whatever the session
  time zone), naive ones as ``TIMESTAMP_NTZ '...'`` (a wall-clock value).

Spark compares ``NaN`` equal to itself and sorts it above +Infinity, as PostgreSQL does, so
the numeric aggregates need no other change; strings compare by their UTF-8 bytes (code
point order), as Python does, unless a column has a collation other than ``UTF8_BINARY``,
which ``driftmon.sources.pushdown`` does not push down.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import default
from sqlalchemy.exc import CompileError
from sqlalchemy.sql import compiler

_INT64 = (-(2**63), 2**63 - 1)
_UNSAFE_TEXT = frozenset("'\\$")


def to_spark_sql(stmt: sa.ClauseElement) -> str:
    """``stmt`` as one Spark SQL statement with every value inline."""
    return str(stmt.compile(dialect=SparkDialect(), compile_kwargs={"literal_binds": True}))


def spark_literal(value: Any) -> str:
    """A Python value as a Spark SQL literal that parses back to exactly that value."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise CompileError(f"integer {value} is outside Spark's BIGINT range")
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "CAST('NaN' AS DOUBLE)"
        if math.isinf(value):
            return "CAST('Infinity' AS DOUBLE)" if value > 0 else "CAST('-Infinity' AS DOUBLE)"
        return f"{value!r}D"
    if isinstance(value, str):
        if value.isprintable() and not _UNSAFE_TEXT.intersection(value):
            return f"'{value}'"
        return f"CAST(X'{value.encode('utf-8').hex().upper()}' AS STRING)"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return f"TIMESTAMP_NTZ '{value.isoformat(sep=' ', timespec='microseconds')}'"
        utc = value.astimezone(UTC).replace(tzinfo=None)
        return f"TIMESTAMP '{utc.isoformat(sep=' ', timespec='microseconds')}+00:00'"
    raise CompileError(f"no Spark SQL literal for a {type(value).__name__} value")


class _Preparer(compiler.IdentifierPreparer):
    """Backtick-quoted identifiers, always: Spark resolves them case-insensitively anyway,
    and a quoted name never collides with a keyword."""

    def __init__(
        self,
        dialect: Any,
        initial_quote: str = "`",
        final_quote: str | None = None,
        escape_quote: str = "`",
        quote_case_sensitive_collations: bool = True,
        omit_schema: bool = False,
    ) -> None:
        super().__init__(
            dialect,
            initial_quote,
            final_quote,
            escape_quote,
            quote_case_sensitive_collations,
            omit_schema,
        )

    def _requires_quotes(self, value: str) -> bool:
        return True


class _Compiler(compiler.SQLCompiler):
    def render_literal_value(self, value: Any, type_: sa.types.TypeEngine[Any]) -> str:
        return spark_literal(value)


class _TypeCompiler(compiler.GenericTypeCompiler):
    """Spark's names where the generic ones differ (DOUBLE, BIGINT, INTEGER are the same)."""

    def visit_FLOAT(self, type_: Any, **kw: Any) -> str:  # noqa: N802 - SQLAlchemy's name
        return "DOUBLE"

    def visit_VARCHAR(self, type_: Any, **kw: Any) -> str:  # noqa: N802
        return "STRING"

    def visit_TEXT(self, type_: Any, **kw: Any) -> str:  # noqa: N802
        return "STRING"

    def visit_DATETIME(self, type_: Any, **kw: Any) -> str:  # noqa: N802
        return "TIMESTAMP" if getattr(type_, "timezone", False) else "TIMESTAMP_NTZ"


class SparkDialect(default.DefaultDialect):
    """Compiles Core statements to Spark SQL; never connects (``driftmon.sources.spark``
    runs the text through a Spark session)."""

    name = "spark"
    statement_compiler = _Compiler
    preparer = _Preparer
    type_compiler_cls = _TypeCompiler
    supports_native_boolean = True
    supports_statement_cache = False
