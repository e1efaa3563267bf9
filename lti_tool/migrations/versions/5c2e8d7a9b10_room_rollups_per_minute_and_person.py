"""room_minute and room_person: a session's engagement samples rolled up per minute and per person

Kept at ingest (lti_tool/ingest/room_rollups.py) and read by the room page, its report API, CSV and PDF
instead of the samples. Filled here from the samples already stored.

Revision ID: 5c2e8d7a9b10
Revises: c4a81f0e2b67
Create Date: 2026-12-03 16:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5c2e8d7a9b10'
down_revision = 'c4a81f0e2b67'
branch_labels = None
depends_on = None

SUMS = ("count(*), sum(CAST(interval_seconds AS NUMERIC)), "
        "sum(CASE WHEN level IN ('high', 'good') THEN CAST(interval_seconds AS NUMERIC) ELSE 0 END)")


def upgrade():
    for name, key, key_column in (('room_minute', 'minute', sa.Column('minute', sa.BigInteger(), nullable=False)),
                                  ('room_person', 'person_id', sa.Column('person_id', sa.Integer(), nullable=False))):
        op.create_table(name,
            sa.Column('session_id', sa.Integer(), nullable=False),
            key_column,
            sa.Column('registration_id', sa.Integer(), nullable=False),
            sa.Column('samples', sa.Integer(), nullable=False),
            sa.Column('sampled_seconds', sa.Numeric(), server_default='0', nullable=False),
            sa.Column('engaged_seconds', sa.Numeric(), server_default='0', nullable=False),
            sa.ForeignKeyConstraint(['registration_id'], ['registration.id'],
                                    name=op.f(f'fk_{name}_registration_id_registration'), ondelete='CASCADE'),
            sa.ForeignKeyConstraint(['session_id'], ['room_session.id'],
                                    name=op.f(f'fk_{name}_session_id_room_session'), ondelete='CASCADE'),
            *([sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_room_person_person_id_person'),
                                       ondelete='CASCADE')] if key == 'person_id' else []),
            sa.PrimaryKeyConstraint('session_id', key, name=op.f(f'pk_{name}')),
        )
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f'ix_{name}_registration_id'), ['registration_id'], unique=False)
            if key == 'person_id':
                batch_op.create_index(batch_op.f('ix_room_person_person_id'), ['person_id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        minute = "CAST(floor((extract(epoch FROM at) - interval_seconds) / 60) AS BIGINT)"
    else:
        minute = "CAST((CAST(strftime('%s', at) AS FLOAT) - interval_seconds) / 60 AS BIGINT)"
    op.execute(f"INSERT INTO room_minute (session_id, minute, registration_id, samples, sampled_seconds, "
               f"engaged_seconds) SELECT session_id, {minute}, registration_id, {SUMS} FROM engagement_sample "
               f"GROUP BY session_id, {minute}, registration_id")
    op.execute(f"INSERT INTO room_person (session_id, person_id, registration_id, samples, sampled_seconds, "
               f"engaged_seconds) SELECT session_id, person_id, registration_id, {SUMS} FROM engagement_sample "
               f"GROUP BY session_id, person_id, registration_id")


def downgrade():
    for name in ('room_person', 'room_minute'):
        op.drop_table(name)
