"""The per-row costs that order columns on a ColumnPool (dearest first): one table for
live counting (on bins) and reference building (from specs), used by the engine and the
daemon's runner alike."""

from __future__ import annotations

from driftmon.core.bins import CategoricalBins, NumericBins
from driftmon.core.columns import column_cost
from driftmon.core.profile import FeatureSpec


def test_text_costs_most_then_a_quantile_sort_then_other_numeric_columns() -> None:
    text = column_cost(FeatureSpec("c", "categorical"))
    quantile = column_cost(FeatureSpec("x", strategy="quantile"))
    uniform = column_cost(FeatureSpec("x", strategy="uniform"))
    fixed = column_cost(FeatureSpec("x", strategy="quantile", edges=(0.0, 1.0)))
    assert text > quantile > uniform
    assert fixed == uniform, "fixed edges need no sort"


def test_live_counting_on_bins_costs_text_above_numbers_and_matches_the_specs() -> None:
    text = column_cost(CategoricalBins(("a", "b")))
    numeric = column_cost(NumericBins((0.0, 1.0)))
    assert text > numeric
    assert text == column_cost(FeatureSpec("c", "categorical"))
    assert numeric == column_cost(FeatureSpec("x", strategy="uniform"))
