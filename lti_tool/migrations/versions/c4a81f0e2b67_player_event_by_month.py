"""player_event partitioned by month (PostgreSQL), player_event_key, raw_retention, cut_stream

PostgreSQL: the stored events move into a new player_event partitioned by RANGE (occurred_at), one
partition per month of the stored events within five years back and one ahead (older or later
months go to the DEFAULT partition), plus the current and next months'. Its primary key is
(id, occurred_at), the id sequence is kept. The unique (registration_id, event_key) cannot hold on
a partitioned table (it lacks the partition key): the accepted keys move into player_event_key,
which dedupes from now on. SQLite: the table stays as it is, less its unique constraint.

Revision ID: c4a81f0e2b67
Revises: 9b7e4c1a2d3f
Create Date: 2026-12-03 16:00:00.000000

"""
from datetime import date, datetime, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4a81f0e2b67'
down_revision = '9b7e4c1a2d3f'
branch_labels = None
depends_on = None

MONTHS_BACK, MONTHS_AHEAD = 60, 12
INDEXES = (('ix_player_event_entry_id', ['entry_id']), ('ix_player_event_person_id', ['person_id']),
           ('ix_player_event_play', ['registration_id', 'play_key']),
           ('ix_player_event_stream', ['registration_id', 'stream_key']))


def _columns():
    return [
        sa.Column('id', sa.BigInteger(), server_default=sa.text("nextval('player_event_id_seq')"), nullable=False),
        sa.Column('registration_id', sa.Integer(), nullable=False),
        sa.Column('event_key', sa.String(length=255), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('event_type', sa.String(length=16), nullable=False),
        sa.Column('occurred_at', sa.DateTime(), nullable=False),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.Column('entry_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=True),
        sa.Column('play_key', sa.String(length=255), nullable=True),
        sa.Column('load_key', sa.String(length=255), nullable=True),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('position', sa.Float(), nullable=True),
        sa.Column('seconds_viewed', sa.Float(), nullable=True),
        sa.Column('segments', sa.JSON(), nullable=True),
        sa.Column('seek_to', sa.Float(), nullable=True),
        sa.Column('extra', sa.JSON(), nullable=True),
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
        sa.Column('stream_key', sa.String(length=255), nullable=True),
        sa.Column('reported', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['context_category_id'], ['category.id'], name='fk_player_event_context_category_id_category', ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['entry_id'], ['media_entry.id'], name='fk_player_event_entry_id_media_entry', ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['person_id'], ['person.id'], name='fk_player_event_person_id_person', ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['registration_id'], ['registration.id'], name='fk_player_event_registration_id_registration', ondelete='CASCADE'),
    ]


def _listed(columns) -> str:
    return ", ".join(f'"{c.name}"' for c in columns if isinstance(c, sa.Column))


def _add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def _create_partition(month: date) -> None:
    name = f"player_event_p{month.year:04d}{month.month:02d}"
    op.execute(f"CREATE TABLE {name} PARTITION OF player_event "
               f"FOR VALUES FROM ('{month.isoformat()}') TO ('{_add_months(month, 1).isoformat()}')")


def upgrade():
    op.create_table('player_event_key',
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('event_key', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['registration_id'], ['registration.id'], name=op.f('fk_player_event_key_registration_id_registration'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('registration_id', 'event_key', name=op.f('pk_player_event_key'))
    )
    op.create_table('raw_retention',
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('kept_from', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['registration_id'], ['registration.id'], name=op.f('fk_raw_retention_registration_id_registration'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('registration_id', name=op.f('pk_raw_retention'))
    )
    op.create_table('cut_stream',
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('stream_key', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['registration_id'], ['registration.id'], name=op.f('fk_cut_stream_registration_id_registration'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('registration_id', 'stream_key', name=op.f('pk_cut_stream'))
    )
    op.execute("INSERT INTO player_event_key (registration_id, event_key) SELECT registration_id, event_key FROM player_event")
    if op.get_bind().dialect.name != 'postgresql':
        with op.batch_alter_table('player_event', schema=None) as batch_op:
            batch_op.drop_constraint('uq_player_event_registration_id', type_='unique')
        return

    # The stored table steps aside (its index names are free again), keeping the id sequence.
    op.execute("ALTER TABLE player_event RENAME TO player_event_unpartitioned")
    for name, _ in INDEXES:
        op.execute(f"DROP INDEX {name}")
    op.execute("ALTER TABLE player_event_unpartitioned DROP CONSTRAINT uq_player_event_registration_id")
    op.execute("ALTER TABLE player_event_unpartitioned DROP CONSTRAINT pk_player_event")
    op.execute("ALTER SEQUENCE player_event_id_seq OWNED BY NONE")

    columns = _columns()
    op.create_table('player_event', *columns, sa.PrimaryKeyConstraint('id', 'occurred_at', name='pk_player_event'),
                    postgresql_partition_by='RANGE (occurred_at)')
    op.execute("CREATE TABLE player_event_default PARTITION OF player_event DEFAULT")
    now = datetime.now(timezone.utc)
    current = date(now.year, now.month, 1)
    stored = op.get_bind().execute(sa.text(
        "SELECT DISTINCT CAST(date_trunc('month', occurred_at) AS date) FROM player_event_unpartitioned")).scalars()
    months = {m for m in stored if _add_months(current, -MONTHS_BACK) <= m <= _add_months(current, MONTHS_AHEAD)}
    for month in sorted(months | {current, _add_months(current, 1)}):
        _create_partition(month)
    listed = _listed(columns)
    op.execute(f"INSERT INTO player_event ({listed}) SELECT {listed} FROM player_event_unpartitioned")
    op.execute("DROP TABLE player_event_unpartitioned")
    op.execute("ALTER SEQUENCE player_event_id_seq OWNED BY player_event.id")
    for name, indexed in INDEXES:
        op.create_index(name, 'player_event', indexed, unique=False)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER TABLE player_event RENAME TO player_event_partitioned")
        for name, _ in INDEXES:
            op.execute(f"DROP INDEX {name}")
        op.execute("ALTER TABLE player_event_partitioned DROP CONSTRAINT pk_player_event")
        op.execute("ALTER SEQUENCE player_event_id_seq OWNED BY NONE")
        columns = _columns()
        op.create_table('player_event', *columns, sa.PrimaryKeyConstraint('id', name='pk_player_event'))
        listed = _listed(columns)
        # Keys accepted twice under different times (only possible since the upgrade) keep their first row.
        op.execute(f"INSERT INTO player_event ({listed}) SELECT DISTINCT ON (registration_id, event_key) {listed} "
                   "FROM player_event_partitioned ORDER BY registration_id, event_key, id")
        op.execute("DROP TABLE player_event_partitioned")
        op.execute("ALTER SEQUENCE player_event_id_seq OWNED BY player_event.id")
        op.create_unique_constraint('uq_player_event_registration_id', 'player_event', ['registration_id', 'event_key'])
        for name, indexed in INDEXES:
            op.create_index(name, 'player_event', indexed, unique=False)
    else:
        with op.batch_alter_table('player_event', schema=None) as batch_op:
            batch_op.create_unique_constraint('uq_player_event_registration_id', ['registration_id', 'event_key'])
    op.drop_table('cut_stream')
    op.drop_table('raw_retention')
    op.drop_table('player_event_key')
