"""Custom room reports: every report's columns and rows on the hand-computed room session
(tests/rooms/test_room_analytics.py) extended with moderator and private messages, chat connections,
Q&A owners, a host, a breakout initiator and participants; each filter; empty results; bad input."""
from __future__ import annotations

import csv
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from lti_tool.exports import custom
from lti_tool.ingest import tokens
from lti_tool.models import Course, Person, PersonAlias

from ..rooms.test_room_analytics import ANA, BEN, CAL, DAN, at, loaded  # noqa: F401  (loaded: the fixture)

TEA, GUEST = "sub:tea", "sub:guest"
OCTOBER = {"timeframe": "custom", "from": "2026-10-01", "to": "2026-10-31"}
NAMES = {  # subject: (name, given, family, email)
    "ana": ("Ana Lima", "Ana", "Lima", "ana@example.edu"), "ben": ("Ben Ortiz", "Ben", "Ortiz", "ben@example.edu"),
    "cal": (None, "Cal", "Reyes", None), "tea": ("Teresa Alves", "Teresa", "Alves", "tea@example.edu"),
}


def extra_events(course_id: int, other_course_id: int) -> list[dict]:
    """What the room analytics fixture leaves out, none of it changing its overview numbers."""
    def message(key, minute, sender, recipient, kind, text, *, second=0, creator=None, state=None, labels=None,
                external=False):
        event = {"id": key, "type": "message", "time": at(minute, second), "session": "main", "user": sender,
                 "recipient": recipient, "kind": kind, "text": text, "external": external}
        return event | {k: v for k, v in (("creator", creator), ("state", state), ("labels", labels)) if v}

    return [
        {"id": "room-1", "type": "room", "course": course_id},
        # Ana hosts the main session; the teacher opened the breakout room for Ana and Cal (Cal never joined).
        {"id": "main", "type": "session", "room": "room-1", "start": at(0), "host": ANA},
        {"id": "br", "type": "session", "room": "room-1", "start": at(5), "parent": "main", "name": "Breakout room 1",
         "initiator": TEA, "participants": [ANA, CAL]},
        # Q&A: q-1 (Ben, pending) is in the fixture; Ben owns a resolved thread, the teacher an owned and a done one.
        {"id": "q-2", "type": "qa", "time": at(5), "session": "main", "user": CAL, "state": "resolved", "owner": BEN},
        {"id": "q-3", "type": "qa", "time": at(6), "session": "main", "user": ANA, "state": "owned", "owner": TEA},
        {"id": "q-4", "type": "qa", "time": at(7), "session": "main", "user": ANA, "state": "done", "owner": TEA},
        # Group chat: Ben answers Ana's "Hi" (2 likes) and writes something a spreadsheet would run, deleted.
        {"id": "c-4", "type": "chat", "time": at(7), "session": "main", "user": BEN, "text": "Thanks!",
         "reply_to": "c-1", "likes": 2},
        {"id": "c-5", "type": "chat", "time": at(9), "session": "main", "user": BEN, "text": '=HYPERLINK("x")',
         "deleted": True},
        # A moderator conversation Ben started, answered by the teacher; private messages, one pair external.
        message("m-1", 3, BEN, TEA, "moderator", "Can you share the slides?", second=30, creator=BEN,
                state="answered", labels=["slides", "urgent"]),
        message("m-2", 8, TEA, BEN, "moderator", "Posted in the chat", second=30, creator=BEN, state="read",
                labels=["slides"]),
        message("m-3", 3, ANA, BEN, "private", "See you later", state="read"),
        message("m-4", 4, ANA, GUEST, "private", "Welcome", external=True),
        message("m-5", 4, GUEST, ANA, "private", "Thanks", second=30, external=True),
        {"id": "k-1", "type": "connection", "time": at(0, 40), "session": "main", "user": ANA},
        {"id": "k-2", "type": "connection", "time": at(5, 5), "session": "main", "user": ANA},
        {"id": "k-3", "type": "connection", "time": at(2, 5), "session": "main", "user": BEN},
        {"id": "k-4", "type": "connection", "time": at(0, 5), "session": "main", "user": TEA},
        {"id": "rsvp-gil", "type": "rsvp", "time": at(0, day=3), "room": "room-1", "name": "Gil de la Cruz",
         "email": "gil@example.org", "company": "Acme"},
        # Another course's room on the same day: never in these reports.
        {"id": "room-x", "type": "room", "name": "Other course", "course": other_course_id},
        {"id": "x-main", "type": "session", "room": "room-x", "start": at(0), "end": at(10), "host": BEN},
        {"id": "x-c", "type": "chat", "time": at(1), "session": "x-main", "user": BEN, "text": "Not ours"},
        {"id": "x-j", "type": "join", "time": at(1), "session": "x-main", "user": BEN},
        {"id": "x-rsvp", "type": "rsvp", "time": at(0, day=2), "room": "room-x", "name": "Ben Ortiz", "user": BEN},
    ]


