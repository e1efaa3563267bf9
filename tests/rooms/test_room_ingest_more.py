"""POST /api/v1/room-events, the later additions: messages, chat connections, breakout participants,
live and recording entries, where attendees joined from; bad input of every type stores nothing."""
from __future__ import annotations

import random

import pytest
from sqlalchemy import JSON, String, Text, func, select, text

from lti_tool.ingest import tokens
from lti_tool.models import (
    Attendance, AttachmentDownload, BreakoutParticipant, ChatConnection, ChatMessage, EngagementSample, Interaction,
    InteractionAnswer, MediaEntry, Person, QaThread, RaisedHand, Reaction, Room, RoomMessage, RoomSession, Rsvp,
)

from .test_room_ingest import ANA, BEN, HOST, SESSION, at, auth, person_id, post, reaction, utc  # noqa: F401

CAROL = "email:Carol@Example.edu"
SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Safari/605.1.15")
ROOM_TABLES = (Room, RoomSession, BreakoutParticipant, Attendance, EngagementSample, Reaction, ChatMessage, QaThread,
               RaisedHand, Interaction, InteractionAnswer, AttachmentDownload, Rsvp, RoomMessage, ChatConnection)
TABLES = ROOM_TABLES + (MediaEntry, Person)

# What a later batch builds on: a room with a main session, a stay and a poll.
STORED = [
    {"id": "room-1", "type": "room", "name": "Week 1 live class"},
    {"id": "main", "type": "session", "room": "room-1", "start": at(0), "end": at(50), "host": HOST},
    {"id": "j-ana", "type": "join", "time": at(1), "session": "main", "user": ANA},
    {"id": "poll-1", "type": "interaction", "time": at(15), "session": "main", "kind": "poll",
     "question": "Best week?", "options": ["1", "2", "3"]},
]

# One good event of every type, naming only what STORED has.
GOOD = {
    "room": {"id": "room-2", "type": "room", "name": "Office hours", "entry": "1_live0001"},
    "session": {"id": "breakout-a", "type": "session", "room": "room-1", "start": at(20), "end": at(30),
                "parent": "main", "initiator": HOST, "participants": [ANA, BEN], "recording": "1_rec0001"},
    "join": {"id": "j-ben", "type": "join", "time": at(2), "session": "main", "user": BEN, "ip": "8.8.8.8",
             "user_agent": SAFARI},
    "leave": {"id": "l-ana", "type": "leave", "time": at(45), "join": "j-ana"},
    "engagement": {"id": "eng-1", "type": "engagement", "time": at(5), "session": "main", "user": ANA,
                   "seconds": 10, "sound_on": True, "tab_focused": True, "full_screen": False},
    "reaction": {"id": "re-1", "type": "reaction", "time": at(10), "session": "main", "user": ANA, "kind": "clap"},
    "chat": {"id": "c-1", "type": "chat", "time": at(6), "session": "main", "user": ANA, "text": "Hello all"},
    "qa": {"id": "q-1", "type": "qa", "time": at(12), "session": "main", "user": BEN, "state": "owned",
           "owner": HOST},
    "raised_hand": {"id": "h-1", "type": "raised_hand", "time": at(13), "session": "main", "user": BEN},
    "interaction": {"id": "quiz-1", "type": "interaction", "time": at(16), "session": "main", "kind": "quiz",
                    "question": "2 + 2?", "options": ["3", "4"], "correct": "4"},
    "answer": {"id": "a-1", "type": "answer", "time": at(15, 20), "interaction": "poll-1", "user": ANA,
               "option": "2"},
    "download": {"id": "d-1", "type": "download", "time": at(18), "session": "main", "user": BEN,
                 "name": "slides.pdf"},
    "rsvp": {"id": "rsvp-1", "type": "rsvp", "time": "2026-10-01T08:00:00Z", "room": "room-1", "user": BEN,
             "name": "Ben Ortiz", "country": "us"},
    "message": {"id": "m-1", "type": "message", "time": at(8), "session": "main", "user": BEN, "recipient": HOST,
                "creator": BEN, "kind": "moderator", "text": "Is slide 3 right?", "state": "answered",
                "labels": ["content", "urgent"], "external": True},
    "connection": {"id": "cn-1", "type": "connection", "time": at(1, 30), "session": "main", "user": ANA},
}


