"""Histograms counted by the database: SQLAlchemy Core aggregates that give the in-process
engine's counts exactly, so only bin counts cross the wire.

The expressions are dialect-agnostic Core (``select``, ``func``, ``case``, ``FILTER``),
compiled per dialect (Spark SQL by ``driftmon.sources.spark_sql``); the few dialect
differences (how a column's SQL type is read, the percentile function, the binary
collation) sit in small tables below. A value that SQL
cannot place exactly as the in-process engine does (decimals, float categories, mixed
SQLite storage classes, a kind mapping that needs a lossless-cast check) raises
``NotPushable`` with the reason, and the caller pulls rows instead.

Numeric feature on inner edges ``e_0 < ... < e_{m-1}`` over ``x`` read as double: one
pass counts ``count(x)`` (NaN included), ``count(*) FILTER (x > +inf)`` (NaN: PostgreSQL,
DuckDB and Spark sort NaN above +Infinity; SQLite has none) and ``count(*) FILTER (x >= e_i)``;
bin counts are their differences. Categorical: ``count(*) FILTER (x = c_i)`` per kept
category and ``count(x)``; "other" is the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa

from driftmon.core.bins import Bins, NumericBins
from driftmon.core.histogram import Histogram
from driftmon.core.kinds import ColumnKind

PUSHDOWN_DIALECTS = frozenset({"postgresql", "sqlite", "duckdb"})
"""Dialects whose aggregates were proven equal to the in-process engine (tests/sources)."""

_INF = float("inf")

# PostgreSQL type OIDs (pg_type) of the column types whose values the in-process engine
# reads exactly as SQL compares them.
_PG_TYPES: Mapping[int, str] = {
    16: "bool",
    20: "integer",
    21: "integer",
    23: "integer",
    700: "float",
    701: "float",
    25: "text",
    1043: "text",
    1114: "timestamp",
    1184: "timestamptz",
}
_DUCKDB_TYPES: Mapping[str, str] = {
    "BOOLEAN": "bool",
    "TINYINT": "integer",
    "SMALLINT": "integer",
    "INTEGER": "integer",
    "BIGINT": "integer",
    "UTINYINT": "integer",
    "USMALLINT": "integer",
    "UINTEGER": "integer",
    "FLOAT": "float",
    "DOUBLE": "float",
    "VARCHAR": "text",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}
# Spark SQL types (``DataType.simpleString()``); a string with a collation other than
# UTF8_BINARY ("string collate UTF8_LCASE") compares otherwise than Python and is not pushed.
_SPARK_TYPES: Mapping[str, str] = {
    "boolean": "bool",
    "tinyint": "integer",
    "smallint": "integer",
    "int": "integer",
    "bigint": "integer",
    "float": "float",
    "double": "float",
    "string": "text",
    "timestamp": "timestamptz",
    "timestamp_ntz": "timestamp",
}
# SQLite storage classes (typeof) as column kinds; blobs and mixed classes are not pushed.
_SQLITE_CLASSES: Mapping[str, ColumnKind] = {"integer": "integer", "real": "float", "text": "text"}
# Byte-order comparison of text, as Python compares str (code points, via UTF-8).
_BINARY_COLLATION: Mapping[str, str | None] = {"postgresql": "C", "sqlite": "BINARY"}
_FILTER_DIALECTS = frozenset({"postgresql", "sqlite"})


class NotPushable(Exception):  # noqa: N818 - reads as the condition it reports
    """The source cannot be counted in the database exactly; the message says why."""


@dataclass(frozen=True)
class PushedFeature:
    """One feature to count: its column, its bins, and the reference column's kind."""

    column: str
    bins: Bins
    reference_kind: ColumnKind | None


@dataclass(frozen=True)
class PushedCounts:
    """What a pushed-down window gives the runner: histograms, rows and the live kinds."""

    histograms: dict[str, Histogram]
    rows: int
    kinds: dict[str, set[ColumnKind]]


