"""An exclusive lock on a SQLite file, held by the test: pins a run inside its read."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path


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