def counts(db) -> tuple[int, ...]:
    return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in TABLES)


def stored(client, auth, db) -> tuple[int, ...]:
    response = post(client, auth, STORED)
    assert response.status_code == 200, response.text
    return counts(db)


def test_every_type_in_one_batch_is_stored_once(client, db, auth):
    stored(client, auth, db)
    events = list(GOOD.values())
    response = post(client, auth, events)
    assert response.get_json() == {"accepted": len(events), "duplicates": 0, "throttled": 0}
    again = post(client, auth, events)
    assert again.get_json() == {"accepted": 0, "duplicates": len(events), "throttled": 0}


def test_a_moderator_message_and_a_chat_connection(client, db, auth):
    stored(client, auth, db)
    private = {"id": "m-2", "type": "message", "time": at(9), "session": "main", "user": ANA, "recipient": BEN,
               "kind": "private", "text": "See you after class"}
    response = post(client, auth, [GOOD["message"], private, GOOD["connection"]])
    assert response.get_json() == {"accepted": 3, "duplicates": 0, "throttled": 0}
    main = db.session.scalar(select(RoomSession.id).where(RoomSession.external_id == "main"))
    messages = {m.event_key: m for m in db.session.scalars(select(RoomMessage))}
    question = messages["m-1"]
    assert (question.session_id, question.person_id, question.recipient_person_id, question.creator_person_id) == (
        main, person_id(db, BEN), person_id(db, HOST), person_id(db, BEN))
    assert (question.kind, question.text, question.state, question.labels, question.external, question.at) == (
        "moderator", "Is slide 3 right?", "answered", ["content", "urgent"], True, utc(8))
    note = messages["m-2"]
    assert (note.kind, note.recipient_person_id, note.creator_person_id, note.state, note.labels, note.external) == (
        "private", person_id(db, BEN), None, None, [], False)
    connection = db.session.scalar(select(ChatConnection))
    assert (connection.session_id, connection.person_id, connection.at) == (main, person_id(db, ANA), utc(1, 30))


def participants(db, session: str) -> set[int]:
    return set(db.session.scalars(select(BreakoutParticipant.person_id).join(
        RoomSession, RoomSession.id == BreakoutParticipant.session_id).where(RoomSession.external_id == session)))


def test_breakout_participants_are_added(client, db, auth):
    stored(client, auth, db)
    breakout = GOOD["session"]
    assert post(client, auth, [breakout]).get_json() == {"accepted": 1, "duplicates": 0, "throttled": 0}
    assert participants(db, "breakout-a") == {person_id(db, ANA), person_id(db, BEN)}
    # The same participants again (in another order, one twice): nothing new, a duplicate.
    same = {**breakout, "participants": [BEN, ANA, BEN]}
    assert post(client, auth, [same]).get_json() == {"accepted": 0, "duplicates": 1, "throttled": 0}
    # One more is added; those not listed stay.
    more = {"id": "breakout-a", "type": "session", "room": "room-1", "start": at(20), "parent": "main",
            "participants": [CAROL]}
    assert post(client, auth, [more]).get_json() == {"accepted": 1, "duplicates": 0, "throttled": 0}
    assert participants(db, "breakout-a") == {person_id(db, ANA), person_id(db, BEN), person_id(db, CAROL)}
    assert participants(db, "main") == set()
    # A re-sent session event without participants changes nothing.
    plain = {k: v for k, v in breakout.items() if k != "participants"}
    assert post(client, auth, [plain]).get_json() == {"accepted": 0, "duplicates": 1, "throttled": 0}


