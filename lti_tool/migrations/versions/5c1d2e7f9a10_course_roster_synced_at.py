"""course.roster_synced_at: when the roster was last fetched through NRPS

Revision ID: 5c1d2e7f9a10
Revises: ad976296c9c0
Create Date: 2026-11-22 05:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5c1d2e7f9a10'
down_revision = 'ad976296c9c0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.add_column(sa.Column('roster_synced_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.drop_column('roster_synced_at')
