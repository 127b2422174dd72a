"""The provisioned Grafana dashboard: structure, data source, and PromQL that parses."""

from __future__ import annotations

import math
import re
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
    prometheus_panels,
    promql_string,
    query_panels,
)

PROVISIONING = REPO / "config" / "grafana" / "provisioning"


def provisioned_datasource() -> dict[str, Any]:
    config = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    (datasource,) = config["datasources"]
    return datasource  # type: ignore[no-any-return]


def panels() -> list[dict[str, Any]]:
    """The Prometheus panels (tests/config/test_grafana_sql.py tests the SQL ones)."""
    return prometheus_panels(load_dashboard())


def panel(title: str) -> dict[str, Any]:
    (found,) = [p for p in panels() if p["title"] == title]
    return found


def test_dashboard_has_fixed_uid_and_monitor_variable() -> None:
    """$monitor lists every configured monitor, also one that never scored a window."""
    dashboard = load_dashboard()
    assert dashboard["uid"] == "driftmon"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    # Exported for every configured monitor on every scrape, before and whatever its runs.
    query = "label_values(driftmon_monitor_schedule_interval_seconds, monitor)"
    assert variables["monitor"]["query"] == query
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
        if variable["name"] in ("monitor", "feature"):
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
    every = [p for p in load_dashboard()["panels"] if p["type"] == "row"] + query_panels(
        load_dashboard()
    )
    assert len(every) > len(panels())
    ids = [p["id"] for p in every]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in every:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & mine, f"{p['title']} overlaps another panel"
        cells |= mine


def test_kl_panel_draws_both_threshold_lines() -> None:
    exprs = [t["expr"] for t in panel("KL divergence per feature")["targets"]]
    assert any(e.startswith("max by (feature) (driftmon_feature_kl_divergence{") for e in exprs)
    assert any("driftmon_feature_kl_threshold{" in e and 'severity="warning"' in e for e in exprs)
    assert any("driftmon_feature_kl_threshold{" in e and 'severity="critical"' in e for e in exprs)


def test_catch_up_lag_panel_draws_the_bound_and_the_alerts_half_of_it() -> None:
    """The lag is read against catch_up, where windows are dropped, and half of it, where
    DriftmonMonitorFallingBehind fires; log scale, so seconds and a day both show."""
    lag = panel("Catch-up lag")
    exprs = [t["expr"] for t in lag["targets"]]
    assert exprs[0].startswith("max(driftmon_catch_up_lag_seconds{")
    assert any(e.startswith("max(driftmon_catch_up_bound_seconds{") for e in exprs)
    assert any(e.startswith("0.5 * max(driftmon_catch_up_bound_seconds{") for e in exprs)
    assert lag["fieldConfig"]["defaults"]["custom"]["scaleDistribution"]["type"] == "log"


def test_dropped_panel_draws_the_count_not_its_increase() -> None:
    """Drops before the first scrape of a process show only in the count itself."""
    (target,) = panel("Windows dropped beyond catch_up")["targets"]
    assert "increase(" not in target["expr"]
    assert "rate(" not in target["expr"]


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
        ("Features in error", "driftmon_monitor_feature_errors"),
        ("Which features are in error", "driftmon_feature_status{"),
        ("Catch-up lag", "driftmon_catch_up_lag_seconds{"),
        ("Windows dropped beyond catch_up", "driftmon_catch_up_dropped_windows_total{"),
        ("Ticks skipped", "driftmon_skipped_ticks_total{"),
        ("Ticks skipped", "driftmon_skipped_ticks_runs_in_a_row{"),
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
    assert kl == (
        'max by (feature) (driftmon_feature_kl_divergence{monitor="sales \\"eu\\" é", '
        'feature=~".*"})'
    )


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


# Schedules the run-rate panels must draw steadily, and how many runs a window must hold.
SLOWEST_SCHEDULE_SECONDS = 300
RUNS_PER_WINDOW = 2
_RANGE = re.compile(r"\[(?P<range>[^\]]+)\]")
_DURATION = re.compile(r"^(?P<n>\d+)(?P<unit>[smh])$")


