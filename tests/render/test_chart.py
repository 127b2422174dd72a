"""Bar geometry of the reference-vs-live chart."""

from __future__ import annotations

from driftmon.render.chart import CHAR, ChartBin, chart, short


def test_bar_heights_follow_the_shares_and_fit_the_plot() -> None:
    bins = [
        ChartBin("a", "value", 10, 0.1, 50, 0.5),
        ChartBin("b", "value", 70, 0.7, 30, 0.3),
        ChartBin("__missing__", "missing", 20, 0.2, 20, 0.2),
    ]
    c = chart(bins)
    assert len(c.slots) == 3
    live = [s.live.height for s in c.slots]
    refs = [s.reference.height for s in c.slots if s.reference]
    assert live[1] > live[2] > live[0]
    assert refs[0] > refs[1] > refs[2]
    assert all(s.live.y + s.live.height == c.bottom for s in c.slots)
    assert min(s.live.y for s in c.slots) >= c.top
    assert c.slots[2].label == "(missing)"
    # Reference left of live in each pair, pairs left to right.
    assert all(s.reference and s.reference.x < s.live.x for s in c.slots)
    assert c.slots[0].live.x < c.slots[1].reference.x  # type: ignore[union-attr]


def test_long_labels_are_shortened_and_the_first_one_has_room_on_the_left() -> None:
    label = "[123456.789, 234567.891)"
    c = chart([ChartBin(label, "value", 1, 1.0, 1, 1.0)])
    assert c.slots[0].label == label
    assert c.slots[0].short_label == short(label)
    assert len(c.slots[0].short_label) <= 20
    # Drawn at 45° ending under its bars, the label reaches this far left of its anchor.
    assert c.slots[0].label_x - CHAR * len(c.slots[0].short_label) * 0.71 >= 0


def test_without_a_reference_only_live_bars_are_drawn() -> None:
    c = chart([ChartBin("x", "value", 3, 1.0), ChartBin("y", "value", 0, 0.0)])
    assert all(s.reference is None for s in c.slots)
    assert c.slots[1].live.height == 0.0


def test_an_empty_histogram_still_has_an_axis() -> None:
    c = chart([ChartBin("x", "value", 0, 0.0, 0, 0.0)])
    assert c.ticks[-1].text == "100%"
    assert c.slots[0].live.height == 0.0


def test_the_tallest_bar_fills_at_least_two_thirds_of_the_plot() -> None:
    for share in [0.0011, 0.013, 0.05, 0.1001, 0.2501, 0.282, 0.3001, 0.4001, 0.5001, 0.7501]:
        c = chart([ChartBin("x", "value", 1, share, 1, share / 2)])
        top = c.slots[0].live.height / (c.bottom - c.top)
        assert 2 / 3 - 1e-9 <= top <= 1.0, share


def test_the_axis_ticks_are_round_percentages() -> None:
    c = chart([ChartBin("x", "value", 282, 0.282, 167, 0.167)])
    assert [t.text for t in c.ticks] == ["0%", "15%", "30%"]
