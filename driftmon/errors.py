"""The domain's exceptions: configuration, source and storage failures.

Library exceptions are wrapped once, at the boundary where the context is known (which
file, monitor, feature, column), with ``raise ... from exc``. Messages never contain
secrets: database URLs are masked with ``driftmon.secrets.mask_url`` before they are used.
"""

from __future__ import annotations


class DriftmonError(Exception):
    """Base class of every error driftmon raises on purpose."""


class ConfigError(DriftmonError):
    """The configuration is invalid; start-up stops with this message (exit code 2)."""


class SourceError(DriftmonError):
    """A data source could not be read: missing file, unreachable database, bad query."""


class ColumnError(SourceError):
    """A configured column is missing from a source or has the wrong type."""


class StorageError(DriftmonError):
    """The results database could not be reached or written."""


class PermanentStorageError(StorageError):
    """The results database refused the data itself (too long, invalid, a constraint): the
    same write will fail again however often it is retried, unlike an outage."""


class ProfileError(DriftmonError):
    """A profile file could not be read or written: missing, malformed, or newer than this
    driftmon reads."""