def range_seconds(selector_range: str) -> int:
    match = _DURATION.match(selector_range)
    assert match, f"range {selector_range!r} is not a fixed duration"
    return int(match["n"]) * {"s": 1, "m": 60, "h": 3600}[match["unit"]]


@pytest.mark.parametrize("title", ["Runs per minute by outcome", "Run duration"])
def test_rate_windows_hold_at_least_two_runs_of_a_5m_schedule(title: str) -> None:
    """$__rate_interval (4 scrapes = 1m) against 30 s-5 m schedules aliases; fixed windows."""
    for target in panel(title)["targets"]:
        ranges = _RANGE.findall(target["expr"])
        assert ranges, target["expr"]
        for r in ranges:
            assert range_seconds(r) >= RUNS_PER_WINDOW * SLOWEST_SCHEDULE_SECONDS, target["expr"]


# -- the panels against Prometheus' own engine, with two replicas ----------------------------

REPLICAS = ("driftmon-1:9464", "driftmon-2:9464")
# Scrapes every 15 s for 20 minutes; a monitor run every 30 s: 2 runs per minute, 1.5 of them
# success and 0.5 partial; runs take 0.5 s on average, all in the (0.25, 0.5] bucket.
SCRAPES = "x80"
MONITOR_SERIES = {
    'driftmon_monitor_drifted_features{severity="warning"}': "0" + SCRAPES,
    'driftmon_monitor_drifted_features{severity="critical"}': "1" + SCRAPES,
    "driftmon_monitor_feature_errors": "1" + SCRAPES,
    "driftmon_monitor_last_success_timestamp_seconds": "1140" + SCRAPES,
    "driftmon_monitor_schedule_interval_seconds": "30" + SCRAPES,
    'driftmon_monitor_runs_total{outcome="success"}': "0+0.375" + SCRAPES,
    'driftmon_monitor_runs_total{outcome="partial"}': "0+0.125" + SCRAPES,
    'driftmon_monitor_runs_total{outcome="failure"}': "0" + SCRAPES,
    'driftmon_monitor_runs_total{outcome="insufficient_data"}': "0" + SCRAPES,
    'driftmon_monitor_run_duration_seconds_bucket{le="0.25"}': "0" + SCRAPES,
    'driftmon_monitor_run_duration_seconds_bucket{le="0.5"}': "0+0.5" + SCRAPES,
    'driftmon_monitor_run_duration_seconds_bucket{le="+Inf"}': "0+0.5" + SCRAPES,
    "driftmon_monitor_run_duration_seconds_sum": "0+0.25" + SCRAPES,
    "driftmon_monitor_run_duration_seconds_count": "0+0.5" + SCRAPES,
    "driftmon_catch_up_lag_seconds": "4" + SCRAPES,
    "driftmon_catch_up_bound_seconds": "86400" + SCRAPES,
    "driftmon_catch_up_dropped_windows_total": "3" + SCRAPES,
    "driftmon_skipped_ticks_total": "5" + SCRAPES,
    "driftmon_skipped_ticks_runs_in_a_row": "2" + SCRAPES,
}
# age ok, device critical, agee in error (no scores, only thresholds and status).
FEATURE_SERIES = {
    'driftmon_feature_kl_divergence{feature="age"}': "0.01" + SCRAPES,
    'driftmon_feature_kl_divergence{feature="device"}': "0.5" + SCRAPES,
    'driftmon_feature_drift_status{feature="age"}': "0" + SCRAPES,
    'driftmon_feature_drift_status{feature="device"}': "2" + SCRAPES,
    'driftmon_feature_live_rows{feature="age"}': "800" + SCRAPES,
    'driftmon_feature_live_rows{feature="device"}': "800" + SCRAPES,
    'driftmon_feature_missing_ratio{feature="age"}': "0.25" + SCRAPES,
    'driftmon_feature_missing_ratio{feature="device"}': "0" + SCRAPES,
    **{
        f'driftmon_feature_kl_threshold{{feature="{f}",severity="{s}"}}': f"{v}{SCRAPES}"
        for f in ("age", "device", "agee")
        for s, v in (("warning", 0.05), ("critical", 0.25))
    },
    **{
        f'driftmon_feature_status{{feature="{f}",status="error"}}': f"{int(f == 'agee')}{SCRAPES}"
        for f in ("age", "device", "agee")
    },
}
# What each panel query shows for monitor "example" at 20m: (labels, value) per series, the
# same with one replica or two.
EXPECTED_PANELS: list[tuple[str, list[tuple[str, float]]]] = [
    ("Drifted features", [('{severity="warning"}', 0), ('{severity="critical"}', 1)]),
    ("Features in error", [("{}", 1)]),
    ("Last successful run age", [("{}", 60)]),
    ("Schedule interval", [("{}", 30)]),
    ("driftmon version", [('{version="0.1.0"}', 1)]),
    ("KL divergence per feature", [('{feature="age"}', 0.01), ('{feature="device"}', 0.5)]),
    (
        "KL divergence per feature",
        [(f'{{feature="{f}"}}', 0.05) for f in ("age", "device", "agee")],
    ),
    (
        "KL divergence per feature",
        [(f'{{feature="{f}"}}', 0.25) for f in ("age", "device", "agee")],
    ),
    ("Feature drift status", [('{feature="age"}', 0), ('{feature="device"}', 2)]),
    ("Feature drift status", [('{feature="age"}', 0.01), ('{feature="device"}', 0.5)]),
    ("Feature drift status", [(f'{{feature="{f}"}}', 0.05) for f in ("age", "device", "agee")]),
    ("Feature drift status", [(f'{{feature="{f}"}}', 0.25) for f in ("age", "device", "agee")]),
    ("Live rows per feature", [('{feature="age"}', 800), ('{feature="device"}', 800)]),
    ("Missing ratio per feature", [('{feature="age"}', 0.25), ('{feature="device"}', 0)]),
    (
        "Runs per minute by outcome",
        [
            ('{outcome="success"}', 1.5),
            ('{outcome="partial"}', 0.5),
            ('{outcome="failure"}', 0),
            ('{outcome="insufficient_data"}', 0),
        ],
    ),
    ("Run duration", [("{}", 0.375)]),
    ("Run duration", [("{}", 0.4875)]),
    ("Run duration", [("{}", 0.5)]),
    ("Catch-up lag", [("{}", 4)]),
    ("Catch-up lag", [("{}", 43200)]),
    ("Catch-up lag", [("{}", 86400)]),
    ("Windows dropped beyond catch_up", [("{}", 3)]),
    ("Ticks skipped", [("{}", 5)]),
    ("Ticks skipped", [("{}", 2)]),
    ("Which features are in error", [('{feature="agee"}', 1)]),
]


