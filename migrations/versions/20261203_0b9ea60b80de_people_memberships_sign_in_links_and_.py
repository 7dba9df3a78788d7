"""people, memberships, sign-in links and the mail outbox

Revision ID: 0b9ea60b80de
Revises: 0f6c926be370
Create Date: 2026-12-03 09:02:04.588650
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0b9ea60b80de'
down_revision: str | None = '0f6c926be370'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('mail_outbox',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('to_address', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('text_body', sa.Text(), nullable=False),
    sa.Column('html_body', sa.Text(), nullable=True),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_outbox'))
    )
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_mail_outbox_due', ['status', 'next_attempt_at'], unique=False)

    op.create_table('person',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('joined_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('removed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person')),
    sa.UniqueConstraint('email', name=op.f('uq_person_email')),
    )
    op.create_table('membership',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('person_id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('manages', sa.Boolean(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('invited_by', sqlmodel.sql.sqltypes.AutoString(length=260), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_membership_organization_id_organization')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_membership_person_id_person'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_membership')),
    sa.UniqueConstraint('person_id', 'organization_id', name=op.f('uq_membership_person_id')),
    )
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_membership_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_membership_person_id'), ['person_id'], unique=False)

    op.create_table('auth_link',
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('person_id', sa.Uuid(), nullable=True),
    sa.Column('membership_id', sa.Uuid(), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['membership_id'], ['membership.id'], name=op.f('fk_auth_link_membership_id_membership'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_auth_link_person_id_person'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_auth_link'))
    )
    with op.batch_alter_table('auth_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_link_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_auth_link_person_id'), ['person_id'], unique=False)

    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_api_key_person_id'), ['person_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_api_key_person_id_person'), 'person', ['person_id'], ['id'])

    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor_person_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('actor_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column('actor_email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True))

    with op.batch_alter_table('feed_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('membership_id', sa.Uuid(), nullable=True))
        batch_op.alter_column('api_key_id',
               existing_type=sa.Uuid(),
               nullable=True)
        batch_op.alter_column('created_by',
               existing_type=sa.VARCHAR(length=60),
               type_=sqlmodel.sql.sqltypes.AutoString(length=260),
               existing_nullable=False)
        batch_op.create_index(batch_op.f('ix_feed_token_membership_id'), ['membership_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_feed_token_membership_id_membership'), 'membership', ['membership_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.alter_column('decided_by',
               existing_type=sa.VARCHAR(length=60),
               type_=sqlmodel.sql.sqltypes.AutoString(length=260),
               existing_nullable=True)

    with op.batch_alter_table('pending_upload', schema=None) as batch_op:
        batch_op.add_column(sa.Column('membership_id', sa.Uuid(), nullable=True))
        batch_op.alter_column('api_key_id',
               existing_type=sa.Uuid(),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_pending_upload_membership_id'), ['membership_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_pending_upload_membership_id_membership'), 'membership', ['membership_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('request_activity', schema=None) as batch_op:
        batch_op.alter_column('linked_by',
               existing_type=sa.VARCHAR(length=60),
               type_=sqlmodel.sql.sqltypes.AutoString(length=260),
               existing_nullable=False)

    with op.batch_alter_table('request_status_change', schema=None) as batch_op:
        batch_op.alter_column('by',
               existing_type=sa.VARCHAR(length=60),
               type_=sqlmodel.sql.sqltypes.AutoString(length=260),
               existing_nullable=False)

    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('membership_id', sa.Uuid(), nullable=True))
        batch_op.alter_column('api_key_id',
               existing_type=sa.Uuid(),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_web_session_membership_id'), ['membership_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_web_session_person_id'), ['person_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_web_session_membership_id_membership'), 'membership', ['membership_id'], ['id'], ondelete='CASCADE')
        batch_op.create_foreign_key(batch_op.f('fk_web_session_person_id_person'), 'person', ['person_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('webhook', schema=None) as batch_op:
        batch_op.alter_column('created_by',
               existing_type=sa.VARCHAR(length=60),
               type_=sqlmodel.sql.sqltypes.AutoString(length=260),
               existing_nullable=False)



def downgrade() -> None:
    # People's sessions, uploads and private feeds cannot outlive people.
    for table in ('web_session', 'pending_upload', 'feed_token'):
        op.execute(sa.text(f'DELETE FROM {table} WHERE api_key_id IS NULL'))
    with op.batch_alter_table('webhook', schema=None) as batch_op:
        batch_op.alter_column('created_by',
               existing_type=sqlmodel.sql.sqltypes.AutoString(length=260),
               type_=sa.VARCHAR(length=60),
               existing_nullable=False)

    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_web_session_person_id_person'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_web_session_membership_id_membership'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_web_session_person_id'))
        batch_op.drop_index(batch_op.f('ix_web_session_membership_id'))
        batch_op.alter_column('api_key_id',
               existing_type=sa.Uuid(),
               nullable=False)
        batch_op.drop_column('membership_id')
        batch_op.drop_column('person_id')

    with op.batch_alter_table('request_status_change', schema=None) as batch_op:
        batch_op.alter_column('by',
               existing_type=sqlmodel.sql.sqltypes.AutoString(length=260),
               type_=sa.VARCHAR(length=60),
               existing_nullable=False)

    with op.batch_alter_table('request_activity', schema=None) as batch_op:
        batch_op.alter_column('linked_by',
               existing_type=sqlmodel.sql.sqltypes.AutoString(length=260),
               type_=sa.VARCHAR(length=60),
               existing_nullable=False)

    with op.batch_alter_table('pending_upload', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_pending_upload_membership_id_membership'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_pending_upload_membership_id'))
        batch_op.alter_column('api_key_id',
               existing_type=sa.Uuid(),
               nullable=False)
        batch_op.drop_column('membership_id')

    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.alter_column('decided_by',
               existing_type=sqlmodel.sql.sqltypes.AutoString(length=260),
               type_=sa.VARCHAR(length=60),
               existing_nullable=True)

    with op.batch_alter_table('feed_token', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_feed_token_membership_id_membership'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_feed_token_membership_id'))
        batch_op.alter_column('created_by',
               existing_type=sqlmodel.sql.sqltypes.AutoString(length=260),
               type_=sa.VARCHAR(length=60),
               existing_nullable=False)
        batch_op.alter_column('api_key_id',
               existing_type=sa.Uuid(),
               nullable=False)
        batch_op.drop_column('membership_id')

    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_column('actor_email')
        batch_op.drop_column('actor_name')
        batch_op.drop_column('actor_person_id')

    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_key_person_id_person'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_api_key_person_id'))
        batch_op.drop_column('person_id')

    with op.batch_alter_table('auth_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_link_person_id'))
        batch_op.drop_index(batch_op.f('ix_auth_link_expires_at'))

    op.drop_table('auth_link')
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_membership_person_id'))
        batch_op.drop_index(batch_op.f('ix_membership_organization_id'))

    op.drop_table('membership')
    op.drop_table('person')
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_mail_outbox_due')

    op.drop_table('mail_outbox')
