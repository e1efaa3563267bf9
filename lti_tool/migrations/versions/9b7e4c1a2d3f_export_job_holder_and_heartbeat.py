"""export.job_id, .attempt and .alive_until: which job attempt makes an export, and until when it is alive

A retried job takes over the export an earlier, killed attempt left running; an export whose job died
with its worker is ended as failed once its heartbeat stops. Rows from before keep attempt 0 and no
heartbeat (only the old time limit ends them).

Revision ID: 9b7e4c1a2d3f
Revises: 3f6b1c2d4e5a
Create Date: 2026-12-03 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9b7e4c1a2d3f'
down_revision = '3f6b1c2d4e5a'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('export', schema=None) as batch_op:
        batch_op.add_column(sa.Column('job_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('attempt', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('alive_until', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('export', schema=None) as batch_op:
        batch_op.drop_column('alive_until')
        batch_op.drop_column('attempt')
        batch_op.drop_column('job_id')
