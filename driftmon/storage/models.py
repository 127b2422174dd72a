"""The results database schema as SQLAlchemy Core tables on one ``MetaData``.

``migrations/versions`` creates exactly these tables; a test compares the two with
Alembic's ``compare_metadata``. Change both together (new revision, never an edit).
Core ``Table``s rather than ORM classes: nothing maps rows to objects, and the ORM would
add about 0.1 s to every command's start-up (benchmarks/README.md, "Start-up").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

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


metadata = MetaData(naming_convention=NAMING_CONVENTION)

monitors_table = Table(
    "monitors",
    metadata,
    # One row per monitor name ever stored.
    Column("id", Integer, primary_key=True),
    Column("name", SafeString(255), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

profile_versions_table = Table(
    "reference_profile_versions",
    metadata,
    # Every reference profile a monitor has had: a rebuild adds a version, so runs scored on
    # an older one are still drawn against it. A version no run refers to any more and that
    # is not current is deleted by pruning.
    Column("id", BigId, primary_key=True),
    Column("monitor_id", Integer, ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
    Column("fingerprint", SafeString(255), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("profile", JSON, nullable=False),
    Index(None, "monitor_id"),
    sqlite_autoincrement=True,  # a version id always names the same profile
)

reference_profiles_table = Table(
    "reference_profiles",
    metadata,
    # Which version is a monitor's current reference profile; a rebuild moves it.
    Column("monitor_id", Integer, ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True),
    Column("version_id", BigId, ForeignKey("reference_profile_versions.id"), nullable=False),
)

runs_table = Table(
    "runs",
    metadata,
    # One monitor over one window; at most one row per (monitor, window_end).
    Column("id", BigId, primary_key=True),
    Column("monitor_id", Integer, ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
    Column("window_start", UTCDateTime(), nullable=True),
    Column("window_end", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=False),
    Column("status", String(32), nullable=False),
    Column("live_rows", BigInteger, nullable=False),
    Column("reference_rows", BigInteger, nullable=False),
    Column("error", SafeText(), nullable=True),
    # A note on a run that is not an error (why its window is empty).
    Column("message", SafeText(), nullable=True),
    # The reference profile version the run was scored on (NULL: none, e.g. an error run).
    # No foreign key: SQLite adds one only by copying ``runs``, and dropping the old copy
    # would cascade to feature_results. The store keeps it true instead: a run records only
    # a stored version, and pruning deletes only versions no run refers to.
    Column("profile_version_id", BigId, nullable=True),
    UniqueConstraint("monitor_id", "window_end"),
    CheckConstraint(STATUS_CHECK, name="status"),
    Index(None, "window_end"),
    Index(None, "profile_version_id"),
    # Run ids are never reused (SQLite would reuse the highest deleted rowid), so a run id
    # always names the same content; Store.snapshot caches runs by id.
    sqlite_autoincrement=True,
)

feature_results_table = Table(
    "feature_results",
    metadata,
    # One feature of one run; deleted with its run.
    Column("id", BigId, primary_key=True),
    Column("run_id", BigId, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    # Index of the feature in the run, so features come back in configuration order.
    Column("position", Integer, nullable=False),
    Column("feature", SafeString(255), nullable=False),
    Column("status", String(32), nullable=False),
    # DriftScores; all NULL when the feature could not be scored.
    Column("kl_divergence", Double, nullable=True),
    Column("entropy", Double, nullable=True),
    Column("cross_entropy", Double, nullable=True),
    Column("js_divergence", Double, nullable=True),
    Column("psi", Double, nullable=True),
    # The p-value that decided the status (Williams-corrected G-test in KL space).
    Column("p_value", Double, nullable=True),
    Column("g_statistic", Double, nullable=True),
    Column("degrees_of_freedom", Integer, nullable=True),
    Column("expected_kl", Double, nullable=True),
    Column("score_live_rows", BigInteger, nullable=True),
    Column("score_reference_rows", BigInteger, nullable=True),
    Column("live_rows", BigInteger, nullable=False),
    Column("missing_rows", BigInteger, nullable=False),
    Column("threshold_policy", SafeString(64), nullable=False),
    Column("threshold_warning", Double, nullable=False),
    Column("threshold_critical", Double, nullable=False),
    Column("live_counts", JSON, nullable=False),
    Column("bin_labels", JSON, nullable=False),
    Column("message", SafeText(), nullable=True),
    # p_value after the run's Bonferroni/BH adjustment; NULL without a correction.
    Column("p_value_adjusted", Double, nullable=True),
    UniqueConstraint("run_id", "feature"),
    CheckConstraint(STATUS_CHECK, name="status"),
)

monitor_stats_table = Table(
    "monitor_stats",
    metadata,
    # Run counters and the duration histogram of a monitor; pruning never touches them.
    Column("monitor_id", Integer, ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True),
    Column("runs_success", BigInteger, nullable=False),
    # Scored runs in which some feature could not be scored (see ``outcome_of``).
    Column("runs_partial", BigInteger, nullable=False, server_default="0"),
    Column("runs_failure", BigInteger, nullable=False),
    Column("runs_insufficient_data", BigInteger, nullable=False),
    Column("last_run_at", UTCDateTime(), nullable=True),
    Column("last_success_at", UTCDateTime(), nullable=True),
    Column("duration_sum", Double, nullable=False),
    Column("duration_count", BigInteger, nullable=False),
    # Cumulative counts, one per bound of ``DURATION_BUCKETS`` (runs ≤ bound).
    Column("duration_buckets", JSON, nullable=False),
)
