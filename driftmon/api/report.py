"""What ``driftmon.compare`` and ``Profile.compare`` return: one run's results, readable.

A ``Report`` wraps the same ``RunResult`` the daemon stores, so ``to_dict`` is one run of
``driftmon check --json`` and ``_repr_html_`` is the HTML report (``driftmon.render``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from driftmon.core.profile import ReferenceProfile
from driftmon.core.status import Status
from driftmon.results import RunResult

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = (
    "feature",
    "status",
    "kl_divergence",
    "entropy",
    "cross_entropy",
    "js_divergence",
    "psi",
    "p_value",
    "p_value_adjusted",
    "expected_kl",
    "live_rows",
    "missing_ratio",
    "threshold_policy",
    "threshold_warning",
    "threshold_critical",
    "message",
)
"""The columns of ``Report.to_pandas``, in order."""

_NUMBERS = frozenset(COLUMNS) - {"feature", "status", "threshold_policy", "message", "live_rows"}
_LEVELS: Mapping[str, tuple[Status, ...]] = {
    "warning": (Status.WARNING, Status.CRITICAL),
    "critical": (Status.CRITICAL,),
}


class DriftDetected(Exception):  # noqa: N818 - named for what happened, as asked for
    """Raised by ``Report.raise_for_drift``: features drifted, or could not be scored.

    ``report`` is the whole ``Report``.
    """

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        self.report = report


class Report:
    """The result of comparing live data with a reference, one row per feature."""

    def __init__(
        self, run: RunResult, reference: ReferenceProfile, smoothing: Mapping[str, float]
    ) -> None:
        self._run = run
        self._reference = reference
        self._smoothing = dict(smoothing)

    @property
    def name(self) -> str:
        """The comparison's (or profile's) name."""
        return self._run.monitor

    @property
    def status(self) -> str:
        """``ok``, ``warning`` or ``critical`` (the worst feature's drift); ``error`` when no
        feature could be scored, ``insufficient_data`` when none had enough rows."""
        return self._run.status.value

    @property
    def errors(self) -> dict[str, str]:
        """Features that could not be scored, with the reason (never left out silently)."""
        return {
            f.feature: f.message or "feature could not be computed"
            for f in self._run.features
            if f.status == Status.ERROR
        }

    @property
    def drifted(self) -> list[str]:
        """Features in ``warning`` or ``critical``, worst first."""
        order = {Status.CRITICAL: 0, Status.WARNING: 1}
        drifted = [f for f in self._run.features if f.status in order]
        return [f.feature for f in sorted(drifted, key=lambda f: order[f.status])]

    def to_dict(self) -> dict[str, Any]:
        """One run of ``driftmon check --json``: monitor (the name), status, window, rows,
        and ``features`` with every score, the thresholds and each feature's message."""
        return self._run.as_json()

    def to_pandas(self) -> pd.DataFrame:
        """One row per feature, the columns of ``COLUMNS`` (numbers as floats, NaN when a
        feature has no score)."""
        import pandas as pd

        rows = []
        for feature in self._run.features:
            data = feature.as_json()
            thresholds = data.pop("thresholds")
            data["threshold_policy"] = thresholds["policy"]
            data["threshold_warning"] = thresholds["warning"]
            data["threshold_critical"] = thresholds["critical"]
            rows.append({c: data[c] for c in COLUMNS})
        frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
        for column in _NUMBERS:
            frame[column] = frame[column].astype("float64")
        frame["live_rows"] = frame["live_rows"].astype("int64")
        return frame

    def raise_for_drift(self, level: Literal["warning", "critical"] = "critical") -> None:
        """Raise ``DriftDetected`` when a feature is at ``level`` or worse, or could not be
        scored (as ``driftmon check`` fails a gate on either); else return None."""
        if level not in _LEVELS:
            raise ValueError(f"level: expected 'warning' or 'critical', got {level!r}")
        parts = []
        hit = [f for f in self._run.features if f.status in _LEVELS[level]]
        if hit:
            listed = ", ".join(f"{f.feature} ({f.status.value})" for f in hit)
            parts.append(f"{len(hit)} feature(s) drifted to {level} or worse: {listed}")
        errors = self.errors
        if errors:
            listed = "; ".join(f"{name}: {why}" for name, why in errors.items())
            parts.append(f"{len(errors)} feature(s) could not be scored: {listed}")
        if parts:
            raise DriftDetected(f"{self.name}: " + "; ".join(parts), self)

    def to_html(self) -> str:
        """The HTML report of this comparison as one self-contained document (as
        ``driftmon check --html`` writes it)."""
        from driftmon.render import MonitorReport, render_report

        view = MonitorReport(
            monitor=self.name, run=self._run, profile=self._reference, smoothing=self._smoothing
        )
        return render_report([view], title=f"driftmon: {self.name}")

    def _repr_html_(self) -> str:
        # In an iframe, so the report's stylesheet cannot restyle the notebook around it.
        document = html.escape(self.to_html(), quote=True)
        return (
            f'<iframe srcdoc="{document}" title="driftmon report {html.escape(self.name)}" '
            'style="width: 100%; height: 36em; border: 1px solid #ccc; resize: vertical" '
            'sandbox=""></iframe>'
        )

    def __repr__(self) -> str:
        n = len(self._run.features)
        drifted = self.drifted
        errors = self.errors
        extra = f", {len(errors)} could not be scored" if errors else ""
        return (
            f"<driftmon.Report {self.name!r}: {self.status}, {len(drifted)} of {n} "
            f"feature(s) drifted{extra}>"
        )


# Shown as driftmon.Report and driftmon.DriftDetected (tracebacks, reprs), where they are
# public; the lazy loader of driftmon/__init__.py resolves those names.
Report.__module__ = "driftmon"
DriftDetected.__module__ = "driftmon"
