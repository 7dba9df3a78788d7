"""initial schema

Revision ID: 150902d06c14
Revises:
Create Date: 2026-11-26 18:40:11.810018
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '150902d06c14'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('entity_type', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('entity_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=True),
    sa.Column('actor_organization', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
    sa.Column('actor_role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('actor_key_prefix', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('changes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry'))
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entry_entity', ['entity_type', 'entity_id', 'id'], unique=False)

    op.create_table('organization',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('aliases', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('contact_email', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('acronym', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organization')),
    sa.UniqueConstraint('acronym', name=op.f('uq_organization_acronym'))
    )
    op.create_table('activity',
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('activity_type', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('themes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('domains', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('audiences', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('partners', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('external_ref', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('start_time', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
    sa.Column('end_time', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('delivery_languages', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('visibility', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('contact_email', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('venue_city', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('venue_country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
    sa.Column('modality', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('withdrawn_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('duplicate_of', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['duplicate_of'], ['activity.id'], name=op.f('fk_activity_duplicate_of_activity')),
    sa.ForeignKeyConstraint(['provider_id'], ['organization.id'], name=op.f('fk_activity_provider_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity')),
    sa.UniqueConstraint('provider_id', 'external_ref', name='uq_activity_provider_ref')
    )
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_provider_id'), ['provider_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_start_date'), ['start_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_updated_at'), ['updated_at'], unique=False)

    op.create_table('api_key',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('key_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('prefix', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_api_key_organization_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_key')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_key_key_hash'))
    )
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_key_organization_id'), ['organization_id'], unique=False)

    op.create_table('activity_country',
    sa.Column('activity_id', sa.Uuid(), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('named', sa.Boolean(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], name=op.f('fk_activity_country_activity_id_activity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('activity_id', 'country', name=op.f('pk_activity_country'))
    )
    with op.batch_alter_table('activity_country', schema=None) as batch_op:
        batch_op.create_index('ix_activity_country_lookup', ['country', 'start_date', 'end_date', 'activity_id'], unique=False)

    op.create_table('activity_region',
    sa.Column('activity_id', sa.Uuid(), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], name=op.f('fk_activity_region_activity_id_activity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('activity_id', 'region', name=op.f('pk_activity_region'))
    )
    with op.batch_alter_table('activity_region', schema=None) as batch_op:
        batch_op.create_index('ix_activity_region_lookup', ['region', 'start_date', 'end_date'], unique=False)

    op.create_table('idempotency_record',
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('request_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('activity_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], name=op.f('fk_idempotency_record_activity_id_activity')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_idempotency_record_organization_id_organization')),
    sa.PrimaryKeyConstraint('organization_id', 'key', name=op.f('pk_idempotency_record'))
    )
    with op.batch_alter_table('idempotency_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotency_record_created_at'), ['created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('idempotency_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_idempotency_record_created_at'))

    op.drop_table('idempotency_record')
    with op.batch_alter_table('activity_region', schema=None) as batch_op:
        batch_op.drop_index('ix_activity_region_lookup')

    op.drop_table('activity_region')
    with op.batch_alter_table('activity_country', schema=None) as batch_op:
        batch_op.drop_index('ix_activity_country_lookup')

    op.drop_table('activity_country')
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_key_organization_id'))

    op.drop_table('api_key')
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_updated_at'))
        batch_op.drop_index(batch_op.f('ix_activity_start_date'))
        batch_op.drop_index(batch_op.f('ix_activity_provider_id'))

    op.drop_table('activity')
    op.drop_table('organization')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entry_entity')

    op.drop_table('audit_entry')
