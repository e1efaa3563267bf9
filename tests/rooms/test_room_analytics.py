"""Room analytics over a hand-computed session loaded through POST /api/v1/room-events; SQLite agrees."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from lti_tool.analytics import rooms
from lti_tool.analytics.rooms import OptionRow, RoomScope
from lti_tool.extensions import db as _db
from lti_tool.ingest import tokens
from lti_tool.ingest.people import resolve
from lti_tool.ingest.rooms import accept_room_events, parse_room_batch
from lti_tool.models import Interaction, Room, RoomSession

from ..support.factories import embedded_app, ingest, make_registration

ANA, BEN, CAL = "sub:ana", "sub:ben", "sub:cal"


def at(minute: int, second: int = 0, day: int = 5, hour: int = 10) -> str:
    return f"2026-10-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"


def utc(minute: int, second: int = 0) -> datetime:
    return datetime(2026, 10, 5, 10, minute, second, tzinfo=timezone.utc)


def sample(key: str, end: str, user: str, level: str, session: str = "main") -> dict:
    flags = {"high": (True, True, True), "good": (True, True, False), "fair": (True, False, False),
             "low": (False, True, False), "none": (False, False, False)}[level]
    return {"id": key, "type": "engagement", "time": end, "session": session, "user": user, "seconds": 30,
            "sound_on": flags[0], "tab_focused": flags[1], "full_screen": flags[2]}


def answer(key: str, interaction: str, user: str, option: str | None = None, text: str | None = None) -> dict:
    event = {"id": key, "type": "answer", "time": at(8), "interaction": interaction, "user": user}
    return event | ({"option": option} if option else {"text": text})


IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.5 Mobile/15E148 Safari/604.1")

# Main session 10:00-10:10 on Oct 5 with a breakout 10:05-10:08; a later session must never count.
EVENTS = [
    {"id": "room-1", "type": "room", "name": "Week 1"},
    {"id": "main", "type": "session", "room": "room-1", "start": at(0), "end": at(10), "recording": "1_rec"},
    {"id": "br", "type": "session", "room": "room-1", "start": at(5), "end": at(8), "parent": "main"},
    {"id": "later", "type": "session", "room": "room-1", "start": at(0, day=12), "end": at(30, day=12)},
    # Stays. Ana: main 0:30-6:00 and breakout 5:00-8:00 overlap -> 7.5 min, recording 1 min -> 8.5.
    {"id": "j-ana", "type": "join", "time": at(0, 30), "session": "main", "user": ANA, "ip": "200.147.67.142",
     "user_agent": IPHONE},
    {"id": "l-ana", "type": "leave", "time": at(6), "join": "j-ana"},
    {"id": "j-ana-br", "type": "join", "time": at(5), "session": "br", "user": ANA},
    {"id": "l-ana-br", "type": "leave", "time": at(8), "join": "j-ana-br"},
    {"id": "j-ana-rec", "type": "join", "time": at(0, day=6, hour=12), "session": "main", "user": ANA,
     "mode": "recording"},
    {"id": "l-ana-rec", "type": "leave", "time": at(1, day=6, hour=12), "join": "j-ana-rec"},
    # Ben: 2:00-4:00 and 5:00-10:00 -> 7 min.
    {"id": "j-ben-1", "type": "join", "time": at(2), "session": "main", "user": BEN},
    {"id": "l-ben-1", "type": "leave", "time": at(4), "join": "j-ben-1"},
    {"id": "j-ben-2", "type": "join", "time": at(5), "session": "main", "user": BEN},
    {"id": "l-ben-2", "type": "leave", "time": at(10), "join": "j-ben-2"},
    # Cal only watched the recording: 3 min. Someone not signed in: live 1:00-3:00.
    {"id": "j-cal-rec", "type": "join", "time": at(0, day=6, hour=9), "session": "main", "user": CAL,
     "mode": "recording"},
    {"id": "l-cal-rec", "type": "leave", "time": at(3, day=6, hour=9), "join": "j-cal-rec"},
    {"id": "j-anon", "type": "join", "time": at(1), "session": "main"},
    {"id": "l-anon", "type": "leave", "time": at(3), "join": "j-anon"},
    # 30 s samples, timed at their interval's end. Ana: minute 0 high, minute 1 good+good, minute 5 fair+low
    # (in the breakout). Ben: minute 2 none+high, minute 5 good+good.
    sample("e-a1", at(1), ANA, "high"), sample("e-a2", at(1, 30), ANA, "good"), sample("e-a3", at(2), ANA, "good"),
    sample("e-a4", at(5, 30), ANA, "fair", "br"), sample("e-a5", at(6), ANA, "low", "br"),
    sample("e-b1", at(2, 30), BEN, "none"), sample("e-b2", at(3), BEN, "high"),
    sample("e-b3", at(5, 30), BEN, "good"), sample("e-b4", at(6), BEN, "good"),
    sample("e-later", at(1, day=12), BEN, "none", "later"),
    # Ana reacts three times; the second falls in the 3 s throttle window.
    {"id": "r-1", "type": "reaction", "time": at(3), "session": "main", "user": ANA, "kind": "clap"},
    {"id": "r-2", "type": "reaction", "time": at(3, 1), "session": "main", "user": ANA, "kind": "heart"},
    {"id": "r-3", "type": "reaction", "time": at(3, 5), "session": "main", "user": ANA, "kind": "wow"},
    {"id": "r-later", "type": "reaction", "time": at(2, day=12), "session": "later", "user": BEN, "kind": "clap"},
    {"id": "c-1", "type": "chat", "time": at(2), "session": "main", "user": ANA, "text": "Hi"},
    {"id": "c-2", "type": "chat", "time": at(4), "session": "main", "user": ANA, "text": "Question on slide 2"},
    {"id": "c-3", "type": "chat", "time": at(6), "session": "br", "user": ANA, "text": "In the breakout",
     "sub_context": "breakout"},
    {"id": "q-1", "type": "qa", "time": at(4, 30), "session": "main", "user": BEN, "state": "pending"},
    {"id": "h-1", "type": "raised_hand", "time": at(3, 30), "session": "main", "user": BEN},
    {"id": "d-1", "type": "download", "time": at(4), "session": "main", "user": BEN, "name": "slides.pdf"},
    {"id": "d-2", "type": "download", "time": at(7), "session": "main", "user": BEN, "name": "slides.pdf"},
    {"id": "poll-1", "type": "interaction", "time": at(1), "session": "main", "kind": "poll",
     "question": "Favourite topic?", "options": ["A", "B", "C"]},
    {"id": "quiz-1", "type": "interaction", "time": at(2), "session": "main", "kind": "quiz",
     "question": "2 + 2?", "options": ["3", "4"], "correct": "4"},
    {"id": "rate-1", "type": "interaction", "time": at(3), "session": "main", "kind": "rating",
     "question": "How clear was it?", "options": ["1", "2", "3", "4", "5"]},
    {"id": "open-1", "type": "interaction", "time": at(4), "session": "main", "kind": "open",
     "question": "Anything unclear?"},
    {"id": "vote-1", "type": "interaction", "time": at(6), "session": "main", "kind": "crowd_vote",
     "question": "Next topics?", "options": ["X", "Y", "Z"]},
    answer("a-1", "poll-1", ANA, "A"), answer("a-2", "poll-1", BEN, "B"), answer("a-3", "quiz-1", BEN, "4"),
    answer("a-4", "rate-1", ANA, "5"), answer("a-5", "rate-1", BEN, "4"), answer("a-6", "open-1", ANA, text="Slide 4"),
    answer("a-7", "vote-1", ANA, "X"), answer("a-8", "vote-1", ANA, "Y"), answer("a-9", "vote-1", BEN, "Y"),
    {"id": "rsvp-ana", "type": "rsvp", "time": at(0, day=1), "room": "room-1", "user": ANA, "name": "Ana Lima",
     "title": "Engineer", "company": "Acme", "country": "br", "role": "Learner", "industry": "Technology"},
    {"id": "rsvp-ben", "type": "rsvp", "time": at(0, day=2), "room": "room-1", "user": BEN, "name": "Ben Ortiz",
     "company": "State U", "country": "us", "industry": "Education"},
]

DAN = "sub:dan"
WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


def player(key: str, kind: str, clock: str, user: str | None, *, play: str | None = None, position=None,
           **extra) -> dict:
    event = {"id": key, "type": kind, "time": f"2026-10-06T{clock}Z", "entry_id": "1_rec", "duration": 600}
    for name, value in (("user", user), ("play_id", play), ("position", position)):
        if value is not None:
            event[name] = value
    return event | extra


# The main session's recording, entry 1_rec (600 s), played the next day through its player:
# Ben 0-120 s (2 min, percentiles 0-20 = 21); Dan, who never joined live, 0-600 s (10 min, 100 capped) from
# the US on a Windows desktop, and loaded it once more without playing; someone not signed in 0-60 s (11).
RECORDING = [
    player("p-ben-i", "impression", "14:00:00", BEN, load_id="l-ben"),
    player("p-ben-1", "play", "14:00:05", BEN, play="P-BEN", position=0, load_id="l-ben"),
    player("p-ben-2", "pause", "14:02:05", BEN, play="P-BEN", position=120),
    player("p-dan-i", "impression", "15:00:00", DAN, load_id="l-dan", ip="8.8.8.8", user_agent=WINDOWS),
    player("p-dan-1", "play", "15:00:05", DAN, play="P-DAN", position=0, load_id="l-dan", ip="8.8.8.8",
           user_agent=WINDOWS),
    player("p-dan-2", "ended", "15:10:05", DAN, play="P-DAN", position=600),
    player("p-dan-i2", "impression", "16:00:00", DAN, load_id="l-dan-2"),
    player("p-anon-i", "impression", "17:00:00", None, load_id="l-anon"),
    player("p-anon-1", "play", "17:00:05", None, play="P-ANON", position=0, load_id="l-anon"),
    player("p-anon-2", "pause", "17:01:05", None, play="P-ANON", position=60),
]

# Unique viewers: Ana, Ben, Cal, Dan = 4 (the anonymous stay apart). Minutes: Ana 8.5, Ben 7 + 2 played,
# Cal 3, Dan 10 played = 30.5, avg 30.5 / 4.
# Engagement: 9 samples x 30 s = 270 s; high/good: Ana 3 + Ben 3 samples = 180 s -> 2/3.
# Live viewers: Ana, Ben + 1 anonymous stay = 3; signed-in live attendees: Ana, Ben = 2.
# Reactions 2 counted (r-2 throttled), by Ana -> 1/3. Group chat 2 (c-3 is breakout), by Ana -> 1/2.
# Interactions answered by Ana and Ben -> 2/2. Q&A 1 thread by Ben -> 1/2. Downloads 2 by Ben -> 1/3.
# Recording plays: Ana's and Cal's recording stays + Ben's, Dan's and the anonymous player plays = 5.
OVERVIEW = dict(
    unique_viewers=4, anonymous_stays=1, minutes_viewed=30.5, avg_minutes_viewed=30.5 / 4,
    avg_live_engagement_rate=2 / 3, unique_live_viewers=3, logged_in_attendees=2, reactions=2,
    reactions_rate=1 / 3, chat_messages=2, chat_rate=0.5, polls_rate=1.0, qa_threads=1, qa_rate=0.5,
    downloads=2, downloads_rate=1 / 3, recording_plays=5,
)


def check_overview(result: rooms.RoomOverview) -> None:
    for name, value in OVERVIEW.items():
        assert getattr(result, name) == pytest.approx(value), name


def ids(session, registration_id: int) -> tuple[int, int, int]:
    room_id = session.scalar(select(Room.id))
    main = session.scalar(select(RoomSession.id).where(RoomSession.external_id == "main"))
    return registration_id, room_id, main


@pytest.fixture
def loaded(client, db, registration):
    _token, secret = tokens.create(registration.id, "tests")
    response = client.post("/api/v1/room-events", json={"version": 1, "events": EVENTS},
                           headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200, response.text
    assert response.get_json()["throttled"] == 1
    response = client.post("/api/v1/events", json={"version": 1, "events": RECORDING},
                           headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200, response.text
    registration_id, room_id, main = ids(db.session, registration.id)
    return RoomScope(registration_id, room_id, session_ids=(main,))


def test_overview(db, loaded):
    check_overview(rooms.overview(db.session, loaded))
    # The day's range picks the same session (and its breakout); recordings count with their session.
    by_day = RoomScope(loaded.registration_id, loaded.room_id, None,
                       datetime(2026, 10, 5, tzinfo=timezone.utc), datetime(2026, 10, 6, tzinfo=timezone.utc))
    assert rooms.overview(db.session, by_day) == rooms.overview(db.session, loaded)
    everything = rooms.overview(db.session, RoomScope(loaded.registration_id, loaded.room_id))
    assert (everything.reactions, everything.unique_viewers) == (3, 4)  # the later session's reaction


def test_timeline(db, loaded):
    points = rooms.timeline(db.session, loaded)
    assert [p.at for p in points] == [utc(m) for m in range(10)]  # 10:00-10:10, breakout inside it
    by_minute = {p.at.minute: (p.live_viewers, p.engagement_rate) for p in points}
    # 10:01: Ana and the anonymous stay (Ben joins at 2:00); Ana good + good -> 1.
    assert by_minute[1] == (2, 1.0)
    # 10:04: Ben left at 4:00 exactly, so only Ana; no samples -> no rate.
    assert by_minute[4] == (1, None)
    # 10:05: Ana (main and breakout, once) and Ben; fair + low + good + good -> 60 / 120.
    assert by_minute[5] == (2, 0.5)


def test_attendees_and_heat(db, loaded):
    rows = rooms.attendees(db.session, loaded)
    assert [r.name for r in rows] == ["Ana Lima", "Ben Ortiz", "Unnamed user", "Unnamed user"]
    ana, ben, cal, dan = rows
    # Ana: 8.5 min; reactions 2; group chat 2; no hands; poll, rating, open, vote = 4; (30+30+30) / 150 s.
    assert (ana.title, ana.role, ana.company, ana.industry, ana.country) == (
        "Engineer", "Learner", "Acme", "Technology", "BR")
    assert (ana.minutes_viewed, ana.reactions, ana.chat_messages, ana.raised_hands, ana.polls_answered) == (
        8.5, 2, 2, 0, 4)
    assert ana.live_engagement_rate == pytest.approx(0.6)
    # Ben: 7 min live + 2 min of the recording; no reactions or chat; one hand; poll, quiz, rating, vote = 4;
    # (30+30+30) / 120 s.
    assert (ben.role, ben.company, ben.country) == (None, "State U", "US")
    assert (ben.minutes_viewed, ben.reactions, ben.chat_messages, ben.raised_hands, ben.polls_answered,
            ben.live_engagement_rate) == (9.0, 0, 0, 1, 4, 0.75)
    assert (cal.minutes_viewed, cal.company, cal.live_engagement_rate) == (3.0, None, None)
    assert (dan.minutes_viewed, dan.polls_answered, dan.live_engagement_rate) == (10.0, 0, None)
    # Totals: 30.5 min, 2 reactions, 2 messages, 1 hand, 8 answers; 180 s engaged of 270 s sampled.
    assert rooms.attendee_totals(rows) == rooms.AttendeeTotals(4, 30.5, 2, 2, 1, 8, 2 / 3)
    table = rooms.attendee_table(rows, "ort")
    assert [r.name for r in table.rows] == ["Ben Ortiz"] and table.totals == rooms.AttendeeTotals(
        1, 9.0, 0, 0, 1, 4, 0.75)

    # Ana minute 5 is fair 30 s vs low 30 s: the tie shows the more engaged level.
    assert rooms.heat(db.session, loaded, ana.person_id) == [
        "high", "good", None, None, None, "fair", None, None, None, None]
    # Ben minute 2 is none 30 s vs high 30 s -> high.
    assert rooms.heat(db.session, loaded, ben.person_id) == [
        None, None, "high", None, None, "good", None, None, None, None]
    activity = rooms.attendee_activity(db.session, loaded, ben.person_id)
    assert activity.qa_threads == (rooms.QaItem(utc(4, 30), "pending"),)
    assert activity.downloads == (rooms.DownloadItem(utc(4), "slides.pdf"), rooms.DownloadItem(utc(7), "slides.pdf"))
    assert activity.raised_hands == (utc(3, 30),)
    assert rooms.attendee_activity(db.session, loaded, ana.person_id) == rooms.AttendeeActivity((), (), ())


def test_interactions(db, loaded):
    rows = rooms.interactions(db.session, loaded)
    assert [(r.question, r.kind, r.unique_participants) for r in rows] == [
        ("Favourite topic?", "poll", 2), ("2 + 2?", "quiz", 1), ("How clear was it?", "rating", 2),
        ("Anything unclear?", "open", 1), ("Next topics?", "crowd_vote", 2)]
    detail = {r.kind: rooms.interaction_detail(db.session, r.interaction_id) for r in rows}

    def options(kind):
        return [(o.option, o.participants, o.rate, o.correct) for o in detail[kind].options]

    # Poll: Ana A, Ben B -> each 1 of 2 who answered.
    assert (detail["poll"].option_count, detail["poll"].unique_participants) == (3, 2)
    assert options("poll") == [("A", 1, 0.5, False), ("B", 1, 0.5, False), ("C", 0, 0.0, False)]
    # Quiz: only Ben, who chose the correct 4.
    assert detail["quiz"].correct_option == "4"
    assert options("quiz") == [("3", 0, 0.0, False), ("4", 1, 1.0, True)]
    # Rating: Ana 5, Ben 4.
    assert options("rating") == [("1", 0, 0.0, False), ("2", 0, 0.0, False), ("3", 0, 0.0, False),
                                 ("4", 1, 0.5, False), ("5", 1, 0.5, False)]
    # Open question: no options, one participant and their text, answered by all (1) who answered.
    assert (detail["open"].option_count, detail["open"].unique_participants, detail["open"].text_answers) == (
        0, 1, (OptionRow("Slide 4", 1, 1.0, False),))
    assert [detail[kind].several_answers for kind in ("poll", "open", "crowd_vote")] == [False, False, True]
    # Crowd vote: Ana X and Y, Ben Y -> Y chosen by both of the 2 participants.
    assert (detail["crowd_vote"].option_count, detail["crowd_vote"].unique_participants) == (3, 2)
    assert options("crowd_vote") == [("X", 1, 0.5, False), ("Y", 2, 1.0, False), ("Z", 0, 0.0, False)]


def test_recordings(db, loaded):
    result = rooms.recordings(db.session, loaded)
    assert (result.plays, result.impressions) == (5, 4)
    rows = [(r.name, r.impressions, r.plays, r.minutes_viewed, r.avg_completion_rate) for r in result.viewers]
    # Everyone played once: by name, the person not signed in last. Ana and Cal only have recording stays.
    assert rows == [("Ana Lima", 0, 1, 1.0, None), ("Ben Ortiz", 1, 1, 2.0, 21.0), ("Unnamed user", 0, 1, 3.0, None),
                    ("Unnamed user", 2, 1, 10.0, 100.0), ("Unknown", 1, 1, 1.0, 11.0)]
    later = db.session.scalar(select(RoomSession.id).where(RoomSession.external_id == "later"))
    none = rooms.recordings(db.session, RoomScope(loaded.registration_id, loaded.room_id, session_ids=(later,)))
    assert (none.entry_ids, none.plays, none.viewers) == ((), 0, ())


def test_countries_and_devices(db, loaded):
    # Live: Ana joined main from Brazil on an iPhone (her breakout stay: unknown), Ben and someone not signed
    # in from somewhere unknown. Recording: Ana and Cal (stays, unknown), Ben (player, unknown), Dan (player,
    # US, desktop).
    countries = [(r.value, r.live_viewers, r.recording_viewers)
                 for r in rooms.where_viewers(db.session, loaded, "country")]
    assert countries == [(None, 3, 3), ("BR", 1, 0), ("US", 0, 1)]
    devices = [(r.value, r.live_viewers, r.recording_viewers) for r in rooms.where_viewers(db.session, loaded, "device")]
    assert devices == [("other", 3, 3), ("mobile", 1, 0), ("desktop", 0, 1)]
    assert rooms.where_totals(db.session, loaded) == rooms.WhereRow(None, 3, 4)


def test_overview_on_sqlite(tmp_path):
    app = embedded_app(tmp_path / "r.sqlite3")
    with app.app_context():
        reg = make_registration()
        events, errors = parse_room_batch({"version": 1, "events": EVENTS})
        assert errors == []
        accept_room_events(reg.id, events)
        ingest(reg.id, RECORDING)
        registration_id, room_id, main = ids(_db.session, reg.id)
        scope = RoomScope(registration_id, room_id, session_ids=(main,))
        check_overview(rooms.overview(_db.session, scope))
        assert [(p.live_viewers, p.engagement_rate) for p in rooms.timeline(_db.session, scope)][5] == (2, 0.5)
        ana = resolve(reg.id, {ANA})[ANA]
        assert rooms.heat(_db.session, scope, ana)[:2] == ["high", "good"]
        vote = _db.session.scalar(select(Interaction.id).where(Interaction.external_id == "vote-1"))
        assert [o.participants for o in rooms.interaction_detail(_db.session, vote).options] == [1, 2, 0]
