"""index activity.duplicate_of (partial: only the activities marked as duplicates)

Revision ID: 5e0c9d1f7a21
Revises: 7c46124d2d22
Create Date: 2026-11-27 00:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e0c9d1f7a21"
down_revision: str | None = "7c46124d2d22"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARKED = sa.text("duplicate_of IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_activity_duplicate_of",
        "activity",
        ["duplicate_of"],
        sqlite_where=MARKED,
        postgresql_where=MARKED,
    )


def downgrade() -> None:
    op.drop_index("ix_activity_duplicate_of", table_name="activity")
