"""Per-bin KL contributions and the written-out identity KL = H(P,Q) − H(P)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from driftmon.core.kinds import ColumnKind
from driftmon.core.status import Status
from driftmon.render.breakdown import breakdown, matches_stored, profile_mismatch
from tests.render.factories import categorical, numeric, scored

REFERENCE = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
# "d" never occurs in the reference: its bin is "other", whose reference count is 0, so the
# smoothing decides its q.
LIVE = ["a"] * 20 + ["b"] * 30 + ["c"] * 10 + ["d"] * 25 + [None] * 15


@pytest.mark.parametrize("smoothing", [0.5, 3.0])
def test_contributions_and_identity_match_the_stored_kl(smoothing: float) -> None:
    fp = categorical("c", REFERENCE)
    result = scored(fp, LIVE, smoothing=smoothing)
    assert result.scores is not None
    b = breakdown(result, fp, smoothing)
    stored = result.scores.kl_divergence
    assert abs(sum(r.contribution for r in b.bins) - stored) <= 1e-12
    assert abs((b.cross_entropy - b.entropy) - stored) <= 1e-12
    assert abs(b.kl - stored) <= 1e-12
    assert abs(b.entropy - result.scores.entropy) <= 1e-12
    assert matches_stored(b, result)


def test_the_bin_that_moved_has_the_largest_contribution_and_is_marked_smoothed() -> None:
    fp = categorical("c", REFERENCE)
    b = breakdown(scored(fp, LIVE), fp, 0.5)
    kinds = [r.kind for r in b.bins]
    assert kinds == ["value", "value", "value", "other", "missing"]
    other = b.bins[3]
    assert other.smoothed
    assert other.reference_count == 0
    assert other.live_count == 25
    assert other.contribution == max(r.contribution for r in b.bins)
    # "b" kept its share (q is p scaled by N/(N+α) only): all but nothing.
    assert 0 < b.bins[1].contribution < 0.005


def test_another_smoothing_than_the_run_used_no_longer_matches() -> None:
    fp = categorical("c", REFERENCE)
    result = scored(fp, LIVE, smoothing=0.5)
    assert not matches_stored(breakdown(result, fp, 5.0), result)


def test_an_all_missing_window_puts_its_whole_mass_in_the_missing_bin() -> None:
    fp = numeric("x", [float(i) for i in range(100)])
    result = scored(fp, [math.nan] * 40)
    b = breakdown(result, fp, 0.5)
    assert [r.live_share for r in b.bins] == [0.0] * (len(b.bins) - 1) + [1.0]
    assert b.bins[-1].kind == "missing"
    assert b.bins[-1].smoothed
    assert str(b.entropy) == "0.0"  # not "-0.0": one bin holds every row
    assert result.scores is not None
    assert abs(b.kl - result.scores.kl_divergence) <= 1e-12


def test_an_empty_window_has_zero_shares_and_zero_kl() -> None:
    fp = numeric("x", [float(i) for i in range(100)])
    result = scored(fp, [])
    assert result.status == Status.INSUFFICIENT_DATA
    b = breakdown(result, fp, 0.5)
    assert b.live_rows == 0
    assert b.kl == 0.0
    assert b.entropy == 0.0
    assert all(r.contribution == 0.0 for r in b.bins)


def test_a_profile_with_other_bins_than_the_run_is_a_mismatch() -> None:
    old = categorical("c", REFERENCE)
    result = scored(old, LIVE)
    rebuilt = categorical("c", ["a", "z"])
    assert profile_mismatch(result, old) is None
    reason = profile_mismatch(result, rebuilt)
    assert reason is not None
    assert "rebuilt" in reason
    assert profile_mismatch(result, None) is not None
    assert profile_mismatch(replace(result, live_counts=(1, 2)), old) is not None


@pytest.mark.parametrize("kind", ["timestamp", "decimal", "text"])
def test_a_run_stored_with_the_older_spelling_of_its_categories_still_matches(
    kind: ColumnKind,
) -> None:
    """Runs stored before timestamp and decimal categories were spelled canonically keep
    ``2026-03-01 12:00:00.000Z`` in their bin labels; the profile, re-spelled when read,
    says ``2026-03-01 12:00:00Z``. Those are the same bins, for those kinds only."""
    older = {"2026-03-01 12:00:00Z": "2026-03-01 12:00:00.000Z", "1.5": "1.50"}
    fp = replace(categorical("c", [*older] * 10), column_kind=kind)
    labels = fp.bins.labels()
    stored = replace(
        scored(fp, [*older] * 3), bin_labels=tuple(older.get(label, label) for label in labels)
    )
    assert stored.bin_labels != tuple(labels)
    reason = profile_mismatch(stored, fp)
    if kind == "text":
        assert reason is not None, "text categories are compared as they are spelled"
    else:
        assert reason is None
        shown = breakdown(stored, fp, 0.5)
        assert matches_stored(shown, stored)
        assert [row.label for row in shown.bins] == labels  # the bin table says it one way
