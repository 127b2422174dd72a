"""Initial schema: monitors, reference profiles, runs, feature results, monitor stats.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUS_CHECK = "status IN ('ok', 'warning', 'critical', 'insufficient_data', 'error')"


def _big_id() -> sa.types.TypeEngine[int]:
    # SQLite only auto-increments INTEGER PRIMARY KEY.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitors")),
        sa.UniqueConstraint("name", name=op.f("uq_monitors_name")),
    )
    op.create_table(
        "reference_profiles",
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(255), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_reference_profiles_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("monitor_id", name=op.f("pk_reference_profiles")),
    )
    op.create_table(
        "runs",
        sa.Column("id", _big_id(), nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("window_start", _ts(), nullable=True),
        sa.Column("window_end", _ts(), nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("finished_at", _ts(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("live_rows", sa.BigInteger(), nullable=False),
        sa.Column("reference_rows", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(STATUS_CHECK, name=op.f("ck_runs_status")),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_runs_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("monitor_id", "window_end", name=op.f("uq_runs_monitor_id_window_end")),
        sqlite_autoincrement=True,  # run ids are never reused: snapshots cache runs by id
    )
    op.create_index(op.f("ix_runs_window_end"), "runs", ["window_end"])
    op.create_table(
        "feature_results",
        sa.Column("id", _big_id(), nullable=False),
        sa.Column("run_id", _big_id(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("feature", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("kl_divergence", sa.Double(), nullable=True),
        sa.Column("entropy", sa.Double(), nullable=True),
        sa.Column("cross_entropy", sa.Double(), nullable=True),
        sa.Column("js_divergence", sa.Double(), nullable=True),
        sa.Column("psi", sa.Double(), nullable=True),
        sa.Column("p_value", sa.Double(), nullable=True),
        sa.Column("g_statistic", sa.Double(), nullable=True),
        sa.Column("degrees_of_freedom", sa.Integer(), nullable=True),
        sa.Column("expected_kl", sa.Double(), nullable=True),
        sa.Column("score_live_rows", sa.BigInteger(), nullable=True),
        sa.Column("score_reference_rows", sa.BigInteger(), nullable=True),
        sa.Column("live_rows", sa.BigInteger(), nullable=False),
        sa.Column("missing_rows", sa.BigInteger(), nullable=False),
        sa.Column("threshold_policy", sa.String(64), nullable=False),
        sa.Column("threshold_warning", sa.Double(), nullable=False),
        sa.Column("threshold_critical", sa.Double(), nullable=False),
        sa.Column("live_counts", sa.JSON(), nullable=False),
        sa.Column("bin_labels", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.CheckConstraint(STATUS_CHECK, name=op.f("ck_feature_results_status")),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_feature_results_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_results")),
        sa.UniqueConstraint("run_id", "feature", name=op.f("uq_feature_results_run_id_feature")),
    )
    op.create_table(
        "monitor_stats",
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("runs_success", sa.BigInteger(), nullable=False),
        sa.Column("runs_failure", sa.BigInteger(), nullable=False),
        sa.Column("runs_insufficient_data", sa.BigInteger(), nullable=False),
        sa.Column("last_run_at", _ts(), nullable=True),
        sa.Column("last_success_at", _ts(), nullable=True),
        sa.Column("duration_sum", sa.Double(), nullable=False),
        sa.Column("duration_count", sa.BigInteger(), nullable=False),
        sa.Column("duration_buckets", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_monitor_stats_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("monitor_id", name=op.f("pk_monitor_stats")),
    )


def downgrade() -> None:
    op.drop_table("monitor_stats")
    op.drop_table("feature_results")
    op.drop_index(op.f("ix_runs_window_end"), table_name="runs")
    op.drop_table("runs")
    op.drop_table("reference_profiles")
    op.drop_table("monitors")
