"""Raw events partitioned by month (PostgreSQL), on databases of their own with real commits.

The migration moves stored events into the partitioned table (and back on downgrade); create_all
makes the same shape; a batch's months get their partitions, times out of the window go to the
DEFAULT partition; a Kava beacon re-sent later without its own time (so with another occurred_at)
is still a duplicate; retention drops old months' partitions and trims the DEFAULT one.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, select, text

from lti_tool import MIGRATIONS_DIR, create_app
from lti_tool.extensions import db as _db
from lti_tool.ingest import kava, partitions, retention
from lti_tool.ingest.pipeline import accept, stored_impressions
from lti_tool.models import MediaEntry, Play, PlayerEvent, PlayerEventKey

from ..conftest import TEST_SETTINGS, fresh_database
from ..support.factories import ingest, make_play, make_registration

NOW = datetime.now(timezone.utc)
MONTH = partitions.month_of(NOW)


def at(months_back: int, day: int = 10) -> datetime:
    month = partitions.add_months(MONTH, -months_back)
    return datetime(month.year, month.month, day, 12, tzinfo=timezone.utc)


def app_on(suffix: str):
    return create_app({**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": fresh_database(suffix)})


def relkind(table: str) -> str:
    return _db.session.scalar(text("SELECT relkind FROM pg_class WHERE relname = :t"), {"t": table})


def placed() -> dict[str, int]:
    rows = dict(_db.session.execute(text("SELECT tableoid::regclass::text, count(*) FROM player_event GROUP BY 1")).all())
    _db.session.commit()  # an open transaction reading player_event would make new partitions wait
    return rows


@pytest.fixture
def forget_partitions():
    partitions.forget()
    yield
    partitions.forget()


def test_migration_moves_stored_events_into_months_and_back(forget_partitions):
    app = app_on("h5_migrate")
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR), revision="9b7e4c1a2d3f")
        registration = make_registration()
        entry = MediaEntry(registration_id=registration.id, external_id="1_m", name="m", media_type="video", tags=[],
                           described=False)
        _db.session.add(entry)
        _db.session.commit()
        times = [at(2), at(2, 20), at(1), at(0, 1), datetime(1975, 5, 5, tzinfo=timezone.utc)]
        for n, moment in enumerate(times):
            _db.session.execute(text(
                "INSERT INTO player_event (registration_id, event_key, source, event_type, occurred_at, received_at, "
                "entry_id, seq, playback_type, device_type) VALUES (:r, :k, 'native', 'play', :t, :t, :e, 0, 'vod', "
                "'other')"), {"r": registration.id, "k": f"native:k{n}", "t": moment.replace(tzinfo=None),
                              "e": entry.id})
        _db.session.commit()
        registration_id = registration.id
        before = _db.session.execute(text("SELECT id, event_key, occurred_at FROM player_event ORDER BY id")).all()
        _db.session.remove()  # the migration's connection must not wait on this one's locks

        upgrade(directory=str(MIGRATIONS_DIR))
        assert relkind("player_event") == "p"
        after = _db.session.execute(text("SELECT id, event_key, occurred_at FROM player_event ORDER BY id")).all()
        assert after == before
        where = placed()
        assert where == {partitions.partition_name(partitions.month_of(at(2))): 2,
                         partitions.partition_name(partitions.month_of(at(1))): 1,
                         partitions.partition_name(MONTH): 1, "player_event_default": 1}
        assert _db.session.scalar(select(func.count()).select_from(PlayerEventKey)) == 5
        # Keys stored before are duplicates; new rows take ids after the old ones (the sequence is kept).
        result = ingest(registration_id, [{"id": "k0", "type": "play", "entry_id": "1_m", "play_id": "P",
                                           "time": at(0, 2).isoformat()},
                                          {"id": "k9", "type": "play", "entry_id": "1_m", "play_id": "P",
                                           "time": at(0, 2).isoformat()}])
        assert (result.accepted, result.duplicates) == (1, 1)
        assert _db.session.scalar(select(func.max(PlayerEvent.id))) > max(row.id for row in before)
        _db.session.remove()

        downgrade(directory=str(MIGRATIONS_DIR), revision="9b7e4c1a2d3f")
        assert relkind("player_event") == "r"
        assert _db.session.scalar(text("SELECT count(*) FROM player_event")) == 6
        assert _db.session.scalar(text(
            "SELECT count(*) FROM pg_constraint WHERE conname = 'uq_player_event_registration_id'")) == 1
        _db.session.remove()
        upgrade(directory=str(MIGRATIONS_DIR))
        assert relkind("player_event") == "p" and _db.session.scalar(select(func.count(PlayerEvent.id))) == 6
        _db.session.remove()
        _db.engine.dispose()


def test_create_all_makes_the_partitioned_table(forget_partitions):
    app = app_on("h5_create_all")
    with app.app_context():
        _db.create_all()
        assert relkind("player_event") == "p"
        assert {"player_event_default", partitions.partition_name(MONTH),
                partitions.partition_name(partitions.add_months(MONTH, 1))} <= set(partitions.partitions(
                    _db.session.connection()))
        registration = make_registration()
        assert ingest(registration.id, make_play(1, at(3))).accepted == 3
        assert set(placed()) == {partitions.partition_name(partitions.month_of(at(3)))}
        _db.session.remove()
        _db.engine.dispose()


@pytest.mark.parametrize("make", ["migrations", "create_all"])
def test_a_batchs_impressions_are_found_by_key_without_reading_every_partition(forget_partitions, make):
    """A batch's player loads are made from the rows of the keys it just stored: each month's partition
    answers that through an index on (registration_id, event_key), not by reading all its rows (which
    made every ingest request as slow as the stored raw events are many)."""
    app = app_on(f"h5_key_{make}")
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR)) if make == "migrations" else _db.create_all()
        registration = make_registration()
        _db.session.commit()
        events = [e for n in range(150) for e in make_play(n, at(4) + timedelta(minutes=n))
                  + make_play(1000 + n, at(0, 2) + timedelta(minutes=n))]
        ingest(registration.id, events)
        _db.session.commit()
        _db.session.execute(text("ANALYZE player_event"))
        months = {partitions.partition_name(partitions.month_of(at(4))), partitions.partition_name(MONTH)}
        assert set(placed()) == months
        query = stored_impressions(PlayerEvent.registration_id == registration.id,
                                   PlayerEvent.event_key.in_(["i1", "i1003"]))
        sql = str(query.compile(dialect=_db.engine.dialect, compile_kwargs={"literal_binds": True}))
        plan = "\n".join(_db.session.scalars(text("EXPLAIN " + sql)))
        for month in months:   # PostgreSQL names each partition's copy of the index after it
            assert f"Index Scan on {month}_registration_id_event_key_idx" in plan, plan
        _db.session.rollback()
        _db.session.remove()
        _db.engine.dispose()


def test_months_redeliveries_and_retention(forget_partitions):
    app = app_on("h5_months")
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        registration = make_registration()
        _db.session.commit()
        ingest(registration.id, make_play(1, at(4)) + make_play(2, at(2)) + make_play(3, at(0, 2))
               + make_play(4, datetime(1975, 5, 5, tzinfo=timezone.utc))
               + make_play(5, datetime(2190, 5, 5, tzinfo=timezone.utc)))
        where = placed()
        assert where == {partitions.partition_name(partitions.month_of(at(4))): 3,
                         partitions.partition_name(partitions.month_of(at(2))): 3,
                         partitions.partition_name(MONTH): 3, "player_event_default": 6}

        # A Kava beacon without a player time takes the time it arrived: sent again an hour later it
        # has another occurred_at (another month's partition even), and is still one event.
        params = {"eventType": "3", "entryId": "1_k", "sessionId": "s-1", "eventIndex": "2", "partnerId": "1",
                  "position": "0"}
        first = kava.beacon_to_event(registration.id, params, received_at=at(1, 28), ip=None, user_agent=None,
                                     user=None)
        again = kava.beacon_to_event(registration.id, params, received_at=at(0, 1), ip=None, user_agent=None,
                                     user=None)
        assert first.key == again.key and first.occurred_at != again.occurred_at
        assert accept(registration.id, [first], "kava").accepted == 1
        assert (lambda r: (r.accepted, r.duplicates))(accept(registration.id, [again], "kava")) == (0, 1)
        assert _db.session.scalar(select(func.count(PlayerEvent.id)).where(PlayerEvent.event_key == first.key)) == 1
        plays = _db.session.scalar(select(func.count(Play.id)))

        done = retention.run(2)
        assert done["partitions_dropped"] == [partitions.partition_name(partitions.month_of(at(4)))]
        assert done["rows_deleted"] == 3  # 1975, from the DEFAULT partition; 2190 stays
        assert placed() == {partitions.partition_name(partitions.month_of(at(2))): 3,
                            partitions.partition_name(partitions.month_of(at(1))): 1,
                            partitions.partition_name(MONTH): 3, "player_event_default": 3}
        assert _db.session.scalar(select(func.count(Play.id))) == plays
        late = ingest(registration.id, make_play(6, at(5)))
        assert (late.accepted, late.ignored) == (0, 3)
        assert partitions.partition_name(partitions.month_of(at(5))) not in partitions.partitions(
            _db.session.connection())
        _db.session.remove()
        _db.engine.dispose()
