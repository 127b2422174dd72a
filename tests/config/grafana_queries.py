"""The PromQL of every panel of the driftmon Grafana dashboard, ready to send to Prometheus.

Grafana expands template variables before it queries; this does the same for one monitor so a
test can run each panel's query against a real Prometheus. Standard library only, and found
relative to this file, so it can be imported from any test (or loaded by path).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "config" / "grafana" / "dashboards" / "driftmon.json"

# `$name` or `${name}` (optionally `${name:format}`), as Grafana writes variables in queries.
_VARIABLE = re.compile(r"\$(?:\{(?P<braced>\w+)(?::\w+)?\}|(?P<bare>\w+))")


def load_dashboard(path: Path = DASHBOARD) -> dict[str, Any]:
    """The dashboard JSON as a dict."""
    with path.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that runs queries, including those nested in collapsed rows."""
    found: list[dict[str, Any]] = []
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            found.extend(p for p in panel.get("panels", []) if p.get("type") != "row")
        else:
            found.append(panel)
    return found


def prometheus_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """The panels that query Prometheus (the others read the results database)."""
    return [
        p for p in query_panels(dashboard) if p.get("datasource", {}).get("type") == "prometheus"
    ]


def promql_string(value: str) -> str:
    """``value`` escaped for use inside a double-quoted PromQL string."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def expand(expr: str, variables: dict[str, str]) -> str:
    """``expr`` with each ``$var`` / ``${var}`` replaced; an unknown variable is an error."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        if name not in variables:
            raise KeyError(f"dashboard query uses ${name}, which is not substituted: {expr!r}")
        return variables[name]

    return _VARIABLE.sub(replace, expr)


def dashboard_queries(
    monitor: str, *, interval: str = "1m", dashboard: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    """(panel title, PromQL) for every query of every Prometheus panel, variables expanded.

    ``$monitor`` becomes ``monitor`` (escaped for a PromQL string), ``$feature`` becomes
    ``.*`` (the dashboard's "All" value), and ``$__rate_interval``, ``$__interval`` and
    ``$__range`` become ``interval``.
    """
    variables = {
        "monitor": promql_string(monitor),
        "feature": ".*",
        "__rate_interval": interval,
        "__interval": interval,
        "__range": interval,
    }
    board = dashboard if dashboard is not None else load_dashboard()
    queries: list[tuple[str, str]] = []
    for panel in prometheus_panels(board):
        for target in panel.get("targets", []):
            if target.get("hide"):
                continue
            queries.append((panel["title"], expand(target["expr"], variables)))
    return queries
