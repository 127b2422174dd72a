"""The durable spool: runs the results database could not take, kept on local disk until
it can (``directory``: the files; ``codec``: a run as bytes and back)."""

from driftmon.spool.codec import SpoolFormatError
from driftmon.spool.directory import DamagedFile, Opened, Spool, SpoolEntry, SpoolError

__all__ = ["DamagedFile", "Opened", "Spool", "SpoolEntry", "SpoolError", "SpoolFormatError"]
