"""The results database: SQLAlchemy tables, Alembic migrations and the Store."""

from driftmon.storage.snapshot import (
    DURATION_BUCKETS,
    OUTCOMES,
    DurationHistogram,
    MonitorSnapshot,
    Outcome,
    StoredProfile,
    outcome_of,
)
from driftmon.storage.store import Store

__all__ = [
    "DURATION_BUCKETS",
    "OUTCOMES",
    "DurationHistogram",
    "MonitorSnapshot",
    "Outcome",
    "Store",
    "StoredProfile",
    "outcome_of",
]
