"""Threshold policies: significance (default), static and calibrated; their bad inputs."""

from __future__ import annotations

from typing import Any

import pytest

from driftmon.config import (
    AlphaLevels,
    CalibratedThresholds,
    QuantileLevels,
    SignificanceThresholds,
    StaticThresholds,
)
from driftmon.errors import ConfigError

from .conftest import ErrorLoader, Loader, minimal_config, with_feature, with_monitor

FEATURE = "monitors[0] (name 'example').features[1] (name 'amount').thresholds"
MONITOR = "monitors[0] (name 'example').thresholds"


def test_without_a_thresholds_key_every_feature_gets_the_significance_policy(
    load: Loader,
) -> None:
    """The default is the policy whose false-alarm rate holds at every window size."""
    m = load(minimal_config()).monitors[0]
    assert m.thresholds == SignificanceThresholds()
    for f in m.features:
        t = f.effective_thresholds(m)
        assert isinstance(t, SignificanceThresholds)
        assert (t.alpha.warning, t.alpha.critical, t.min_effect, t.correction) == (
            0.01,
            0.001,
            0.0,
            "none",
        )


@pytest.mark.parametrize(
    "thresholds",
    [{"warning": 0.1, "critical": 0.3}, {"warning": 0.1}, {"critical": 0.3}],
)
def test_kl_values_without_a_policy_keep_meaning_static(
    load: Loader, thresholds: dict[str, float]
) -> None:
    """Configs written before the default changed keep their fixed KL thresholds."""
    t = load(with_monitor(thresholds=thresholds)).monitors[0].thresholds
    assert t == StaticThresholds.model_validate(thresholds)
    assert t.policy == "static"
    f = load(with_feature(1, thresholds=thresholds)).monitors[0].features[1].thresholds
    assert isinstance(f, StaticThresholds)


@pytest.mark.parametrize(
    "thresholds", [{}, {"correction": "bh"}, {"alpha": {"warning": 0.05, "critical": 0.01}}]
)
def test_a_thresholds_mapping_without_policy_or_kl_values_is_significance(
    load: Loader, thresholds: dict[str, Any]
) -> None:
    t = load(with_monitor(thresholds=thresholds)).monitors[0].thresholds
    assert t == SignificanceThresholds.model_validate(thresholds)


def test_static_stays_available_by_name_with_its_values(load: Loader) -> None:
    t = load(with_monitor(thresholds={"policy": "static"})).monitors[0].thresholds
    assert t == StaticThresholds(warning=0.05, critical=0.2)


def test_static_allows_equal_warning_and_critical(load: Loader) -> None:
    t = load(with_monitor(thresholds={"warning": 0.2, "critical": 0.2})).monitors[0].thresholds
    assert (t.warning, t.critical) == (0.2, 0.2)  # type: ignore[union-attr]


def test_significance_policy_parses(load: Loader) -> None:
    t = load(
        with_monitor(
            thresholds={"policy": "significance", "alpha": {"warning": 0.01, "critical": 0.001},
                        "min_effect": 0.01, "correction": "bh"}
        )
    ).monitors[0].thresholds  # fmt: skip
    assert t == SignificanceThresholds(
        alpha=AlphaLevels(warning=0.01, critical=0.001), min_effect=0.01, correction="bh"
    )


def test_significance_defaults(load: Loader) -> None:
    t = load(with_monitor(thresholds={"policy": "significance"})).monitors[0].thresholds
    assert isinstance(t, SignificanceThresholds)
    assert (t.alpha.warning, t.alpha.critical, t.min_effect, t.correction) == (
        0.01,
        0.001,
        0.0,
        "none",
    )


def test_calibrated_policy_parses(load: Loader) -> None:
    t = load(
        with_monitor(
            thresholds={"policy": "calibrated", "quantile": {"warning": 0.99, "critical": 0.999},
                        "windows": 20000, "window_rows": 2000}
        )
    ).monitors[0].thresholds  # fmt: skip
    assert t == CalibratedThresholds(
        quantile=QuantileLevels(warning=0.99, critical=0.999), windows=20000, window_rows=2000
    )


def test_calibrated_windows_must_resolve_the_strictest_quantile(load: Loader) -> None:
    """0.999 needs 10 windows beyond it: 9,999 windows; 1,000 is a configuration error."""
    with pytest.raises(ConfigError, match=r"windows 1000 cannot resolve quantile 0\.999.*9999"):
        load(with_monitor(thresholds={"policy": "calibrated", "windows": 1000}))
    ok = load(with_monitor(thresholds={"policy": "calibrated", "windows": 9999}))
    policy = ok.monitors[0].thresholds
    assert isinstance(policy, CalibratedThresholds)
    assert policy.windows == 9999


