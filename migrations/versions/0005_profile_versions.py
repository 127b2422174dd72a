"""Reference profile versions: a rebuild keeps the old profile; each run names its version.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

``reference_profile_versions`` holds every profile a monitor has had; ``reference_profiles``
keeps only which of them is current (``version_id``), and ``runs.profile_version_id`` the
version a run was scored on, so the pages draw an old run against its own reference. Each
stored profile becomes its monitor's first version, and every run stored before points at
it (the only profile known; a run of a monitor without a profile stays NULL).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reference_profile_versions",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_reference_profile_versions_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_profile_versions")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_reference_profile_versions_monitor_id"),
        "reference_profile_versions",
        ["monitor_id"],
    )
    # One version per stored profile; ids follow the monitor ids (one profile each).
    op.execute(
        "INSERT INTO reference_profile_versions "
        "(monitor_id, fingerprint, created_at, rows, profile) "
        "SELECT monitor_id, fingerprint, created_at, rows, profile FROM reference_profiles "
        "ORDER BY monitor_id"
    )
    # The old table held the profile itself; the new one points at the current version.
    # reference_profiles has no children, so dropping it loses nothing on any backend.
    op.drop_table("reference_profiles")
    op.create_table(
        "reference_profiles",
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("version_id", _BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_reference_profiles_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["reference_profile_versions.id"],
            name=op.f("fk_reference_profiles_version_id_reference_profile_versions"),
        ),
        sa.PrimaryKeyConstraint("monitor_id", name=op.f("pk_reference_profiles")),
    )
    op.execute(
        "INSERT INTO reference_profiles (monitor_id, version_id) "
        "SELECT monitor_id, id FROM reference_profile_versions"
    )
    # A plain ADD COLUMN on every backend: copying ``runs`` (batch mode) would cascade its
    # deletion to feature_results on SQLite, where foreign keys are enforced.
    op.add_column("runs", sa.Column("profile_version_id", _BIG_ID, nullable=True))
    op.execute(
        "UPDATE runs SET profile_version_id = (SELECT p.version_id FROM reference_profiles p "
        "WHERE p.monitor_id = runs.monitor_id)"
    )
    op.create_index(op.f("ix_runs_profile_version_id"), "runs", ["profile_version_id"])


def _old_profile_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
    ]


def downgrade() -> None:
    # Back to one profile per monitor, the current one; older versions are lost.
    op.drop_index(op.f("ix_runs_profile_version_id"), table_name="runs")
    op.drop_column("runs", "profile_version_id")
    # The current profiles wait in a table without constraints while reference_profiles is
    # recreated under its 0004 constraint names.
    op.create_table("reference_profiles_downgrade", *_old_profile_columns())
    op.execute(
        "INSERT INTO reference_profiles_downgrade "
        "(monitor_id, fingerprint, created_at, rows, profile) "
        "SELECT v.monitor_id, v.fingerprint, v.created_at, v.rows, v.profile "
        "FROM reference_profiles p JOIN reference_profile_versions v ON v.id = p.version_id"
    )
    op.drop_table("reference_profiles")
    op.create_table(
        "reference_profiles",
        *_old_profile_columns(),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_reference_profiles_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("monitor_id", name=op.f("pk_reference_profiles")),
    )
    op.execute(
        "INSERT INTO reference_profiles (monitor_id, fingerprint, created_at, rows, profile) "
        "SELECT monitor_id, fingerprint, created_at, rows, profile "
        "FROM reference_profiles_downgrade"
    )
    op.drop_table("reference_profiles_downgrade")
    op.drop_index(
        op.f("ix_reference_profile_versions_monitor_id"), table_name="reference_profile_versions"
    )
    op.drop_table("reference_profile_versions")