def test_live_and_recording_entries_are_linked(client, db, auth):
    assert client.put("/api/v1/entries/1_rec0001", json={"name": "Week 1 recording", "duration": 3000},
                      headers=auth).status_code == 201
    stored(client, auth, db)
    live_room = {"id": "room-1", "type": "room", "entry": "1_live0001"}
    response = post(client, auth, [live_room, GOOD["session"]])
    assert response.get_json() == {"accepted": 2, "duplicates": 0, "throttled": 0}
    entries = {e.external_id: e for e in db.session.scalars(select(MediaEntry))}
    live, recording = entries["1_live0001"], entries["1_rec0001"]
    assert not live.described and live.name == ""  # created as the media pipeline creates unknown entries
    assert recording.described and recording.name == "Week 1 recording"  # a catalog entry is only linked
    room = db.session.scalar(select(Room).where(Room.external_id == "room-1"))
    assert room.live_entry_id == live.id and room.name == "Week 1 live class"  # a field not sent is kept
    breakout = db.session.scalar(select(RoomSession).where(RoomSession.external_id == "breakout-a"))
    assert breakout.recording_entry_id == recording.id
    assert post(client, auth, [live_room]).get_json() == {"accepted": 0, "duplicates": 1, "throttled": 0}


def test_a_join_is_located_and_its_device_read_but_the_ip_is_not_stored(client, db, auth):
    stored(client, auth, db)
    ips = ("8.8.8.8", "2001:4860:4860::8888")
    joins = [GOOD["join"],
             {"id": "j-carol", "type": "join", "time": at(3), "session": "main", "user": CAROL, "ip": ips[1],
              "user_agent": SAFARI},
             {"id": "j-anon", "type": "join", "time": at(4), "session": "main", "ip": "10.0.0.7"}]
    assert post(client, auth, joins).status_code == 200
    stays = {a.event_key: a for a in db.session.scalars(select(Attendance))}
    ben = stays["j-ben"]
    assert (ben.country, ben.device_type, ben.os, ben.browser) == ("US", "desktop", "Mac OS X", "Safari")
    assert stays["j-carol"].country == "US"
    anon = stays["j-anon"]  # a private address locates nowhere; no user agent is no device
    assert (anon.country, anon.region, anon.city, anon.device_type, anon.os, anon.browser) == (
        None, None, None, "other", None, None)
    assert stays["j-ana"].device_type == "other"  # a join without them, from before
    for model in ROOM_TABLES:
        for column in model.__table__.columns:
            if not isinstance(column.type, (String, Text, JSON)):
                continue
            values = db.session.execute(text(f'SELECT CAST("{column.name}" AS TEXT) FROM "{model.__tablename__}"'))
            for (value,) in values:
                assert value is None or not any(ip in value for ip in ips), (model.__tablename__, column.name)


def burst(count: int, user: str = ANA) -> list[dict]:
    """`count` reactions by one person, one second apart."""
    return [reaction(f"burst-{n}", n, user=user) for n in range(count)]


def counted(db, prefix: str = "burst-") -> list[str]:
    """The keys of the counted (not throttled) reactions of a burst, in time order."""
    keys = db.session.scalars(select(Reaction.event_key).where(
        Reaction.event_key.startswith(prefix), Reaction.throttled.is_(False)))
    return sorted(keys, key=lambda key: int(key[len(prefix):]))


def test_a_reaction_burst_counts_one_per_window(client, db, auth):
    stored(client, auth, db)
    response = post(client, auth, burst(10) + [reaction("ben-0", 0.5, user=BEN)])
    assert response.get_json() == {"accepted": 11, "duplicates": 0, "throttled": 6}
    assert counted(db) == ["burst-0", "burst-3", "burst-6", "burst-9"]
    assert counted(db, "ben-") == ["ben-0"]  # another person's reactions have their own window


def test_a_shuffled_burst_in_two_batches_counts_the_same(client, db, auth):
    stored(client, auth, db)
    events = burst(10)
    random.Random(5).shuffle(events)
    for half in (events[:5], events[5:]):
        assert post(client, auth, half).status_code == 200
    assert counted(db) == ["burst-0", "burst-3", "burst-6", "burst-9"]
    assert db.session.scalar(select(func.count()).where(Reaction.throttled)) == 6


@pytest.mark.parametrize("window, kept", [(2, ["burst-0", "burst-2", "burst-4", "burst-6", "burst-8"]),
                                          (5, ["burst-0", "burst-5"]), (0.5, [f"burst-{n}" for n in range(10)])])
def test_the_window_comes_from_the_config(client, db, auth, app, monkeypatch, window, kept):
    monkeypatch.setitem(app.config, "REACTION_THROTTLE_SECONDS", window)
    stored(client, auth, db)
    assert post(client, auth, burst(10)).get_json()["throttled"] == 10 - len(kept)
    assert counted(db) == kept


