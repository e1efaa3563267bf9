"""The room rollups (per session × minute and session × person): kept at ingest whatever the order and
repeats of delivery, equal to a rebuild from the samples and to an oracle computed here from the raw
events; the room's analytics read them and give the numbers the oracle gives."""
from __future__ import annotations

import itertools
import math
import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from lti_tool.analytics import rooms
from lti_tool.analytics.rooms import RoomScope
from lti_tool.extensions import db as _db
from lti_tool.ingest.people import resolve
from lti_tool.ingest.room_rollups import rebuild_room_rollups
from lti_tool.ingest.rooms import RejectedBatch, accept_room_events, room_event
from lti_tool.models import EngagementSample, Room, RoomMinute, RoomPerson, RoomSession

from ..support.factories import make_registration
from .test_kava_live import LIVE, STUDENT, live_room, samples  # noqa: F401  (fixture)
from ..ingest.test_beacon_queue import queued  # noqa: F401
from ..ingest.test_kava import KavaPlayer, ks_for, ok, partner  # noqa: F401
from .test_room_ingest import auth, post  # noqa: F401

START = datetime(2026, 10, 5, 10, 0, tzinfo=timezone.utc)
MAIN_MINUTES, BREAKOUT = 20, (5, 12)   # main 10:00-10:20, its breakout 10:05-10:12
USERS = ["sub:u1", "sub:u2", "sub:u3", "sub:u4"]
LEVEL_FLAGS = [(s, t, f) for s in (True, False) for t in (True, False) for f in (True, False)]
ENGAGED = ("high", "good")
_tenants = itertools.count(1)


def level_of(sound_on: bool, tab_focused: bool, full_screen: bool) -> str:
    """The oracle's own engagement level (DESIGN §5)."""
    if sound_on and tab_focused:
        return "high" if full_screen else "good"
    return "fair" if sound_on else ("low" if tab_focused else "none")


def iso(seconds: float) -> str:
    return (START + timedelta(seconds=seconds)).isoformat()


stay = st.tuples(st.sampled_from(["main", "br"]), st.sampled_from(USERS + [None]),
                 st.integers(0, MAIN_MINUTES * 60 - 1), st.one_of(st.none(), st.integers(0, 600)))
sample = st.tuples(st.sampled_from(["main", "br"]), st.sampled_from(USERS), st.integers(1, MAIN_MINUTES * 60),
                   st.integers(1, 90_000), st.sampled_from(LEVEL_FLAGS))


def world(stays, samples_) -> tuple[list[dict], list[dict]]:
    """(the room and its sessions, the facts): joins, leaves and engagement samples."""
    things = [{"id": "room", "type": "room", "name": "Rollups"},
              {"id": "main", "type": "session", "room": "room", "start": iso(0), "end": iso(MAIN_MINUTES * 60)},
              {"id": "br", "type": "session", "room": "room", "start": iso(BREAKOUT[0] * 60),
               "end": iso(BREAKOUT[1] * 60), "parent": "main"}]
    facts = []
    for number, (session, user, joined, stayed) in enumerate(stays):
        join = {"id": f"j{number}", "type": "join", "time": iso(joined), "session": session}
        facts.append(join | ({"user": user} if user else {}))
        if stayed is not None:
            facts.append({"id": f"l{number}", "type": "leave", "time": iso(joined + stayed), "join": f"j{number}"})
    for number, (session, user, end, millis, (sound, tab, full)) in enumerate(samples_):
        facts.append({"id": f"e{number}", "type": "engagement", "time": iso(end), "session": session, "user": user,
                      "seconds": millis / 1000, "sound_on": sound, "tab_focused": tab, "full_screen": full})
    return things, facts


