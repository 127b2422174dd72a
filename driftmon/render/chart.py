"""Geometry of the reference-vs-live bar chart: numbers only, drawn by the templates as SVG.

Bars are bin shares (not counts), so a reference of 10⁶ rows and a window of 10³ compare
at a glance; each bin gets a pair of bars, reference left, live right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SLOT = 44.0
"""Least horizontal room per bin, in px (few bins get more, up to WIDE)."""
WIDE = 640.0
LEFT = 52.0
TOP = 14.0
PLOT = 200.0
CHAR = 7.2
"""Width of one label character at the chart's font size, in px (a generous estimate)."""
MAX_LABEL = 20


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    share: float
    count: int


@dataclass(frozen=True)
class Slot:
    label: str
    short_label: str
    kind: str
    reference: Bar | None
    live: Bar
    label_x: float


@dataclass(frozen=True)
class Tick:
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    width: float
    height: float
    left: float
    top: float
    bottom: float
    slots: tuple[Slot, ...]
    ticks: tuple[Tick, ...]


@dataclass(frozen=True)
class ChartBin:
    """What the chart needs of one bin; ``reference_share`` None: no reference to draw."""

    label: str
    kind: str
    live_count: int
    live_share: float
    reference_count: int = 0
    reference_share: float | None = None


def short(label: str) -> str:
    """A bin label cut to fit under its bars (the full one is in the bar's tooltip)."""
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def display_label(label: str, kind: str) -> str:
    """What a reader sees for a bin: "missing" and "other" for the two special bins."""
    return {"missing": "(missing)", "other": "(other)"}.get(kind, label)


def chart(bins: Sequence[ChartBin]) -> Chart:
    """Bar geometry for ``bins``; the y axis runs from 0 to the largest share drawn."""
    top_share = max([b.live_share for b in bins] + [b.reference_share or 0.0 for b in bins] + [0.0])
    scale = _nice(top_share)
    bottom = TOP + PLOT
    slot = max(SLOT, min(2 * SLOT, WIDE / max(len(bins), 1)))
    longest = max([len(short(display_label(b.label, b.kind))) for b in bins] + [1])
    # Labels are drawn at 45° from just under the axis: their height is their length / √2.
    extent = CHAR * longest * 0.71
    labels = 20.0 + extent
    # The first label runs left of its bars by as much: leave room for it.
    left = max(LEFT, extent - slot / 2 + 8)

    width = round(0.36 * slot, 1)  # two bars and a gap per slot

    def bar(x: float, share: float, count: int) -> Bar:
        h = PLOT * share / scale
        return Bar(x=x, y=bottom - h, width=width, height=h, share=share, count=count)

    slots = []
    for i, b in enumerate(bins):
        x0 = left + i * slot + (slot - 2 * width) / 2
        ref = (
            bar(x0, b.reference_share, b.reference_count) if b.reference_share is not None else None
        )
        live_x = x0 + width if ref is not None else x0 + width / 2
        label = display_label(b.label, b.kind)
        slots.append(
            Slot(
                label=label,
                short_label=short(label),
                kind=b.kind,
                reference=ref,
                live=bar(live_x, b.live_share, b.live_count),
                label_x=left + i * slot + slot / 2,
            )
        )
    ticks = tuple(
        Tick(y=bottom - PLOT * f, text=f"{100 * scale * f:.3g}%") for f in (0.0, 0.5, 1.0)
    )
    return Chart(
        width=left + slot * max(len(bins), 1) + 8,
        height=bottom + labels,
        left=left,
        top=TOP,
        bottom=bottom,
        slots=tuple(slots),
        ticks=ticks,
    )


NICE = (*(m * 10.0**k for k in (-3, -2, -1) for m in (1, 1.5, 2, 3, 4, 5, 7.5)), 1.0)
"""Axis maxima: the tallest bar fills at least two thirds of the plot (a share up to 0.1%
aside), and the middle tick is a round percentage."""


def _nice(share: float) -> float:
    """The axis maximum: the least of ``NICE`` at or above ``share`` (at most 100%)."""
    return next((step for step in NICE if share <= step), 1.0) if share > 0 else 1.0
