"""`flask demo seed` also fills each demo course's live rooms: sessions a real class would leave behind,
written through the room feed's ingest, the same for a seed on SQLite and PostgreSQL, never twice."""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from lti_tool.extensions import db as _db
from lti_tool.models import (
    Attendance, AttachmentDownload, BreakoutParticipant, ChatConnection, ChatMessage, Course, EngagementSample,
    Enrollment, Interaction, InteractionAnswer, MediaEntry, Person, Play, QaThread, RaisedHand, Reaction, Room,
    RoomMessage, RoomSession, Rsvp,
)
from lti_tool.models.rooms import INTERACTION_KINDS, QA_STATES, REACTION_KINDS

from ..rooms.test_room_page import card
from ..support.clients import session_token
from ..test_devplatform import BASE, demo_launch
from .test_seed import TODAY, run_command, sqlite_app

# A small semester of media viewing: the rooms are the same whatever --events says.
ROOM_SEED_ARGS = ["demo", "seed", "--seed", "7", "--events", "400", "--today", TODAY]
ROOM_TABLES = (Room, RoomSession, BreakoutParticipant, Attendance, EngagementSample, Reaction, ChatMessage,
               ChatConnection, RoomMessage, QaThread, RaisedHand, Interaction, InteractionAnswer, AttachmentDownload,
               Rsvp)


def seed(app_or_runner) -> str:
    return run_command(app_or_runner, ROOM_SEED_ARGS)


def room_numbers(output: str) -> dict[str, int]:
    """What the command prints about the rooms."""
    rooms = re.search(r"^rooms\s+(\d+): (\d+) sessions .*, (\d+) breakout rooms", output, re.M)
    events = re.search(r"^room events (\d+): (\d+) accepted, (\d+) duplicates, (\d+) reactions throttled", output, re.M)
    recordings = re.search(r"^recordings\s+(\d+) \((\d+) later viewings, (\d+) player events, (\d+) new\)",
                           output, re.M)
    assert rooms and events and recordings, output
    return dict(zip(("rooms", "sessions", "breakouts"), map(int, rooms.groups()))) | dict(
        zip(("events", "accepted", "duplicates", "throttled"), map(int, events.groups()))) | dict(
        zip(("recordings", "viewings", "player_events", "player_accepted"), map(int, recordings.groups())))


def table_counts(session) -> dict[str, int]:
    return {m.__name__: session.scalar(select(func.count()).select_from(m)) for m in ROOM_TABLES}


def sessions_fingerprint(session) -> list[tuple]:
    """Every session as the room page lists it, without the database's own ids."""
    return session.execute(
        select(Room.external_id, Room.name, RoomSession.external_id, RoomSession.name, RoomSession.started_at,
               RoomSession.ended_at, RoomSession.parent_session_id.is_(None))
        .join(Room, Room.id == RoomSession.room_id).order_by(RoomSession.external_id)).all()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """One SQLite demo with its rooms, seeded once, shared by the tests that only read it."""
    app = sqlite_app(tmp_path_factory.mktemp("rooms") / "demo.sqlite3")
    return app, seed(app)


@pytest.fixture
def session(seeded):
    app, _output = seeded
    with app.app_context():
        yield _db.session


# ── What a semester of rooms holds ──────────────────────────────────────────────────────────────

def test_each_course_has_a_lecture_room_and_office_hours_with_sessions_over_the_semester(seeded, session):
    _app, output = seeded
    numbers = room_numbers(output)
    assert numbers["rooms"] == 4 and numbers["breakouts"] == 4 and numbers["sessions"] >= 8
    assert numbers["accepted"] == numbers["events"] and numbers["duplicates"] == 0

    courses = {c.id: c.label for c in session.scalars(select(Course))}
    rooms = session.scalars(select(Room)).all()
    assert sorted((courses[r.course_id], r.name) for r in rooms) == [
        ("BIO-101", "Live lecture"), ("BIO-101", "Office hours"), ("HIST-210", "Live lecture"),
        ("HIST-210", "Office hours")]
    assert all(r.live_entry_id is not None and r.created_at.date() < min(s.started_at.date() for s in
               session.scalars(select(RoomSession).where(RoomSession.room_id == r.id))) for r in rooms)

    teacher = session.scalar(select(Person.id).where(Person.name == "Ada Palmer"))
    mains = session.scalars(select(RoomSession).where(RoomSession.parent_session_id.is_(None))).all()
    assert len(mains) == numbers["sessions"]
    for one in mains:
        assert re.fullmatch(r"Week \d+ · .+", one.name)
        assert one.host_person_id == teacher and one.recording_entry_id is not None
        assert timedelta(minutes=40) <= one.ended_at - one.started_at <= timedelta(minutes=90)
    weeks = {int(re.match(r"Week (\d+)", s.name).group(1)) for s in mains}
    assert len(weeks) >= 4 and max(weeks) - min(weeks) >= 8  # spread over the semester
    assert "Week 10 · Mendelian genetics" in {s.name for s in mains}