def long_user(n: int) -> str:
    return "sub:" + "x" * n


# (type, what is wrong, the change, a part of the reason)
BAD = [
    ("room", "malformed", {"course": "7"}, "course must be an integer"),
    ("room", "unknown field", {"colour": "red"}, "unknown field(s) for room: colour"),
    ("room", "oversized", {"entry": "1_" + "x" * 254}, "entry is longer than 255"),
    ("room", "unknown reference", {"course": 999_999}, "course 999999 is not a course of this registration"),
    ("session", "malformed", {"recording": 7}, "recording must be a string"),
    ("session", "malformed participants", {"participants": "sub:ana"}, "participants must be a list"),
    ("session", "malformed participant", {"participants": [ANA, "ben"]}, "participants[1] must look like kind:value"),
    ("session", "participants without parent", {"parent": None, "initiator": None},
     "participants is only for a breakout room"),
    ("session", "unknown field", {"members": [ANA]}, "unknown field(s) for session: members"),
    ("session", "oversized", {"participants": [f"sub:p{n}" for n in range(1001)]}, "at most 1000 users"),
    ("session", "unknown reference", {"parent": "ghost"}, "parent session 'ghost' is unknown"),
    ("join", "malformed", {"ip": 8}, "ip must be a string"),
    ("join", "unknown field", {"device": "desktop"}, "unknown field(s) for join: device"),
    ("join", "oversized", {"user_agent": "M" * 1001}, "user_agent is longer than 1000"),
    ("join", "unknown reference", {"session": "ghost"}, "session 'ghost' is unknown"),
    ("leave", "malformed", {"time": "soon"}, "is not ISO 8601"),
    ("leave", "unknown field", {"session": "main"}, "unknown field(s) for leave: session"),
    ("leave", "oversized", {"join": "j" * 201}, "join is longer than 200"),
    ("leave", "unknown reference", {"join": "ghost"}, "join 'ghost' is unknown"),
    ("engagement", "malformed", {"tab_focused": 1}, "tab_focused must be true or false"),
    ("engagement", "unknown field", {"level": "high"}, "unknown field(s) for engagement: level"),
    ("engagement", "oversized", {"seconds": 3601}, "seconds must be between"),
    ("engagement", "unknown reference", {"session": "ghost"}, "session 'ghost' is unknown"),
    ("reaction", "malformed", {"kind": "laugh"}, "kind must be one of clap, heart, think, wow, smile"),
    ("reaction", "unknown field", {"count": 2}, "unknown field(s) for reaction: count"),
    ("reaction", "oversized", {"id": "r" * 201}, "id is longer than 200"),
    ("reaction", "unknown reference", {"session": "ghost"}, "session 'ghost' is unknown"),
    ("chat", "malformed", {"likes": -1}, "likes must be an integer"),
    ("chat", "unknown field", {"to": BEN}, "unknown field(s) for chat: to"),
    ("chat", "oversized", {"text": "x" * 10_001}, "text is longer than 10000"),
    ("chat", "unknown reference", {"session": "ghost"}, "session 'ghost' is unknown"),
    ("qa", "malformed", {"owner": "teacher"}, "owner must look like kind:value"),
    ("qa", "unknown field", {"text": "why?"}, "unknown field(s) for qa: text"),
    ("qa", "oversized", {"user": long_user(300)}, "user is longer than 300"),
    ("qa", "unknown reference", {"session": "ghost"}, "session 'ghost' is unknown"),
    ("raised_hand", "malformed", {"time": "2026-10-05T10:00:00"}, "has no time zone"),
    ("raised_hand", "unknown field", {"lowered": True}, "unknown field(s) for raised_hand: lowered"),
    ("raised_hand", "oversized", {"session": "s" * 256}, "session is longer than 255"),
    ("raised_hand", "unknown reference", {"session": "ghost"}, "session 'ghost' is unknown"),
    ("interaction", "malformed", {"options": "3,4"}, "options must be a list"),
    ("interaction", "unknown field", {"points": 5}, "unknown field(s) for interaction: points"),
    ("interaction", "oversized", {"options": [str(n) for n in range(51)], "correct": None}, "at most 50 strings"),
    ("interaction", "unknown reference", {"session": "ghost"}, "session 'ghost' is unknown"),
    ("answer", "malformed", {"option": 2}, "option must be a string"),
    ("answer", "unknown field", {"score": 1}, "unknown field(s) for answer: score"),
    ("answer", "oversized", {"option": "o" * 501}, "option is longer than 500"),
    ("answer", "unknown reference", {"interaction": "ghost"}, "interaction 'ghost' is unknown"),
    ("download", "malformed", {"name": ["slides.pdf"]}, "name must be a string"),
    ("download", "unknown field", {"size": 10}, "unknown field(s) for download: size"),
    ("download", "oversized", {"name": "n" * 501}, "name is longer than 500"),
    ("download", "unknown reference", {"session": "ghost"}, "session 'ghost' is unknown"),
    ("rsvp", "malformed", {"country": "U1"}, "country must be an ISO 3166 two-letter code"),
    ("rsvp", "unknown field", {"phone": "555"}, "unknown field(s) for rsvp: phone"),
    ("rsvp", "oversized", {"name": "n" * 256}, "name is longer than 255"),
    ("rsvp", "malformed reference", {"room": 5}, "room must be a string"),
    ("message", "malformed", {"kind": "broadcast"}, "kind must be one of moderator, private"),
    ("message", "malformed flag", {"external": "yes"}, "external must be true or false"),
    ("message", "malformed labels", {"labels": "urgent"}, "labels must be a list"),
    ("message", "malformed label", {"labels": ["ok", 3]}, "a label must be a string"),
    ("message", "malformed recipient", {"recipient": "host"}, "recipient must look like kind:value"),
    ("message", "missing text", {"text": None}, "text is required for message"),
    ("message", "unknown field", {"subject": "hi"}, "unknown field(s) for message: subject"),
    ("message", "oversized", {"labels": [f"l{n}" for n in range(21)]}, "at most 20 strings"),
    ("message", "oversized label", {"labels": ["l" * 65]}, "a label is longer than 64"),
    ("message", "oversized state", {"state": "s" * 33}, "state is longer than 32"),
    ("message", "unknown reference", {"session": "ghost"}, "session 'ghost' is unknown"),
    ("connection", "malformed", {"user": "nobody"}, "user must look like kind:value"),
    ("connection", "missing user", {"user": None}, "user is required for connection"),
    ("connection", "unknown field", {"device": "phone"}, "unknown field(s) for connection: device"),
    ("connection", "oversized", {"session": "s" * 256}, "session is longer than 255"),
    ("connection", "unknown reference", {"session": "ghost"}, "session 'ghost' is unknown"),
]


