"""What the Python API compares: a monitor's features and scoring settings, without sources.

``driftmon.compare`` and ``driftmon.Profile`` validate their ``features``, ``thresholds`` and
``smoothing`` with this model, so a feature accepts exactly the YAML feature keys and a
mistake reads as in a configuration file (``features[1] (name 'country').bins: expected an
integer >= 1, got 0``), only without the file and monitor in front.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from driftmon.config._base import ConfigModel, Float, Name
from driftmon.config.loader import validation_message
from driftmon.config.models import FeatureConfig, check_calibration_draws, check_features
from driftmon.config.thresholds import SignificanceThresholds, ThresholdsConfig
from driftmon.core.divergence import DEFAULT_SMOOTHING
from driftmon.errors import ConfigError


class ComparisonConfig(ConfigModel):
    """A named comparison: the features to score and how, as a monitor has them."""

    name: Name = Field(default="compare", description="Name shown in the report.")
    features: tuple[FeatureConfig, ...] = Field(
        description="Features to compare, at least one, unique names (the YAML feature keys)."
    )
    thresholds: ThresholdsConfig = Field(
        default_factory=SignificanceThresholds,
        description="Threshold policy for every feature without its own (default: significance).",
    )
    smoothing: Float = Field(
        default=DEFAULT_SMOOTHING,
        gt=0.0,
        description="Pseudo-count (rows) added to empty reference bins holding live mass.",
    )
    reference_is_sample: bool = Field(
        default=True,
        description="Reference is a sample (two-sample G-test) rather than exact truth.",
    )

    @field_validator("features")
    @classmethod
    def _unique_features(cls, value: tuple[FeatureConfig, ...]) -> tuple[FeatureConfig, ...]:
        check_features(value)
        return value

    @model_validator(mode="after")
    def _calibration_fits_in_memory(self) -> ComparisonConfig:
        check_calibration_draws(self)
        return self

    @property
    def source_timeout(self) -> timedelta | None:
        """In-memory data is read without a time bound."""
        return None


def comparison_config(data: dict[str, Any], what: str) -> ComparisonConfig:
    """``data`` validated as a ComparisonConfig; ``ConfigError`` lines start with ``what``."""
    try:
        return ComparisonConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, data, what)) from None
