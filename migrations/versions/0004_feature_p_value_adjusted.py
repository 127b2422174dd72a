"""Feature results: the p-value after the run's multiple-testing adjustment.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

``feature_results.p_value`` now holds the p-value that decided the status (the
Williams-corrected G-test in KL space); under ``correction: bonferroni|bh`` the adjusted one
goes in the new nullable ``p_value_adjusted``. Rows stored before stay NULL there.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feature_results") as batch:
        batch.add_column(sa.Column("p_value_adjusted", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feature_results") as batch:
        batch.drop_column("p_value_adjusted")
