"""The SQL of the dashboard's results-database panels, expanded as Grafana expands it.

Grafana interpolates a SQL query before it sends it to PostgreSQL: ``${name:sqlstring}``
becomes the variable's value in single quotes with each ``'`` doubled, and the macro
``$__timeFilter(column)`` becomes ``column BETWEEN '<from>' AND '<to>'`` (UTC, RFC 3339).
``expand_sql`` does the same for the formats and macros the dashboard uses and refuses any
other ``$``, so a panel that starts using one must be taught here before its test passes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from .grafana_queries import query_panels

POSTGRES_TYPE = "grafana-postgresql-datasource"

_TIME_FILTER = re.compile(r"\$__timeFilter\(\s*(?P<column>[\w.]+)\s*\)")
_SQLSTRING = re.compile(r"\$\{(?P<name>\w+):sqlstring\}")


def sqlstring(value: str) -> str:
    """Grafana's ``sqlstring`` format of a single value."""
    return "'" + value.replace("'", "''") + "'"


def rfc3339(moment: datetime) -> str:
    """A time as Grafana's SQL macros write it (Go's RFC 3339 with nanoseconds, UTC)."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


def expand_sql(
    sql: str,
    variables: dict[str, str],
    time_range: tuple[datetime, datetime] | None = None,
) -> str:
    """``sql`` with each ``${name:sqlstring}`` and ``$__timeFilter(column)`` replaced."""

    def variable(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in variables:
            raise KeyError(f"dashboard SQL uses ${{{name}}}, which is not substituted: {sql!r}")
        return sqlstring(variables[name])

    def time_filter(match: re.Match[str]) -> str:
        if time_range is None:
            raise KeyError(f"dashboard SQL uses $__timeFilter, but no time range is given: {sql!r}")
        start, end = time_range
        return f"{match['column']} BETWEEN '{rfc3339(start)}' AND '{rfc3339(end)}'"

    expanded = _TIME_FILTER.sub(time_filter, _SQLSTRING.sub(variable, sql))
    if "$" in expanded:
        raise KeyError(f"dashboard SQL has a $ expand_sql does not know: {expanded!r}")
    return expanded


def sql_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """The panels that query the results database."""
    return [
        p for p in query_panels(dashboard) if p.get("datasource", {}).get("type") == POSTGRES_TYPE
    ]


def sql_variables(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """The template variables whose values come from the results database."""
    return [
        v
        for v in dashboard["templating"]["list"]
        if v.get("datasource", {}).get("type") == POSTGRES_TYPE
    ]


def panel_sql(dashboard: dict[str, Any], title: str) -> str:
    """The one query of the SQL panel titled ``title``."""
    (panel,) = [p for p in sql_panels(dashboard) if p["title"] == title]
    (target,) = panel["targets"]
    sql: str = target["rawSql"]
    return sql
