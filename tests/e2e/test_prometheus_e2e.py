"""The shipped rules, routing and dashboard against a real Prometheus and Alertmanager.

driftmon runs the example config with static KL thresholds 0.05 / 0.2 (device drifts past
critical, income and session_seconds past warning, age and country not at all; plus the
feature "agee", which has no column, and the monitor "starved", which never has enough live
rows) every 2 s. Prometheus scrapes it as two replicas (two targets of the same daemon,
instances replica-1 and replica-2: every series exported twice, as by two daemons on one
results database) and itself, and evaluates the shipped rules every second with every
``for:`` shortened to 1 s; Alertmanager runs the shipped routing with its webhooks pointed at
a receiver in this process.
"""

from __future__ import annotations

import importlib.util
import math
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci import require_tool

from .conftest import MISSING_FEATURE, STARVED_MONITOR
from .servers import (
    HOST,
    REPO,
    Daemon,
    ManagedProcess,
    WebhookReceiver,
    free_port,
    get_json,
    http_get,
    wait_for,
)

pytestmark = pytest.mark.e2e

PROMETHEUS_DIR = REPO / "config" / "prometheus"
ALERTMANAGER_YML = REPO / "config" / "alertmanager" / "alertmanager.yml"
SHIPPED_SINK = "http://alert-sink:8080/"
FOR_LINE = re.compile(r"^(\s*)for: \S+$", re.MULTILINE)

MONITOR = "example"
CRITICAL, WARNING = "DriftmonFeatureDriftCritical", "DriftmonFeatureDriftWarning"
DRIFT_ALERTS = {CRITICAL, WARNING}
FEATURE_ERROR, NO_SCORED_WINDOW = "DriftmonFeatureError", "DriftmonNoScoredWindow"
UNCHANGED_FEATURES = ("age", "country")
SCORED_FEATURES = ("age", "income", "session_seconds", "country", "device")
REPLICAS = ("replica-1", "replica-2")
# Long enough for Prometheus' first scrape (~5 s after start), two rule evaluations and the
# 1 s `for:`; typically reached in under 10 s.
ALERT_TIMEOUT = 90.0


