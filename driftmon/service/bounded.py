"""Reads of the results database that the HTTP surface waits for only so long.

A database that accepts connections but never answers must not hang ``/healthz`` or a
page: the read runs in its own daemon thread, and the caller stops waiting after
``timeout`` seconds (the thread is left to finish or die with the process).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from driftmon.errors import StorageError

T = TypeVar("T")


class DatabaseUnavailableError(Exception):
    """The results database did not answer (in time)."""


def within(read: Callable[[], T], timeout: float, late: str, *, name: str) -> T:
    """``read()``'s result if it returns within ``timeout`` seconds; otherwise
    ``DatabaseUnavailableError``: with ``late`` when it is still running in its thread
    (named ``name``), with the error's text when it raised ``StorageError``."""
    outcome: list[tuple[bool, Any]] = []

    def _read() -> None:
        try:
            outcome.append((True, read()))
        except StorageError as exc:
            outcome.append((False, str(exc)))

    worker = threading.Thread(target=_read, name=name, daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        raise DatabaseUnavailableError(late)
    ok, value = outcome[0]
    if not ok:
        raise DatabaseUnavailableError(value)
    result: T = value
    return result
