"""The results database schema as SQLAlchemy declarative tables.

``migrations/versions`` creates exactly these tables; a test compares the two with
Alembic's ``compare_metadata``. Change both together (new revision, never an edit).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Explicit constraint names, so migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

STATUS_CHECK = "status IN ('ok', 'warning', 'critical', 'insufficient_data', 'error')"

# 64-bit ids where rows accumulate; SQLite only auto-increments INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on every backend.

    SQLite keeps no offset, so values are converted to UTC before they are written and
    marked UTC when read. A naive datetime is taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _no_nul(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; data values (category names) can reach messages.
    return None if value is None else value.replace("\x00", "\ufffd")


class SafeText(TypeDecorator[str]):
    """Unbounded text; NUL characters are replaced by U+FFFD on every backend."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return _no_nul(value)


class SafeString(TypeDecorator[str]):
    """Bounded text (names); NUL characters are replaced by U+FFFD on every backend."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return _no_nul(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Monitor(Base):
    """One row per monitor name ever stored."""

    __tablename__ = "monitors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(SafeString(255), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ReferenceProfileRow(Base):
    """The current reference profile of a monitor; a rebuild replaces it."""

    __tablename__ = "reference_profiles"

    monitor_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True
    )
    fingerprint: Mapped[str] = mapped_column(SafeString(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    rows: Mapped[int] = mapped_column(BigInteger, nullable=False)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)


class Run(Base):
    """One monitor over one window; at most one row per (monitor, window_end)."""

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("monitor_id", "window_end"),
        CheckConstraint(STATUS_CHECK, name="status"),
        Index(None, "window_end"),
        # Run ids are never reused (SQLite would reuse the highest deleted rowid), so a
        # run id always names the same content; Store.snapshot caches runs by id.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    monitor_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False
    )
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    live_rows: Mapped[int] = mapped_column(BigInteger, nullable=False)
    reference_rows: Mapped[int] = mapped_column(BigInteger, nullable=False)
    error: Mapped[str | None] = mapped_column(SafeText(), nullable=True)
    message: Mapped[str | None] = mapped_column(SafeText(), nullable=True)
    """A note on a run that is not an error (why its window is empty)."""


class FeatureResultRow(Base):
    """One feature of one run; deleted with its run."""

    __tablename__ = "feature_results"
    __table_args__ = (
        UniqueConstraint("run_id", "feature"),
        CheckConstraint(STATUS_CHECK, name="status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    """Index of the feature in the run, so features come back in configuration order."""
    feature: Mapped[str] = mapped_column(SafeString(255), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    # DriftScores; all NULL when the feature could not be scored.
    kl_divergence: Mapped[float | None] = mapped_column(Double, nullable=True)
    entropy: Mapped[float | None] = mapped_column(Double, nullable=True)
    cross_entropy: Mapped[float | None] = mapped_column(Double, nullable=True)
    js_divergence: Mapped[float | None] = mapped_column(Double, nullable=True)
    psi: Mapped[float | None] = mapped_column(Double, nullable=True)
    p_value: Mapped[float | None] = mapped_column(Double, nullable=True)
    """The p-value that decided the status (Williams-corrected G-test in KL space)."""
    g_statistic: Mapped[float | None] = mapped_column(Double, nullable=True)
    degrees_of_freedom: Mapped[int | None] = mapped_column(Integer, nullable=True)
    expected_kl: Mapped[float | None] = mapped_column(Double, nullable=True)
    score_live_rows: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    score_reference_rows: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    live_rows: Mapped[int] = mapped_column(BigInteger, nullable=False)
    missing_rows: Mapped[int] = mapped_column(BigInteger, nullable=False)
    threshold_policy: Mapped[str] = mapped_column(SafeString(64), nullable=False)
    threshold_warning: Mapped[float] = mapped_column(Double, nullable=False)
    threshold_critical: Mapped[float] = mapped_column(Double, nullable=False)
    live_counts: Mapped[list[int]] = mapped_column(JSON, nullable=False)
    bin_labels: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    message: Mapped[str | None] = mapped_column(SafeText(), nullable=True)
    p_value_adjusted: Mapped[float | None] = mapped_column(Double, nullable=True)
    """p_value after the run's Bonferroni/BH adjustment; NULL without a correction."""


class MonitorStats(Base):
    """Run counters and the duration histogram of a monitor; pruning never touches them."""

    __tablename__ = "monitor_stats"

    monitor_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True
    )
    runs_success: Mapped[int] = mapped_column(BigInteger, nullable=False)
    runs_partial: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    """Scored runs in which some feature could not be scored (see ``outcome_of``)."""
    runs_failure: Mapped[int] = mapped_column(BigInteger, nullable=False)
    runs_insufficient_data: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    duration_sum: Mapped[float] = mapped_column(Double, nullable=False)
    duration_count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    duration_buckets: Mapped[list[int]] = mapped_column(JSON, nullable=False)
    """Cumulative counts, one per bound of ``DURATION_BUCKETS`` (runs ≤ bound)."""