# promtool compares sample values exactly; rates and quantiles carry float rounding, so the
# test rounds both sides to a power-of-two step, which is exact in binary.
STEP = 2**-10


def rounded(value: float) -> float:
    """``value`` as PromQL's round(value, STEP) computes it."""
    return math.floor(value * (1 / STEP) + 0.5) / (1 / STEP)


def with_labels(series: str, extra: str) -> str:
    """``series`` (``name`` or ``name{...}``) with the labels ``extra`` added."""
    if "{" not in series:
        return f"{series}{{{extra}}}"
    return series.replace("{", "{" + extra + ",", 1)


def replica_input(replicas: tuple[str, ...]) -> list[dict[str, str]]:
    """Every series the dashboard reads, as exported by each of ``replicas``."""
    series: list[dict[str, str]] = []
    for instance in replicas:
        target = f'job="driftmon",instance="{instance}"'
        series.append(
            {"series": f'driftmon_build_info{{{target},version="0.1.0"}}', "values": "1" + SCRAPES}
        )
        for monitor in ("example", "other"):  # "other" must not leak into example's panels
            labels = f'{target},monitor="{monitor}"'
            for name, values in {**MONITOR_SERIES, **FEATURE_SERIES}.items():
                series.append({"series": with_labels(name, labels), "values": values})
    return series


