"""Counting a window's columns on several cores: threads over columns, where they pay.

NumPy's and Arrow's counting kernels release the GIL while they loop over values, so the
columns of one window (or one batch) can be counted by threads at the same time. What
does not release it, the per-column Python around the kernels (and the scores, which are
tiny), runs one thread at a time, so threads pay only for columns long enough that the
kernels dominate: ``ColumnPool.map`` counts in the calling thread below ``min_rows`` rows
per column, or with fewer than two columns, or with one thread.

The pool is computation only, no I/O: it starts at most ``threads`` worker threads, on
first use, and the caller owns it (``close``, or a ``with`` block). It lives in the core,
rather than in the service layer, so that everything that counts (the runner, ``driftmon
check``, the benchmarks, library users) shares one rule for when threads pay; the service
layer only decides how many threads a host gives it. Results do not depend on the number
of threads: each column is counted by the same code, whole, by one thread, and results
come back in input order.

Columns whose counting holds the GIL most of the time (NumPy kernels making many short
calls, Python loops over objects) are kept apart where the window allows: while another
thread has a GIL-free column to count (Arrow hashing a text column in one long call), at
most one of them runs at a time. Two threads that both take the GIL between short calls
hand it back and forth, each hand-over a sleep and a wake-up of the other thread.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar, cast

T = TypeVar("T")
R = TypeVar("R")

MIN_ROWS_PER_COLUMN = 1 << 15
"""Below this many rows per column, columns are counted in the calling thread: the kernels'
GIL-free work (~2 ns a value) no longer outweighs the per-column Python (see
``benchmarks/README.md``, small windows)."""


def available_cores() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class ColumnPool:
    """Up to ``threads`` threads counting the columns of one window at a time.

    ``threads=None`` uses every available core; ``1`` counts everything in the caller.
    One pool may be shared by threads that each count their own window.
    """

    def __init__(self, threads: int | None = None, *, min_rows: int = MIN_ROWS_PER_COLUMN):
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if min_rows < 0:
            raise ValueError(f"min_rows must be at least 0, got {min_rows}")
        self.threads = threads if threads is not None else available_cores()
        self.min_rows = min_rows
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def pays(self, columns: int, rows: int) -> bool:
        """Whether ``columns`` columns of ``rows`` rows are counted on several threads."""
        return self.threads > 1 and columns > 1 and rows >= self.min_rows

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        rows: int,
        costs: Sequence[float] | None = None,
        holds_gil: Sequence[bool] | None = None,
    ) -> list[R]:
        """``[fn(item) for item in items]``, on the pool's threads when that pays for
        columns of ``rows`` rows. ``costs`` (one per item, any unit) start the dearest
        first, so that no thread is left with a long column at the end. ``holds_gil`` (one
        flag per item; all False when not given) marks the items that hold the GIL most of
        their time: one of them at a time while GIL-free items remain (module docstring).
        The first exception raised by ``fn`` (in input order) propagates once every item
        has finished.
        """
        if not self.pays(len(items), rows):
            return [fn(item) for item in items]
        for name, given in (("costs", costs), ("holds_gil", holds_gil)):
            if given is not None and len(given) != len(items):
                raise ValueError(f"{len(given)} {name} for {len(items)} items")
        order = list(range(len(items)))
        if costs is not None:
            order.sort(key=lambda i: -costs[i])
        queue = _Queue(order, holds_gil)
        results: list[R | None] = [None] * len(items)
        errors: dict[int, BaseException] = {}

        def drain() -> None:
            while (i := queue.next()) is not None:
                try:
                    results[i] = fn(items[i])
                except BaseException as exc:  # re-raised in the caller, in input order
                    errors[i] = exc
                finally:
                    queue.done(i)

        executor = self._started()
        wait([executor.submit(drain) for _ in range(min(self.threads, len(items)))])
        if errors:
            raise errors[min(errors)]
        return cast(list[R], results)

    def _started(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.threads, thread_name_prefix="driftmon-count"
                )
            return self._executor

    def close(self) -> None:
        """Stop the threads (after the columns in progress); the pool may be used again."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def __enter__(self) -> ColumnPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Queue:
    """The items of one ``map`` call, handed out one at a time to the pool's threads: the
    first GIL-holding item when none is running, else the first GIL-free one, else (only
    GIL-holding items left) the next GIL-holding one, alongside the running one."""

    def __init__(self, order: list[int], holds_gil: Sequence[bool] | None) -> None:
        flags = holds_gil if holds_gil is not None else [False] * len(order)
        self._holding = deque(i for i in order if flags[i])
        self._free = deque(i for i in order if not flags[i])
        self._flags = flags
        self._holding_now = 0
        self._lock = threading.Lock()

    def next(self) -> int | None:
        """The next item to run, or None when every item has been handed out."""
        with self._lock:
            if self._holding and (self._holding_now == 0 or not self._free):
                self._holding_now += 1
                return self._holding.popleft()
            if self._free:
                return self._free.popleft()
            return None

    def done(self, i: int) -> None:
        if self._flags[i]:
            with self._lock:
                self._holding_now -= 1
