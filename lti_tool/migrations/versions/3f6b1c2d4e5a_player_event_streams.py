"""player_event.stream_key and .reported: plays assigned per stream; kava_session goes

Events stored before this revision keep the plays they were assigned (their stream_key stays
empty, so nothing re-assigns them); events stored from now on are assigned from their whole
stream. The Kava session state table is no longer read.

Revision ID: 3f6b1c2d4e5a
Revises: d88f6bbecd29
Create Date: 2026-12-03 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3f6b1c2d4e5a'
down_revision = 'd88f6bbecd29'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('player_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stream_key', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('reported', sa.JSON(), nullable=True))
        batch_op.create_index('ix_player_event_stream', ['registration_id', 'stream_key'], unique=False)
    op.drop_table('kava_session')


def downgrade():
    op.create_table('kava_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.String(length=128), nullable=False),
    sa.Column('subsession', sa.Integer(), nullable=False),
    sa.Column('last_event_index', sa.Integer(), nullable=False),
    sa.Column('last_play_time_sum', sa.Float(), nullable=False),
    sa.Column('play_number', sa.Integer(), nullable=False),
    sa.Column('last_position', sa.Float(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['registration_id'], ['registration.id'], name=op.f('fk_kava_session_registration_id_registration'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kava_session')),
    sa.UniqueConstraint('registration_id', 'session_id', name=op.f('uq_kava_session_registration_id'))
    )
    with op.batch_alter_table('player_event', schema=None) as batch_op:
        batch_op.drop_index('ix_player_event_stream')
        batch_op.drop_column('reported')
        batch_op.drop_column('stream_key')
