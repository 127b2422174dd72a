"""The provisioned Grafana dashboard: structure, data source, and PromQL that parses."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .grafana_queries import (
    DASHBOARD,
    REPO,
    dashboard_queries,
    expand,
    load_dashboard,
    promql_string,
    query_panels,
)

PROVISIONING = REPO / "config" / "grafana" / "provisioning"


def provisioned_datasource() -> dict[str, Any]:
    config = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    (datasource,) = config["datasources"]
    return datasource  # type: ignore[no-any-return]


def panels() -> list[dict[str, Any]]:
    return query_panels(load_dashboard())


def panel(title: str) -> dict[str, Any]:
    (found,) = [p for p in panels() if p["title"] == title]
    return found


def test_dashboard_has_fixed_uid_and_monitor_variable() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] == "driftmon"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["monitor"]["query"] == "label_values(driftmon_feature_kl_divergence, monitor)"
    assert variables["monitor"]["multi"] is False


def test_provisioned_datasource_is_prometheus_with_fixed_uid() -> None:
    datasource = provisioned_datasource()
    assert datasource["type"] == "prometheus"
    assert datasource["uid"]
    assert datasource["url"] == "http://prometheus:9090"


def test_every_query_uses_the_provisioned_datasource() -> None:
    uid = provisioned_datasource()["uid"]
    dashboard = load_dashboard()
    for variable in dashboard["templating"]["list"]:
        assert variable["datasource"] == {"type": "prometheus", "uid": uid}, variable["name"]
    for p in panels():
        assert p["datasource"] == {"type": "prometheus", "uid": uid}, p["title"]
        for target in p["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": uid}, p["title"]


@pytest.mark.parametrize("p", panels(), ids=lambda p: p["title"])
def test_every_panel_has_a_query(p: dict[str, Any]) -> None:
    assert p["targets"], "panel without queries"
    for target in p["targets"]:
        assert target["expr"].strip(), f"empty expr in {target['refId']}"


def test_panel_ids_unique_and_panels_do_not_overlap() -> None:
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in panels():
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & mine, f"{p['title']} overlaps another panel"
        cells |= mine


def test_kl_panel_draws_both_threshold_lines() -> None:
    exprs = [t["expr"] for t in panel("KL divergence per feature")["targets"]]
    assert any(e.startswith("driftmon_feature_kl_divergence{") for e in exprs)
    assert any("driftmon_feature_kl_threshold{" in e and 'severity="warning"' in e for e in exprs)
    assert any("driftmon_feature_kl_threshold{" in e and 'severity="critical"' in e for e in exprs)


def test_status_table_maps_levels_to_coloured_names() -> None:
    table = panel("Feature drift status")
    assert "driftmon_feature_drift_status" in table["targets"][0]["expr"]
    (status,) = [
        o for o in table["fieldConfig"]["overrides"] if o["matcher"]["options"] == "Status"
    ]
    props = {prop["id"]: prop["value"] for prop in status["properties"]}
    (mapping,) = props["mappings"]
    options = mapping["options"]
    assert (options["0"]["text"], options["0"]["color"]) == ("ok", "green")
    assert (options["1"]["text"], options["1"]["color"]) == ("warning", "yellow")
    assert (options["2"]["text"], options["2"]["color"]) == ("critical", "red")
    assert props["custom.cellOptions"] == {"type": "color-background"}


@pytest.mark.parametrize(
    ("title", "metric"),
    [
        ("Live rows per feature", "driftmon_feature_live_rows"),
        ("Missing ratio per feature", "driftmon_feature_missing_ratio"),
        ("Runs per minute by outcome", "driftmon_monitor_runs_total"),
        ("Run duration", "driftmon_monitor_run_duration_seconds_bucket"),
        ("Last successful run age", "driftmon_monitor_last_success_timestamp_seconds"),
    ],
)
def test_panel_shows_metric(title: str, metric: str) -> None:
    assert any(metric in t["expr"] for t in panel(title)["targets"])


def test_dashboard_queries_expand_every_variable() -> None:
    queries = dashboard_queries('sales "eu" é')
    assert len(queries) == sum(len(p["targets"]) for p in panels())
    for title, expr in queries:
        assert "$" not in expr, title
    kl = next(e for t, e in queries if t == "KL divergence per feature")
    assert kl == 'driftmon_feature_kl_divergence{monitor="sales \\"eu\\" é", feature=~".*"}'
    runs = next(e for t, e in queries if t == "Runs per minute by outcome")
    assert "[1m]" in runs


def test_expand_rejects_an_unknown_variable() -> None:
    with pytest.raises(KeyError, match="unknown"):
        expand('up{x="$unknown"}', {"monitor": "m"})
    assert expand('a{m="${monitor}"}[$__interval]', {"monitor": "m", "__interval": "5m"}) == (
        'a{m="m"}[5m]'
    )
    assert promql_string('a\\b"c') == 'a\\\\b\\"c'


def test_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    """Each expanded query parses, checked by loading them all as recording rules."""
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": expr}
                    for i, (_, expr) in enumerate(dashboard_queries("example"))
                ],
            }
        ]
    }
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_provisioning_loads_the_dashboard_directory() -> None:
    """The provider's path is where docker-compose.yml mounts config/grafana/dashboards."""
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "driftmon.yml").read_text())
    (entry,) = provider["providers"]
    assert entry["type"] == "file"
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./config/grafana/dashboards:{entry['options']['path']}:ro" in mounts
    assert DASHBOARD.parent.is_dir()
