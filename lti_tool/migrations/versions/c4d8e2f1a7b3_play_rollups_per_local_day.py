"""play_rollup and rollup_zone replace entry_daily: plays and player loads summed per local day and month
of each time zone in use, per entry, viewer and dimension, so dashboards read them instead of plays

entry_daily (per UTC day, read by nothing) is dropped. No zone is built here: a zone is built on its
first use by a dashboard, or by `flask analytics rebuild`.

Revision ID: c4d8e2f1a7b3
Revises: 5c2e8d7a9b10
Create Date: 2026-12-03 16:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = 'c4d8e2f1a7b3'
down_revision = '5c2e8d7a9b10'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rollup_zone',
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('zone', sa.String(length=64), nullable=False),
    sa.Column('ready', sa.Boolean(), nullable=False),
    sa.Column('built_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['registration_id'], ['registration.id'], name=op.f('fk_rollup_zone_registration_id_registration'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('registration_id', 'zone', name=op.f('pk_rollup_zone'))
    )
    op.create_table('play_rollup',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('zone', sa.String(length=64), nullable=False),
    sa.Column('grain', sa.String(length=1), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('impressions', sa.Integer(), nullable=False),
    sa.Column('plays', sa.Integer(), nullable=False),
    sa.Column('seconds_viewed', sa.Float(), nullable=False),
    sa.Column('capped_percentiles', sa.Integer(), nullable=False),
    sa.Column('quartile_events', sa.Integer(), nullable=False),
    sa.Column('completed_plays', sa.Integer(), nullable=False),
    sa.Column('reached_25', sa.Integer(), nullable=False),
    sa.Column('reached_50', sa.Integer(), nullable=False),
    sa.Column('reached_75', sa.Integer(), nullable=False),
    sa.Column('reached_100', sa.Integer(), nullable=False),
    sa.Column('watched', postgresql.BIT(length=101, varying=True).with_variant(sa.String(length=101), 'sqlite'), nullable=True),
    sa.Column('last_played_at', sa.DateTime(), nullable=True),
    sa.Column('last_viewed_at', sa.DateTime(), nullable=True),
    sa.Column('last_loaded_at', sa.DateTime(), nullable=True),
    sa.Column('playback_type', sa.String(length=8), nullable=False),
    sa.Column('context_category_id', sa.Integer(), nullable=True),
    sa.Column('url', sa.String(length=1000), nullable=True),
    sa.Column('domain', sa.String(length=255), nullable=True),
    sa.Column('device_type', sa.String(length=16), nullable=False),
    sa.Column('os', sa.String(length=64), nullable=True),
    sa.Column('browser', sa.String(length=64), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('region', sa.String(length=128), nullable=True),
    sa.Column('city', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['context_category_id'], ['category.id'], name=op.f('fk_play_rollup_context_category_id_category'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['entry_id'], ['media_entry.id'], name=op.f('fk_play_rollup_entry_id_media_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_play_rollup_person_id_person'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['registration_id'], ['registration.id'], name=op.f('fk_play_rollup_registration_id_registration'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_play_rollup'))
    )
    with op.batch_alter_table('play_rollup', schema=None) as batch_op:
        batch_op.create_index('ix_play_rollup_read', ['registration_id', 'zone', 'grain', 'day'], unique=False)
        batch_op.create_index('ix_play_rollup_entry', ['entry_id', 'zone', 'grain', 'day'], unique=False)
    with op.batch_alter_table('entry_daily', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_entry_daily_registration_id'))
    op.drop_table('entry_daily')


def downgrade():
    op.create_table('entry_daily',
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('in_context', sa.Boolean(), nullable=False),
    sa.Column('impressions', sa.Integer(), nullable=False),
    sa.Column('plays', sa.Integer(), nullable=False),
    sa.Column('plays_completed', sa.Integer(), nullable=False),
    sa.Column('seconds_viewed', sa.Float(), nullable=False),
    sa.Column('percentile_sum', sa.Integer(), nullable=False),
    sa.Column('quartile_events', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['media_entry.id'], name=op.f('fk_entry_daily_entry_id_media_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['registration_id'], ['registration.id'], name=op.f('fk_entry_daily_registration_id_registration'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('entry_id', 'day', 'in_context', name=op.f('pk_entry_daily'))
    )
    with op.batch_alter_table('entry_daily', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_entry_daily_registration_id'), ['registration_id'], unique=False)
    with op.batch_alter_table('play_rollup', schema=None) as batch_op:
        batch_op.drop_index('ix_play_rollup_entry')
        batch_op.drop_index('ix_play_rollup_read')
    op.drop_table('play_rollup')
    op.drop_table('rollup_zone')
