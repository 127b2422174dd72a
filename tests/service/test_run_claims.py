"""RunClaims: the first of a worker and the daemon to claim a queued run scores it."""

from __future__ import annotations

import multiprocessing
import time

from driftmon.service.run_claims import RunClaims


def _claims(slots: int = 4) -> RunClaims:
    return RunClaims(multiprocessing.get_context("spawn"), slots)


def test_a_run_taken_back_by_the_daemon_is_not_started_by_a_worker() -> None:
    claims = _claims()
    slot, run_id = claims.open() or (-1, -1)
    assert claims.take(slot)
    assert not claims.start(slot, run_id)
    assert not claims.started(slot)
    assert claims.busy_since() == []


def test_a_run_started_by_a_worker_cannot_be_taken_back() -> None:
    claims = _claims()
    slot, run_id = claims.open() or (-1, -1)
    before = time.monotonic()
    assert claims.start(slot, run_id)
    assert not claims.take(slot)
    assert claims.started(slot)
    (since,) = claims.busy_since()
    assert before <= since <= time.monotonic()
    claims.finish(slot, run_id)
    assert claims.busy_since() == []
    assert claims.started(slot)


def test_a_stale_queue_entry_does_not_claim_its_slot_once_reused() -> None:
    """The daemon took run A back and reused A's slot for run B: A's entry, read late by a
    worker, must not start B's run (nor finish it)."""
    claims = _claims(slots=1)
    slot, stale = claims.open() or (-1, -1)
    assert claims.take(slot)
    claims.release(slot)
    reused, fresh = claims.open() or (-1, -1)
    assert reused == slot
    assert fresh != stale
    assert not claims.start(slot, stale)
    assert claims.start(slot, fresh)
    claims.finish(slot, stale)
    assert len(claims.busy_since()) == 1, "a stale entry finished the slot's current run"


def test_no_free_slot_means_no_queueing() -> None:
    claims = _claims(slots=2)
    first, second = claims.open(), claims.open()
    assert first is not None
    assert second is not None
    assert claims.open() is None
    claims.release(first[0])
    assert claims.open() is not None


def test_a_worker_sees_the_daemons_board() -> None:
    """What pickles into a worker is the same shared board, not a copy of it."""
    claims = _claims()
    slot, run_id = claims.open() or (-1, -1)
    ctx = multiprocessing.get_context("spawn")
    worker = ctx.Process(target=_start_in_child, args=(claims, slot, run_id))
    worker.start()
    worker.join(60)
    assert worker.exitcode == 0
    assert claims.started(slot)
    assert not claims.take(slot)


def _start_in_child(claims: RunClaims, slot: int, run_id: int) -> None:
    assert claims.start(slot, run_id)
