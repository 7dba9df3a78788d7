"""text vectors for detection by meaning

Revision ID: 4ebb2b92a893
Revises: 0b9ea60b80de
Create Date: 2026-12-03 12:25:35.591675
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = '4ebb2b92a893'
down_revision: str | None = '0b9ea60b80de'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('text_vector',
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('digest', name=op.f('pk_text_vector'))
    )


def downgrade() -> None:
    op.drop_table('text_vector')