def test_calibrated_defaults(load: Loader) -> None:
    t = load(with_monitor(thresholds={"policy": "calibrated"})).monitors[0].thresholds
    assert isinstance(t, CalibratedThresholds)
    assert (t.quantile.warning, t.quantile.critical, t.windows, t.window_rows) == (
        0.99,
        0.999,
        10_000,
        None,
    )


def test_feature_override_can_use_another_policy(load: Loader) -> None:
    m = load(with_feature(1, thresholds={"policy": "calibrated"})).monitors[0]
    assert isinstance(m.features[1].effective_thresholds(m), CalibratedThresholds)
    assert isinstance(m.features[0].effective_thresholds(m), SignificanceThresholds)


@pytest.mark.parametrize(
    ("thresholds", "path", "fragment"),
    [
        ({"warning": 0.5, "critical": 0.1}, "",
         "warning threshold 0.5 is above critical threshold 0.1; expected warning <= critical"),
        ({"warning": 0.5}, "", "warning threshold 0.5 is above critical threshold 0.2"),
        ({"warning": -0.1}, ".warning", "expected a number >= 0, got -0.1"),
        ({"critical": -1}, ".critical", "expected a number >= 0, got -1"),
        ({"warning": "high"}, ".warning", "expected a number, got 'high'"),
        ({"warning": True}, ".warning", "expected a number, got true"),
        ({"warning": None}, ".warning", "expected a number, got null"),
        ({"critical": [0.2]}, ".critical", "expected a number, got a list of 1 item"),
        ({"critical": float("nan")}, ".critical", "expected a finite number"),
        ({"critical": float("inf")}, ".critical", "expected a finite number"),
        ({"policy": "adaptive"}, "",
         "unknown threshold policy 'adaptive'; expected one of static, significance, calibrated"),
        ({"policy": "static", "alpha": {}}, "",
         "unknown key 'alpha'; allowed keys: policy, warning"),
        ({"policy": "significance", "warning": 0.1}, "", "unknown key 'warning'"),
        ("0.1", "", "expected a mapping such as {warning: 0.05, critical: 0.2}"),
        ({"policy": "significance", "alpha": {"warning": 0}}, ".alpha.warning",
         "expected a number > 0, got 0"),
        ({"policy": "significance", "alpha": {"critical": 1}}, ".alpha.critical",
         "expected a number < 1, got 1"),
        ({"policy": "significance", "alpha": {"warning": 0.001, "critical": 0.01}}, ".alpha",
         "critical alpha 0.01 is above warning alpha 0.001; expected critical <= warning"),
        ({"policy": "significance", "alpha": 0.05}, ".alpha",
         "expected a mapping with keys warning, critical"),
        ({"policy": "significance", "min_effect": -0.01}, ".min_effect", "expected a number >= 0"),
        ({"policy": "significance", "correction": "holm"}, ".correction",
         "expected 'none', 'bonferroni' or 'bh'"),
        ({"policy": "calibrated", "quantile": {"warning": 1.5}}, ".quantile.warning",
         "expected a number < 1, got 1.5"),
        ({"policy": "calibrated", "quantile": {"critical": 0}}, ".quantile.critical",
         "expected a number > 0, got 0"),
        ({"policy": "calibrated", "quantile": {"warning": 0.999, "critical": 0.99}}, ".quantile",
         "warning quantile 0.999 is above critical quantile 0.99; expected warning <= critical"),
        ({"policy": "calibrated", "windows": 99}, ".windows", "expected an integer >= 100, got 99"),
        ({"policy": "calibrated", "window_rows": 0}, ".window_rows", "expected an integer >= 1"),
    ],
)  # fmt: skip
def test_bad_thresholds_name_the_feature(
    load_error: ErrorLoader, thresholds: Any, path: str, fragment: str
) -> None:
    message = load_error(with_feature(1, thresholds=thresholds))
    assert f"{FEATURE}{path}: {fragment}" in message


def test_bad_monitor_thresholds_name_the_monitor(load_error: ErrorLoader) -> None:
    message = load_error(with_monitor(thresholds={"warning": 1.0, "critical": 0.5}))
    assert f"{MONITOR}: warning threshold 1 is above critical threshold 0.5" in message


def test_threshold_models_validate_when_built_in_python() -> None:
    with pytest.raises(
        ValueError, match=r"warning threshold 0\.3 is above critical threshold 0\.2"
    ):
        StaticThresholds(warning=0.3, critical=0.2)
    with pytest.raises(ValueError, match="critical alpha"):
        AlphaLevels(warning=0.001, critical=0.01)
