"""Kava VIEW beacons of a room's live stream become engagement samples of the session running then."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from lti_tool.ingest import beacon_queue
from lti_tool.ingest.people import resolve
from lti_tool.models import EngagementSample, PlayerEvent, RoomSession

from ..ingest.test_beacon_queue import queued  # noqa: F401
from ..ingest.test_kava import KavaPlayer, ks_for, ok, partner  # noqa: F401
from .test_room_ingest import auth, post  # noqa: F401

LIVE, OTHER = "1_live0001", "1_other001"
STUDENT = "sub:student-1"


def iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.fixture
def live_room(client, db, auth, partner):
    """A room streaming LIVE: its main session started 30 minutes ago and runs on, a breakout room
    runs since 10 minutes, an earlier session ended an hour ago; another room streams OTHER but
    holds no session now."""
    now = datetime.now(timezone.utc)
    events = [
        {"id": "room-1", "type": "room", "name": "Live class", "entry": LIVE},
        {"id": "main", "type": "session", "room": "room-1", "start": iso(now - timedelta(minutes=30))},
        {"id": "breakout", "type": "session", "room": "room-1", "start": iso(now - timedelta(minutes=10)),
         "parent": "main"},
        {"id": "earlier", "type": "session", "room": "room-1", "start": iso(now - timedelta(hours=2)),
         "end": iso(now - timedelta(hours=1))},
        {"id": "room-2", "type": "room", "entry": OTHER},
        {"id": "room-2-old", "type": "session", "room": "room-2", "start": iso(now - timedelta(days=1)),
         "end": iso(now - timedelta(days=1) + timedelta(hours=1))},
    ]
    response = post(client, auth, events)
    assert response.status_code == 200, response.text
    return {s.external_id: s.id for s in db.session.scalars(select(RoomSession))}


def samples(db) -> list[tuple]:
    return list(db.session.execute(
        select(EngagementSample.session_id, EngagementSample.person_id, EngagementSample.interval_seconds,
               EngagementSample.sound_on, EngagementSample.tab_focused, EngagementSample.full_screen,
               EngagementSample.level).order_by(EngagementSample.at, EngagementSample.id)))


def watch_live(player: KavaPlayer) -> None:
    ok(player.send(1, position=0))
    ok(player.send(3, position=-4))
    ok(player.send(99, playTimeSum=10, position=-3, soundMode=2, tabMode=2, screenMode=2))  # high
    ok(player.send(99, playTimeSum=20, position=-3, soundMode=2, tabMode=2, screenMode=1))  # good
    ok(player.send(99, playTimeSum=30, position=-3, soundMode=2, tabMode=1, screenMode=2))  # fair
    ok(player.send(99, playTimeSum=35, position=-3, soundMode=1, tabMode=2))                # low, 5 s
    ok(player.send(99, playTimeSum=45, position=-3, soundMode=1, tabMode=1, screenMode=1))  # none


def test_live_views_of_a_room_stream_become_samples(client, db, partner, live_room, queued):
    student = KavaPlayer(client, entry=LIVE, playbackType="live", ks=ks_for(partner, STUDENT), session_id="s-live")
    watch_live(student)
    # None of these make a sample: anonymous, on demand, a stream without a running session,
    # a VIEW without the engagement parameters.
    watch_live(KavaPlayer(client, entry=LIVE, playbackType="live", session_id="s-anonymous"))
    watch_live(KavaPlayer(client, entry=LIVE, playbackType="vod", ks=ks_for(partner, STUDENT), session_id="s-vod"))
    watch_live(KavaPlayer(client, entry=OTHER, playbackType="live", ks=ks_for(partner, STUDENT), session_id="s-o"))
    bare = KavaPlayer(client, entry=LIVE, playbackType="live", ks=ks_for(partner, STUDENT), session_id="s-bare")
    ok(bare.send(3, position=-4))
    ok(bare.send(99, playTimeSum=10, position=-3))
    assert samples(db) == []  # queued, not stored yet

    result = beacon_queue.drain(batch=100)
    assert result.rejected == 0 and result.accepted == 30
    person = resolve(partner.id, {STUDENT})[STUDENT]
    main = live_room["main"]  # the main session wins over the breakout room running beside it
    assert samples(db) == [
        (main, person, 10.0, True, True, True, "high"),
        (main, person, 10.0, True, True, False, "good"),
        (main, person, 10.0, True, False, True, "fair"),
        (main, person, 5.0, False, True, False, "low"),
        (main, person, 10.0, False, False, False, "none"),
    ]
    views = dict(db.session.execute(select(PlayerEvent.event_key, PlayerEvent.occurred_at).where(
        PlayerEvent.event_key.in_(select(EngagementSample.event_key)))).all())
    assert len(views) == 5  # each sample is keyed and timed by its VIEW
    assert all(db.session.scalar(select(EngagementSample.at).where(EngagementSample.event_key == key)) == at
               for key, at in views.items())

    ok(student.resend())  # a re-sent VIEW is a duplicate: no second sample
    assert beacon_queue.drain().duplicates == 1
    assert len(samples(db)) == 5


def test_a_breakout_room_gets_the_samples_when_the_main_session_is_over(client, db, auth, partner, live_room,
                                                                         queued):
    now = datetime.now(timezone.utc)
    over = {"id": "main", "type": "session", "room": "room-1", "start": iso(now - timedelta(minutes=30)),
            "end": iso(now - timedelta(minutes=1))}
    assert post(client, auth, [over]).status_code == 200
    player = KavaPlayer(client, entry=LIVE, playbackType="dvr", ks=ks_for(partner, STUDENT), session_id="s-dvr")
    ok(player.send(3, position=-200))
    ok(player.send(99, playTimeSum=10, position=-190, soundMode=2, tabMode=2, screenMode=1))
    beacon_queue.drain()
    assert [(session, level) for session, *_, level in samples(db)] == [(live_room["breakout"], "good")]


def test_imported_kava_lines_make_samples_too(runner, db, partner, live_room, tmp_path):
    now = datetime.now(timezone.utc).timestamp()
    common = {"entryId": LIVE, "sessionId": "s-import", "playbackType": "live", "user": STUDENT}
    lines = [{**common, "eventType": 3, "eventIndex": 1, "position": -4, "received_at": now - 20},
             {**common, "eventType": 99, "eventIndex": 2, "playTimeSum": 10, "position": -3, "soundMode": 1,
              "tabMode": 2, "screenMode": 1, "received_at": now - 10}]
    path = tmp_path / "beacons.kava.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = runner.invoke(args=["ingest", "import", str(path), "--registration", str(partner.id)])
    assert result.exit_code == 0, result.output
    assert [(session, level) for session, *_, level in samples(db)] == [(live_room["main"], "low")]
    again = runner.invoke(args=["ingest", "import", str(path), "--registration", str(partner.id)])
    assert "duplicates 2" in again.output
    assert len(samples(db)) == 1


def test_live_views_posted_without_the_queue_make_samples_at_once(client, db, partner, live_room):
    student = KavaPlayer(client, entry=LIVE, playbackType="live", ks=ks_for(partner, STUDENT), session_id="s-direct")
    watch_live(student)
    assert [level for *_, level in samples(db)] == ["high", "good", "fair", "low", "none"]
    ok(student.resend())
    assert len(samples(db)) == 5
