"""The spool on disk: a directory with one file per run, each written atomically.

A run is written to a temporary file in the directory, flushed to disk (``fsync``), renamed
to its final name and the directory flushed too: a file with a final name is always whole,
whatever happens to the process or the machine, and the run is only reported as kept once
it is. A write cut short (``kill -9``, a full disk) leaves a temporary file, removed when
the spool is next opened. The final name is fixed by the monitor and the window end, so
writing the same window again replaces the file. A file that cannot be read back (damaged
on disk, edited by hand, written by another version) is moved to ``damaged/`` and reported;
it never stops the other runs from being read.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from driftmon.clock import EPOCH, as_utc
from driftmon.results import RunResult
from driftmon.spool.codec import SpoolFormatError, decode, encode, verify

log = logging.getLogger("driftmon.spool")

SUFFIX = ".run"
TEMP_PREFIX = ".tmp-"
DAMAGED = "damaged"


class SpoolError(OSError):
    """The spool directory cannot be created, written or read (permissions, full disk)."""


@dataclass(frozen=True)
class SpoolEntry:
    """A run kept in the spool, known by its header (the run itself stays on disk)."""

    monitor: str
    window_end: datetime
    spooled_at: datetime
    path: Path


@dataclass(frozen=True)
class DamagedFile:
    """A spool file that could not be read back: where it was moved, and why."""

    name: str
    moved_to: Path | None
    reason: str


@dataclass(frozen=True)
class Opened:
    """What opening the spool found."""

    entries: list[SpoolEntry]
    """Readable runs, oldest window first."""
    damaged: list[DamagedFile]
    incomplete: int
    """Temporary files of writes cut short, removed (their runs were never reported kept)."""


class Spool:
    """One-file-per-run storage in ``directory``; see the module docstring."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def open(self) -> Opened:
        """Create the directory if needed, make sure a run can be written, clean up and
        list what it keeps.

        The spool is written only when the results database is away: a folder found
        unwritable then would lose those runs, so it is found out here, at start-up.
        Every file is read in full and its checksum checked (a damaged one is moved aside
        now, so it is reported at start-up rather than when its turn comes); the runs
        themselves are built only when they are replayed.
        """
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"the spool directory {self.directory} cannot be used: {exc}") from exc
        try:
            _probe_write(self.directory)
        except OSError as exc:
            raise SpoolError(
                f"the spool directory {self.directory} cannot be used: {_not_writable(exc)}"
            ) from exc
        try:
            names = sorted(os.listdir(self.directory))
        except OSError as exc:
            raise SpoolError(f"the spool directory {self.directory} cannot be used: {exc}") from exc
        entries: list[SpoolEntry] = []
        damaged: list[DamagedFile] = []
        incomplete = 0
        for name in names:
            path = self.directory / name
            if name.startswith(TEMP_PREFIX):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                incomplete += 1
                continue
            if not name.endswith(SUFFIX) or not path.is_file():
                continue
            try:
                header, _ = verify(path.read_bytes())
            except FileNotFoundError:
                continue  # stored and removed by another daemon sharing the spool
            except (SpoolFormatError, OSError) as exc:
                damaged.append(self.set_aside(path, str(exc)))
                continue
            entries.append(SpoolEntry(header.monitor, header.window_end, header.spooled_at, path))
        entries.sort(key=lambda e: (e.window_end, e.monitor))
        return Opened(entries, damaged, incomplete)

    def check(self) -> str | None:
        """Why ``open`` would fail, without creating the folder: None when a run can be
        written there (a missing folder, when its nearest existing parent takes one).

        Probes by writing a temporary file (removed at once, and by ``open`` if left).
        """
        unusable = f"the spool directory {self.directory} cannot be used"
        target = self.directory
        while not target.exists() and target != target.parent:
            target = target.parent
        if not target.is_dir():
            what = "it" if target == self.directory else str(target)
            return f"{unusable}: {what} is not a folder"
        try:
            _probe_write(target)
        except OSError as exc:
            where = "" if target == self.directory else f"it cannot be created in {target}: "
            return f"{unusable}: {where}{_not_writable(exc)}"
        try:
            if target == self.directory:
                os.listdir(target)
        except OSError as exc:
            return f"{unusable}: {exc}"
        return None

    def write(self, run: RunResult, spooled_at: datetime) -> SpoolEntry:
        """Write ``run`` durably; ``SpoolError`` when it cannot be (nothing is left behind)."""
        final = self.directory / file_name(run.monitor, run.window_end)
        temp = self.directory / f"{TEMP_PREFIX}{final.name}-{uuid.uuid4().hex}"
        data = encode(run, spooled_at)
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, final)
            _fsync_directory(self.directory)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise SpoolError(
                f"the run of monitor {run.monitor!r} ending {run.window_end.isoformat()} "
                f"could not be written to the spool {self.directory}: {exc}"
            ) from exc
        return SpoolEntry(run.monitor, as_utc(run.window_end), as_utc(spooled_at), final)

    def read(self, entry: SpoolEntry) -> RunResult | None:
        """The run of ``entry``; None when its file is gone (another daemon stored it).

        ``SpoolFormatError`` when the file is damaged, ``SpoolError`` when it is unreadable.
        """
        try:
            data = entry.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SpoolError(f"the spool file {entry.path} cannot be read: {exc}") from exc
        header, run = decode(data)
        if header.monitor != entry.monitor or header.window_end != entry.window_end:
            raise SpoolFormatError("the file now holds another run than when it was listed")
        return run

    def remove(self, entry: SpoolEntry) -> None:
        """Forget ``entry`` (stored, refused for good, or dropped); a missing file is fine."""
        try:
            entry.path.unlink(missing_ok=True)
        except OSError as exc:
            # Left behind, the file is replayed at the next start: stored once all the same.
            log.error("spool.remove_failed", extra={"file": str(entry.path), "error": str(exc)})

    def set_aside(self, path: Path, reason: str) -> DamagedFile:
        """Move a damaged file to ``damaged/`` (deleted if even that fails) and log it."""
        target = self.directory / DAMAGED / path.name
        moved: Path | None = target
        try:
            target.parent.mkdir(exist_ok=True)
            os.replace(path, target)
        except OSError:
            moved = None
            with contextlib.suppress(OSError):
                path.unlink()
        log.error(
            "spool.damaged_file",
            extra={"file": path.name, "moved_to": str(moved or ""), "error": reason},
        )
        return DamagedFile(path.name, moved, reason)


def file_name(monitor: str, window_end: datetime) -> str:
    """``<window end, µs since the epoch>-<monitor hash>.run``: unique per window, any name."""
    delta = as_utc(window_end) - EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    digest = hashlib.sha256(monitor.encode()).hexdigest()[:16]
    return f"{micros:020d}-{digest}{SUFFIX}"


def _probe_write(directory: Path) -> None:
    """Create and remove a temporary file in ``directory``: OSError if it cannot.

    A real file rather than ``os.access``, which answers from permissions alone: this gets
    the answer the spool's own writes will get (a read-only mount, no inode left). A disk
    with no space left is only found when a run is written.
    """
    probe = directory / f"{TEMP_PREFIX}probe-{uuid.uuid4().hex}"
    os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    with contextlib.suppress(FileNotFoundError):
        probe.unlink()


def _not_writable(exc: OSError) -> str:
    """``exc`` of a probe write, read as what it means for the spool."""
    reason = exc.strerror or str(exc)
    return f"a run cannot be written there ({reason})"


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