@pytest.mark.parametrize("replicas", [REPLICAS[:1], REPLICAS], ids=["one replica", "two replicas"])
def test_dashboard_counts_each_replica_once(
    promtool: str, tmp_path: Path, replicas: tuple[str, ...]
) -> None:
    """Every panel query, run by promtool's PromQL engine, shows the same with two replicas
    as with one: no doubled counts or rates, no series per instance."""
    queries = dashboard_queries("example")
    assert [title for title, _ in queries] == [title for title, _ in EXPECTED_PANELS]
    test_file = {
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": replica_input(replicas),
                "promql_expr_test": [
                    {
                        "expr": f"round({expr}, {STEP})",
                        "eval_time": "20m",
                        "exp_samples": [
                            {"labels": labels, "value": rounded(v)} for labels, v in samples
                        ],
                    }
                    for (_, expr), (_, samples) in zip(queries, EXPECTED_PANELS, strict=True)
                ],
            }
        ],
    }
    path = tmp_path / "dashboard.test.yml"
    path.write_text(yaml.safe_dump(test_file, allow_unicode=True), encoding="utf-8")
    result = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def stepped_counter(period: int, *, scrape: int = 15, minutes: int = 25, offset: int = 7) -> str:
    """promtool values of a counter that rises by one per run, a run every ``period`` seconds
    (``offset`` s past the period), scraped every ``scrape`` seconds."""
    samples = minutes * 60 // scrape + 1
    return " ".join(str(max(0, (k * scrape - offset) // period + 1)) for k in range(samples))


# Schedule (s) -> the band "Runs per minute" must stay in at every step: one run more or
# less in the window is within it, an aliased window (1.33-2.67 for a steady 2/min) is not.
STEADY_BANDS = {30: 0.25, 60: 0.25, 120: 0.25, 300: 0.35}


@pytest.mark.parametrize("period", sorted(STEADY_BANDS), ids=lambda p: f"every {p}s")
def test_steady_runs_draw_a_steady_rate_and_a_duration(
    promtool: str, tmp_path: Path, period: int
) -> None:
    """At every 5 s step over 5 minutes, runs per minute stays near 60/period and the median
    duration is a number (a window with no run in it gives NaN)."""
    queries = dict(reversed(dashboard_queries("example")))  # first query of each panel
    runs, median = queries["Runs per minute by outcome"], queries["Run duration"]
    counter = stepped_counter(period)
    labels = 'job="driftmon",instance="driftmon-1:9464",monitor="example"'
    series = {
        f'driftmon_monitor_runs_total{{{labels},outcome="success"}}': counter,
        f'driftmon_monitor_run_duration_seconds_bucket{{{labels},le="0.25"}}': counter,
        f'driftmon_monitor_run_duration_seconds_bucket{{{labels},le="1.0"}}': counter,
        f'driftmon_monitor_run_duration_seconds_bucket{{{labels},le="+Inf"}}': counter,
    }
    rate, band = 60 / period, STEADY_BANDS[period]
    low, high = rate * (1 - band), rate * (1 + band)
    # Every 5 s, so the windows start on, between and just after the scrapes, as Grafana's do.
    evals = [f"{20 * 60 + 5 * i}s" for i in range(61)]
    test_file = {
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": [{"series": s, "values": v} for s, v in series.items()],
                "promql_expr_test": [
                    *(
                        {
                            "expr": f"({runs} >= bool {low}) * ({runs} <= bool {high})",
                            "eval_time": t,
                            "exp_samples": [{"labels": '{outcome="success"}', "value": 1}],
                        }
                        for t in evals
                    ),
                    *(
                        {
                            "expr": f"{median} >= bool 0",
                            "eval_time": t,
                            "exp_samples": [{"labels": "{}", "value": 1}],
                        }
                        for t in evals
                    ),
                ],
            }
        ],
    }
    path = tmp_path / "steady.test.yml"
    path.write_text(yaml.safe_dump(test_file, allow_unicode=True), encoding="utf-8")
    result = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
