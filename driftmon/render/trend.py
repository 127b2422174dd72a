"""Geometry of KL over time: the sparklines of the tables and the feature page's history
chart. Numbers only; the templates draw them as inline SVG.

Both scale KL from 0 up, so a flat line near the bottom reads as "no drift", and both draw
the thresholds the runs were judged by: a sparkline the latest warning threshold, the
history chart each run's warning and critical thresholds (a calibrated policy moves them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from driftmon.core.status import Status
from driftmon.history import KLPoint

SPARK_WIDTH = 120.0
SPARK_HEIGHT = 26.0
HISTORY_WIDTH = 720.0
HISTORY_HEIGHT = 260.0
MAX_MARKERS = 240
"""The history chart draws at most this many points; beyond, each stands for a span of
runs and is the one with the highest KL (a spike is never averaged away)."""
_LEFT, _RIGHT, _TOP, _BOTTOM = 56.0, 110.0, 12.0, 46.0


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


@dataclass(frozen=True)
class Sparkline:
    """A small KL trend: polylines (split where a run has no KL), the latest point and the
    latest warning threshold's height (None when not known or above the scale)."""

    width: float
    height: float
    lines: tuple[str, ...]
    last_x: float
    last_y: float
    last_status: Status
    warning_y: float | None
    summary: str
    """What the sparkline shows, in words (its tooltip and accessible name)."""


def sparkline(points: Sequence[KLPoint]) -> Sparkline | None:
    """The sparkline of ``points`` (oldest first); None when none of them has a KL."""
    scored = [p.kl for p in points if p.kl is not None]
    if not scored:
        return None
    warning = _finite(points[-1].warning)
    top = max([*scored, warning or 0.0]) or 1.0
    pad = 2.0
    w, h = SPARK_WIDTH, SPARK_HEIGHT
    step = (w - 2 * pad) / max(len(points) - 1, 1)

    def y(kl: float) -> float:
        return round(h - pad - (h - 2 * pad) * kl / top, 2)

    lines: list[str] = []
    current: list[str] = []
    for i, p in enumerate(points):
        if p.kl is None:
            if current:
                lines.append(" ".join(current))
            current = []
            continue
        current.append(f"{round(pad + i * step, 2)},{y(p.kl)}")
    if current:
        lines.append(" ".join(current))
    last_i, last = max((i, p) for i, p in enumerate(points) if p.kl is not None)
    assert last.kl is not None
    span = f"{_when(points[0].window_end)} to {_when(points[-1].window_end)}"
    summary = (
        f"KL over {len(points)} runs, {span}: lowest {min(scored):.4g}, highest "
        f"{max(scored):.4g}, latest {last.kl:.4g} ({last.status.value})"
    )
    return Sparkline(
        width=w,
        height=h,
        lines=tuple(lines),
        last_x=round(pad + last_i * step, 2),
        last_y=y(last.kl),
        last_status=last.status,
        warning_y=y(warning) if warning is not None else None,
        summary=summary,
    )


@dataclass(frozen=True)
class Marker:
    """One drawn point of the history chart: a run (the highest-KL one of its span)."""

    x: float
    y: float
    run_id: int
    window_end: datetime
    status: Status
    kl: float | None
    runs: int
    """How many runs the point stands for (1 unless the history was thinned)."""


@dataclass(frozen=True)
class Tick:
    at: float
    text: str


@dataclass(frozen=True)
class ThresholdLine:
    name: str
    points: str
    label_y: float
    value: float
    """The latest run's threshold, written beside the line."""


