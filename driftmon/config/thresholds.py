"""Threshold policies as configured: static KL cut-offs, significance tests, calibration.

Only the shape and validation live here; the maths that turns a policy into the KL
values applied to a window is built elsewhere. ``policy`` selects the model. When it is
absent, a mapping that gives ``warning`` or ``critical`` KL values is ``static`` (so
``{warning: 0.05, critical: 0.2}`` keeps its meaning) and anything else is the default
policy, ``significance``, whose false-alarm rate holds at every window size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag, model_validator

from driftmon.config._base import ConfigModel, Float, Int, describe_value, fail
from driftmon.core.thresholds import min_windows

PolicyName = Literal["static", "significance", "calibrated"]
Correction = Literal["none", "bonferroni", "bh"]
POLICIES: tuple[PolicyName, ...] = ("static", "significance", "calibrated")
DEFAULT_POLICY: PolicyName = "significance"
STATIC_KEYS = frozenset({"warning", "critical"})
"""Keys that make a mapping without ``policy`` a static one (configs written before the
default became ``significance``)."""

# Union tags; the loader drops them from key paths. The spaces keep them from ever
# colliding with a real key.
_TAGS: dict[str, str] = {p: f"{p} policy" for p in POLICIES}
TAGS = frozenset(_TAGS.values())

MAX_CALIBRATION_WINDOWS = 1_000_000
MAX_WINDOW_ROWS = 10**12  # a multinomial draw needs a 64-bit row count


class StaticThresholds(ConfigModel):
    """Fixed KL cut-offs in nats: warning when KL >= warning, critical when KL >= critical."""

    policy: Literal["static"] = Field(default="static", description="Selects fixed KL thresholds.")
    warning: Float = Field(
        default=0.05,
        ge=0.0,
        description="KL (nats) at or above which: warning.",
    )
    critical: Float = Field(
        default=0.2,
        ge=0.0,
        description="KL (nats) at or above which: critical.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> StaticThresholds:
        if self.warning > self.critical:
            raise fail(
                f"warning threshold {self.warning:g} is above critical threshold "
                f"{self.critical:g}; expected warning <= critical"
            )
        return self


class AlphaLevels(ConfigModel):
    """Significance levels per severity; critical is the stricter (smaller) one."""

    warning: Float = Field(
        default=0.01,
        gt=0.0,
        lt=1.0,
        description="p-value below which a feature is at least warning.",
    )
    critical: Float = Field(
        default=0.001, gt=0.0, lt=1.0, description="p-value below which a feature is critical."
    )

    @model_validator(mode="after")
    def _ordered(self) -> AlphaLevels:
        if self.critical > self.warning:
            raise fail(
                f"critical alpha {self.critical:g} is above warning alpha {self.warning:g}; "
                "expected critical <= warning (critical must be the stricter level)"
            )
        return self


class QuantileLevels(ConfigModel):
    """Quantiles of the no-drift KL distribution per severity; critical is the higher one."""

    warning: Float = Field(
        default=0.99, gt=0.0, lt=1.0, description="Null-KL quantile used as the warning threshold."
    )
    critical: Float = Field(
        default=0.999,
        gt=0.0,
        lt=1.0,
        description="Null-KL quantile used as the critical threshold.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> QuantileLevels:
        if self.warning > self.critical:
            raise fail(
                f"warning quantile {self.warning:g} is above critical quantile "
                f"{self.critical:g}; expected warning <= critical"
            )
        return self


class SignificanceThresholds(ConfigModel):
    """Alert when the G-test shows drift beyond min_effect (default: any drift) at alpha."""

    policy: Literal["significance"] = Field(
        default="significance", description="Selects the significance-test policy."
    )
    alpha: AlphaLevels = Field(
        default_factory=AlphaLevels, description="Significance level per severity."
    )
    min_effect: Float = Field(
        default=0.0,
        ge=0.0,
        description="KL (nats) a drift must be shown to exceed: the test's null hypothesis "
        "becomes 'true KL <= min_effect'.",
    )
    correction: Correction = Field(
        default="none",
        description="Multiple-testing correction across a run's features: none, bonferroni, bh.",
    )


class CalibratedThresholds(ConfigModel):
    """Thresholds at quantiles of KL between reference-sampled windows and the reference."""

    policy: Literal["calibrated"] = Field(
        default="calibrated", description="Selects thresholds calibrated on the reference."
    )
    quantile: QuantileLevels = Field(
        default_factory=QuantileLevels, description="Null-distribution quantile per severity."
    )
    windows: Int = Field(
        default=10_000,
        ge=100,
        le=MAX_CALIBRATION_WINDOWS,
        description="Number of windows resampled from the reference; at least 10/(1-q) - 1 "
        "for the strictest quantile q (9,999 for 0.999), so its tail is resolved.",
    )
    window_rows: Int | None = Field(
        default=None,
        ge=1,
        le=MAX_WINDOW_ROWS,
        description="Rows per resampled window; null: the live window size at the first run.",
    )

    @model_validator(mode="after")
    def _enough_windows(self) -> CalibratedThresholds:
        needed = min_windows(max(self.quantile.warning, self.quantile.critical))
        if self.windows < needed:
            raise fail(
                f"windows {self.windows} cannot resolve quantile "
                f"{max(self.quantile.warning, self.quantile.critical):g}; expected at least "
                f"{needed} windows (10 beyond the quantile)"
            )
        return self


ThresholdPolicy = StaticThresholds | SignificanceThresholds | CalibratedThresholds
"""Any one validated threshold policy (for ``isinstance`` checks and annotations)."""


def implied_policy(value: Mapping[str, Any]) -> Any:
    """The ``policy`` of a thresholds mapping, given or implied (see the module docstring)."""
    if "policy" in value:
        return value["policy"]
    return "static" if STATIC_KEYS & set(value) else DEFAULT_POLICY


def _policy_tag(value: Any) -> str | None:
    if isinstance(value, Mapping):
        policy = implied_policy(value)
        return _TAGS.get(policy) if policy in POLICIES else None
    policy = getattr(value, "policy", None)
    return _TAGS.get(policy) if isinstance(policy, str) else None


def _check_policy(value: Any) -> Any:
    if isinstance(value, StaticThresholds | SignificanceThresholds | CalibratedThresholds):
        return value
    if not isinstance(value, Mapping):
        raise fail(
            "expected a mapping such as {warning: 0.05, critical: 0.2} or "
            f"{{policy: significance, ...}}, got {describe_value(value)}"
        )
    policy = implied_policy(value)
    if policy not in POLICIES:
        raise fail(
            f"unknown threshold policy {describe_value(policy)}; "
            f"expected one of {', '.join(POLICIES)}"
        )
    return value


ThresholdsConfig = Annotated[
    Annotated[StaticThresholds, Tag(_TAGS["static"])]
    | Annotated[SignificanceThresholds, Tag(_TAGS["significance"])]
    | Annotated[CalibratedThresholds, Tag(_TAGS["calibrated"])],
    Discriminator(_policy_tag),
    BeforeValidator(_check_policy),
]
"""A threshold policy, chosen by its ``policy`` key (when absent: ``static`` if the mapping
gives warning/critical KL values, else ``significance``)."""
