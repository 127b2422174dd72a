"""Database failures surface as StorageError naming host and database, never the password."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from driftmon.core.profile import ReferenceProfile
from driftmon.core.status import Status, Thresholds
from driftmon.errors import StorageError
from driftmon.results import FeatureResult, RunResult
from driftmon.storage import Store
from driftmon.storage.engine import storage_error

UNREACHABLE = "postgresql+psycopg://u:s3cret@127.0.0.1:1/x"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
RUN = RunResult(
    monitor="orders",
    window_start=None,
    window_end=T0,
    started_at=T0,
    finished_at=T0 + timedelta(seconds=1),
    status=Status.OK,
    features=(FeatureResult("age", Status.OK, Thresholds(0.05, 0.2)),),
)

OPERATIONS: dict[str, Callable[[Store], object]] = {
    "ping": lambda s: s.ping(),
    "upgrade": lambda s: s.upgrade(),
    "current_revision": lambda s: s.current_revision(),
    "save_run": lambda s: s.save_run(RUN),
    "save_profile": lambda s: s.save_profile("orders", "fp", ReferenceProfile((), rows=0)),
    "load_profile": lambda s: s.load_profile("orders"),
    "snapshot": lambda s: s.snapshot(),
    "runs": lambda s: s.runs("orders"),
    "prune": lambda s: s.prune(T0),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_unreachable_postgresql_is_a_storage_error_without_the_password(operation: str) -> None:
    store = Store(UNREACHABLE)
    with pytest.raises(StorageError) as info:
        OPERATIONS[operation](store)
    message = str(info.value)
    assert "127.0.0.1" in message
    assert "/x" in message
    assert "s3cret" not in message
    # Nor anywhere in the chained exceptions a log handler would print.
    assert "s3cret" not in "".join(traceback.format_exception(info.value))
    assert isinstance(info.value.__cause__, Exception)
    store.dispose()


def test_message_names_the_operation() -> None:
    with pytest.raises(StorageError, match=r"^saving run of monitor 'orders' ending .* failed on "):
        Store(UNREACHABLE).save_run(RUN)


def test_unreachable_server_fails_fast() -> None:
    """A refused connection does not hang the caller (connect timeout, no retry loop)."""
    start = datetime.now(UTC)
    with pytest.raises(StorageError):
        Store(UNREACHABLE).ping()
    assert datetime.now(UTC) - start < timedelta(seconds=10)


def test_password_is_scrubbed_from_driver_text_in_every_form() -> None:
    """Even a driver that echoes the password (plain or URL-encoded) does not leak it."""
    url = "postgresql+psycopg://u:p%40ss%2Fw0rd@db.example:5432/results"
    exc = RuntimeError("auth failed for p@ss/w0rd (p%40ss%2Fw0rd) at postgresql://u:p@db")
    message = str(storage_error("pinging", url, exc))
    assert "db.example" in message
    assert "results" in message
    assert "p@ss/w0rd" not in message
    assert "p%40ss%2Fw0rd" not in message


def test_unwritable_sqlite_path_is_a_storage_error(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'results.db'}")
    with pytest.raises(StorageError, match="upgrading the database schema failed on sqlite:///"):
        store.upgrade()


def test_bad_url_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="opening the results database"):
        Store("notadb://u:s3cret@host/db")


def test_missing_schema_is_a_storage_error(tmp_path: Path) -> None:
    """A database that was never upgraded fails clearly instead of half-writing."""
    store = Store(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(StorageError, match="no such table"):
        store.save_run(RUN)
