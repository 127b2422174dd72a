"""An exclusive lock on a SQLite file, held by the test: pins a run inside its read."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

# APScheduler's warning for a tick that found the monitor's previous run still going.
TICK_SKIPPED = "maximum number of running instances reached"


@contextlib.contextmanager
def readers_held(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the SQLite file at ``path``: readers wait until the block
    ends (up to their busy timeout; a driftmon SQL source's is its ``source_timeout``, 5 min by
    default). Pins a run inside its read, whatever the load."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("BEGIN EXCLUSIVE")
        yield
        con.execute("ROLLBACK")
    finally:
        con.close()


def run_pinned(events: Sequence[dict[str, Any]], monitor: str) -> bool:
    """Whether a daemon's JSON log shows a run of ``monitor`` held inside its read while
    ``readers_held``: two of its ticks skipped since its last ``run.finished`` (a skipped tick
    shows a run going; one already past its read when the lock was taken would have to
    outlast two ticks)."""
    last_finished = max(
        (
            i
            for i, e in enumerate(events)
            if e.get("event") == "run.finished" and e.get("monitor") == monitor
        ),
        default=-1,
    )
    job = f'job "{monitor} ('
    later = [str(e.get("event")) for e in events[last_finished + 1 :]]
    return sum(job in e and TICK_SKIPPED in e for e in later) >= 2