def supports(dialect: str) -> bool:
    return dialect in PUSHDOWN_DIALECTS


def sql_types(description: Sequence[Sequence[Any]], dialect: str) -> list[str | None]:
    """Each result column's type as ``bool``/``integer``/``float``/``text``/``timestamp``/
    ``timestamptz`` from a DB-API cursor description; None: unknown (SQLite: per value)."""
    out: list[str | None] = []
    for entry in description:
        code = entry[1]
        if dialect == "postgresql":
            out.append(_PG_TYPES.get(code) if isinstance(code, int) else None)
        elif dialect == "duckdb":
            out.append(_DUCKDB_TYPES.get(str(code).upper()))
        else:
            out.append(None)
    return out


def spark_sql_type(simple_string: str) -> str | None:
    """A Spark column type (``simpleString``) as ``sql_types`` names it; None: not counted."""
    return _SPARK_TYPES.get(simple_string)


def collated(col: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[Any]:
    name = _BINARY_COLLATION.get(dialect)
    return col.collate(name) if name else col


def as_double(col: sa.ColumnElement[Any], sql_type: str | None) -> sa.ColumnElement[Any]:
    if sql_type == "bool":
        return sa.case((col, sa.literal(1.0, sa.Double())), (sa.not_(col), 0.0))
    return sa.cast(col, sa.Double())


def _inf() -> sa.BindParameter[float]:
    return sa.bindparam(None, _INF, type_=sa.Double())


def _canonical_int(text: str) -> int | None:
    """The integer spelled ``text`` exactly as Arrow spells an int64, else None."""
    try:
        value = int(text)
    except ValueError:
        return None
    return value if str(value) == text and -(2**63) <= value < 2**63 else None


@dataclass(frozen=True)
class _Plan:
    """Aggregate columns of one feature, and how to read its counts from the result row."""

    name: str
    feature: PushedFeature
    aggregates: list[sa.ColumnElement[Any]]
    sql_type: str | None


def check_type(column: str, sql_type: str | None, dialect: str) -> None:
    """NotPushable unless the column's values are counted exactly by SQL: booleans,
    integers, floats or text (SQLite: any declared type; its values are checked)."""
    if dialect == "sqlite":
        return
    if sql_type not in ("bool", "integer", "float", "text"):
        what = f"of type {sql_type}" if sql_type else "of a type not counted in the database"
        raise NotPushable(f"column {column!r} is {what} (decimals, dates, bytes, ...)")


def live_kind(sql_type: str | None, classes: Mapping[str, int]) -> ColumnKind | None:
    """The in-process kind of a column whose non-NULL values are of ``sql_type`` (SQLite:
    storage ``classes`` with their counts); None: no value. NotPushable when mixed."""
    if sql_type is not None:
        if sql_type in ("bool", "integer", "float", "text"):
            return sql_type  # type: ignore[return-value]
        raise NotPushable(f"column type {sql_type} is not counted in the database")
    present = {c for c, n in classes.items() if n}
    if not present:
        return None
    if len(present) > 1 or not present <= set(_SQLITE_CLASSES):
        raise NotPushable(f"SQLite storage classes {', '.join(sorted(present))} in one column")
    return _SQLITE_CLASSES[present.pop()]


def observed_kind(
    sql_type: str | None, classes: Mapping[str, int], nonnull: int, total: int, dialect: str
) -> ColumnKind | None:
    """The kind the in-process engine sees in a column of ``total`` rows, ``nonnull`` of
    them not NULL. Spark hands over typed Arrow columns, whose kind is their type's even when
    every value is NULL; rows fetched from the SQL dialects carry no type for a column of
    NULLs (Arrow's null type)."""
    if dialect == "spark":
        return live_kind(sql_type, classes) if total else None
    return live_kind(sql_type, classes) if nonnull else None


def check_mapping(
    name: str, feature: PushedFeature, sql_type: str | None, kind: ColumnKind | None
) -> None:
    """NotPushable unless the in-process engine would count this live kind without a
    lossless-cast check (which needs the values)."""
    numeric = isinstance(feature.bins, NumericBins)
    ref = feature.reference_kind
    if kind is None:
        return
    if numeric:
        if kind not in ("integer", "float", "bool"):
            raise NotPushable(f"feature {name!r}: {kind} values in a numeric feature")
        if ref == "bool" and kind != "bool":
            raise NotPushable(f"feature {name!r}: {kind} values against a bool reference")
        return
    if kind == "float":
        raise NotPushable(f"feature {name!r}: float categories are spelled by Arrow's rules")
    if ref is not None and ref != kind and not (ref == "text" and kind == "integer"):
        raise NotPushable(f"feature {name!r}: {kind} values against a {ref} reference")


def count_where(cond: sa.ColumnElement[bool], dialect: str) -> sa.ColumnElement[Any]:
    """Rows where ``cond`` holds: ``count(*) FILTER (WHERE cond)``, or, where FILTER is
    slower than a CASE (DuckDB: about 3x, measured), ``count(CASE WHEN cond THEN 1 END)``."""
    if dialect in _FILTER_DIALECTS:
        return sa.func.count().filter(cond)
    return sa.func.count(sa.case((cond, sa.literal(1))))


def sqlite_classes(col: sa.ColumnElement[Any]) -> list[sa.ColumnElement[Any]]:
    stored = sa.func.typeof(col)
    return [sa.func.count().filter(stored == c) for c in ("integer", "real", "text", "blob")]


def feature_aggregates(
    name: str,
    feature: PushedFeature,
    col: sa.ColumnElement[Any],
    sql_type: str | None,
    dialect: str,
) -> list[sa.ColumnElement[Any]]:
    """The aggregate columns counting one feature (see the module docstring)."""
    check_type(feature.column, sql_type, dialect)
    evidence = sqlite_classes(col) if dialect == "sqlite" else []
    bins = feature.bins
    if isinstance(bins, NumericBins):
        if sql_type == "text":
            raise NotPushable(f"feature {name!r}: text values in a numeric feature")
        x = as_double(col, sql_type)
        parts = [sa.func.count(x), count_where(x > _inf(), dialect)]
        parts += [
            count_where(x >= sa.bindparam(None, e, type_=sa.Double()), dialect) for e in bins.edges
        ]
        return evidence + parts
    if sql_type == "float":
        raise NotPushable(f"feature {name!r}: float categories are spelled by Arrow's rules")
    parts = [sa.func.count(col)]
    for category in bins.categories:
        cond = _category_match(col, category, sql_type, dialect)
        parts.append(count_where(cond, dialect) if cond is not None else sa.literal(0))
    return evidence + parts


def _category_match(
    col: sa.ColumnElement[Any], category: str, sql_type: str | None, dialect: str
) -> sa.ColumnElement[bool] | None:
    """The condition of a value spelled ``category``; None: no value of the column is."""
    if sql_type == "bool":
        if category in ("true", "false"):
            return col == (sa.true() if category == "true" else sa.false())
        return None
    if sql_type == "integer":
        value = _canonical_int(category)
        return col == sa.literal(value, sa.BigInteger()) if value is not None else None
    if sql_type == "text":
        if dialect == "postgresql" and "\x00" in category:
            return None  # PostgreSQL text cannot hold NUL (nor can a literal be bound)
        return collated(col, dialect) == sa.literal(category, sa.String())
    # SQLite: only integer or only text storage (checked from the evidence); an integer's
    # text is its decimal spelling, as Arrow's.
    as_text = sa.cast(col, sa.String())
    return collated(as_text, dialect) == sa.literal(category, sa.String())


def decode_feature(
    name: str,
    feature: PushedFeature,
    values: Sequence[int],
    total: int,
    sql_type: str | None,
    dialect: str,
) -> tuple[Histogram, ColumnKind | None]:
    """Counts of one feature from its aggregate values, and the live column's kind;
    NotPushable when the SQLite evidence shows values SQL does not count exactly."""
    vals = [int(v) for v in values]
    classes: dict[str, int] = {}
    if dialect == "sqlite":
        classes = dict(zip(("integer", "real", "text", "blob"), vals[:4], strict=True))
        vals = vals[4:]
    nonnull = vals[0]
    kind = observed_kind(sql_type, classes, nonnull, total, dialect)
    check_mapping(name, feature, sql_type, kind)
    bins = feature.bins
    if isinstance(bins, NumericBins):
        nan, ge = vals[1], vals[2:]
        bounds = [nonnull, *ge, nan]
        counts = [bounds[i] - bounds[i + 1] for i in range(len(bounds) - 1)]
        counts.append(total - nonnull + nan)
    else:
        kept = vals[1:]
        counts = [*kept, nonnull - sum(kept), total - nonnull]
    return Histogram(np.asarray(counts, dtype=np.int64)), kind


def histogram_select(
    source: sa.FromClause,
    features: Mapping[str, PushedFeature],
    sql_types_by_column: Mapping[str, str | None],
    dialect: str,
    where: sa.ColumnElement[bool] | None,
) -> tuple[sa.Select[Any], list[tuple[str, int, int]]]:
    """One aggregate SELECT over ``source`` counting every feature, and for each feature
    its name and the slice of result columns holding its counts."""
    columns: list[sa.ColumnElement[Any]] = [sa.func.count()]
    slices: list[tuple[str, int, int]] = []
    for name, feature in features.items():
        aggs = feature_aggregates(
            name,
            feature,
            source.c[feature.column],
            sql_types_by_column.get(feature.column),
            dialect,
        )
        slices.append((name, len(columns), len(columns) + len(aggs)))
        columns += aggs
    labelled = [c.label(f"c{i}") for i, c in enumerate(columns)]
    stmt = sa.select(*labelled).select_from(source)
    if where is not None:
        stmt = stmt.where(where)
    return stmt, slices


def decode_row(
    row: Sequence[Any],
    features: Mapping[str, PushedFeature],
    slices: Sequence[tuple[str, int, int]],
    sql_types_by_column: Mapping[str, str | None],
    dialect: str,
) -> PushedCounts:
    total = int(row[0])
    hists: dict[str, Histogram] = {}
    kinds: dict[str, set[ColumnKind]] = {}
    for name, lo, hi in slices:
        feature = features[name]
        hist, kind = decode_feature(
            name, feature, row[lo:hi], total, sql_types_by_column.get(feature.column), dialect
        )
        hists[name] = hist
        kinds[name] = {kind} if kind is not None else set()
    return PushedCounts(hists, total, kinds)


# -- reference profiles -------------------------------------------------------------------


def quantile_positions(n: int, n_bins: int) -> list[int]:
    """0-based positions in the sorted values of the ``inverted_cdf`` quantiles at
    ``1/n_bins .. (n_bins-1)/n_bins`` of ``n`` values, computed as NumPy computes them
    (``n * q - 1`` in float64, rounded up unless integral), so the edges are NumPy's."""
    probs = np.arange(1, n_bins, dtype=np.float64) / n_bins
    index = n * probs - 1
    previous = np.floor(index)
    pos = np.where(index - previous == 0, previous, previous + 1).astype(np.int64)
    pos[pos < 0] += 1
    return [min(int(p), n - 1) for p in pos]


def is_finite(x: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """Finite: not NULL, not ±inf, not NaN (NaN sorts above +inf where it exists)."""
    return sa.and_(x > -_inf(), x < _inf())


def percentile_fraction(position: int, n: int) -> float:
    """The fraction at which the discrete percentile of ``n`` values is the one at 0-based
    ``position``: PostgreSQL's ``percentile_disc`` takes row ``ceil(f * n)`` (1-based),
    DuckDB's ``quantile_disc`` index ``floor(f * n)`` (0-based); half a row from either
    rounding point, float error cannot move it."""
    return (position + 0.5) / n
