"""POST /api/v1/room-events: a small live session stored exactly once; bad input stores nothing."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from lti_tool.ingest import tokens
from lti_tool.models import (
    Attendance, AttachmentDownload, ChatMessage, EngagementSample, Interaction, InteractionAnswer, Person, QaThread,
    RaisedHand, Reaction, Room, RoomSession, Rsvp,
)

TABLES = (Room, RoomSession, Attendance, EngagementSample, Reaction, ChatMessage, QaThread, RaisedHand, Interaction,
          InteractionAnswer, AttachmentDownload, Rsvp, Person)
ANA, BEN, HOST = "sub:ana", "canvas:ben", "sub:host"


def at(minute: int, second: float = 0) -> str:
    return f"2026-10-05T10:{minute:02d}:{second:06.3f}Z"


def utc(minute: int, second: float = 0) -> datetime:
    return datetime(2026, 10, 5, 10, minute, int(second), int(second % 1 * 1_000_000), tzinfo=timezone.utc)


def sample(n: int, user: str, sound: bool, focused: bool, full: bool) -> dict:
    return {"id": f"eng-{n}", "type": "engagement", "time": at(5, n * 10), "session": "main", "user": user,
            "seconds": 10, "sound_on": sound, "tab_focused": focused, "full_screen": full}


def reaction(key: str, second: float, user: str = ANA, kind: str = "clap") -> dict:
    return {"id": key, "type": "reaction", "time": at(10, second), "session": "main", "user": user, "kind": kind}


SESSION = [
    {"id": "room-1", "type": "room", "name": "Week 1 live class"},
    {"id": "main", "type": "session", "room": "room-1", "start": at(0), "end": at(50), "host": HOST,
     "name": "Monday class"},
    {"id": "breakout-a", "type": "session", "room": "room-1", "start": at(20), "end": at(30), "parent": "main",
     "initiator": HOST},
    {"id": "j-ana", "type": "join", "time": at(1), "session": "main", "user": ANA},
    {"id": "j-ben", "type": "join", "time": at(2), "session": "main", "user": BEN},
    {"id": "j-anon", "type": "join", "time": at(3), "session": "main"},
    {"id": "j-ana-rec", "type": "join", "time": "2026-10-06T09:00:00Z", "session": "main", "user": ANA,
     "mode": "recording"},
    {"id": "j-ana-breakout", "type": "join", "time": at(20), "session": "breakout-a", "user": ANA},
    {"id": "l-ana", "type": "leave", "time": at(45), "join": "j-ana"},
    {"id": "l-ben", "type": "leave", "time": at(40), "join": "j-ben"},
    sample(0, ANA, True, True, True),      # high
    sample(1, ANA, True, True, False),     # good
    sample(2, BEN, True, False, True),     # fair (full screen does not help an unfocused tab)
    sample(3, BEN, False, True, True),     # low
    sample(4, BEN, False, False, False),   # none
    # Ana's burst: 0 counts, 1 and 2 fall in its 3 s window, 3.5 is past it and counts.
    reaction("re-1", 0), reaction("re-2", 1, kind="heart"), reaction("re-3", 2), reaction("re-4", 3.5, kind="wow"),
    reaction("re-ben", 1, user=BEN, kind="smile"),
    {"id": "c-1", "type": "chat", "time": at(6), "session": "main", "user": ANA, "text": "Hello all"},
    {"id": "c-2", "type": "chat", "time": at(7), "session": "main", "user": BEN, "text": "Hi Ana", "reply_to": "c-1",
     "likes": 2},
    {"id": "c-3", "type": "chat", "time": at(21), "session": "breakout-a", "user": ANA, "text": "oops",
     "deleted": True, "sub_context": "breakout"},
    {"id": "q-1", "type": "qa", "time": at(12), "session": "main", "user": BEN, "state": "owned", "owner": HOST},
    {"id": "h-1", "type": "raised_hand", "time": at(13), "session": "main", "user": BEN},
    {"id": "poll-1", "type": "interaction", "time": at(15), "session": "main", "kind": "poll",
     "question": "Best week?", "options": ["1", "2", "3"]},
    {"id": "quiz-1", "type": "interaction", "time": at(16), "session": "main", "kind": "quiz",
     "question": "2 + 2?", "options": ["3", "4"], "correct": "4"},
    {"id": "open-1", "type": "interaction", "time": at(17), "session": "main", "kind": "open",
     "question": "Anything unclear?"},
    {"id": "a-1", "type": "answer", "time": at(15, 20), "interaction": "poll-1", "user": ANA, "option": "2"},
    {"id": "a-2", "type": "answer", "time": at(15, 30), "interaction": "poll-1", "user": BEN, "option": "3"},
    {"id": "a-3", "type": "answer", "time": at(16, 10), "interaction": "quiz-1", "user": BEN, "option": "4"},
    {"id": "a-4", "type": "answer", "time": at(17, 40), "interaction": "open-1", "user": ANA, "text": "Slide 4"},
    {"id": "d-1", "type": "download", "time": at(18), "session": "main", "user": BEN, "name": "slides.pdf"},
    {"id": "rsvp-1", "type": "rsvp", "time": "2026-10-01T08:00:00Z", "room": "room-1", "user": BEN,
     "name": "Ben Ortiz", "title": "Student", "company": "State U", "email": "ben@example.edu", "country": "us",
     "role": "Learner", "industry": "Education"},
]


@pytest.fixture
def auth(registration):
    _token, secret = tokens.create(registration.id, "tests")
    return {"Authorization": f"Bearer {secret}"}


def post(client, auth, events):
    return client.post("/api/v1/room-events", json={"version": 1, "events": events}, headers=auth)


def counts(db) -> tuple[int, ...]:
    return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in TABLES)


EMPTY = (0,) * len(TABLES)


def person_id(db, ref: str) -> int:
    from lti_tool.ingest.people import resolve

    return resolve(db.session.scalar(select(Room.registration_id)), {ref})[ref]


def test_a_session_is_stored(client, db, auth):
    response = post(client, auth, SESSION)
    assert response.status_code == 200, response.text
    assert response.get_json() == {"accepted": len(SESSION), "duplicates": 0, "throttled": 2}
    assert counts(db) == (1, 2, 5, 5, 5, 3, 1, 1, 3, 4, 1, 1, 3)

    room = db.session.scalar(select(Room))
    main, breakout = (db.session.scalar(select(RoomSession).where(RoomSession.external_id == key))
                      for key in ("main", "breakout-a"))
    assert room.name == "Week 1 live class" and main.room_id == breakout.room_id == room.id
    assert (main.started_at, main.ended_at, main.name) == (utc(0), utc(50), "Monday class")
    assert main.host_person_id == person_id(db, HOST) and main.parent_session_id is None
    assert breakout.parent_session_id == main.id and breakout.initiator_person_id == person_id(db, HOST)

    stays = {a.event_key: (a.person_id, a.joined_at, a.left_at, a.mode) for a in db.session.scalars(select(Attendance))}
    assert stays["j-ana"] == (person_id(db, ANA), utc(1), utc(45), "live")
    assert stays["j-ben"][2] == utc(40)
    assert stays["j-anon"][0] is None and stays["j-anon"][2] is None
    assert stays["j-ana-rec"][3] == "recording"

    levels = dict(db.session.execute(select(EngagementSample.event_key, EngagementSample.level)).all())
    assert levels == {"eng-0": "high", "eng-1": "good", "eng-2": "fair", "eng-3": "low", "eng-4": "none"}

    reactions = dict(db.session.execute(select(Reaction.event_key, Reaction.throttled)).all())
    assert reactions == {"re-1": False, "re-2": True, "re-3": True, "re-4": False, "re-ben": False}

    reply = db.session.scalar(select(ChatMessage).where(ChatMessage.event_key == "c-2"))
    assert (reply.text, reply.reply_to, reply.likes, reply.deleted, reply.sub_context) == (
        "Hi Ana", "c-1", 2, False, None)
    removed = db.session.scalar(select(ChatMessage).where(ChatMessage.event_key == "c-3"))
    assert removed.deleted and removed.sub_context == "breakout" and removed.session_id == breakout.id

    thread = db.session.scalar(select(QaThread))
    assert (thread.state, thread.owner_person_id, thread.person_id) == (
        "owned", person_id(db, HOST), person_id(db, BEN))
    assert db.session.scalar(select(RaisedHand.person_id)) == person_id(db, BEN)

    quiz = db.session.scalar(select(Interaction).where(Interaction.external_id == "quiz-1"))
    assert (quiz.kind, quiz.options, quiz.correct_option, quiz.launched_at) == ("quiz", ["3", "4"], "4", utc(16))
    answers = {a.event_key: (a.option, a.text) for a in db.session.scalars(select(InteractionAnswer))}
    assert answers == {"a-1": ("2", None), "a-2": ("3", None), "a-3": ("4", None), "a-4": (None, "Slide 4")}

    assert db.session.scalar(select(AttachmentDownload.name)) == "slides.pdf"
    rsvp = db.session.scalar(select(Rsvp))
    assert (rsvp.name, rsvp.company, rsvp.country, rsvp.person_id) == ("Ben Ortiz", "State U", "US", person_id(db, BEN))


def test_resending_the_session_changes_nothing(client, db, auth):
    assert post(client, auth, SESSION).status_code == 200
    before = counts(db)
    again = post(client, auth, SESSION)
    assert again.get_json() == {"accepted": 0, "duplicates": len(SESSION), "throttled": 0}
    assert counts(db) == before


def test_duplicates_inside_one_batch_count_once(client, db, auth):
    response = post(client, auth, SESSION[:4] + SESSION[3:4])
    assert response.get_json() == {"accepted": 4, "duplicates": 1, "throttled": 0}


def test_the_throttle_does_not_depend_on_arrival_order(client, db, auth):
    assert post(client, auth, SESSION[:2]).status_code == 200
    burst = [reaction(f"b-{n}", second) for n, second in enumerate((0, 0.5, 2.9, 3.0, 4, 6.5, 6.9))]
    throttled = 0
    for event in reversed(burst):
        throttled += post(client, auth, [event]).get_json()["throttled"]
    flags = dict(db.session.execute(select(Reaction.event_key, Reaction.throttled)).all())
    # Counted: 0, 3.0 (a full window later) and 6.5; the rest fall inside a counted one's window.
    assert [key for key, value in sorted(flags.items()) if not value] == ["b-0", "b-3", "b-5"]
    # A response reports the reactions it brought; arriving newest first, each one counted when it came
    # (those it pushed into throttled were stored earlier), so no response reported one.
    assert throttled == 0


def test_the_window_is_configurable(client, db, auth, app, monkeypatch):
    monkeypatch.setitem(app.config, "REACTION_THROTTLE_SECONDS", 1)
    response = post(client, auth, SESSION[:2] + [reaction("x-1", 0), reaction("x-2", 0.5), reaction("x-3", 1)])
    assert response.get_json()["throttled"] == 1


def test_a_later_batch_adds_to_a_stored_session(client, db, auth):
    assert post(client, auth, SESSION[:4]).status_code == 200
    later = [{"id": "main", "type": "session", "room": "room-1", "start": at(0), "end": at(55)},
             {"id": "l-ana", "type": "leave", "time": at(45), "join": "j-ana"},
             {"id": "poll-9", "type": "interaction", "time": at(15), "session": "main", "kind": "rating",
              "question": "Rate it", "options": ["1", "2", "3", "4", "5"]}]
    assert post(client, auth, later).get_json() == {"accepted": 3, "duplicates": 0, "throttled": 0}
    assert post(client, auth, [{"id": "a-9", "type": "answer", "time": at(15, 5), "interaction": "poll-9",
                                "user": BEN, "option": "5"}]).status_code == 200
    main = db.session.scalar(select(RoomSession).where(RoomSession.external_id == "main"))
    assert main.ended_at == utc(55) and main.host_person_id == person_id(db, HOST)  # a field not sent is kept
    assert db.session.scalar(select(Attendance.left_at)) == utc(45)


def base(event_type: str) -> dict:
    return next(dict(e) for e in SESSION if e["type"] == event_type)


BAD_EVENTS = [
    ({**base("room"), "course": "7"}, "course must be an integer"),
    ({**base("room"), "color": "red"}, "unknown field(s) for room: color"),
    ({**base("session"), "start": "yesterday"}, "is not ISO 8601"),
    ({**base("session"), "end": at(0), "start": at(5)}, "end is before start"),
    ({k: v for k, v in base("session").items() if k != "room"}, "room is required for session"),
    ({**base("session"), "id": "solo", "initiator": HOST, "parent": None}, "initiator is only for a breakout"),
    ({**base("join"), "mode": "vod"}, "mode must be one of live, recording"),
    ({**base("join"), "user": "nobody"}, "user must look like"),
    ({**base("leave"), "time": at(0, 30)}, "leaves before it joined"),
    ({k: v for k, v in base("leave").items() if k != "join"}, "join is required for leave"),
    ({**sample(5, ANA, True, True, True), "sound_on": "yes"}, "sound_on must be true or false"),
    ({**sample(5, ANA, True, True, True), "seconds": 0}, "seconds must be between"),
    ({k: v for k, v in sample(5, ANA, True, True, True).items() if k != "user"}, "user is required for engagement"),
    (reaction("re-9", 0, kind="laugh"), "kind must be one of clap, heart, think, wow, smile"),
    ({**base("chat"), "text": 5}, "text must be a string"),
    ({**base("chat"), "text": "x" * 10_001}, "longer than 10000"),
    ({**base("chat"), "likes": -1}, "likes must be an integer"),
    ({**base("qa"), "state": "open"}, "state must be one of pending, owned, resolved, done"),
    ({**base("raised_hand"), "time": "2026-10-05T10:00:00"}, "has no time zone"),
    ({**base("interaction"), "kind": "survey"}, "kind must be one of poll, quiz"),
    ({**base("interaction"), "options": ["only"]}, "needs at least two options"),
    ({**base("interaction"), "options": ["a", "a"]}, "options must differ"),
    ({**base("interaction"), "correct": "1"}, "only a quiz question has a correct option"),
    ({**base("answer"), "text": "also"}, "either option or text"),
    ({**base("answer"), "option": "7"}, "option is not one of the interaction's options"),
    ({**base("answer"), "interaction": "nope"}, "interaction 'nope' is unknown"),
    ({**base("download"), "name": None}, "name is required for download"),
    ({**base("rsvp"), "country": "USA"}, "longer than 2"),
    ({**base("rsvp"), "email": ["a"]}, "email must be a string"),
    ({**base("raised_hand"), "session": "elsewhere"}, "session 'elsewhere' is unknown"),
    ({**base("session"), "id": "b2", "parent": "ghost"}, "parent session 'ghost' is unknown"),
    ({**base("room"), "course": 999_999}, "is not a course of this registration"),
    ({"id": "x", "type": "teleport"}, "type must be one of room, session"),
    ({"type": "room"}, "id is required"),
    ("an event", "must be a JSON object"),
]


@pytest.mark.parametrize("bad, reason", BAD_EVENTS, ids=[reason for _, reason in BAD_EVENTS])
def test_a_bad_event_rejects_the_whole_batch(client, db, auth, bad, reason):
    response = post(client, auth, SESSION + [bad])
    assert response.status_code == 400, response.text
    body = response.get_json()
    assert body["error"] == "the batch was rejected; nothing was stored"
    assert body["errors"][0]["index"] == len(SESSION) and reason in body["errors"][0]["reason"], body
    assert counts(db) == EMPTY


def test_every_event_type_has_a_bad_case():
    covered = {bad.get("type") for bad, _ in BAD_EVENTS if isinstance(bad, dict)}
    assert covered >= {e["type"] for e in SESSION}


@pytest.mark.parametrize("body, reason", [
    ({"events": SESSION}, '"version": 1'),
    ({"version": 2, "events": SESSION}, '"version": 1'),
    ({"version": 1, "events": SESSION, "more": 1}, '"version": 1'),
    ({"version": 1, "events": []}, "non-empty list"),
    ({"version": 1, "events": {"a": 1}}, "non-empty list"),
    ({"version": 1, "events": [SESSION[0]] * 5001}, "at most 5000"),
    ([1, 2], '"version": 1'),
])
def test_malformed_batches(client, db, auth, body, reason):
    response = client.post("/api/v1/room-events", json=body, headers=auth)
    assert response.status_code == 400 and reason in response.get_json()["errors"][0]["reason"]
    assert counts(db) == EMPTY


def test_not_json_and_oversized(client, db, auth, app):
    headers = {**auth, "Content-Type": "application/json"}
    assert client.post("/api/v1/room-events", data="{nope", headers=headers).status_code == 400
    assert client.post("/api/v1/room-events", data="version=1", headers=auth).status_code == 415
    body = b'{"version": 1, "events": [' + b'"x",' * (app.config["INGEST_MAX_BYTES"] // 4) + b'"x"]}'
    response = client.post("/api/v1/room-events", data=body, headers=headers)
    assert response.status_code == 413 and "larger than" in response.get_json()["error"]
    assert counts(db) == EMPTY


@pytest.mark.parametrize("header, reason", [(None, "missing bearer token"), ("Bearer mat_nope", "unknown token")])
def test_missing_or_unknown_token_is_401(client, db, registration, header, reason):
    headers = {"Authorization": header} if header else {}
    response = client.post("/api/v1/room-events", json={"version": 1, "events": SESSION}, headers=headers)
    assert response.status_code == 401 and reason in response.get_json()["error"]
    assert counts(db) == EMPTY


def test_revoked_token_is_401(client, db, registration):
    token, secret = tokens.create(registration.id)
    tokens.revoke(token.id)
    response = client.post("/api/v1/room-events", json={"version": 1, "events": SESSION},
                           headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401 and "revoked" in response.get_json()["error"]
    assert counts(db) == EMPTY


def test_the_documented_example_is_accepted(client, db, auth):
    doc = client.get("/api/v1/openapi.json").get_json()
    example = doc["paths"]["/room-events"]["post"]["requestBody"]["content"]["application/json"]["example"]
    response = client.post("/api/v1/room-events", json=example, headers=auth)
    assert response.get_json() == {"accepted": len(example["events"]), "duplicates": 0, "throttled": 0}
