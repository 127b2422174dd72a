"""The shipped Prometheus and Alertmanager configuration, checked with the real tools."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

from driftmon.service.catch_up_metrics import catch_up_families
from driftmon.service.metrics import _Families
from driftmon.service.skipped_ticks import skipped_ticks_families
from driftmon.service.spool_metrics import spool_families

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "config" / "prometheus"
PROMETHEUS_YML = PROMETHEUS_DIR / "prometheus.yml"
RULES = PROMETHEUS_DIR / "rules" / "driftmon.rules.yml"
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
ALERTMANAGER_YML = REPO / "config" / "alertmanager" / "alertmanager.yml"
DASHBOARD = REPO / "config" / "grafana" / "dashboards" / "driftmon.json"

README = REPO / "README.md"

DRIFT_ALERTS = {"DriftmonFeatureDriftWarning", "DriftmonFeatureDriftCritical"}
REQUIRED_ALERTS = DRIFT_ALERTS | {
    "DriftmonFeatureError",
    "DriftmonMonitorRunsFailing",
    "DriftmonNoScoredWindow",
    "DriftmonResultsDatabaseUnreachable",
    "DriftmonDown",
    "DriftmonRuleEvaluationFailing",
    "DriftmonSpoolNotDraining",
    "DriftmonCatchUpWindowsDropped",
    "DriftmonMonitorFallingBehind",
    "DriftmonMonitorSkippingTicks",
}
# Where every runbook_url points: a subsection of README.md's "Runbook" section.
RUNBOOK_BASE = "https://github.com/driftmon/driftmon/blob/main/README.md#"
# The label Prometheus puts on its per-group rule metrics is "<rule file>;<group name>";
# DriftmonRuleEvaluationFailing watches the groups whose name matches this.
WATCHED_GROUPS = re.compile(r"driftmon-.*")

# What the daemon exports on /metrics (issue 4); the rules and the dashboard use nothing else.
DAEMON_METRICS = {
    "driftmon_feature_kl_divergence",
    "driftmon_feature_entropy",
    "driftmon_feature_cross_entropy",
    "driftmon_feature_js_divergence",
    "driftmon_feature_psi",
    "driftmon_feature_p_value",
    "driftmon_feature_expected_kl",
    "driftmon_feature_status",
    "driftmon_monitor_status",
    "driftmon_feature_kl_threshold",
    "driftmon_feature_threshold_policy_info",
    "driftmon_feature_drift_status",
    "driftmon_feature_live_rows",
    "driftmon_feature_missing_ratio",
    "driftmon_monitor_last_run_timestamp_seconds",
    "driftmon_monitor_last_success_timestamp_seconds",
    "driftmon_monitor_first_seen_timestamp_seconds",
    "driftmon_monitor_feature_errors",
    "driftmon_monitor_runs_total",
    "driftmon_monitor_run_duration_seconds",
    "driftmon_monitor_run_duration_seconds_bucket",
    "driftmon_monitor_run_duration_seconds_sum",
    "driftmon_monitor_run_duration_seconds_count",
    "driftmon_monitor_drifted_features",
    "driftmon_monitor_schedule_interval_seconds",
    "driftmon_scrape_errors_total",
    "driftmon_build_info",
    "driftmon_spool_runs",
    "driftmon_spool_oldest_run_age_seconds",
    "driftmon_spool_dropped_runs_total",
    "driftmon_spool_damaged_files_total",
    "driftmon_spool_write_errors_total",
    "driftmon_catch_up_dropped_windows_total",
    "driftmon_catch_up_last_dropped_timestamp_seconds",
    "driftmon_catch_up_lag_seconds",
    "driftmon_catch_up_bound_seconds",
    "driftmon_skipped_ticks_total",
    "driftmon_skipped_ticks_runs_in_a_row",
    "driftmon_server_info",
}

# A `for:` line as the rules write it, so a test can swap in a short duration.
FOR_LINE = re.compile(r"^(?P<indent>\s*)for: (?P<duration>\S+)\s*$", re.MULTILINE)


def run(*argv: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def alert_rules() -> list[dict[str, Any]]:
    with RULES.open(encoding="utf-8") as f:
        groups = yaml.safe_load(f)["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def rule_groups() -> list[dict[str, Any]]:
    with RULES.open(encoding="utf-8") as f:
        groups: list[dict[str, Any]] = yaml.safe_load(f)["groups"]
    return groups


def rule_test_groups() -> list[dict[str, Any]]:
    """Every test (input series and alert cases) of every promtool test file."""
    tests: list[dict[str, Any]] = []
    for path in RULE_TESTS:
        with path.open(encoding="utf-8") as f:
            tests.extend(yaml.safe_load(f)["tests"])
    return tests


def rule_unit_tests() -> list[dict[str, Any]]:
    return [case for test in rule_test_groups() for case in test.get("alert_rule_test", [])]


_SERIES = re.compile(r"^(?P<name>\w+)\{(?P<labels>.*)\}$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def replica_count(test: dict[str, Any]) -> int:
    """How many scrape targets export the same series (same name and labels but instance)."""
    targets: dict[tuple[str, tuple[tuple[str, str], ...]], set[str]] = {}
    for item in test["input_series"]:
        match = _SERIES.match(item["series"])
        assert match, item["series"]
        labels = dict(_LABEL.findall(match["labels"]))
        instance = labels.pop("instance", "")
        targets.setdefault((match["name"], tuple(sorted(labels.items()))), set()).add(instance)
    return max((len(i) for i in targets.values()), default=0)


def readme_anchors(section: str) -> set[str]:
    """GitHub's anchors of the subsections (###) of README.md's ``## section``."""
    text = README.read_text(encoding="utf-8")
    parts = text.split(f"\n## {section}\n", 1)
    assert len(parts) == 2, f"README.md has no '## {section}' section"
    body = parts[1].split("\n## ", 1)[0]
    headings = re.findall(r"^### (.+)$", body, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_prometheus_config_is_valid(promtool: str) -> None:
    """promtool accepts prometheus.yml, including the rule files it points at."""
    result = run(promtool, "check", "config", PROMETHEUS_YML)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout, result.stdout


def test_prometheus_config_works_from_a_copy(promtool: str, tmp_path: Path) -> None:
    """rule_files are relative to the config, so a copied directory is self-contained."""
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS_DIR, copy)
    result = run(promtool, "check", "config", copy / "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout, result.stdout


def test_rules_are_valid_and_lint_clean(promtool: str) -> None:
    result = run(promtool, "check", "rules", "--lint=all", "--lint-fatal", RULES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass(promtool: str) -> None:
    """config/prometheus/tests/*.yml: firing and not-firing cases of every alert."""
    assert RULE_TESTS, "no promtool rule tests found"
    result = run(promtool, "test", "rules", *RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_still_valid_with_a_short_for(promtool: str, tmp_path: Path) -> None:
    """The end-to-end test rewrites every `for:` to seconds; the result must still load."""
    text = RULES.read_text(encoding="utf-8")
    rewritten, count = FOR_LINE.subn(r"\g<indent>for: 1s", text)
    assert count == len(alert_rules())
    (tmp_path / "short.rules.yml").write_text(rewritten, encoding="utf-8")
    result = run(promtool, "check", "rules", tmp_path / "short.rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_required_alerts_exist() -> None:
    names = [rule["alert"] for rule in alert_rules()]
    assert set(names) >= REQUIRED_ALERTS
    assert len(names) == len(set(names)), "alert names must be unique"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_has_for_severity_and_annotations(rule: dict[str, Any]) -> None:
    assert rule.get("for"), "every alert waits a `for:` duration before firing"
    assert rule["labels"]["severity"] in {"warning", "critical"}
    annotations = rule["annotations"]
    assert {"summary", "description", "dashboard", "runbook_url"} <= set(annotations)
    assert set(annotations) <= {"summary", "description", "dashboard", "runbook_url", "page"}
    assert "/d/driftmon/" in annotations["dashboard"]


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_links_its_own_runbook_section_in_the_readme(rule: dict[str, Any]) -> None:
    """runbook_url points at README.md's Runbook subsection named after the alert."""
    url = rule["annotations"]["runbook_url"]
    assert url == RUNBOOK_BASE + rule["alert"].lower()
    assert url.removeprefix(RUNBOOK_BASE) in readme_anchors("Runbook")


# Alerts about one monitor (and feature) link its status page on the daemon.
PAGE_ALERTS = {
    "DriftmonFeatureDriftWarning": True,
    "DriftmonFeatureDriftCritical": True,
    "DriftmonFeatureError": True,
    "DriftmonMonitorRunsFailing": False,
    "DriftmonNoScoredWindow": False,
    "DriftmonCatchUpWindowsDropped": False,
    "DriftmonMonitorFallingBehind": False,
    "DriftmonMonitorSkippingTicks": False,
}


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alerts_about_a_monitor_link_its_page_through_the_exported_external_url(
    rule: dict[str, Any],
) -> None:
    page = rule["annotations"].get("page")
    if rule["alert"] not in PAGE_ALERTS:
        assert page is None
        return
    assert page is not None
    assert 'query "max by (external_url) (driftmon_server_info{external_url!=\\"\\"})"' in page
    assert "/monitors/{{ $labels.monitor | urlquery" in page
    assert ("/features/{{ $labels.feature | urlquery" in page) is PAGE_ALERTS[rule["alert"]]


def test_every_page_link_of_the_rule_tests_is_the_daemons_own_link_for_that_name() -> None:
    """The path an alert builds (Go's urlquery, "+" as %20) is the one the pages build
    (``feature_url``/``monitor_url``) for the same names under the same external URL."""
    from urllib.parse import urlsplit

    from driftmon.service.pages import base_path, feature_url, monitor_url

    checked = 0
    for case in rule_unit_tests():
        for alert in case.get("exp_alerts", []):
            page = alert.get("exp_annotations", {}).get("page")
            if not page:
                continue
            labels = alert["exp_labels"]
            url = urlsplit(page)
            base = base_path(f"{url.scheme}://{url.netloc}{url.path.split('/monitors/')[0]}")
            if "feature" in labels and case["alertname"] in DRIFT_ALERTS | {"DriftmonFeatureError"}:
                expected = feature_url(labels["monitor"], labels["feature"], base)
            else:
                expected = monitor_url(labels["monitor"], base)
            assert url.path == expected
            checked += 1
    assert checked >= 10


def test_every_runbook_subsection_is_an_alert() -> None:
    """No runbook entry for an alert that no longer exists."""
    assert readme_anchors("Runbook") == {r["alert"].lower() for r in alert_rules()}


def test_every_alert_has_a_two_replica_unit_test() -> None:
    """With two daemons exporting the same monitor, each alert still fires, once."""
    covered = {
        case["alertname"]
        for test in rule_test_groups()
        if replica_count(test) >= 2
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {rule["alert"] for rule in alert_rules()} - covered == set()


def test_replica_count_tells_two_targets_from_two_features() -> None:
    """The helper above counts targets of one series, not series of one target."""
    one = 'x{job="driftmon",instance="a:1",monitor="m",feature="%s"}'
    two = 'x{job="driftmon",instance="%s",monitor="m",feature="f"}'
    assert replica_count({"input_series": [{"series": one % f} for f in "fg"]}) == 1
    assert replica_count({"input_series": [{"series": two % i} for i in ("a:1", "b:1")]}) == 2


def test_rule_failures_of_every_driftmon_group_are_alerted() -> None:
    """DriftmonRuleEvaluationFailing watches every group of the rules file, itself included."""
    (rule,) = [r for r in alert_rules() if r["alert"] == "DriftmonRuleEvaluationFailing"]
    assert "prometheus_rule_evaluation_failures_total" in rule["expr"]
    assert 'rule_group=~".*;driftmon-.*"' in rule["expr"]
    for group in rule_groups():
        assert WATCHED_GROUPS.fullmatch(group["name"]), group["name"]


def test_prometheus_scrapes_itself_for_the_rule_failure_alert() -> None:
    """prometheus_rule_evaluation_failures_total only reaches the rules when self-scraped."""
    config = yaml.safe_load(PROMETHEUS_YML.read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["prometheus"]["static_configs"][0]["targets"] == ["localhost:9090"]
    assert "driftmon" in jobs


@pytest.mark.parametrize("name", sorted(DRIFT_ALERTS))
def test_drift_alert_names_monitor_feature_value_and_threshold(name: str) -> None:
    (rule,) = [r for r in alert_rules() if r["alert"] == name]
    severity = rule["labels"]["severity"]
    assert f'driftmon_feature_kl_threshold{{severity="{severity}"}}' in rule["expr"]
    assert "on(monitor, feature)" in rule["expr"]
    text = rule["annotations"]["summary"] + rule["annotations"]["description"]
    for needle in ("$labels.monitor", "$labels.feature", "$value", "driftmon_feature_kl_threshold"):
        assert needle in text
    assert "var-monitor=" in rule["annotations"]["dashboard"]
    assert "var-feature=" in rule["annotations"]["dashboard"]


def test_every_alert_has_firing_and_quiet_unit_tests() -> None:
    firing = {c["alertname"] for c in rule_unit_tests() if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in rule_unit_tests() if not c.get("exp_alerts")}
    names = {rule["alert"] for rule in alert_rules()}
    assert names - firing == set(), "alerts without a firing unit test"
    assert names - quiet == set(), "alerts without a not-firing unit test"


def test_dashboard_links_point_at_the_provisioned_dashboard() -> None:
    uid = json.loads(DASHBOARD.read_text(encoding="utf-8"))["uid"]
    for rule in alert_rules():
        assert f"/d/{uid}/" in rule["annotations"]["dashboard"], rule["alert"]


def test_rules_and_dashboard_use_only_exported_metrics() -> None:
    """A renamed metric breaks alerts silently; pin the names against the daemon's list."""
    used = set(re.findall(r"\bdriftmon_[a-z_]+", RULES.read_text(encoding="utf-8")))
    used |= set(re.findall(r"\bdriftmon_[a-z_]+", DASHBOARD.read_text(encoding="utf-8")))
    assert used - DAEMON_METRICS == set()


def test_the_daemon_exports_every_metric_the_rules_and_dashboard_may_use() -> None:
    """DAEMON_METRICS above is the collector's own list, so a rename there fails here."""
    exported: set[str] = set()
    families = [*_Families().all(), *spool_families(None), *catch_up_families(None)]
    for family in [*families, *skipped_ticks_families(None)]:
        exported.add(family.name)
        if isinstance(family, CounterMetricFamily):
            exported.add(f"{family.name}_total")
        if isinstance(family, HistogramMetricFamily):
            exported |= {f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count")}
    assert DAEMON_METRICS - exported == set()


def test_alertmanager_config_is_valid(amtool: str) -> None:
    result = run(amtool, "check-config", ALERTMANAGER_YML)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=DriftmonFeatureDriftCritical", "severity=critical"], "pager"),
        (["alertname=DriftmonDown", "severity=critical"], "pager"),
        (["alertname=DriftmonFeatureDriftWarning", "severity=warning"], "ticket"),
        (["alertname=DriftmonNoScoredWindow", "severity=warning"], "ticket"),
        (["alertname=DriftmonFeatureError", "severity=warning"], "ticket"),
        (["alertname=DriftmonCatchUpWindowsDropped", "severity=warning"], "ticket"),
        (["alertname=DriftmonRuleEvaluationFailing", "severity=critical"], "pager"),
    ],
)
def test_alertmanager_routes_by_severity(amtool: str, labels: list[str], receiver: str) -> None:
    result = run(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_YML}",
        f"--verify.receivers={receiver}",
        *labels,
        "monitor=example",
        "feature=age",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_groups_per_feature_and_inhibits_warning_under_critical() -> None:
    config = yaml.safe_load(ALERTMANAGER_YML.read_text(encoding="utf-8"))
    assert config["route"]["group_by"] == ["alertname", "monitor", "feature"]
    drift, stale = config["inhibit_rules"]
    assert drift["source_matchers"] == ['alertname="DriftmonFeatureDriftCritical"']
    assert drift["target_matchers"] == ['alertname="DriftmonFeatureDriftWarning"']
    assert set(drift["equal"]) == {"monitor", "feature"}
    # A monitor paged for failing runs is not ticketed for having no scored window too.
    assert stale["source_matchers"] == ['alertname="DriftmonMonitorRunsFailing"']
    assert stale["target_matchers"] == ['alertname="DriftmonNoScoredWindow"']
    assert stale["equal"] == ["monitor"]
    names = {rule["alert"] for rule in alert_rules()}
    for inhibit in config["inhibit_rules"]:
        for matcher in inhibit["source_matchers"] + inhibit["target_matchers"]:
            assert matcher.removeprefix('alertname="').removesuffix('"') in names, matcher
