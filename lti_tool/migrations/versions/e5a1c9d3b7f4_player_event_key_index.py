"""player_event (registration_id, event_key) index: the rows of the keys a batch just stored

Partitioning (c4a81f0e2b67) moved the unique key into player_event_key, which left player_event
without an index on its keys; the player loads made from a batch's impressions, and a Kava beacon's
engagement sample, then read every partition of the raw events. On PostgreSQL the index is built
on every partition (writes to player_event wait while it is built).

Revision ID: e5a1c9d3b7f4
Revises: c4d8e2f1a7b3
Create Date: 2026-12-03 20:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e5a1c9d3b7f4'
down_revision = 'c4d8e2f1a7b3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_player_event_key', 'player_event', ['registration_id', 'event_key'], unique=False)


def downgrade():
    op.drop_index('ix_player_event_key', table_name='player_event')
