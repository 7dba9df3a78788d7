"""drop ix_finding_first_id: uq_finding_pair (first_id, second_id) already serves it

Revision ID: b7d41c2e9a10
Revises: 3325f4292c9a
Create Date: 2026-11-26 22:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b7d41c2e9a10"
down_revision: str | None = "3325f4292c9a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.drop_index("ix_finding_first_id")


def downgrade() -> None:
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.create_index("ix_finding_first_id", ["first_id"], unique=False)
