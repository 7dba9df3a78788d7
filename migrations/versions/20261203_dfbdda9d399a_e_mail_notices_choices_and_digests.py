"""e-mail notices, choices and digests

Revision ID: dfbdda9d399a
Revises: 4ebb2b92a893
Create Date: 2026-12-03 15:53:00.565597
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'dfbdda9d399a'
down_revision: str | None = '4ebb2b92a893'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('digest_sent',
    sa.Column('person_id', sa.Uuid(), nullable=False),
    sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('mail_id', sa.Uuid(), nullable=True),
    sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_digest_sent_person_id_person'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('person_id', 'period', name=op.f('pk_digest_sent'))
    )
    op.create_table('notice',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('actor_person_id', sa.Uuid(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('due_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_notice_organization_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice'))
    )
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.create_index('ix_notice_due', ['status', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_organization_id'), ['organization_id'], unique=False)

    op.create_table('notice_choice',
    sa.Column('person_id', sa.Uuid(), nullable=False),
    sa.Column('findings', sa.Boolean(), nullable=False),
    sa.Column('decisions', sa.Boolean(), nullable=False),
    sa.Column('requests', sa.Boolean(), nullable=False),
    sa.Column('changes', sa.Boolean(), nullable=False),
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('secret', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_notice_choice_person_id_person'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('person_id', name=op.f('pk_notice_choice'))
    )
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('headers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('person_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('organization_id', sa.Integer(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.drop_column('organization_id')
        batch_op.drop_column('person_id')
        batch_op.drop_column('headers')

    op.drop_table('notice_choice')
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_organization_id'))
        batch_op.drop_index('ix_notice_due')

    op.drop_table('notice')
    op.drop_table('digest_sent')
