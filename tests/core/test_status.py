"""Statuses, the static KL thresholds and a run's overall status."""

from __future__ import annotations

import math

import pytest

from driftmon.core.status import Status, Thresholds, worst


@pytest.mark.parametrize(
    ("warning", "critical"),
    [(-0.1, 0.2), (0.1, -0.2), (math.nan, 0.2), (0.1, math.nan), (0.3, 0.2), ("0.1", 0.2)],
    ids=["negative-warning", "negative-critical", "nan-warning", "nan-critical",
         "warning-above-critical", "text"],
)  # fmt: skip
def test_invalid_thresholds_raise_value_error(warning: float, critical: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        Thresholds(warning, critical)


@pytest.mark.parametrize(("warning", "critical"), [(0.0, 0.0), (0.2, 0.2), (0, 1), (0.1, math.inf)])
def test_valid_thresholds_are_accepted(warning: float, critical: float) -> None:
    t = Thresholds(warning, critical)
    assert (t.warning, t.critical, t.policy) == (warning, critical, "static")


@pytest.mark.parametrize(
    ("kl", "expected"),
    [
        (0.0, Status.OK),
        (math.nextafter(0.1, 0.0), Status.OK),
        (0.1, Status.WARNING),
        (math.nextafter(0.2, 0.0), Status.WARNING),
        (0.2, Status.CRITICAL),
        (50.0, Status.CRITICAL),
    ],
)
def test_classify_is_inclusive_at_each_threshold(kl: float, expected: Status) -> None:
    assert Thresholds(0.1, 0.2).classify(kl) is expected


def test_equal_thresholds_skip_warning() -> None:
    t = Thresholds(0.2, 0.2)
    assert t.classify(0.19) is Status.OK
    assert t.classify(0.2) is Status.CRITICAL


def test_zero_thresholds_flag_any_kl_as_critical() -> None:
    assert Thresholds(0.0, 0.0).classify(0.0) is Status.CRITICAL


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], Status.INSUFFICIENT_DATA),
        ([Status.INSUFFICIENT_DATA], Status.INSUFFICIENT_DATA),
        ([Status.OK, Status.INSUFFICIENT_DATA], Status.OK),
        ([Status.OK, Status.WARNING, Status.OK], Status.WARNING),
        ([Status.CRITICAL, Status.WARNING, Status.OK], Status.CRITICAL),
        ([Status.WARNING, Status.CRITICAL], Status.CRITICAL),
        ([Status.ERROR, Status.INSUFFICIENT_DATA], Status.ERROR),
        ([Status.ERROR, Status.OK], Status.OK),
        ([Status.ERROR, Status.WARNING, Status.INSUFFICIENT_DATA], Status.WARNING),
    ],
)
def test_worst_is_the_most_severe_drift_status_then_error_then_insufficient_data(
    statuses: list[Status], expected: Status
) -> None:
    assert worst(statuses) is expected


def test_status_levels_are_the_exported_gauge_values() -> None:
    assert {s: s.level for s in Status} == {
        Status.OK: 0,
        Status.WARNING: 1,
        Status.CRITICAL: 2,
        Status.INSUFFICIENT_DATA: -1,
        Status.ERROR: -2,
    }


def test_status_values_are_their_stored_strings() -> None:
    assert [s.value for s in Status] == ["ok", "warning", "critical", "insufficient_data", "error"]
    assert Status("warning") is Status.WARNING