def test_students_of_the_roster_attend_like_a_real_class(session):
    lectures = session.execute(
        select(RoomSession, Room.course_id).join(Room, Room.id == RoomSession.room_id)
        .where(Room.name == "Live lecture", RoomSession.parent_session_id.is_(None))).all()
    staff_and_students = defaultdict(dict)
    for person_id, course_id, label in session.execute(
            select(Enrollment.person_id, Enrollment.course_id, Enrollment.role_label)):
        staff_and_students[course_id][person_id] = label
    late = early = reconnects = 0
    for lecture, course_id in lectures:
        stays = session.execute(select(Attendance.person_id, Attendance.joined_at, Attendance.left_at)
                                .where(Attendance.session_id == lecture.id, Attendance.mode == "live")).all()
        roster = {p for p, label in staff_and_students[course_id].items() if label == "Student"}
        attendees = {p for p, _joined, _left in stays}
        assert attendees <= set(staff_and_students[course_id])  # only the course's people
        # A 30-student class has 20 to 28 live attendees: two thirds to 93 % of the roster.
        assert 0.6 * len(roster) <= len(attendees & roster) <= 0.95 * len(roster)
        per_person = Counter(p for p, _joined, _left in stays)
        reconnects += sum(1 for n in per_person.values() if n == 2)
        late += sum(1 for _p, joined, _left in stays if joined > lecture.started_at + timedelta(minutes=5))
        early += sum(1 for _p, _joined, left in stays if left < lecture.ended_at - timedelta(minutes=5))
    assert late >= len(lectures) * 3 and early >= len(lectures) * 2 and reconnects >= len(lectures) // 2
    office = session.execute(select(RoomSession.id).join(Room, Room.id == RoomSession.room_id)
                             .where(Room.name == "Office hours", RoomSession.parent_session_id.is_(None))).scalars()
    for one in office:
        assert 2 <= session.scalar(select(func.count(func.distinct(Attendance.person_id)))
                                   .where(Attendance.session_id == one)) <= 15


def test_engagement_is_sampled_every_30_s_with_a_dip_mid_session(session):
    samples = session.execute(select(EngagementSample.level, EngagementSample.interval_seconds,
                                     EngagementSample.at, RoomSession.started_at, RoomSession.ended_at)
                              .join(RoomSession, RoomSession.id == EngagementSample.session_id)
                              .where(RoomSession.parent_session_id.is_(None))).all()
    assert {s.interval_seconds for s in samples} == {30.0}
    assert set(Counter(s.level for s in samples)) == {"high", "good", "fair", "low", "none"}
    engaged, sampled = Counter(), Counter()
    for level, seconds, at, started, ended in samples:
        part = min(2, int(3 * (at - started) / (ended - started)))  # first, middle or last third
        sampled[part] += seconds
        engaged[part] += seconds if level in ("high", "good") else 0
    rates = [engaged[p] / sampled[p] for p in range(3)]
    assert rates[1] < rates[0] - 0.05 and rates[1] < rates[2]
    # People differ: some are mostly engaged, some mostly not.
    by_person = defaultdict(lambda: [0.0, 0.0])
    for person_id, level, seconds in session.execute(
            select(EngagementSample.person_id, EngagementSample.level, EngagementSample.interval_seconds)):
        by_person[person_id][0] += seconds if level in ("high", "good") else 0
        by_person[person_id][1] += seconds
    person_rates = [e / s for e, s in by_person.values()]
    assert min(person_rates) < 0.35 and max(person_rates) > 0.8


