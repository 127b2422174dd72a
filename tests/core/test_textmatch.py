"""The compiled text count gives ``pc.index_in``'s counts, on every shape of Arrow text.

The reference rule is the one it replaces: distinct texts by ``value_counts``, matched to
the categories by ``index_in`` (equal UTF-8 bytes), unmatched rows to "other", nulls
missing. Texts are drawn to reach each branch of the C loop: up to 8 bytes (one word), up
to 16 (two), longer (the bytes in between compared), the empty text (whose key is an empty
slot's), texts that share their first and last eight bytes and length, many categories
(long probe chains), nulls, slices and chunks; and object columns of str, None and NaN,
against Arrow's reading of the same objects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftmon.core import textmatch
from driftmon.core.bins import CategoricalBins
from driftmon.core.histogram import categorical_histogram
from tests.ci import in_ci


@pytest.fixture(autouse=True)
def _compiled() -> None:
    if not textmatch.available():
        message = "driftmon.core._textmatch is not built (no C compiler at install time)"
        if in_ci():
            pytest.fail(f"{message}; CI must test it")
        pytest.skip(message)


@pytest.fixture
def without_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(textmatch, "_textmatch", None)


Tally = tuple[list[int], int, int]
"""Rows per category, rows matching none, null rows."""


def by_definition(values: pa.Array | pa.ChunkedArray, categories: tuple[str, ...]) -> Tally:
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    counts = np.zeros(len(categories), dtype=np.int64)
    idx = pc.index_in(arr, value_set=pa.array(categories, type=arr.type))
    matched = pc.fill_null(idx, -1).to_numpy(zero_copy_only=False)
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    np.add.at(counts, matched[valid & (matched >= 0)], 1)
    return counts.tolist(), int((valid & (matched < 0)).sum()), int((~valid).sum())


def compiled(values: pa.Array | pa.ChunkedArray, categories: tuple[str, ...]) -> Tally:
    found = textmatch.match_counts(values, categories)
    assert found is not None
    counts, other, missing = found
    return counts.tolist(), other, missing


# Texts around the 8- and 16-byte words, sharing prefixes and suffixes, some non-ASCII.
PIECES = ["", "a", "ab", "abcdefg", "abcdefgh", "abcdefghi", "é", "ü€", "x" * 15, "x" * 16]
text = st.builds(lambda a, b, c: a + b + c, *(st.sampled_from(PIECES),) * 3) | st.text(max_size=24)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.one_of(text, st.none()), max_size=60),
    categories=st.lists(text, unique=True, max_size=12),
    large=st.booleans(),
    start=st.integers(0, 5),
)
def test_counts_as_index_in(
    rows: list[str | None], categories: list[str], large: bool, start: int
) -> None:
    arr = pa.array(rows, type=pa.large_string() if large else pa.string())[start:]
    cats = tuple(categories)
    if not cats:
        assert textmatch.match_counts(arr, cats) is None  # nothing to match: the caller's rule
        return
    assert compiled(arr, cats) == by_definition(arr, cats)


def test_texts_that_differ_only_between_their_first_and_last_eight_bytes() -> None:
    cats = (*(f"prefix__{c}__suffix" for c in "abc"), "prefix__suffix")
    rows = ["prefix__b__suffix", "prefix__d__suffix", "prefix__a__suffix", "prefix__suffix"] * 3
    arr = pa.array([*rows, None])
    assert compiled(arr, cats) == ([3, 3, 0, 3], 3, 1)


def test_the_empty_text_is_a_category_only_when_listed() -> None:
    arr = pa.array(["", "", "a", None])
    assert compiled(arr, ("a",)) == ([1], 2, 1)
    assert compiled(arr, ("a", "")) == ([1, 2], 0, 1)


def test_many_categories_and_long_probe_chains() -> None:
    rng = np.random.default_rng(7)
    cats = tuple(f"c{i:06d}" for i in range(5000)) + tuple(f"{i}" * 9 for i in range(200))
    pool = np.array([*cats, *(f"unseen{i}" for i in range(3000))], dtype=object)
    rows = pool[rng.integers(0, pool.size, 200_000)]
    arr = pa.array(rows, type=pa.large_string())
    assert compiled(arr, cats) == by_definition(arr, cats)


def test_chunks_and_slices_add_up() -> None:
    chunks = [pa.array(["a", None, "b", "zz"]), pa.array([], pa.string()), pa.array(["b"] * 5)]
    chunked = pa.chunked_array(chunks)
    assert compiled(chunked, ("b", "a")) == by_definition(chunked, ("b", "a"))
    assert compiled(chunked.slice(2, 5), ("b", "a")) == ([4, 0], 1, 0)


def test_declines_what_it_does_not_count() -> None:
    assert textmatch.match_counts(pa.array([1, 2]), ("1",)) is None  # spelled first
    assert textmatch.match_counts(pa.array(["a"]).dictionary_encode(), ("a",)) is None
    assert textmatch.match_counts(["a", "b"], ("a",)) is None  # not Arrow


def test_histogram_is_the_same_with_and_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    words = np.array(["red", "green", "blue", "a rather long colour name", "", None], object)
    arr = pa.array(words[rng.integers(0, words.size, 10_000)], type=pa.string())
    bins = CategoricalBins(("blue", "red", "", "a rather long colour name"))
    fast = categorical_histogram(arr, bins)
    series = categorical_histogram(arr.to_pandas(types_mapper=None).astype("str"), bins)
    monkeypatch.setattr(textmatch, "_textmatch", None)
    assert categorical_histogram(arr, bins) == fast == series
    assert fast.counts[bins.other_index] > 0
    assert fast.counts[bins.missing_index] > 0


def test_buffers_that_do_not_fit_are_refused() -> None:
    from driftmon.core import _textmatch  # type: ignore[attr-defined]

    offsets = np.array([0, 3, 99], dtype=np.int32)  # the second text runs past the data
    counts = np.zeros(1, dtype=np.int64)
    cat_offsets = np.array([0, 3], dtype=np.int64)
    with pytest.raises(ValueError, match="slot 1's offsets"):
        _textmatch.count(offsets, 4, b"abcdef", None, 0, 2, cat_offsets, b"abc", counts)
    assert counts.tolist() == [0]  # nothing counted from a refused column
    before = np.array([-5, -3], dtype=np.int32)  # in order, but before the data
    with pytest.raises(ValueError, match="slot 0's offsets"):
        _textmatch.count(before, 4, b"abcdef", None, 0, 1, cat_offsets, b"abc", counts)
    with pytest.raises(ValueError, match="beyond the array's buffers"):
        _textmatch.count(offsets, 4, b"abcdef", None, 0, 3, cat_offsets, b"abc", counts)
    with pytest.raises(ValueError, match="disagree"):
        _textmatch.count(offsets, 4, b"abcdef", None, 0, 1, cat_offsets, b"abc", counts[:0])


def test_without_it_text_is_counted_by_arrow(without_compiled: None) -> None:
    assert not textmatch.available()
    assert textmatch.match_counts(pa.array(["a"]), ("a",)) is None
    assert categorical_histogram(pa.array(["a", "b", None]), CategoricalBins(("a",))).to_list() == [
        1,
        1,
        1,
    ]


def objects_by_definition(rows: list[object], categories: tuple[str, ...]) -> Tally:
    """Arrow's reading of the same objects (None and NaN null), then index_in."""
    return by_definition(pa.array(rows, type=pa.string(), from_pandas=True), categories)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.one_of(text, st.none(), st.just(float("nan"))), max_size=60),
    categories=st.lists(text, unique=True, min_size=1, max_size=12),
)
def test_object_rows_count_as_their_arrow_text(rows: list[object], categories: list[str]) -> None:
    objects = np.array(rows, dtype=object)
    found = textmatch.match_object_counts(objects, tuple(categories))
    assert found is not None
    counts, other, missing = found
    assert (counts.tolist(), other, missing) == objects_by_definition(rows, tuple(categories))