@pytest.fixture
def course(client, db, registration, loaded):  # noqa: F811
    """The fixture's course (holding room-1), with names from Canvas on the people."""
    course = Course(registration_id=registration.id, context_id="course-a", title="Biology 101")
    other = Course(registration_id=registration.id, context_id="course-b", title="History 210")
    db.session.add_all([course, other])
    db.session.commit()
    _token, secret = tokens.create(registration.id, "exports")
    response = client.post("/api/v1/room-events", json={"version": 1, "events": extra_events(course.id, other.id)},
                           headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200, response.text
    for person in db.session.scalars(select(Person).where(Person.subject.in_(NAMES))):
        person.name, person.given_name, person.family_name, person.email = NAMES[person.subject]
    dan = db.session.scalar(select(Person).where(Person.subject == "dan"))
    db.session.add(PersonAlias(registration_id=registration.id, person_id=dan.id, kind="email",
                               value="dan@example.edu"))
    db.session.commit()
    return course


@pytest.fixture
def report(db, registration, course, tmp_path):
    """report(name, **params) -> the CSV's rows, header first (October in UTC unless params say otherwise)."""
    def run(name, **params):
        directory = tmp_path / f"{name}-{len(list(tmp_path.iterdir()))}"
        [path] = custom.write_reports(db.session, registration.id, course.id, [name], OCTOBER | params, directory)
        assert path.name == f"{name}.csv"
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
        assert tuple(rows[0]) == custom.REPORTS[name].columns
        return rows
    return run


def test_the_nine_reports_and_their_columns():
    assert [r.title for r in custom.REPORTS.values()] == [
        "Group Chat Transcripts", "Chat Moderation", "Chat User Activity", "Moderator Transcript", "Polls Activity",
        "Room Data", "Attendees Data", "Breakout Room Sessions", "RSVP"]
    assert custom.REPORTS["rsvp"].columns == ("entry_id", "media name", "first_name", "last_name", "title", "company",
                                              "email", "country", "role", "industry")
    assert custom.REPORTS["chat_user_activity"].columns == (
        "userId", "userEmail", "Connections", "internal received", "internal sent", "external received",
        "external sent")
    assert custom.REPORTS["polls_activity"].columns[:8] == (
        "Context ID", "poll ID", "user ID", "user first name", "user last name", "user email", "question", "type")


def test_group_chat_transcripts(report):
    rows = report("group_chat_transcripts")
    # The main session's messages in time order, then the breakout room's; the other course's never.
    assert rows[1:] == [
        ["ana", "Ana", "Lima", "ana@example.edu", "host", "c-1", "2026-10-05T10:02:00+00:00", "Hi", "", "0", "false",
         ""],
        ["ana", "Ana", "Lima", "ana@example.edu", "host", "c-2", "2026-10-05T10:04:00+00:00", "Question on slide 2", "",
         "0", "false", ""],
        ["ben", "Ben", "Ortiz", "ben@example.edu", "moderator", "c-4", "2026-10-05T10:07:00+00:00", "Thanks!", "c-1",
         "2", "false", ""],
        ["ben", "Ben", "Ortiz", "ben@example.edu", "moderator", "c-5", "2026-10-05T10:09:00+00:00",
         "'=HYPERLINK(\"x\")", "", "0", "true", ""],
        ["ana", "Ana", "Lima", "ana@example.edu", "participant", "c-3", "2026-10-05T10:06:00+00:00", "In the breakout",
         "", "0", "false", "breakout"],
    ]
    # Times in the requested zone.
    assert report("group_chat_transcripts", tz="America/Chicago")[1][6] == "2026-10-05T05:02:00-05:00"


def test_chat_moderation(report):
    rows = report("chat_moderation")
    # Only the main session has threads or moderator messages: pending q-1, owned q-3, resolved q-2, done q-4;
    # Ben's message is a user message, the teacher's answer a moderator message; the last at 10:08:30.
    assert rows[1:] == [["main", "Week 1", "2026-10-05T10:08:30+00:00", "1", "1", "1", "1", "1", "1",
                         "Ben Ortiz; Teresa Alves", "Teresa Alves"]]


def test_chat_user_activity(report):
    rows = report("chat_user_activity")
    assert rows[1:] == [
        # Ana: 2 connections; sent 1 internal (to Ben), 1 external (to the guest); received 1 external.
        ["ana", "ana@example.edu", "2", "0", "1", "1", "1"],
        # Ben: received Ana's private message and the teacher's answer; sent his question.
        ["ben", "ben@example.edu", "1", "2", "1", "0", "0"],
        ["guest", "", "0", "0", "0", "1", "1"],
        ["tea", "tea@example.edu", "1", "1", "1", "0", "0"],
    ]


def test_moderator_transcript(report):
    rows = report("moderator_transcript")
    assert rows[1:] == [
        ["main", "Week 1", "Ben Ortiz", "Ben Ortiz", "ben@example.edu", "Teresa Alves", "tea@example.edu",
         "Can you share the slides?", "2026-10-05T10:03:30+00:00", "answered", "slides; urgent"],
        ["main", "Week 1", "Ben Ortiz", "Teresa Alves", "tea@example.edu", "Ben Ortiz", "ben@example.edu",
         "Posted in the chat", "2026-10-05T10:08:30+00:00", "read", "slides"],
    ]


def test_polls_activity(report):
    rows = report("polls_activity")
    assert len(rows) == 1 + 9  # every answer; the crowd vote's two options by Ana are two rows
    by_key = {(r[1], r[2], r[8]): r for r in rows[1:]}
    assert by_key[("quiz-1", "ben", "4")] == [
        "main", "quiz-1", "ben", "Ben", "Ortiz", "ben@example.edu", "2 + 2?", "quiz", "4", "2026-10-05T10:08:00+00:00",
        "", "", "true", "", "", "", ""]
    assert by_key[("open-1", "ana", "Slide 4")][7:13] == ["open", "Slide 4", "2026-10-05T10:08:00+00:00", "", "", ""]
    assert by_key[("poll-1", "ana", "A")][12] == ""  # "is correct" only for quiz questions
    assert {(r[1], r[8]) for r in rows[1:] if r[2] == "ana" and r[1] == "vote-1"} == {("vote-1", "X"), ("vote-1", "Y")}
    # What our interactions do not record stays empty: visual type and icon, poll group, scheduling.
    assert all(r[10] == r[11] == r[13] == r[14] == r[15] == r[16] == "" for r in rows[1:])


def test_room_data_and_its_filters(report):
    rows = report("room_data")
    # Main session: 4 unique viewers, engagement 2/3 (tests/rooms); the later session: no stays, one "none" sample.
    assert rows[1:] == [
        ["room-1", "Week 1", "2026-10-05T10:00:00+00:00", "2026-10-05T10:10:00+00:00", "ana", "Ana Lima",
         "ana@example.edu", "4", "66.7"],
        ["room-1", "Week 1", "2026-10-12T10:00:00+00:00", "2026-10-12T10:30:00+00:00", "", "", "", "0", "0.0"],
    ]
    assert report("room_data", entry_ids="room-1")[1:] == rows[1:]
    assert report("room_data", entry_ids=["room-x"]) == [list(custom.REPORTS["room_data"].columns)]  # another course


def test_attendees_data_and_its_filters(report):
    rows = report("attendees_data")
    assert rows[1:] == [
        ["ana", "Ana Lima", "ana@example.edu", "host", "8.50", "60.0"],
        ["ben", "Ben Ortiz", "ben@example.edu", "moderator", "9.00", "75.0"],
        ["cal", "Cal Reyes", "", "participant", "3.00", ""],
        ["dan", "Unnamed user", "", "participant", "10.00", ""],
    ]
    assert [r[0] for r in report("attendees_data", user_ids="sub:ben, cal")[1:]] == ["ben", "cal"]
    assert [r[0] for r in report("attendees_data", user_ids=["email:DAN@example.edu"])[1:]] == ["dan"]
    assert report("attendees_data", cue_point_ids="main")[1:] == rows[1:]
    assert report("attendees_data", cue_point_ids="later")[1:] == []
    assert report("attendees_data", entry_ids="room-1", user_ids="sub:nobody")[1:] == []


def test_breakout_room_sessions_and_their_filters(report):
    rows = report("breakout_room_sessions")
    # Opened by the teacher 10:05-10:08; Ana and Cal assigned (Ana joined); Ana's samples there: fair + low.
    assert rows[1:] == [["room-1", "Week 1", "br", "Breakout room 1", "tea", "Teresa Alves",
                         "2026-10-05T10:05:00+00:00", "2026-10-05T10:08:00+00:00", "3.00", "2", "0.0"]]
    assert report("breakout_room_sessions", parentEntryIds="main")[1:] == rows[1:]
    assert report("breakout_room_sessions", parentEntryIds="room-1")[1:] == rows[1:]
    assert report("breakout_room_sessions", parentEntryIds="later")[1:] == []
    assert report("breakout_room_sessions", fromDate="2026-10-05", toDate="2026-10-05")[1:] == rows[1:]
    assert report("breakout_room_sessions", fromDate="2026-10-06")[1:] == []
    assert report("breakout_room_sessions", toDate="2026-10-04")[1:] == []


def test_rsvp(report):
    rows = report("rsvp")
    assert rows[1:] == [
        ["room-1", "Week 1", "Ana", "Lima", "Engineer", "Acme", "ana@example.edu", "BR", "Learner", "Technology"],
        ["room-1", "Week 1", "Ben", "Ortiz", "", "State U", "ben@example.edu", "US", "", "Education"],
        # Nobody we know: the name as typed, not split.
        ["room-1", "Week 1", "Gil de la Cruz", "", "", "Acme", "gil@example.org", "", "", ""],
    ]
    assert [r[2] for r in report("rsvp", **{"from": "2026-10-02"})[1:]] == ["Ben", "Gil de la Cruz"]


def test_timeframe_presets_end_yesterday(db, registration, course, tmp_path):
    def sessions(timeframe, now):
        [path] = custom.write_reports(db.session, registration.id, course.id, ["room_data"], {"timeframe": timeframe},
                                      tmp_path / f"{timeframe}-{now.day}", now=now)
        return [row[2][:10] for row in list(csv.reader(path.open(encoding="utf-8-sig")))[1:]]

    oct_13 = datetime(2026, 10, 13, 12, tzinfo=timezone.utc)
    assert sessions("last7", oct_13) == ["2026-10-12"]                  # Oct 6-12
    assert sessions("last7", datetime(2026, 10, 12, 12, tzinfo=timezone.utc)) == ["2026-10-05"]  # Oct 5-11: not today
    assert sessions("last7", datetime(2026, 10, 20, tzinfo=timezone.utc)) == []    # Oct 13-19
    assert sessions("last30", datetime(2026, 11, 3, tzinfo=timezone.utc)) == ["2026-10-05", "2026-10-12"]
    assert sessions("last120", datetime(2027, 2, 1, tzinfo=timezone.utc)) == ["2026-10-05", "2026-10-12"]
    assert sessions("last365", datetime(2027, 10, 6, tzinfo=timezone.utc)) == ["2026-10-12"]  # Oct 6, 2026 on


def test_every_report_empty_is_headers_only(db, registration, course, tmp_path):
    paths = custom.write_reports(db.session, registration.id, course.id, list(custom.REPORTS),
                                 {"timeframe": "custom", "from": "2025-01-01", "to": "2025-12-31"}, tmp_path)
    assert [p.name for p in paths] == [f"{name}.csv" for name in custom.REPORTS]
    for path, report in zip(paths, custom.REPORTS.values()):
        assert list(csv.reader(path.open(encoding="utf-8-sig"))) == [list(report.columns)]


@pytest.mark.parametrize(("names", "params", "message"), [
    (["room_data", "nope"], {}, "unknown report 'nope'"),
    ([], {}, "choose at least one report"),
    (["room_data"], {"timeframe": "last90"}, "timeframe must be one of"),
    (["room_data"], {"timeframe": "custom", "from": "2026-10-01"}, "needs from and to"),
    (["room_data"], {"timeframe": "custom", "from": "2026-10-01", "to": "2026-13-01"}, "to must be a date"),
    (["room_data"], {"timeframe": "custom", "from": "2026-10-05", "to": "2026-10-01"}, "ends before it starts"),
    (["room_data"], {"tz": "Mars/Olympus"}, "unknown time zone"),
    (["room_data"], {"entryIds": "room-1"}, "unknown parameter 'entryIds'"),
    (["room_data"], {"entry_ids": [f"room-{i}" for i in range(101)]}, "at most 100 ids, 101 given"),
    (["room_data"], {"entry_ids": "x" * 256}, "longer than 255"),
    (["room_data"], {"virtual_event_ids": "event-1"}, "virtual_event_ids is not supported"),
    (["rsvp"], {"user_ids": "sub:ana"}, "user_ids applies to Attendees Data"),
    (["room_data"], {"parentEntryIds": "main"}, "parentEntryIds applies to Breakout Room Sessions"),
    (["breakout_room_sessions"], {"fromDate": "2026-10-05", "toDate": "2026-10-01"}, "toDate is before fromDate"),
    (["breakout_room_sessions"], {"fromDate": "05/10/2026"}, "fromDate must be a date"),
])
def test_bad_parameters_are_refused_before_any_file(db, registration, course, tmp_path, names, params, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        custom.write_reports(db.session, registration.id, course.id, names, params, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_form_request_and_the_window(app, db, course):
    form = MultiDict([("report", "room_data"), ("report", "attendees_data"), ("timeframe", "custom"),
                      ("from", "2026-10-01"), ("to", "2026-10-31"), ("entry_ids", "room-1"), ("user_ids", ""),
                      ("csrf", "ignored")])
    assert custom.form_request(form) == (["room_data", "attendees_data"], {
        "timeframe": "custom", "from": "2026-10-01", "to": "2026-10-31", "entry_ids": "room-1"})

    from flask import render_template

    with app.app_context():
        html = render_template("exports/_custom_report.html", **custom.window_context(
            "/courses/1/rooms/room-1/custom-report", today=date(2026, 11, 1), hidden={"kind": "custom"}))
        again = render_template("exports/_custom_report.html", **custom.window_context(
            "/x", form=form, error="the custom timeframe ends before it starts"))
    assert 'id="custom-report"' in html and 'action="/courses/1/rooms/room-1/custom-report"' in html
    assert 'max="2026-11-01"' in html and 'selected>Last 30 days' in html
    assert '<input type="hidden" name="kind" value="custom">' in html
    # Sent back with the error: the choices are kept.
    assert 'role="alert">These reports cannot be made: the custom timeframe ends before it starts.' in again
    assert 'value="room_data" checked' in again and 'value="rsvp">' in again and 'value="room-1"' in again
    assert '<option value="custom" selected>' in again and 'name="from" value="2026-10-01"' in again
    for name, report in custom.REPORTS.items():
        assert f'value="{name}"' in html and report.title in html
    for key, label in custom.TIMEFRAME_LABELS.items():
        assert f'<option value="{key}"' in html and label in html
    assert html.count('type="date"') == 4  # custom from/to and the breakout rooms' fromDate/toDate
    for name in ("entry_ids", "user_ids", "cue_point_ids", "parentEntryIds"):
        assert f'name="{name}"' in html
    assert "virtual_event_ids" not in html and ">Cancel<" in html and ">Download<" in html