def test_reactions_chat_qa_hands_and_downloads(session):
    reactions = session.execute(select(Reaction.kind, Reaction.throttled)).all()
    assert {kind for kind, _throttled in reactions} == set(REACTION_KINDS)
    throttled = sum(1 for _kind, t in reactions if t)
    assert 0 < throttled < len(reactions) / 4  # bursts of fast clicks, most reactions count

    chat = session.scalars(select(ChatMessage)).all()
    assert sum(1 for c in chat if c.reply_to) >= 10 and sum(1 for c in chat if c.likes) >= 10
    assert 1 <= sum(1 for c in chat if c.deleted) <= len(chat) / 20
    assert {c.sub_context for c in chat} == {None, "qa", "breakout"}
    keys = {c.event_key for c in chat}
    assert all(c.reply_to in keys for c in chat if c.reply_to)

    staff = set(session.scalars(select(Enrollment.person_id).where(Enrollment.role_label.in_(("Teacher", "TA")))))
    threads = session.execute(select(QaThread.state, QaThread.owner_person_id)).all()
    assert {state for state, _owner in threads} == set(QA_STATES)
    assert all((owner is None) == (state == "pending") for state, owner in threads)
    assert {owner for _state, owner in threads if owner} <= staff

    assert session.scalar(select(func.count(RaisedHand.id))) >= 10
    downloads = Counter(session.scalars(select(AttachmentDownload.name)))
    assert any(n.endswith("slides.pdf") for n in downloads) and any(n.endswith("worksheet.pdf") for n in downloads)


def test_interactions_of_every_kind_answered_by_most_attendees(session):
    interactions = session.scalars(select(Interaction)).all()
    assert {i.kind for i in interactions} == set(INTERACTION_KINDS)
    for one in interactions:
        answers = session.execute(select(InteractionAnswer.person_id, InteractionAnswer.option, InteractionAnswer.text)
                                  .where(InteractionAnswer.interaction_id == one.id)).all()
        present = session.scalar(select(func.count(func.distinct(Attendance.person_id))).where(
            Attendance.session_id == one.session_id, Attendance.joined_at <= one.launched_at,
            Attendance.left_at > one.launched_at))
        answering = {person for person, _option, _text in answers}
        assert len(answering) >= 0.5 * (present - 3), one.question  # the teacher and TAs do not answer
        if one.kind == "open":
            assert one.options == [] and all(text and option is None for _p, option, text in answers)
        else:
            assert {option for _p, option, _text in answers} <= set(one.options)
        if one.kind == "quiz":
            assert one.correct_option in one.options
            right = sum(1 for _p, option, _t in answers if option == one.correct_option)
            assert 0.4 * len(answers) <= right < len(answers)  # most get it right, not everyone
        if one.kind == "rating":
            assert one.options == ["1", "2", "3", "4", "5"]
        if one.kind == "crowd_vote":
            assert len(answers) > len(answering)  # several options per voter


def test_rsvps_messages_connections_and_where_people_joined_from(session):
    for room in session.scalars(select(Room).where(Room.name == "Live lecture")):
        rsvps = session.scalars(select(Rsvp).where(Rsvp.room_id == room.id)).all()
        students = session.scalar(select(func.count(Enrollment.id)).where(
            Enrollment.course_id == room.course_id, Enrollment.role_label == "Student"))
        assert len(rsvps) >= 0.7 * students
        assert all(r.name and r.title and r.company and r.email and r.country and r.role and r.industry
                   for r in rsvps)
        assert {r.role for r in rsvps} == {"Host", "Moderator", "Viewer"}
        assert len({r.company for r in rsvps}) > 2

    messages = session.scalars(select(RoomMessage)).all()
    assert {m.kind for m in messages} == {"moderator", "private"}
    assert all(m.recipient_person_id and m.creator_person_id and m.text and m.state for m in messages)
    assert any(m.labels for m in messages if m.kind == "moderator")

    stays = session.scalar(select(func.count(Attendance.id)))
    assert session.scalar(select(func.count(ChatConnection.id))) == stays
    countries = Counter(session.scalars(select(Attendance.country)))
    assert countries.most_common(1)[0][0] == "US" and len(countries) >= 3 and None not in countries
    devices = set(session.scalars(select(Attendance.device_type)))
    assert {"desktop", "mobile"} <= devices


def test_breakout_rooms_have_participants_stays_and_chat(session):
    breakouts = session.scalars(select(RoomSession).where(RoomSession.parent_session_id.isnot(None))).all()
    assert len(breakouts) == 4 and len({b.parent_session_id for b in breakouts}) == 2
    teacher = session.scalar(select(Person.id).where(Person.name == "Ada Palmer"))
    for breakout in breakouts:
        parent = session.get(RoomSession, breakout.parent_session_id)
        assert parent.started_at < breakout.started_at < breakout.ended_at < parent.ended_at
        assert breakout.initiator_person_id == teacher and breakout.name.startswith("Breakout room")
        participants = set(session.scalars(select(BreakoutParticipant.person_id)
                                           .where(BreakoutParticipant.session_id == breakout.id)))
        stayed = set(session.scalars(select(Attendance.person_id).where(Attendance.session_id == breakout.id)))
        assert len(participants) >= 10 and stayed == participants
        assert session.scalar(select(func.count(ChatMessage.id)).where(
            ChatMessage.session_id == breakout.id, ChatMessage.sub_context == "breakout")) >= 3
        assert session.scalar(select(func.count(EngagementSample.id))
                              .where(EngagementSample.session_id == breakout.id)) > 0