@dataclass(frozen=True)
class HistoryChart:
    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float
    line: tuple[str, ...]
    markers: tuple[Marker, ...]
    thresholds: tuple[ThresholdLine, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    selected: Marker | None
    runs: int
    thinned: int
    """Runs per drawn point at most (1: every run is drawn)."""
    off_scale: tuple[str, ...]
    """Thresholds above the drawn range, in words."""


def history_chart(points: Sequence[KLPoint], selected: int | None = None) -> HistoryChart | None:
    """The history chart of one feature (``points`` oldest first), marking run ``selected``;
    None without any point."""
    if not points:
        return None
    w, h = HISTORY_WIDTH, HISTORY_HEIGHT
    left, right, top, bottom = _LEFT, w - _RIGHT, _TOP, h - _BOTTOM
    groups = _thin(points)
    kls = [p.kl for p in points if p.kl is not None]
    warnings = [v for p in points if (v := _finite(p.warning)) is not None]
    criticals = [v for p in points if (v := _finite(p.critical)) is not None]
    near = max([*kls, *warnings, 0.0])
    # The critical line is drawn when it is not far above everything else: a calibrated
    # critical threshold of 10x the KLs would flatten them all into the axis.
    scale_max = _nice(1.05 * max([near, *[c for c in criticals if c <= 3 * near or near == 0]]))
    t0 = points[0].window_end.timestamp()
    t1 = points[-1].window_end.timestamp()

    def x_of(t: datetime) -> float:
        if t1 == t0:
            return round((left + right) / 2, 2)
        return round(left + (right - left) * (t.timestamp() - t0) / (t1 - t0), 2)

    def y_of(kl: float) -> float:
        return round(bottom - (bottom - top) * min(kl, scale_max) / scale_max, 2)

    markers = []
    for group in groups:
        # The highest KL of the span, and apart from it a run that did not score the
        # feature (an error run must not hide behind its neighbour).
        scored_ = [p for p in group if p.kl is not None]
        unscored = [p for p in group if p.kl is None]
        chosen_points = [max(scored_, key=lambda p: p.kl or 0.0)] if scored_ else []
        chosen_points += unscored[:1]
        for best in sorted(chosen_points, key=lambda p: p.window_end):
            markers.append(
                Marker(
                    x=x_of(best.window_end),
                    y=y_of(best.kl) if best.kl is not None else bottom,
                    run_id=best.run_id,
                    window_end=best.window_end,
                    status=best.status,
                    kl=best.kl,
                    runs=len(group) if best.kl is not None else len(unscored),
                )
            )
    line: list[str] = []
    current: list[str] = []
    for m in markers:
        if m.kl is None:
            if current:
                line.append(" ".join(current))
            current = []
        else:
            current.append(f"{m.x},{m.y}")
    if current:
        line.append(" ".join(current))

    thresholds = []
    off_scale = []
    for name, values in (
        ("warning", [(p, _finite(p.warning)) for p in points]),
        ("critical", [(p, _finite(p.critical)) for p in points]),
    ):
        known = [(p, v) for p, v in values if v is not None]
        if not known:
            continue
        latest = known[-1][1]
        if max(v for _, v in known) > scale_max:
            off_scale.append(f"{name} threshold {latest:.4g} is above the chart")
            continue
        # A step line: each run's threshold holds until the next run.
        steps: list[str] = []
        for i, (p, v) in enumerate(known):
            x = x_of(p.window_end)
            if i:
                steps.append(f"{x},{y_of(known[i - 1][1])}")
            steps.append(f"{x},{y_of(v)}")
        if len(known) == 1:
            steps = [f"{left},{y_of(latest)}", f"{right},{y_of(latest)}"]
        thresholds.append(ThresholdLine(name, " ".join(steps), y_of(latest) + 4, latest))

    chosen = next((m for m in markers if m.run_id == selected), None)
    if chosen is None and selected is not None:
        shown = next((p for p in points if p.run_id == selected), None)
        if shown is not None:
            y = y_of(shown.kl) if shown.kl is not None else bottom
            chosen = Marker(
                x_of(shown.window_end), y, shown.run_id, shown.window_end, shown.status, shown.kl, 1
            )
    y_ticks = tuple(Tick(y_of(scale_max * f), f"{scale_max * f:.3g}") for f in (0.0, 0.5, 1.0))
    return HistoryChart(
        width=w,
        height=h,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        line=tuple(line),
        markers=tuple(markers),
        thresholds=tuple(thresholds),
        y_ticks=y_ticks,
        x_ticks=_time_ticks(points, x_of),
        selected=chosen,
        runs=len(points),
        thinned=max(len(g) for g in groups),
        off_scale=tuple(off_scale),
    )


def _nice(x: float) -> float:
    """The axis maximum: the next of 1, 1.5, 2, 3, 4, 5, 7.5 × 10^k at or above ``x`` (1 for
    none), the steps of the bar chart's axis, so the line fills at least two thirds of it."""
    if x <= 0 or not math.isfinite(x):
        return 1.0
    power = 10.0 ** math.floor(math.log10(x))
    for step in (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0):
        if x <= step * power * (1 + 1e-9):
            return step * power
    return 10.0 * power


def _thin(points: Sequence[KLPoint]) -> list[list[KLPoint]]:
    """Consecutive groups of at most ceil(n / MAX_MARKERS) points (one point each when few)."""
    size = max(1, math.ceil(len(points) / MAX_MARKERS))
    return [list(points[i : i + size]) for i in range(0, len(points), size)]


def _time_ticks(points: Sequence[KLPoint], x_of: Callable[[datetime], float]) -> tuple[Tick, ...]:
    first, last = points[0].window_end, points[-1].window_end
    if first == last:
        return (Tick(x_of(first), _when(first)),)
    n = 4
    ticks = []
    for k in range(n + 1):
        t = first + (last - first) * k / n
        ticks.append(Tick(x_of(t), _when(t, with_time=(last - first).days < 2)))
    return tuple(ticks)


def _when(t: datetime, *, with_time: bool = True) -> str:
    """A window end for a label (UTC); the time of day is left out on long spans."""
    return t.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")
