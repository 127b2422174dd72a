"""The API's ``features=`` argument: names or YAML feature mappings, types filled in.

A feature given as a bare name, or as a mapping without ``type``, gets the type of its
reference column: numeric for integers, floats and decimals, categorical for text and
booleans. Columns of other types (dates, timestamps, lists, ...) are compared only when
a feature names them with a type; ``features=None`` leaves them out and says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from driftmon.config.comparison import ComparisonConfig, comparison_config
from driftmon.core.kinds import column_kind
from driftmon.errors import ConfigError

FeatureArg = str | Mapping[str, Any]
"""One item of ``features=``: a column name, or a mapping of YAML feature keys."""

_NUMERIC_KINDS = frozenset({"integer", "float", "decimal"})
_CATEGORICAL_KINDS = frozenset({"text", "bool"})


def inferred_type(t: pa.DataType) -> str | None:
    """The feature type a column of Arrow type ``t`` gets (None: not inferred)."""
    kind = column_kind(t)
    if kind is None or kind in _NUMERIC_KINDS:
        return "numeric"  # all-null columns too: their reference error is then listed
    if kind in _CATEGORICAL_KINDS:
        return "categorical"
    return None


@dataclass(frozen=True)
class Resolved:
    """The validated comparison, and the columns left out for want of a type (column, its
    Arrow type), for the report to name."""

    config: ComparisonConfig
    left_out: tuple[tuple[str, str], ...]


def resolve(
    features: Sequence[FeatureArg] | None,
    schema: pa.Schema,
    columns: Sequence[str],
    *,
    name: str,
    thresholds: Mapping[str, Any] | None,
    smoothing: float | None,
    reference_is_sample: bool,
    caller: str,
) -> Resolved:
    """Validate ``features`` (None: every column of ``columns`` whose type is inferred)."""
    left_out: list[tuple[str, str]] = []
    if features is None:
        items: list[dict[str, Any]] = []
        for col in columns:
            kind = inferred_type(schema.field(col).type)
            if kind is None:
                left_out.append((col, str(schema.field(col).type)))
            else:
                items.append({"name": col, "type": kind})
        if not items:
            raise ConfigError(f"{caller}: no column to compare; {_columns_said(columns)}")
    else:
        items = [_with_type(item, i, schema, caller) for i, item in enumerate(_listed(features))]
    data: dict[str, Any] = {"name": name, "features": items}
    if thresholds is not None:
        data["thresholds"] = thresholds
    if smoothing is not None:
        data["smoothing"] = smoothing
    data["reference_is_sample"] = reference_is_sample
    return Resolved(comparison_config(data, caller), tuple(left_out))


def _columns_said(columns: Sequence[str]) -> str:
    return f"the columns are {', '.join(columns)}" if columns else "there are no columns"


def _listed(features: Any) -> list[Any]:
    if isinstance(features, str | bytes | Mapping) or not isinstance(features, Iterable):
        raise TypeError(
            "features: expected a list of column names or feature mappings, "
            f"got {type(features).__name__}"
        )
    return list(features)


def _with_type(item: Any, i: int, schema: pa.Schema, caller: str) -> Any:
    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, Mapping):
        return item  # the model's validation says what was expected
    if "type" in item:
        return dict(item)
    column = item.get("column", item.get("name"))
    if isinstance(column, str) and column in schema.names:
        kind = inferred_type(schema.field(column).type)
        if kind is None:
            raise ConfigError(
                f"{caller}: features[{i}] (name {item.get('name')!r}): cannot infer a type "
                f"for column {column!r} of type {schema.field(column).type}; "
                "give 'type: numeric' or 'type: categorical'"
            )
        return {**item, "type": kind}
    return dict(item)
