"""Who scores a queued run: the first of a scoring process and the daemon to claim it.

The daemon hands a run to the scoring processes' queue as soon as it is due, so a worker
that finishes one run finds the next one waiting instead of idling while the daemon, busy
with its own threads, reads the result and hands over another. A run queued that way can
still be taken back: the daemon scores it itself when every worker has been stuck on its
run for a while (``ScoringProcesses.score_in_worker``), or drops it at shutdown. Whichever
side claims the run's slot first scores it; the other side sees the claim and lets go.

The board is shared memory (one ``multiprocessing.Array`` of doubles, two per slot, under
its lock): the run's id, then its state: queued, taken by the daemon, done, or the
``time.monotonic()`` at which a worker started it (Linux's monotonic clock is the same in
every process, so the daemon compares it with its own). The id stops a stale queue entry
(a run the daemon took back) from claiming a slot reused by a later run.
"""

from __future__ import annotations

import itertools
import threading
import time
from multiprocessing.context import SpawnContext
from multiprocessing.sharedctypes import SynchronizedArray

QUEUED = 0.0
TAKEN_BY_DAEMON = -1.0
DONE = -2.0

SLOTS = 256
"""Runs that can wait or run in the scoring processes at once; more than the daemon's job
threads ever hold (a run finding no free slot is scored in the daemon)."""


class RunClaims:
    """The claim board; ``open``/``take``/``busy_since``/``release`` in the daemon,
    ``start``/``finish`` in the workers (it pickles into them at their spawn)."""

    def __init__(self, context: SpawnContext, slots: int = SLOTS) -> None:
        self._board: SynchronizedArray[float] = context.Array("d", 2 * slots)
        self._slots = slots
        self._free = list(range(slots))
        self._free_lock = threading.Lock()
        self._ids = itertools.count(1)

    def __getstate__(self) -> dict[str, object]:
        # A worker needs only the board; the free list and id counter are the daemon's.
        return {"_board": self._board, "_slots": self._slots}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)

    # -- in the daemon ----------------------------------------------------------------------

    def open(self) -> tuple[int, int] | None:
        """A slot and id for a run about to be queued, marked queued; None if none is free."""
        with self._free_lock:
            if not self._free:
                return None
            slot = self._free.pop()
            run_id = next(self._ids)
        with self._board.get_lock():
            self._board[2 * slot] = float(run_id)
            self._board[2 * slot + 1] = QUEUED
        return slot, run_id

    def take(self, slot: int) -> bool:
        """Claim the run for the daemon; False if a worker has started it already."""
        with self._board.get_lock():
            if self._board[2 * slot + 1] != QUEUED:
                return False
            self._board[2 * slot + 1] = TAKEN_BY_DAEMON
            return True

    def started(self, slot: int) -> bool:
        """Whether a worker took the run (it may have finished since)."""
        with self._board.get_lock():
            return self._board[2 * slot + 1] > 0 or self._board[2 * slot + 1] == DONE

    def busy_since(self) -> list[float]:
        """When each run now in a worker started (``time.monotonic()``), one per busy worker."""
        with self._board.get_lock():
            states = self._board[1::2]
        return [s for s in states if s > 0]

    def release(self, slot: int) -> None:
        """The run has its answer (or was taken back): the slot may serve another run."""
        with self._board.get_lock():
            self._board[2 * slot] = 0.0
            self._board[2 * slot + 1] = DONE
        with self._free_lock:
            self._free.append(slot)

    # -- in the workers ---------------------------------------------------------------------

    def start(self, slot: int, run_id: int) -> bool:
        """Claim the run for this worker; False if the daemon took it back."""
        with self._board.get_lock():
            if self._board[2 * slot] != float(run_id) or self._board[2 * slot + 1] != QUEUED:
                return False
            self._board[2 * slot + 1] = time.monotonic()
            return True

    def finish(self, slot: int, run_id: int) -> None:
        """The worker is done with the run (its result is on the way to the daemon)."""
        with self._board.get_lock():
            if self._board[2 * slot] == float(run_id):
                self._board[2 * slot + 1] = DONE