def deliver(registration_id: int, things: list[dict], facts: list[dict], rng: random.Random) -> None:
    """The sessions first, then the facts shuffled with repeats in batches of any size; a batch refused
    (a leave before its join) is sent again later one event at a time, as a client would retry."""
    accept_room_events(registration_id, [(i, room_event(e)) for i, e in enumerate(things)])
    sent = facts + [rng.choice(facts) for _ in range(len(facts) // 2)] if facts else []
    rng.shuffle(sent)
    queue = []
    while sent:
        size = rng.randint(1, 8)
        queue.append(sent[:size])
        sent = sent[size:]
    while queue:
        batch = queue.pop(0)
        try:
            accept_room_events(registration_id, [(i, room_event(e)) for i, e in enumerate(batch)])
        except RejectedBatch:
            queue.extend([e] for e in batch)


def snapshot(session, registration_id: int) -> dict:
    minutes = {(s, m): (n, sampled, engaged) for s, m, n, sampled, engaged in session.execute(
        select(RoomMinute.session_id, RoomMinute.minute, RoomMinute.samples, RoomMinute.sampled_seconds,
               RoomMinute.engaged_seconds).where(RoomMinute.registration_id == registration_id))}
    people = {(s, p): (n, sampled, engaged) for s, p, n, sampled, engaged in session.execute(
        select(RoomPerson.session_id, RoomPerson.person_id, RoomPerson.samples, RoomPerson.sampled_seconds,
               RoomPerson.engaged_seconds).where(RoomPerson.registration_id == registration_id))}
    return {"minutes": minutes, "people": people}


def exact(seconds: float) -> Decimal:
    """A double as PostgreSQL turns it into a numeric (15 significant digits)."""
    return Decimal(format(seconds, ".15g"))


def oracle(facts: list[dict], session_ids: dict[str, int], person_ids: dict[str, int]) -> dict:
    """The rollups computed from the raw events alone: each sample in the minute its interval starts in."""
    minutes: dict = defaultdict(lambda: [0, Decimal(0), Decimal(0)])
    people: dict = defaultdict(lambda: [0, Decimal(0), Decimal(0)])
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    for event in facts:
        if event["type"] != "engagement":
            continue
        at = datetime.fromisoformat(event["time"])
        minute = math.floor(((at - epoch).total_seconds() - event["seconds"]) / 60)
        engaged = level_of(event["sound_on"], event["tab_focused"], event["full_screen"]) in ENGAGED
        for bucket in (minutes[(session_ids[event["session"]], minute)],
                       people[(session_ids[event["session"]], person_ids[event["user"]])]):
            bucket[0] += 1
            bucket[1] += exact(event["seconds"])
            bucket[2] += exact(event["seconds"]) if engaged else 0
    return {name: {key: (n, float(sampled), float(engaged)) for key, (n, sampled, engaged) in table.items()}
            for name, table in (("minutes", minutes), ("people", people))}


def expected_page(facts: list[dict], person_ids: dict[str, int]) -> tuple[list, dict, float | None]:
    """From the raw events: per minute of the main session (live viewers, engagement rate), per person
    their engagement rate, and the session's: the numbers the room page shows."""
    ends = {"main": START + timedelta(minutes=MAIN_MINUTES), "br": START + timedelta(minutes=BREAKOUT[1])}
    joins = {e["id"]: e for e in facts if e["type"] == "join"}
    left = {e["join"]: datetime.fromisoformat(e["time"]) for e in facts if e["type"] == "leave"}
    present: dict[datetime, set] = defaultdict(set)
    for key, join in joins.items():
        begin = datetime.fromisoformat(join["time"])
        end = max(left.get(key, ends[join["session"]]), begin)
        who = join.get("user") or key
        minute = begin.replace(second=0)
        while minute < end:
            present[minute].add(who)
            minute += timedelta(minutes=1)
    by_minute: dict = defaultdict(lambda: [Decimal(0), Decimal(0)])
    by_person: dict = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for e in (e for e in facts if e["type"] == "engagement"):
        begins = datetime.fromisoformat(e["time"]) - timedelta(seconds=e["seconds"])
        engaged = exact(e["seconds"]) if level_of(e["sound_on"], e["tab_focused"], e["full_screen"]) in ENGAGED else 0
        for bucket in (by_minute[begins.replace(second=0, microsecond=0)], by_person[person_ids[e["user"]]]):
            bucket[0] += engaged
            bucket[1] += exact(e["seconds"])

    def rate(engaged, sampled):
        return float(engaged) / float(sampled) if sampled else None

    points = []
    for number in range(MAIN_MINUTES):
        minute = START + timedelta(minutes=number)
        points.append((minute, len(present[minute]), rate(*by_minute[minute]) if minute in by_minute else None))
    total = [sum(b[0] for b in by_person.values()), sum(b[1] for b in by_person.values())]
    return points, {person: rate(*b) for person, b in by_person.items()}, rate(*total)


@pytest.mark.usefixtures("db")   # not an argument: Hypothesis would print it with a failing example
@settings(max_examples=25, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(stays=st.lists(stay, max_size=10), samples_=st.lists(sample, max_size=25), seed=st.integers(0, 2**16))
def test_rollups_kept_at_ingest_equal_a_rebuild_and_the_oracle(stays, samples_, seed):
    db = _db
    registration = make_registration(client_id=f"rollups-{next(_tenants)}")
    things, facts = world(stays, samples_)
    deliver(registration.id, things, facts, random.Random(seed))

    session_ids = dict(db.session.execute(select(RoomSession.external_id, RoomSession.id)
                                          .where(RoomSession.registration_id == registration.id)).all())
    person_ids = resolve(registration.id, set(USERS))
    kept = snapshot(db.session, registration.id)
    assert kept == oracle(facts, session_ids, person_ids)
    rebuild_room_rollups(db.session, registration.id)
    assert snapshot(db.session, registration.id) == kept

    # The page's numbers: the timeline, each attendee's rate and the overview's, as the oracle has them.
    room_id = db.session.scalar(select(Room.id).where(Room.registration_id == registration.id))
    scope = RoomScope(registration.id, room_id, session_ids=(session_ids["main"],))
    points, person_rates, overall = expected_page(facts, person_ids)
    assert [(p.at, p.live_viewers, p.engagement_rate) for p in rooms.timeline(db.session, scope)] == points
    assert [(p.at, p.live_viewers, p.engagement_rate)
            for one in rooms.session_timelines(db.session, scope) for p in one.points] == points
    # Attendees are the people with a stay (samples alone make nobody an attendee).
    rates = {row.person_id: row.live_engagement_rate for row in rooms.attendees(db.session, scope)}
    assert rates == {person_ids[user]: person_rates.get(person_ids[user])
                     for _session, user, *_ in stays if user is not None}
    assert rooms.overview(db.session, scope).avg_live_engagement_rate == overall


def test_rebuild_all_registrations_and_the_cli(db, runner):
    first, second = (make_registration(client_id=f"rollups-{next(_tenants)}") for _ in range(2))
    things, facts = world([("main", "sub:u1", 30, 200)], [("main", "sub:u1", 90, 30_000, (True, True, False)),
                                                           ("br", "sub:u2", 400, 12_500, (False, True, False))])
    for registration in (first, second):
        deliver(registration.id, things, facts, random.Random(1))
    kept = [snapshot(db.session, r.id) for r in (first, second)]
    assert all(k["minutes"] and k["people"] for k in kept)
    db.session.execute(RoomMinute.__table__.delete())   # lost, or from before the rollups existed
    rebuild_room_rollups(db.session)
    assert [snapshot(db.session, r.id) for r in (first, second)] == kept
    result = runner.invoke(args=["analytics", "rebuild", "--registration", str(first.id)])
    assert result.exit_code == 0, result.output
    assert "rebuilt the room rollups: 2 session minutes, 2 session attendees" in result.output
    assert [snapshot(db.session, r.id) for r in (first, second)] == kept


def test_a_late_kava_beacon_moves_a_sample_in_the_rollups_too(client, db, partner, live_room):
    """A VIEW that arrives after a later one of its stream changes the later one's interval (seconds played
    since the previous VIEW): the sample is taken out of the rollups with its old seconds and back with its new."""
    player = KavaPlayer(client, entry=LIVE, playbackType="live", ks=ks_for(partner, STUDENT), session_id="s-late")
    ok(player.send(1, position=0))
    ok(player.send(3, position=-4))

    def view(index: int, **params) -> dict:
        return {"service": "analytics", "action": "trackEvent", "eventType": 99, **player.common,
                "eventIndex": index, "position": -3, **params}

    later = view(4, playTimeSum=30, soundMode=2, tabMode=2, screenMode=2)      # high
    earlier = view(3, playTimeSum=10, soundMode=1, tabMode=1, screenMode=1)    # none
    ok(player.post(later))
    assert sorted(seconds for _s, _p, seconds, *_ in samples(db)) == [30.0]
    ok(player.post(earlier))
    assert sorted(seconds for _s, _p, seconds, *_ in samples(db)) == [10.0, 20.0]
    registration_id = partner.id
    kept = snapshot(db.session, registration_id)
    person = resolve(registration_id, {STUDENT})[STUDENT]
    assert kept["people"] == {(live_room["main"], person): (2, 30.0, 20.0)}
    assert sum(n for n, *_ in kept["minutes"].values()) == 2
    rebuild_room_rollups(db.session, registration_id)
    assert snapshot(db.session, registration_id) == kept
    assert db.session.scalar(select(EngagementSample.id).limit(1)) is not None