def test_every_session_has_a_recording_some_watch_later(session):
    sessions = session.scalars(select(RoomSession).where(RoomSession.parent_session_id.is_(None))).all()
    recordings = {s.recording_entry_id: s for s in sessions}
    assert len(recordings) == len(sessions)
    entries = session.scalars(select(MediaEntry).where(MediaEntry.id.in_(recordings))).all()
    assert all(e.described and e.name.endswith("(recording)") and e.duration_seconds for e in entries)
    plays = session.execute(select(Play.entry_id, Play.started_at, Play.person_id)
                            .where(Play.entry_id.in_(recordings))).all()
    assert len(plays) >= len(sessions) // 2 and all(person for _e, _at, person in plays)
    assert all(started > recordings[entry].ended_at for entry, started, _person in plays)


# ── The same for a seed, anywhere; another seed has its own ──────────────────────────────────────

def test_same_seed_gives_the_same_rooms_on_sqlite_and_postgresql(seeded, db, runner):
    app, output = seeded
    assert runner.invoke(args=["demo", "setup", "--base-url", BASE]).exit_code == 0
    output_pg = seed(runner)
    assert room_numbers(output_pg) == room_numbers(output)
    pg = table_counts(db.session), sessions_fingerprint(db.session)
    with app.app_context():
        assert pg == (table_counts(_db.session), sessions_fingerprint(_db.session))


def test_another_seed_makes_rooms_and_events_of_its_own():
    from lti_tool.devplatform.rooms_seed import SessionSimulator, plan_rooms
    from lti_tool.devplatform.seed import plan_world

    def planned(seed_value):
        world = plan_world(seed_value, date.fromisoformat(TODAY))
        rooms = plan_rooms(world, {"bio101": 1, "hist210": 2})
        teacher = next(p for p in world.people if p.key == "teacher")
        room, sessions = rooms[0]
        events = SessionSimulator(world, sessions[0], world.enrolled(room.course_key, "student"), teacher,
                                  world.enrolled(room.course_key, "ta")).run()
        ids = {r.external_id for r, _s in rooms} | {s.external_id for _r, ss in rooms for s in ss}
        return ids | {s.recording for _r, ss in rooms for s in ss}, events

    ids_7, events_7 = planned(7)
    ids_8, events_8 = planned(8)
    assert planned(7)[1] == events_7  # the same seed, the same events
    assert not ids_7 & ids_8
    assert not {e["id"] for e in events_7} & {e["id"] for e in events_8}


# ── On the room page ────────────────────────────────────────────────────────────────────────────

def test_the_teacher_sees_a_seeded_room_with_its_numbers(seeded):
    app, _output = seeded
    client = app.test_client()
    page = demo_launch(client, "teacher")
    headers = {"X-Session-Token": session_token(page.text)}
    with app.app_context():
        course = _db.session.scalar(select(Course).where(Course.label == "BIO-101"))
        room = _db.session.scalar(select(Room).where(Room.course_id == course.id, Room.name == "Live lecture"))
        lecture = _db.session.scalar(select(RoomSession).where(RoomSession.room_id == room.id,
                                                               RoomSession.name == "Week 10 · Mendelian genetics"))
        course_id, room_id, session_id = course.id, room.external_id, lecture.external_id
    listing = client.get(f"{BASE}/courses/{course_id}/rooms/", headers=headers)
    assert listing.status_code == 200 and "Live lecture" in listing.text and "Office hours" in listing.text
    response = client.get(f"{BASE}/courses/{course_id}/rooms/{room_id}/?session={session_id}", headers=headers)
    assert response.status_code == 200
    html = response.text
    assert 40 <= int(card(html, "Unique viewers")) <= 75
    for label in ("Live engagement rate", "Sent live reactions", "Sent messages on group chat",
                  "Participation in polls", "Q&amp;A threads created", "Attachments downloaded"):
        value = card(html, label)
        assert value.endswith("%") and 0 < float(value[:-1]) <= 100, (label, value)
    assert "Week 10 · Mendelian genetics" in html


def test_a_second_run_adds_no_room_event(seeded, session):
    app, _output = seeded
    before, sessions_before = table_counts(session), sessions_fingerprint(session)
    again = room_numbers(seed(app))
    assert again["accepted"] == 0 and again["duplicates"] == again["events"] > 0
    assert again["player_accepted"] == 0
    session.expire_all()
    assert table_counts(session) == before and sessions_fingerprint(session) == sessions_before
