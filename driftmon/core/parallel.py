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
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

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
    ) -> list[R]:
        """``[fn(item) for item in items]``, on the pool's threads when that pays for
        columns of ``rows`` rows. ``costs`` (one per item, any unit) start the dearest
        first, so that no thread is left with a long column at the end. The first exception
        raised by ``fn`` (in input order) propagates once every item has finished.
        """
        if not self.pays(len(items), rows):
            return [fn(item) for item in items]
        order = list(range(len(items)))
        if costs is not None:
            if len(costs) != len(items):
                raise ValueError(f"{len(costs)} costs for {len(items)} items")
            order.sort(key=lambda i: -costs[i])
        executor = self._started()
        futures: dict[int, Future[R]] = {i: executor.submit(fn, items[i]) for i in order}
        wait(futures.values())
        return [futures[i].result() for i in range(len(items))]

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