def test_every_type_has_every_kind_of_bad_case():
    kinds = {(event_type, what.split()[0]) for event_type, what, _, _ in BAD}
    for event_type in GOOD:
        assert {(event_type, k) for k in ("malformed", "unknown", "oversized")} <= kinds, event_type


@pytest.mark.parametrize("event_type, what, change, reason", BAD, ids=[f"{t}: {w}" for t, w, _, _ in BAD])
def test_a_bad_event_of_any_type_rejects_the_batch(client, db, auth, event_type, what, change, reason):
    before = stored(client, auth, db)
    bad = {k: v for k, v in {**GOOD[event_type], **change}.items() if v is not None}
    good = [event for t, event in GOOD.items() if t != event_type]
    response = post(client, auth, good + [bad])
    assert response.status_code == 400, response.text
    body = response.get_json()
    assert body["error"] == "the batch was rejected; nothing was stored"
    assert body["errors"][0]["index"] == len(good) and reason in body["errors"][0]["reason"], body
    assert counts(db) == before


@pytest.mark.parametrize("header", [None, "Bearer mat_nope", "revoked"])
def test_no_valid_token_stores_nothing(client, db, registration, header):
    if header == "revoked":
        token, secret = tokens.create(registration.id)
        tokens.revoke(token.id)
        header = f"Bearer {secret}"
    before = counts(db)
    response = client.post("/api/v1/room-events", json={"version": 1, "events": SESSION + list(GOOD.values())},
                           headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert counts(db) == before
