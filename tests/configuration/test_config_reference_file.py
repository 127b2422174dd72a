"""config/reference.yaml loads and mentions every key a user can write, so it cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from driftmon.config import (
    CalibratedThresholds,
    FileSourceConfig,
    FromLiveReference,
    SignificanceThresholds,
    SparkSourceConfig,
    SqlSourceConfig,
    StaticThresholds,
    load_config,
)
from driftmon.config._base import ConfigModel
from driftmon.config.profile_reference import ProfileReferenceConfig

from .conftest import ALL_MODELS

REFERENCE = Path(__file__).resolve().parents[2] / "config" / "reference.yaml"
ENV = {
    "DRIFTMON_WAREHOUSE_PASSWORD": "not-a-real-password",
    "DRIFTMON_SPARK_TOKEN": "not-a-real-token",
}


def test_reference_config_loads() -> None:
    cfg = load_config(REFERENCE, environ=ENV)
    assert len(cfg.monitors) == 5
    payments, orders, checkout, churn, events = cfg.monitors
    assert isinstance(payments.reference, FileSourceConfig)
    assert isinstance(orders.reference, SqlSourceConfig)
    assert isinstance(checkout.reference, FromLiveReference)
    assert isinstance(churn.reference, ProfileReferenceConfig)
    assert churn.reference.profile == str(REFERENCE.parent / "model" / "reference-profile.json")
    assert isinstance(events.reference, SparkSourceConfig)
    assert events.reference.spark.path == "s3a://events/reference/"
    assert isinstance(payments.thresholds, SignificanceThresholds)
    assert isinstance(payments.feature("amount").thresholds, StaticThresholds)
    assert isinstance(payments.feature("country").thresholds, CalibratedThresholds)
    assert isinstance(orders.live, SqlSourceConfig)
    assert orders.live.url == "sqlite:///" + str(REFERENCE.parent / "data" / "warehouse.db")


def test_reference_config_shows_the_defaults() -> None:
    """Keys the reference spells out hold the defaults, so the comments tell the truth."""
    cfg = load_config(REFERENCE, environ=ENV)
    payments = cfg.monitors[0]
    assert (cfg.server.host, cfg.server.port) == ("127.0.0.1", 9464)
    assert cfg.retention.max_age is not None
    assert cfg.retention.max_age.days == 90
    assert payments.smoothing == 0.5
    assert payments.source_timeout is not None
    assert payments.source_timeout.total_seconds() == 300
    assert payments.thresholds == SignificanceThresholds()  # what no thresholds key gives
    assert payments.thresholds == type(payments).model_fields["thresholds"].get_default(
        call_default_factory=True
    )
    assert payments.feature("amount").thresholds == StaticThresholds()
    assert payments.feature("country").thresholds == CalibratedThresholds()
    spool = cfg.database.spool
    assert spool.path == str(REFERENCE.parent / "driftmon.spool")
    assert (spool.max_runs, spool.max_age.days) == (10_000, 7)
    assert payments.catch_up is not None
    assert payments.catch_up.within is not None
    assert payments.catch_up.within.total_seconds() == 24 * 3600
    assert payments.catch_up == type(payments).model_fields["catch_up"].get_default(
        call_default_factory=True
    )
    rolling = cfg.monitors[2].rolling
    assert rolling is not None
    assert rolling.from_live.align is None  # what no align key gives


def test_reference_config_needs_its_environment_variable() -> None:
    with pytest.raises(Exception, match="DRIFTMON_WAREHOUSE_PASSWORD"):
        load_config(REFERENCE, environ={})


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_reference_config_mentions_every_key(model: type[BaseModel]) -> None:
    assert issubclass(model, ConfigModel)
    text = REFERENCE.read_text(encoding="utf-8")
    for key in model.user_keys():
        assert re.search(rf"(^|[\s{{,#]){re.escape(key)}:", text, re.MULTILINE), (
            f"{model.__name__}.{key} is missing from {REFERENCE.name}"
        )
