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

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "config" / "prometheus"
PROMETHEUS_YML = PROMETHEUS_DIR / "prometheus.yml"
RULES = PROMETHEUS_DIR / "rules" / "driftmon.rules.yml"
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
ALERTMANAGER_YML = REPO / "config" / "alertmanager" / "alertmanager.yml"
DASHBOARD = REPO / "config" / "grafana" / "dashboards" / "driftmon.json"

DRIFT_ALERTS = {"DriftmonFeatureDriftWarning", "DriftmonFeatureDriftCritical"}
REQUIRED_ALERTS = DRIFT_ALERTS | {
    "DriftmonMonitorRunsFailing",
    "DriftmonResultsStale",
    "DriftmonDown",
}

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
    "driftmon_monitor_runs_total",
    "driftmon_monitor_run_duration_seconds",
    "driftmon_monitor_run_duration_seconds_bucket",
    "driftmon_monitor_run_duration_seconds_sum",
    "driftmon_monitor_run_duration_seconds_count",
    "driftmon_monitor_drifted_features",
    "driftmon_monitor_schedule_interval_seconds",
    "driftmon_scrape_errors_total",
    "driftmon_build_info",
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


def rule_unit_tests() -> list[dict[str, Any]]:
    cases = []
    for path in RULE_TESTS:
        with path.open(encoding="utf-8") as f:
            for test in yaml.safe_load(f)["tests"]:
                cases.extend(test.get("alert_rule_test", []))
    return cases


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
    assert {"summary", "description", "dashboard"} <= set(annotations)
    assert "/d/driftmon/" in annotations["dashboard"]


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


def test_alertmanager_config_is_valid(amtool: str) -> None:
    result = run(amtool, "check-config", ALERTMANAGER_YML)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=DriftmonFeatureDriftCritical", "severity=critical"], "pager"),
        (["alertname=DriftmonDown", "severity=critical"], "pager"),
        (["alertname=DriftmonFeatureDriftWarning", "severity=warning"], "ticket"),
        (["alertname=DriftmonResultsStale", "severity=warning"], "ticket"),
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
    (inhibit,) = config["inhibit_rules"]
    assert inhibit["source_matchers"] == ['alertname="DriftmonFeatureDriftCritical"']
    assert inhibit["target_matchers"] == ['alertname="DriftmonFeatureDriftWarning"']
    assert set(inhibit["equal"]) == {"monitor", "feature"}
