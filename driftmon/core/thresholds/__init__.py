r"""Threshold policies: which KL values make a feature warning or critical in one window.

Three policies (``static``, ``significance``, ``calibrated``), each a small frozen
dataclass; ``decide`` turns the scores of all features of one run into statuses and the KL
thresholds (nats) actually applied, so that whatever the policy,
``status == Thresholds.classify(KL)`` holds exactly for every scored feature.

- ``policies``: the policy dataclasses and their validation.
- ``calibration``: the calibrated policy's bootstrap null distribution of KL.
- ``corrections``: Bonferroni and Benjamini–Hochberg adjustment across a run.
- ``decision``: the KL-space G-test, the insufficient-data rule and the per-run decision.
"""

from driftmon.core.thresholds.calibration import (
    RECALIBRATION_RANGE,
    Calibration,
    calibrate,
    kl_rows,
    needs_recalibration,
)
from driftmon.core.thresholds.corrections import (
    CORRECTIONS,
    Correction,
    adjust_p_values,
    raw_p_cutoff,
)
from driftmon.core.thresholds.decision import (
    MIN_ROWS_PER_BIN,
    Decision,
    PolicyInput,
    decide,
    kl_test,
)
from driftmon.core.thresholds.policies import (
    KL_FLOOR,
    CalibratedPolicy,
    SignificancePolicy,
    StaticPolicy,
    ThresholdPolicy,
    min_windows,
)

__all__ = [
    "CORRECTIONS",
    "KL_FLOOR",
    "MIN_ROWS_PER_BIN",
    "RECALIBRATION_RANGE",
    "CalibratedPolicy",
    "Calibration",
    "Correction",
    "Decision",
    "PolicyInput",
    "SignificancePolicy",
    "StaticPolicy",
    "ThresholdPolicy",
    "adjust_p_values",
    "calibrate",
    "decide",
    "kl_rows",
    "kl_test",
    "min_windows",
    "needs_recalibration",
    "raw_p_cutoff",
]
