"""activity_country long_running window index

Revision ID: f59499c86be0
Revises: 90be660e24bc
Create Date: 2026-11-26 19:40:31.664967
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = 'f59499c86be0'
down_revision: str | None = '90be660e24bc'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('activity_country', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('long_running', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.drop_index(batch_op.f('ix_activity_country_lookup'))
        batch_op.create_index('ix_activity_country_window', ['country', 'long_running', 'start_date', 'end_date', 'activity_id'], unique=False)
    # Activities lasting more than 31 days, as app.activities.models.LONG_RUNNING_DAYS says.
    if op.get_bind().dialect.name == 'sqlite':
        span = 'julianday(end_date) - julianday(start_date) + 1'
    else:
        span = 'end_date - start_date + 1'
    op.execute(f'UPDATE activity_country SET long_running = true WHERE {span} > 31')



def downgrade() -> None:
    with op.batch_alter_table('activity_country', schema=None) as batch_op:
        batch_op.drop_index('ix_activity_country_window')
        batch_op.create_index(batch_op.f('ix_activity_country_lookup'), ['country', 'start_date', 'end_date', 'activity_id'], unique=False)
        batch_op.drop_column('long_running')

