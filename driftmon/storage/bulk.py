"""A run's feature rows written in one statement, so storing them waits for the GIL once.

A driver's ``executemany`` steps row by row and gives the GIL up and back at every row
(psycopg 3 at each pipelined send, sqlite3 at each step); each time it takes the GIL back
it can wait a switch interval (5 ms) or more behind busy threads, such as the daemon's HTTP
server under scrapers (benchmarks/README.md, "Storing a run beside busy threads").
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Dialect,
    Double,
    Integer,
    Text,
    TypeDecorator,
    bindparam,
    cast,
    column,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.types import TypeEngine

from driftmon.results import FeatureResult
from driftmon.storage.engine import json_serializer
from driftmon.storage.models import feature_results_table
from driftmon.storage.records import feature_values

# Every column a feature row sets, in table order; ``run_id`` is the same for all of a run's.
_COLUMNS = tuple(c for c in feature_results_table.c if c.name != "id")
_PER_ROW = tuple(c for c in _COLUMNS if c.name != "run_id")
# JSON has no NaN or infinities; PostgreSQL reads these strings as those float8 values.
_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def insert_features(conn: Connection, run_id: int, features: Sequence[FeatureResult]) -> None:
    """Insert the run's feature rows: on PostgreSQL as one ``INSERT … SELECT FROM
    json_to_recordset`` of one JSON document, elsewhere as the dialect's (multi-row) insert.

    One JSON text is one parameter that psycopg sends as it is, and one wait for the server
    instead of ~400 (executemany polls twice a row). 200 rows cost ~8 ms of the saving
    thread's CPU; executemany ~14 ms, arrays of values (``unnest``) ~19 ms, psycopg escaping
    each of their text elements with a regular expression.
    """
    rows = [feature_values(run_id, i, f) for i, f in enumerate(features)]
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(feature_results_table), rows)
        return
    conn.execute(_RECORDSET_INSERT, {"run_id": run_id, "rows": recordset_json(rows, conn.dialect)})


def recordset_json(rows: Sequence[dict[str, Any]], dialect: Dialect) -> str:
    """``rows`` (``feature_values`` dicts) as the JSON array ``json_to_recordset`` reads.

    Each value is what a row-by-row insert would bind: a column type's own conversion
    applied (NUL characters replaced), JSON columns as their serialized text, and NaN and
    infinities as the strings PostgreSQL reads as float8.
    """
    out = []
    for row in rows:
        record: dict[str, Any] = {}
        for name, convert in _CONVERSIONS:
            value = row[name]
            if value is not None:
                value = convert(value, dialect)
            record[name] = value
        out.append(record)
    return json.dumps(out, allow_nan=False, separators=(",", ":"))


def _float(value: float, _dialect: Dialect) -> float | str:
    if math.isfinite(value):
        return float(value)
    return "NaN" if math.isnan(value) else _NON_FINITE[value]


def _same(value: Any, _dialect: Dialect) -> Any:
    return value


def _json_text(value: Any, _dialect: Dialect) -> str:
    return json_serializer(value)


def _conversion(c: Column[Any]) -> Any:
    t = c.type
    if isinstance(t, TypeDecorator):
        return t.process_bind_param
    if isinstance(t, JSON):
        return _json_text
    if isinstance(t, Double):
        return _float
    return _same


_CONVERSIONS = tuple((c.name, _conversion(c)) for c in _PER_ROW)


def _record_type(c: Column[Any]) -> TypeEngine[Any]:
    """The type a value is read as from the JSON: strings unbounded, so that a value too long
    for its column fails the INSERT, as in a row-by-row insert, and is never cut short."""
    if isinstance(c.type, Double):
        return Double()
    if isinstance(c.type, BigInteger | Integer):
        return BigInteger()
    return Text()


def _recordset_insert() -> Any:
    document = cast(bindparam("rows", type_=Text()), JSON)
    records = (
        func.json_to_recordset(document)
        .table_valued(*(column(c.name, _record_type(c)) for c in _PER_ROW))
        .render_derived(with_types=True)
    )
    selected: list[ColumnElement[Any]] = [bindparam("run_id", type_=BigInteger())]
    for c in _PER_ROW:
        value: ColumnElement[Any] = records.c[c.name]
        selected.append(cast(value, c.type) if isinstance(c.type, JSON) else value)
    return insert(feature_results_table).from_select(
        [c.name for c in _COLUMNS], select(*selected), include_defaults=False
    )


_RECORDSET_INSERT = _recordset_insert()