def _load_grafana_queries() -> Any:
    path = REPO / "tests" / "config" / "grafana_queries.py"
    spec = importlib.util.spec_from_file_location("_e2e_grafana_queries", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Every panel query for monitor "example" ($__rate_interval, should a panel use it, as Grafana
# would set it for a 15 s scrape; the shipped rate panels use fixed 15m windows), but those of
# the catch-up panels for the starved monitor: the example's batch source does not catch up.
CATCH_UP_PANELS = {"Catch-up lag", "Windows dropped beyond catch_up"}
DASHBOARD_QUERIES: list[tuple[str, str]] = [
    (title, promql)
    for monitor in (MONITOR, STARVED_MONITOR)
    for title, promql in _load_grafana_queries().dashboard_queries(monitor, interval="1m")
    if (title in CATCH_UP_PANELS) == (monitor == STARVED_MONITOR)
]


@dataclass(frozen=True)
class Stack:
    daemon: Daemon
    prometheus: ManagedProcess
    prometheus_url: str
    alertmanager: ManagedProcess
    alertmanager_url: str
    sink: WebhookReceiver

    @property
    def processes(self) -> list[ManagedProcess]:
        return [self.daemon.process, self.prometheus, self.alertmanager]

    def alerts(self) -> list[dict[str, Any]]:
        """Prometheus' active alerts (pending and firing)."""
        body = get_json(f"{self.prometheus_url}/api/v1/alerts")
        alerts: list[dict[str, Any]] = body["data"]["alerts"]
        return alerts

    def query(self, promql: str) -> dict[str, Any]:
        qs = urllib.parse.urlencode({"query": promql})
        body = get_json(f"{self.prometheus_url}/api/v1/query?{qs}")
        assert body["status"] == "success", body
        data: dict[str, Any] = body["data"]
        return data

    def query_at(self, promql: str, at: float) -> dict[str, Any]:
        """``promql`` evaluated at Unix time ``at``."""
        qs = urllib.parse.urlencode({"query": promql, "time": repr(at)})
        body = get_json(f"{self.prometheus_url}/api/v1/query?{qs}")
        assert body["status"] == "success", body
        data: dict[str, Any] = body["data"]
        return data


def rules_with_short_for(text: str) -> str:
    shortened, n = FOR_LINE.subn(r"\1for: 1s", text)
    assert n > 0, "no `for:` line found to shorten: has the rules file's layout changed?"
    return shortened


def prometheus_config(
    rules_into: Path, daemon: Daemon, alertmanager: str, itself: str
) -> dict[str, Any]:
    """The shipped prometheus.yml at 1 s intervals, aimed at our daemon (as two replicas),
    Alertmanager and Prometheus itself (at ``itself``).

    Its rule_files stay as shipped (relative to the config file); the rule files they match
    are written, with short ``for:``, to the same relative places under ``rules_into``.
    """
    config: dict[str, Any] = yaml.safe_load(
        (PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8")
    )
    config["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    jobs["driftmon"]["static_configs"] = [
        {"targets": [daemon.target], "labels": {"instance": replica}} for replica in REPLICAS
    ]
    (own,) = jobs["prometheus"]["static_configs"]
    own["targets"] = [itself]
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager]
    written = 0
    for pattern in config["rule_files"]:
        for source in sorted(PROMETHEUS_DIR.glob(pattern)):
            target = rules_into / source.relative_to(PROMETHEUS_DIR)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(rules_with_short_for(source.read_text(encoding="utf-8")))
            written += 1
    assert written, f"rule_files {config['rule_files']} match no file in {PROMETHEUS_DIR}"
    return config


def alertmanager_config(sink_url: str) -> dict[str, Any]:
    """The shipped alertmanager.yml, webhooks to ``sink_url``, grouping waits cut to 1 s."""
    text = ALERTMANAGER_YML.read_text(encoding="utf-8").replace(SHIPPED_SINK, f"{sink_url}/")
    config: dict[str, Any] = yaml.safe_load(text)
    urls = [w["url"] for r in config["receivers"] for w in r.get("webhook_configs", [])]
    assert urls, "the shipped Alertmanager config has no webhook receiver"
    assert all(u.startswith(sink_url) for u in urls), f"webhook URLs not redirected: {urls}"

    def shorten(route: dict[str, Any], top: bool) -> None:
        for key in ("group_wait", "group_interval"):
            if top or key in route:
                route[key] = "1s"
        for child in route.get("routes", []):
            shorten(child, top=False)

    shorten(config["route"], top=True)
    return config


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    # Binaries first, so a skipped module starts nothing.
    prometheus_bin = require_tool(["prometheus"], "prometheus")
    alertmanager_bin = require_tool(
        ["prometheus-alertmanager", "alertmanager"], "prometheus-alertmanager"
    )
    daemon: Daemon = request.getfixturevalue("driftmon_daemon")
    tmp = tmp_path_factory.mktemp("prometheus-e2e")

    with ExitStack() as cleanup:
        sink = WebhookReceiver().start()
        cleanup.callback(sink.stop)

        am_port = free_port()
        am_url = f"http://{HOST}:{am_port}"
        am_config = tmp / "alertmanager.yml"
        am_config.write_text(yaml.safe_dump(alertmanager_config(sink.url)), encoding="utf-8")
        alertmanager = ManagedProcess(
            "alertmanager",
            [
                alertmanager_bin,
                f"--config.file={am_config}",
                f"--storage.path={tmp / 'alertmanager-data'}",
                f"--web.listen-address={HOST}:{am_port}",
                "--cluster.listen-address=",  # no gossip: a single local instance
            ],
            tmp / "alertmanager.log",
        ).start()
        cleanup.callback(alertmanager.stop)
        # Ready before Prometheus starts, or its first notifications go nowhere.
        wait_for(
            lambda: http_get(f"{am_url}/-/ready")[0] == 200,
            timeout=30,
            what="Alertmanager /-/ready",
            processes=[alertmanager],
        )

        prom_port = free_port()
        prom_url = f"http://{HOST}:{prom_port}"
        prom_dir = tmp / "prometheus"
        prom_dir.mkdir()
        prom_config = prom_dir / "prometheus.yml"
        config = prometheus_config(prom_dir, daemon, f"{HOST}:{am_port}", f"{HOST}:{prom_port}")
        prom_config.write_text(yaml.safe_dump(config), encoding="utf-8")
        prometheus = ManagedProcess(
            "prometheus",
            [
                prometheus_bin,
                f"--config.file={prom_config}",
                f"--storage.tsdb.path={tmp / 'prometheus-data'}",
                f"--web.listen-address={HOST}:{prom_port}",
                # Resend firing alerts every second rather than every minute, so a notification
                # lost while Alertmanager settles is retried within the test's time.
                "--rules.alert.resend-delay=1s",
            ],
            tmp / "prometheus.log",
        ).start()
        cleanup.callback(prometheus.stop)
        wait_for(
            lambda: http_get(f"{prom_url}/-/ready")[0] == 200,
            timeout=30,
            what="Prometheus /-/ready",
            processes=[prometheus],
        )
        yield Stack(daemon, prometheus, prom_url, alertmanager, am_url, sink)


def _find(alerts: list[dict[str, Any]], alertname: str, feature: str) -> dict[str, Any] | None:
    for alert in alerts:
        labels = alert["labels"]
        if (
            labels.get("alertname") == alertname
            and labels.get("monitor") == MONITOR
            and labels.get("feature") == feature
        ):
            return alert
    return None


@pytest.fixture(scope="module")
def firing(stack: Stack) -> list[dict[str, Any]]:
    """Prometheus' alerts once device's critical and income's warning drift alerts fire."""

    def both_firing() -> list[dict[str, Any]] | None:
        alerts = stack.alerts()
        critical = _find(alerts, CRITICAL, "device")
        warning = _find(alerts, WARNING, "income")
        if critical and warning and critical["state"] == warning["state"] == "firing":
            return alerts
        return None

    alerts: list[dict[str, Any]] = wait_for(
        both_firing,
        timeout=ALERT_TIMEOUT,
        what=f"{CRITICAL}(device) and {WARNING}(income) firing in Prometheus",
        interval=0.5,
        processes=stack.processes,
    )
    return alerts


def test_critical_drift_fires_for_the_drifting_feature(firing: list[dict[str, Any]]) -> None:
    """device (KL ≈ 0.93 nats, critical at 0.2) fires the critical alert, annotated in full."""
    alert = _find(firing, CRITICAL, "device")
    assert alert is not None
    assert alert["labels"]["severity"] == "critical"
    assert float(alert["value"]) >= 0.2
    annotations = alert["annotations"]
    assert "example/device" in annotations["summary"]
    # The threshold comes from a query inside the template: it must have found the series.
    assert "threshold of 0.2 nats" in annotations["description"], annotations["description"]
    assert "var-monitor=example&var-feature=device" in annotations["dashboard"]
    # The status page, from the daemon's server.external_url through driftmon_server_info.
    page = urllib.parse.urlsplit(annotations["page"])
    assert (page.scheme, page.path) == ("http", "/monitors/example/features/device"), page


def test_warning_drift_fires_below_critical(firing: list[dict[str, Any]]) -> None:
    """income (KL between 0.05 and 0.2) fires the warning and not the critical alert."""
    alert = _find(firing, WARNING, "income")
    assert alert is not None
    assert alert["labels"]["severity"] == "warning"
    assert 0.05 <= float(alert["value"]) < 0.2
    assert _find(firing, CRITICAL, "income") is None


def test_unchanged_features_raise_no_drift_alert(
    stack: Stack, firing: list[dict[str, Any]]
) -> None:
    """age and country, scored in the same runs as device, are neither pending nor firing."""
    alerts = stack.alerts()
    raised = [
        a["labels"]
        for a in alerts
        if a["labels"].get("alertname") in DRIFT_ALERTS
        and a["labels"].get("feature") in UNCHANGED_FEATURES
    ]
    assert raised == []


def test_healthy_daemon_raises_no_health_alert(stack: Stack, firing: list[dict[str, Any]]) -> None:
    """With runs scoring every 2 s nothing about failures, staleness or scrapes is active,
    beyond the planted feature in error and the starved monitor."""
    # absent(up) holds until the first scrape, so DriftmonDown (its `for:` cut to 1 s) may fire
    # briefly at start-up; it must resolve once driftmon is scraped.
    wait_for(
        lambda: all(a["labels"]["alertname"] != "DriftmonDown" for a in stack.alerts()),
        timeout=30,
        what="DriftmonDown to be inactive",
        processes=stack.processes,
    )
    active = {
        a["labels"]["alertname"]
        for a in stack.alerts()
        if not (
            a["labels"]["alertname"] == FEATURE_ERROR and a["labels"]["feature"] == MISSING_FEATURE
        )
        and a["labels"].get("monitor") != STARVED_MONITOR
    }
    assert active <= DRIFT_ALERTS, active - DRIFT_ALERTS


def test_alertmanager_pages_the_critical_drift(stack: Stack, firing: list[dict[str, Any]]) -> None:
    """Alertmanager routes the critical alert to the pager webhook, as firing."""
    paged = wait_for(
        lambda: _find(stack.sink.alerts("/pager"), CRITICAL, "device"),
        timeout=60,
        what=f"Alertmanager to deliver {CRITICAL}(device) to /pager",
        processes=stack.processes,
    )
    assert paged["status"] == "firing"
    assert paged["labels"]["severity"] == "critical"
    assert "threshold of 0.2 nats" in paged["annotations"]["description"]
    assert _find(stack.sink.alerts("/ticket"), CRITICAL, "device") is None


def test_warnings_go_to_tickets_and_critical_inhibits_them(
    stack: Stack, firing: list[dict[str, Any]]
) -> None:
    """income's warning is ticketed; device's warning is inhibited by its critical alert."""
    wait_for(
        lambda: _find(stack.sink.alerts("/ticket"), WARNING, "income"),
        timeout=60,
        what=f"Alertmanager to deliver {WARNING}(income) to /ticket",
        processes=stack.processes,
    )
    qs = urllib.parse.urlencode(
        [("filter", f'alertname="{WARNING}"'), ("filter", 'feature="device"')]
    )

    def device_warning_inhibited() -> bool:
        alerts = get_json(f"{stack.alertmanager_url}/api/v2/alerts?{qs}")
        return bool(alerts) and all(a["status"]["inhibitedBy"] for a in alerts)

    wait_for(
        device_warning_inhibited,
        timeout=30,
        what=f"Alertmanager to hold {WARNING}(device) as inhibited",
        processes=stack.processes,
    )
    assert _find(stack.sink.alerts("/ticket"), WARNING, "device") is None


def _values(data: dict[str, Any]) -> list[float]:
    if data["resultType"] in ("scalar", "string"):
        return [float(data["result"][1])]
    if data["resultType"] == "matrix":
        return [float(v) for series in data["result"] for _, v in series["values"]]
    return [float(series["value"][1]) for series in data["result"]]


@pytest.mark.parametrize(
    ("title", "promql"),
    DASHBOARD_QUERIES,
    ids=[f"{i}-{title}" for i, (title, _) in enumerate(DASHBOARD_QUERIES)],
)
def test_dashboard_query_returns_data(
    stack: Stack, firing: list[dict[str, Any]], title: str, promql: str
) -> None:
    """Each panel query of the Grafana dashboard returns at least one number (not only NaN)."""

    def has_data() -> list[float] | None:
        values = _values(stack.query(promql))
        return values if any(not math.isnan(v) for v in values) else None

    wait_for(
        has_data,
        timeout=30,
        what=f"panel {title!r} query to return data: {promql}",
        interval=0.5,
        processes=stack.processes,
    )


def test_every_panel_has_a_query() -> None:
    """The dashboard helper found queries, so the parametrized test above is not vacuous."""
    assert len({title for title, _ in DASHBOARD_QUERIES}) >= 8


# -- two replicas ------------------------------------------------------------------------------


def _series(data: dict[str, Any]) -> list[dict[str, str]]:
    """The label sets of an instant query's result."""
    return [series["metric"] for series in data["result"]]


def test_both_replicas_and_prometheus_itself_are_scraped(
    stack: Stack, firing: list[dict[str, Any]]
) -> None:
    """Two driftmon targets (the replicas) and Prometheus' self-scrape are up."""

    def up_by_job() -> dict[str, int] | None:
        result = stack.query("count by (job) (up == 1)")["result"]
        up = {s["metric"]["job"]: int(float(s["value"][1])) for s in result}
        return up if up.get("driftmon") == 2 and up.get("prometheus") == 1 else None

    up = wait_for(
        up_by_job,
        timeout=30,
        what="both driftmon replicas and Prometheus itself to be up",
        processes=stack.processes,
    )
    assert up == {"driftmon": 2, "prometheus": 1}


def test_every_rule_evaluates_with_two_replicas(stack: Stack, firing: list[dict[str, Any]]) -> None:
    """No rule goes to health err ("duplicate series"), and Prometheus counts no failure of a
    driftmon rule group, which DriftmonRuleEvaluationFailing would alert on."""

    def evaluated_rules() -> list[dict[str, Any]] | None:
        groups = get_json(f"{stack.prometheus_url}/api/v1/rules")["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return rules if rules and all(r["health"] != "unknown" for r in rules) else None

    rules = wait_for(
        evaluated_rules, timeout=30, what="every rule evaluated", processes=stack.processes
    )
    assert {r["name"]: r["health"] for r in rules if r["health"] != "ok"} == {}
    assert {r["name"]: r.get("lastError") for r in rules if r.get("lastError")} == {}
    failures = stack.query(
        'prometheus_rule_evaluation_failures_total{rule_group=~".*;driftmon-.*"}'
    )["result"]
    groups = {s["metric"]["rule_group"].split(";")[1] for s in failures}
    assert groups == {
        "driftmon-drift",
        "driftmon-features",
        "driftmon-health",
        "driftmon-catch-up",
        "driftmon-meta",
    }
    assert [float(s["value"][1]) for s in failures] == [0.0] * len(failures)
    assert all(a["labels"]["alertname"] != "DriftmonRuleEvaluationFailing" for a in stack.alerts())


def test_one_alert_per_monitor_feature_and_severity(
    stack: Stack, firing: list[dict[str, Any]]
) -> None:
    """The replicas' identical series raise one alert, without an instance label."""
    alerts = [a["labels"] for a in stack.alerts() if "monitor" in a["labels"]]
    assert alerts
    keys = [(a["alertname"], a["monitor"], a.get("feature"), a["severity"]) for a in alerts]
    assert len(keys) == len(set(keys)), sorted(keys)
    assert [a for a in alerts if "instance" in a or "job" in a] == []


def test_a_feature_in_error_raises_its_alert_and_is_ticketed(
    stack: Stack, firing: list[dict[str, Any]]
) -> None:
    """agee has no column: DriftmonFeatureError fires for it (only), routed to tickets."""
    alert = wait_for(
        lambda: next(
            (
                a
                for a in stack.alerts()
                if a["labels"]["alertname"] == FEATURE_ERROR and a["state"] == "firing"
            ),
            None,
        ),
        timeout=ALERT_TIMEOUT,
        what=f"{FEATURE_ERROR}({MISSING_FEATURE}) firing",
        processes=stack.processes,
    )
    assert (alert["labels"]["monitor"], alert["labels"]["feature"]) == (MONITOR, MISSING_FEATURE)
    others = [
        a["labels"]["feature"] for a in stack.alerts() if a["labels"]["alertname"] == FEATURE_ERROR
    ]
    assert others == [MISSING_FEATURE]
    ticket = wait_for(
        lambda: _find(stack.sink.alerts("/ticket"), FEATURE_ERROR, MISSING_FEATURE),
        timeout=60,
        what=f"Alertmanager to deliver {FEATURE_ERROR}({MISSING_FEATURE}) to /ticket",
        processes=stack.processes,
    )
    assert ticket["annotations"]["runbook_url"].endswith("#driftmonfeatureerror")
    # Its runs scored the other features: counted as partial, never as a plain success.
    runs = {
        s["metric"]["outcome"]: float(s["value"][1])
        for s in stack.query(
            f'max by (outcome) (driftmon_monitor_runs_total{{monitor="{MONITOR}"}})'
        )["result"]
    }
    assert runs["partial"] > 0
    assert runs["success"] == 0


def test_a_monitor_that_never_scores_raises_no_scored_window(
    stack: Stack, firing: list[dict[str, Any]]
) -> None:
    """starved is always insufficient_data (no last success at all): it alerts, example not."""
    alert = wait_for(
        lambda: next(
            (
                a
                for a in stack.alerts()
                if a["labels"]["alertname"] == NO_SCORED_WINDOW and a["state"] == "firing"
            ),
            None,
        ),
        timeout=ALERT_TIMEOUT,
        what=f"{NO_SCORED_WINDOW}({STARVED_MONITOR}) firing",
        processes=stack.processes,
    )
    assert alert["labels"]["monitor"] == STARVED_MONITOR
    assert "(it never has)" in alert["annotations"]["description"]
    assert [
        a["labels"]["monitor"]
        for a in stack.alerts()
        if a["labels"]["alertname"] == NO_SCORED_WINDOW
    ] == [STARVED_MONITOR]


def test_the_monitor_picker_lists_a_monitor_that_never_scored(
    stack: Stack, firing: list[dict[str, Any]]
) -> None:
    """The dashboard's $monitor query finds starved, which exports no KL at all."""
    (variable,) = [
        v
        for v in _load_grafana_queries().load_dashboard()["templating"]["list"]
        if v["name"] == "monitor"
    ]
    match = re.fullmatch(r"label_values\((?P<series>\w+), monitor\)", variable["query"])
    assert match, variable["query"]

    def monitors(series: str) -> list[str]:
        qs = urllib.parse.urlencode({"match[]": series})
        values: list[str] = get_json(f"{stack.prometheus_url}/api/v1/label/monitor/values?{qs}")[
            "data"
        ]
        return values

    assert sorted(monitors(match["series"])) == [MONITOR, STARVED_MONITOR]
    assert monitors("driftmon_feature_kl_divergence") == [MONITOR]


_SELECTOR = re.compile(r"\b(driftmon_\w+)(\{)?")


def one_replica(promql: str, replica: str = REPLICAS[0]) -> str:
    """``promql`` with every driftmon selector restricted to ``replica``."""

    def restrict(match: re.Match[str]) -> str:
        matcher = f'instance="{replica}"'
        return f"{match[1]}{{{matcher}, " if match[2] else f"{match[1]}{{{matcher}}}"

    return _SELECTOR.sub(restrict, promql)


def test_one_replica_restricts_every_selector() -> None:
    assert one_replica('max by (v) (driftmon_build_info) + driftmon_x{monitor="m"}') == (
        'max by (v) (driftmon_build_info{instance="replica-1"}) '
        '+ driftmon_x{instance="replica-1", monitor="m"}'
    )


# Panels whose numbers move between two scrapes a second apart (a run every 2 s): rates
# extrapolated from a few samples, and the age of the last success.
_MOVING = {"Runs per minute by outcome", "Run duration", "Last successful run age"}
# Panels of figures each process keeps of itself (its lag, its drops, its skipped ticks),
# not read from the shared results database: replicas differ, and the panel shows the
# largest, which is what the replica furthest behind alone would show.
_PER_PROCESS = {"Catch-up lag", "Windows dropped beyond catch_up", "Ticks skipped"}


@pytest.mark.parametrize(
    ("title", "promql"),
    DASHBOARD_QUERIES,
    ids=[f"{i}-{title}" for i, (title, _) in enumerate(DASHBOARD_QUERIES)],
)
def test_dashboard_query_counts_each_replica_once(
    stack: Stack, firing: list[dict[str, Any]], title: str, promql: str
) -> None:
    """Each panel shows what one replica alone would: no series per instance, nothing doubled."""

    replicas = REPLICAS if title in _PER_PROCESS else REPLICAS[:1]

    def both_and_alone() -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        # Right after start-up a replica may not have scraped a run yet (its rates are 0 and
        # a quantile of them NaN): compare once each replica has seen runs on its own.
        at = stack.query("time()")["result"][0]
        alone = [stack.query_at(one_replica(promql, r), at) for r in replicas]
        if any(math.isnan(float(s["value"][1])) for a in alone for s in a["result"]):
            return None
        return stack.query_at(promql, at), alone

    both, alone = wait_for(
        both_and_alone,
        timeout=30,
        what=f"{title}: runs seen by each replica",
        processes=stack.processes,
    )
    labels = _series(both)
    assert [m for m in labels if "instance" in m or "job" in m] == [], labels
    assert len(labels) == len({tuple(sorted(m.items())) for m in labels}), labels
    values = {tuple(sorted(s["metric"].items())): float(s["value"][1]) for s in both["result"]}
    expected: dict[tuple[tuple[str, str], ...], float] = {}
    for one in alone:
        for s in one["result"]:
            key = tuple(sorted(s["metric"].items()))
            expected[key] = max(expected.get(key, -math.inf), float(s["value"][1]))
    assert values.keys() == expected.keys()
    for key, value in values.items():
        if title in _MOVING:
            assert value == pytest.approx(expected[key], rel=0.25, abs=3.0), key
        else:
            assert value == expected[key], key


def test_kl_panel_draws_one_line_per_scored_feature(
    stack: Stack, firing: list[dict[str, Any]]
) -> None:
    """Five scored features, two replicas: five KL lines, not ten (agee has no KL)."""
    kl = next(q for t, q in DASHBOARD_QUERIES if t == "KL divergence per feature")
    assert sorted(m["feature"] for m in _series(stack.query(kl))) == sorted(SCORED_FEATURES)


def test_prometheus_scrapes_the_process_metrics_over_openmetrics(stack: Stack) -> None:
    """Prometheus asks for OpenMetrics first; the daemon answers so, process_* included."""

    def scraped(name: str) -> bool:
        return bool(stack.query(name)["result"])

    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total"):
        wait_for(
            lambda: scraped(name),  # noqa: B023  # called within this iteration only
            timeout=30,
            what=f"{name} scraped",
            processes=stack.processes,
        )
    # The header Prometheus 2.x sends.
    accept = (
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
        "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    )
    request = urllib.request.Request(f"http://{stack.daemon.target}/metrics")
    request.add_header("Accept", accept)
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        assert response.read().endswith(b"# EOF\n")
