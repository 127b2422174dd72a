"""A run's feature rows written in one statement, so storing them waits for the GIL once.

A driver's ``executemany`` steps row by row and gives the GIL up and back at every row
(psycopg 3 at each pipelined send, sqlite3 at each step); each time it takes the GIL back
it can wait a switch interval (5 ms) behind busy threads, such as the daemon's HTTP server
under scrapers: 200 rows took 1.1-1.6 s instead of a few ms (benchmarks/README.md,
"Storing a run beside busy threads").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Double,
    Integer,
    Text,
    bindparam,
    cast,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.types import TypeEngine

from driftmon.results import FeatureResult
from driftmon.storage.engine import json_serializer
from driftmon.storage.models import SafeString, SafeText, feature_results_table
from driftmon.storage.records import feature_values

# Every column a feature row sets, in table order; ``run_id`` is the same for all of a run's.
_COLUMNS = tuple(c for c in feature_results_table.c if c.name != "id")
_PER_ROW = tuple(c for c in _COLUMNS if c.name != "run_id")


def insert_features(conn: Connection, run_id: int, features: Sequence[FeatureResult]) -> None:
    """Insert the run's feature rows: on PostgreSQL as one ``INSERT … SELECT FROM unnest``
    of one array per column, elsewhere as the dialect's (multi-row) insert."""
    rows = [feature_values(run_id, i, f) for i, f in enumerate(features)]
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(feature_results_table), rows)
        return
    params: dict[str, Any] = {"run_id": run_id}
    for c in _PER_ROW:
        values = [r[c.name] for r in rows]
        if isinstance(c.type, JSON):
            values = [json_serializer(v) for v in values]
        params[c.name] = values
    conn.execute(_UNNEST_INSERT, params)


def _array_type(column: Column[Any]) -> TypeEngine[Any]:
    """The array a column's values travel in. Strings go unbounded, so that a value too long
    for the column fails the INSERT (an assignment cast) rather than being cut short (an
    explicit cast to ``varchar(n)[]`` would truncate it); JSON goes as its text."""
    t = column.type
    item: TypeEngine[Any]
    if isinstance(t, SafeString | SafeText):
        item = SafeText()  # NUL characters replaced, as in a row-by-row insert
    elif isinstance(t, JSON):
        item = Text()
    elif isinstance(t, Double):
        item = Double()
    elif isinstance(t, BigInteger | Integer):
        item = BigInteger()
    else:
        item = Text()  # status: a plain String
    return ARRAY(item)


def _unnest_insert() -> Any:
    arrays = [cast(bindparam(c.name, type_=_array_type(c)), _array_type(c)) for c in _PER_ROW]
    rows = func.unnest(*arrays).table_valued(*(c.name for c in _PER_ROW)).render_derived()
    selected: list[ColumnElement[Any]] = [bindparam("run_id", type_=BigInteger())]
    for c in _PER_ROW:
        value: ColumnElement[Any] = rows.c[c.name]
        selected.append(cast(value, c.type) if isinstance(c.type, JSON) else value)
    return insert(feature_results_table).from_select(
        [c.name for c in _COLUMNS], select(*selected), include_defaults=False
    )


_UNNEST_INSERT = _unnest_insert()