@pytest.mark.parametrize(
    "odd",
    [1, 2.5, pd.NA, np.str_("a"), "\ud800", b"a"],
    ids=["int", "float", "NA", "str subclass", "lone surrogate", "bytes"],
)
def test_object_columns_of_other_kinds_are_left_to_the_caller(odd: object) -> None:
    objects = np.array(["a", None, odd, "a"], dtype=object)
    assert textmatch.match_object_counts(objects, ("a",)) is None


def test_object_column_of_distinct_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A column of one str object per row (as a driver makes them; ``join`` makes a new
    object each time) takes the compiled count; the histogram is Arrow's reading's."""
    rng = np.random.default_rng(5)
    words = [f"word-{i}-é" if i % 7 == 0 else f"word-{i}" for i in range(300)]
    rows: list[str | None] = ["".join(words[i]) for i in rng.integers(0, 300, 20_000)]
    rows[::97] = [None] * len(rows[::97])
    series = pd.Series(rows, dtype=object)
    bins = CategoricalBins(tuple(words[:40]))
    calls: list[int] = []
    real = textmatch.match_object_counts

    def counted(objects: np.ndarray, categories: tuple[str, ...]) -> object:
        calls.append(len(objects))
        return real(objects, categories)

    monkeypatch.setattr(textmatch, "match_object_counts", counted)
    fast = categorical_histogram(series, bins)
    assert calls == [20_000]
    monkeypatch.setattr(textmatch, "_textmatch", None)
    assert categorical_histogram(series, bins) == fast
    assert categorical_histogram(pa.array(rows, pa.string()), bins) == fast
