"""Count scored runs with a feature in error apart from clean successes (outcome "partial").

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Runs counted before this revision stay under "success": which of them had a feature in
    # error is not known from the counters, and pruned runs cannot be re-read.
    with op.batch_alter_table("monitor_stats") as batch:
        batch.add_column(
            sa.Column("runs_partial", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    # Fold partial runs back into success, as they were counted before this revision.
    op.execute("UPDATE monitor_stats SET runs_success = runs_success + runs_partial")
    with op.batch_alter_table("monitor_stats") as batch:
        batch.drop_column("runs_partial")
