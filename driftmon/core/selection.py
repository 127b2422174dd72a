"""Exact order statistics of a column read several times, in memory bounded by budgets.

Radix selection on order-preserving 64-bit keys of the values. Every wanted rank sits in
a *bucket*: the keys sharing a prefix of ``level`` bits. Each pass over the column either

- counts the keys of every candidate bucket by their next ``digit`` bits, narrowing each
  rank to a sub-bucket (at most ``count_budget`` counters), or
- once the candidate buckets hold at most ``value_budget`` keys together, collects them
  and picks every rank exactly.

A bucket whose smallest and largest keys are equal (ties, such as the zeros of a
zero-inflated column) resolves at once. The first pass needs no ranks: it counts all keys
by their top 12 bits (sign and exponent), so it can run beside the pass that finds the
column's length. Memory per column: ``count_budget`` int64 counters and ``value_budget``
collected keys (with a 2-byte bucket number each), 1.1 MiB with the defaults.
The result is bit-identical to sorting the whole column (``-0.0`` reads as ``0.0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Keys = npt.NDArray[np.uint64]

_SIGN = np.uint64(1 << 63)
_FIRST_DIGIT = 12  # sign and exponent: one bucket per binade, 32 KiB of counters
_MAX_DIGIT = 16
_MAX_RANKS = (1 << 16) - 1  # buckets are numbered in 2 bytes


def float_keys(x: npt.NDArray[np.float64]) -> Keys:
    """Order-preserving unsigned keys of finite floats (``-0.0`` and ``0.0`` share one)."""
    bits = (np.asarray(x, dtype=np.float64) + 0.0).view(np.uint64)
    negative = (bits & _SIGN) != 0
    return np.where(negative, ~bits, bits | _SIGN)


def key_to_float(key: int) -> float:
    """Inverse of ``float_keys`` for one key."""
    k = np.uint64(key)
    bits = k & ~_SIGN if k & _SIGN else ~k
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


def inverted_cdf_ranks(n: int, probs: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """0-based ranks that ``np.quantile(x, probs, method="inverted_cdf")`` returns for
    ``n`` values: ``j = floor(n·p − 1)``, then ``j`` when ``n·p − 1`` is whole, else ``j + 1``
    (the same float arithmetic as NumPy's)."""
    index = n * np.asarray(probs, dtype=np.float64) - 1
    previous = np.floor(index)
    ranks = np.where(index - previous == 0, previous, previous + 1).astype(np.intp)
    ranks[ranks < 0] = 0
    return ranks


@dataclass
class _Bucket:
    """The keys sharing the top ``level`` bits ``prefix``: ``size`` of them, ``below`` keys
    smaller than all of them, and the wanted ranks inside (as ranks of the whole column)."""

    prefix: int
    level: int
    below: int
    size: int
    ranks: list[int]


class RankSelector:
    """Exact values at given ranks of a column fed once per pass; see the module docstring.

    Call ``feed`` with every batch of keys, then ``end_pass`` (the first time with the
    ranks); repeat while ``done`` is false; then read ``values``.
    """

    def __init__(self, *, count_budget: int = 1 << 16, value_budget: int = 1 << 16) -> None:
        if count_budget < (1 << _MAX_DIGIT) or value_budget < 1:
            raise ValueError("count_budget must be at least 65536 and value_budget at least 1")
        self.count_budget = count_budget
        self.value_budget = value_budget
        self.passes = 0
        self.peak_held = 0
        """Most counters plus collected keys held at once: bounded by the budgets."""
        self._n = 0
        self._fed = 0
        self._found: dict[int, int] = {}
        self._buckets: list[_Bucket] = []
        self._collecting = False
        self._digit = _FIRST_DIGIT
        self._start_pass_state(first=True)

    @property
    def done(self) -> bool:
        return self.passes > 0 and not self._buckets

    def values(self, ranks: Sequence[int]) -> list[float]:
        """The values at ``ranks`` (each one of the ranks given to the first ``end_pass``)."""
        if not self.done:
            raise RuntimeError("the selection needs more passes")
        return [key_to_float(self._found[int(r)]) for r in ranks]

    def feed(self, keys: Keys) -> None:
        """One batch of keys of the column, in any order."""
        keys = np.asarray(keys, dtype=np.uint64)
        self._fed += keys.size
        if not self._buckets and self.passes > 0:
            return
        level = self._level
        if level == 0:
            members, slot = keys, np.zeros(keys.size, dtype=np.intp)
        else:
            top = keys >> np.uint64(64 - level)
            pos = np.searchsorted(self._prefixes, top)
            pos[pos == self._prefixes.size] = 0
            inside = self._prefixes[pos] == top
            members, slot = keys[inside], pos[inside]
        if not members.size:
            return
        if level == 0:  # one bucket: plain reductions, far cheaper than ufunc.at
            self._lo[0] = min(self._lo[0], members.min())
            self._hi[0] = max(self._hi[0], members.max())
        else:
            np.minimum.at(self._lo, slot, members)
            np.maximum.at(self._hi, slot, members)
        if self._collecting:
            self._held += members.size
            self._collected.append((slot.astype(np.uint16), members))
        else:
            shift = np.uint64(64 - level - self._digit)
            sub = ((members >> shift) & np.uint64((1 << self._digit) - 1)).astype(np.intp)
            self._counts += np.bincount(
                (slot << self._digit) + sub, minlength=self._counts.size
            ).astype(np.int64)
        self.peak_held = max(self.peak_held, self._held)

    def end_pass(self, ranks: Sequence[int] | None = None) -> None:
        """Close a pass; the first one needs the wanted ranks (0-based, below the length)."""
        if self.passes == 0:
            if ranks is None:
                raise ValueError("the first pass needs the wanted ranks")
            self._n = self._fed
            wanted = sorted({int(r) for r in ranks})
            if len(wanted) > _MAX_RANKS:
                raise ValueError(f"at most {_MAX_RANKS} ranks, got {len(wanted)}")
            if wanted and not 0 <= wanted[0] <= wanted[-1] < self._n:
                raise ValueError(f"ranks must lie in [0, {self._n}), got {wanted}")
            self._buckets = [_Bucket(0, 0, 0, self._n, wanted)] if wanted else []
        elif self._fed != self._n:
            raise ValueError(
                f"the column changed between passes: {self._n} values, then {self._fed}"
            )
        self.passes += 1
        self._fed = 0
        narrowed: list[_Bucket] = []
        slots, keys = self._gathered()
        for i, bucket in enumerate(self._buckets):
            lo, hi = int(self._lo[i]), int(self._hi[i])
            if lo == hi:  # all keys of the bucket are equal
                self._found.update(dict.fromkeys(bucket.ranks, lo))
            elif self._collecting:
                start = int(np.searchsorted(slots, i))
                for r in bucket.ranks:
                    self._found[r] = int(keys[start + r - bucket.below])
            else:
                narrowed += self._narrow(i, bucket)
        self._buckets = narrowed
        self._start_pass_state(first=False)

    # -- internals -------------------------------------------------------------------------

    def _narrow(self, i: int, bucket: _Bucket) -> list[_Bucket]:
        width = 1 << self._digit
        counts = self._counts[i * width : (i + 1) * width]
        cum = np.cumsum(counts)
        out: dict[int, _Bucket] = {}
        for r in bucket.ranks:
            d = int(np.searchsorted(cum, r - bucket.below, side="right"))
            if d not in out:
                before = int(cum[d - 1]) if d else 0
                out[d] = _Bucket(
                    (bucket.prefix << self._digit) | d,
                    bucket.level + self._digit,
                    bucket.below + before,
                    int(counts[d]),
                    [],
                )
            out[d].ranks.append(r)
        return list(out.values())

    def _gathered(self) -> tuple[npt.NDArray[np.uint16], Keys]:
        """The collected keys sorted by bucket, then by key, with their buckets."""
        if not self._collected:
            return np.zeros(0, dtype=np.uint16), np.zeros(0, dtype=np.uint64)
        slots = np.concatenate([s for s, _ in self._collected])
        keys = np.concatenate([k for _, k in self._collected])
        order = np.lexsort((keys, slots))
        return slots[order], keys[order]

    def _start_pass_state(self, *, first: bool) -> None:
        buckets = self._buckets
        m = 1 if first else len(buckets)
        self._level = 0 if first else (buckets[0].level if buckets else 0)
        self._prefixes = np.array([b.prefix for b in buckets], dtype=np.uint64)
        self._lo = np.full(m, np.iinfo(np.uint64).max, dtype=np.uint64)
        self._hi = np.zeros(m, dtype=np.uint64)
        self._collected: list[tuple[npt.NDArray[np.uint16], Keys]] = []
        self._held = 0
        total = sum(b.size for b in buckets)
        self._collecting = not first and total <= self.value_budget
        if first:
            self._digit = _FIRST_DIGIT
        elif buckets and not self._collecting:
            room = max(1, (self.count_budget // m).bit_length() - 1)
            self._digit = min(_MAX_DIGIT, 64 - self._level, room)
        self._counts = np.zeros(
            0 if self._collecting or (not buckets and not first) else m << self._digit,
            dtype=np.int64,
        )
        self._held = self._counts.size
        self.peak_held = max(self.peak_held, self._held)
