"""Room benchmark on PostgreSQL: one 90-minute session of about 1,000 attendees, loaded and then read.

    .venv/bin/python bench/rooms.py [--attendees 1000] [--minutes 90] [--requests 30] [--profile] [--reuse]

The session is the demo seed's (`lti_tool/devplatform/rooms_seed.py`) at the size of a large
webinar: about 1,250 registered people of whom about 1,000 join (late joiners, early leavers,
reconnects), an engagement sample from each every 30 s (about 180,000), reactions with throttled
bursts, group chat, Q&A, raised hands, downloads, moderator and private messages, four interactions
with their answers, RSVPs. The events go through `room_event` and `accept_room_events` in batches of
5,000 (one commit each), as POST /api/v1/room-events would store them: load time and rate.

Then the teacher launches through the dev platform (a real LTI launch) and every request is timed
warm, in-process through the Flask test client (no network, no gunicorn): the full room page for the
session and each HTMX block, then the analytics functions alone. p50 and p95 over --requests runs,
in milliseconds. Target: the full page's p95 ≤ 150 ms. --profile prints where the full page's time
goes (cProfile, 10 requests).

DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/bench_rooms) names a database of
its own: it is created when missing and its schema is dropped and migrated again on every run (so
its name must contain "bench"), except with --reuse, which times the requests on what the last run
loaded. The tables are VACUUM ANALYZEd after loading, as autovacuum would soon do. The anchor, timed in
the same run, is one plain SQL pass over the session's samples. Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import random
import statistics
import sys
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import BASE, fresh_database, launch_teacher, percentile  # noqa: E402  (after the path)

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_rooms"
BATCH = 5000
SEED = 1
ROOM_ID = "1_benchrm1"
SHOWS_UP = 0.8  # about this share of those registered joins a lecture (rooms_seed's attendance)


def build_app(url: str):
    from flask_migrate import upgrade

    from lti_tool import MIGRATIONS_DIR, create_app

    app = create_app({"APP_ENV": "dev", "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None,
                      "SECRET_KEY": "bench", "KEY_ENCRYPTION_SECRET": "bench-keys"})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
    result = app.test_cli_runner().invoke(args=["demo", "setup", "--base-url", BASE])
    assert result.exit_code == 0, result.output
    return app


# ── The session ────────────────────────────────────────────────────────────────────────────────

def registered_people(count: int):
    """`count` students of BIO-101 shaped like the seed's roster (names, homes, devices, engagement)."""
    from lti_tool.devplatform.platform import INST_STUDENT, LEARNER, USER
    from lti_tool.devplatform.seed import EMAIL_DOMAIN, FIRST_NAMES, LAST_NAMES, SeedPerson, _devices, _home

    rng = random.Random(f"{SEED}:bench-rooms-people")
    people = []
    for number in range(1, count + 1):
        given, family = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        login = f"bench{number:05d}"
        home = _home(rng)
        sub = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-rooms-person-{number}"))
        people.append(SeedPerson(
            key=f"b{number:05d}", sub=sub, given_name=given, family_name=family, email=f"{login}@{EMAIL_DOMAIN}",
            canvas_id=f"9{number:06d}", login_id=login, timezone=home[3], role="student",
            courses=(("bio101", (LEARNER, INST_STUDENT, USER)),),
            engagement=0.03 if rng.random() < 0.06 else rng.betavariate(2.2, 2.0), devices=_devices(rng), home=home,
            player_ref=f"sub:{sub}"))
    return people


def plan_session(app, attendees: int, minutes: int):
    """Write the demo world plus the registered people; plan one lecture of `minutes` in BIO-101.
    Returns (registration id, the room's raw events)."""
    from sqlalchemy import select

    from lti_tool.devplatform.platform import dev_registration
    from lti_tool.devplatform.rooms_seed import RoomPlan, SessionPlan, SessionSimulator, room_events
    from lti_tool.devplatform.seed import COURSE_TIMEZONE, plan_world, write_world
    from lti_tool.extensions import db
    from lti_tool.models import Course

    with app.app_context():
        registration = dev_registration()
        world = plan_world(SEED, date.today())
        registered = registered_people(round(attendees / SHOWS_UP))
        world.people.extend(registered)
        write_world(registration, world)  # people with names, as their launches would have left them
        course = next(c for c in world.courses if c.key == "bio101")
        course_id = db.session.scalar(select(Course.id).where(Course.registration_id == registration.id,
                                                              Course.context_id == course.context_id))
        room = RoomPlan(ROOM_ID, "lecture", "Live lecture (bench)", "bio101", course_id, "1_benchlv1")
        day = world.semester.end - timedelta(days=7)
        start = datetime(day.year, day.month, day.day, 10, tzinfo=ZoneInfo(COURSE_TIMEZONE)).astimezone(timezone.utc)
        plan = SessionPlan(room, 0, 13, f"{room.external_id}-{day.isoformat()}", "Week 13 · Evolution (bench)",
                           "Evolution by natural selection", start, start + timedelta(minutes=minutes), "1_benchrc1")
        teacher = next(p for p in world.people if p.key == "teacher")
        tas = world.enrolled("bio101", "ta")
        events = room_events(world, room, [plan], registered, teacher, tas)
        events += SessionSimulator(world, plan, registered, teacher, tas).run()
        return registration.id, events


def load(app, registration_id: int, events: list[dict]) -> dict:
    """All events through room_event and accept_room_events, BATCH at a time, one commit each."""
    from lti_tool.ingest.rooms import accept_room_events, room_event

    accepted = throttled = 0
    with app.app_context():
        started = time.perf_counter()
        for first in range(0, len(events), BATCH):
            chunk = events[first:first + BATCH]
            result = accept_room_events(registration_id, [(i, room_event(raw)) for i, raw in enumerate(chunk)])
            accepted += result.accepted
            throttled += result.throttled
        seconds = time.perf_counter() - started
    return {"events": len(events), "accepted": accepted, "throttled": throttled, "seconds": seconds}


# ── Timing ─────────────────────────────────────────────────────────────────────────────────────

def timed(run, requests: int) -> list[float]:
    """Milliseconds of `requests` calls of run() after three to warm up."""
    for _ in range(3):
        run()
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return times


def get(client, url: str, headers: dict):
    def run():
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.status_code)
        return response
    return run


def analytics_calls(app, room_external_id: str, session_external_id: str):
    """(label, call) for each analytics function the page uses, on the session's scope; each call runs
    in a fresh database session, as a request would."""
    from sqlalchemy import func, select

    from lti_tool.analytics import rooms
    from lti_tool.extensions import db
    from lti_tool.models import EngagementSample, Interaction, Room, RoomSession

    with app.app_context():
        room = db.session.scalar(select(Room).where(Room.external_id == room_external_id))
        chosen = db.session.scalar(select(RoomSession).where(RoomSession.external_id == session_external_id))
        scope = rooms.room_scope(room, chosen, None, None)
        busiest = db.session.scalar(select(EngagementSample.person_id).where(EngagementSample.session_id == chosen.id)
                                    .group_by(EngagementSample.person_id)
                                    .order_by(func.count().desc(), EngagementSample.person_id).limit(1))
        quiz = db.session.scalar(select(Interaction.id).where(Interaction.session_id == chosen.id,
                                                              Interaction.kind == "quiz"))

    def call(fn):
        def run():
            with app.app_context():
                fn(db.session)
                db.session.remove()
        return run

    return busiest, quiz, [
        ("overview()", call(lambda s: rooms.overview(s, scope))),
        ("timeline()", call(lambda s: rooms.timeline(s, scope))),
        ("attendees()", call(lambda s: rooms.attendees(s, scope))),
        ("heat(one person)", call(lambda s: rooms.heat(s, scope, busiest))),
        ("attendee_activity()", call(lambda s: rooms.attendee_activity(s, scope, busiest))),
        ("interactions()", call(lambda s: rooms.interactions(s, scope))),
        ("interaction_detail(quiz)", call(lambda s: rooms.interaction_detail(s, quiz))),
        ("recordings()", call(lambda s: rooms.recordings(s, scope))),
        ("where_viewers(country)", call(lambda s: rooms.where_viewers(s, scope, "country"))),
    ]


def profile(run, requests: int = 10) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        run()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"lti_tool|sqlalchemy/engine/base|jinja2/environment", 30)
    stats.sort_stats("tottime").print_stats(15)
    return out.getvalue()


def analyze(app) -> None:
    """VACUUM ANALYZE every table, as autovacuum would soon do (visibility maps let index-only scans work)."""
    from sqlalchemy import text

    from lti_tool.extensions import db

    with app.app_context():
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def anchor(app, session_external_id: str, requests: int) -> list[float]:
    """The anchor, timed in the same run: one plain PostgreSQL pass over the session's engagement samples
    (the sum of their seconds), the unit of work the room page did three times before its rollups."""
    from sqlalchemy import text

    from lti_tool.extensions import db

    def run():
        with app.app_context():
            db.session.execute(text(
                "SELECT sum(s.interval_seconds) FROM engagement_sample s JOIN room_session r ON r.id = s.session_id "
                "WHERE r.external_id = :id"), {"id": session_external_id}).scalar()
            db.session.remove()
    return timed(run, requests)


def stored(app) -> tuple[int, str, str, str]:
    """(course id, room id, session id, what the session holds) of the bench's room."""
    from sqlalchemy import func, select

    from lti_tool.extensions import db
    from lti_tool.models import (
        Attendance, ChatMessage, EngagementSample, Interaction, InteractionAnswer, QaThread, Reaction, Room,
        RoomSession, Rsvp,
    )

    with app.app_context():
        room = db.session.scalar(select(Room).where(Room.external_id == ROOM_ID))
        if room is None:
            sys.exit("nothing to reuse: run bench/rooms.py once without --reuse")
        one = db.session.scalar(select(RoomSession).where(RoomSession.room_id == room.id))

        def count(model, column=None):
            query = select(func.count(func.distinct(column)) if column is not None else func.count())
            return db.session.scalar(query.select_from(model))

        minutes = round((one.ended_at - one.started_at).total_seconds() / 60)
        held = (f"1 session of {minutes} min, {count(Attendance, Attendance.person_id):,} people present "
                f"(incl. host and TAs), {count(Attendance):,} stays, {count(EngagementSample):,} engagement samples, "
                f"{count(Reaction):,} reactions, {count(ChatMessage):,} chat messages, {count(QaThread):,} Q&A "
                f"threads, {count(Interaction)} interactions with {count(InteractionAnswer):,} answers, "
                f"{count(Rsvp):,} RSVPs")
        return room.course_id, room.external_id, one.external_id, held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attendees", type=int, default=1000, help="about this many join the session")
    parser.add_argument("--minutes", type=int, default=90)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--profile", action="store_true", help="print where the full page's time goes")
    parser.add_argument("--reuse", action="store_true", help="time the requests on the last run's data")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if "bench" not in url.rsplit("/", 1)[-1]:
        sys.exit("DATABASE_URL must name a database whose name contains 'bench'")
    lines = []
    if not args.reuse:
        fresh_database(url)
    app = build_app(url)
    if not args.reuse:
        started = time.perf_counter()
        registration_id, events = plan_session(app, args.attendees, args.minutes)
        lines.append(f"setup (world, people, planning the events): {time.perf_counter() - started:.1f} s")
        loaded = load(app, registration_id, events)
        lines.append(f"load: {loaded['events']:,} events in {loaded['seconds']:.1f} s "
                     f"({loaded['events'] / loaded['seconds']:,.0f} events/s, batches of {BATCH:,}), "
                     f"{loaded['accepted']:,} accepted, {loaded['throttled']:,} reactions throttled")
        analyze(app)
    course_id, room_id, session_id, held = stored(app)

    client, token, _path = launch_teacher(app)
    auth = {"X-Session-Token": token}
    page_url = f"{BASE}/courses/{course_id}/rooms/{room_id}/?session={session_id}"
    busiest, quiz, calls = analytics_calls(app, room_id, session_id)
    rows = [("full page", timed(get(client, page_url, auth), args.requests))]
    from lti_tool.views.rooms import ROOM_BLOCKS

    for block in ROOM_BLOCKS:
        query = {"attendee": f"&person={busiest}", "interactions": f"&interaction={quiz}"}.get(block, "")
        headers = {**auth, "HX-Request": "true", "HX-Target": block}
        rows.append((f"block {block}", timed(get(client, page_url + query, headers), args.requests)))
    rows.append(("block attendees, search 'mar'",
                 timed(get(client, page_url + "&q=mar", {**auth, "HX-Request": "true", "HX-Target": "attendees"}),
                       args.requests)))
    for label, run in calls:
        rows.append((label, timed(run, args.requests)))
    rows.append(("anchor: one SQL pass over the samples", anchor(app, session_id, args.requests)))

    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"data: {held}")
    for line in lines:
        print(line)
    print(f"\n{'request':36} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for label, times in rows:
        print(f"{label:36} {percentile(times, 50):8.1f} {percentile(times, 95):8.1f} {statistics.mean(times):8.1f}")
    print(f"\nfull page p95 {percentile(rows[0][1], 95):.0f} ms, p50 {percentile(rows[0][1], 50):.0f} ms "
          f"(target ≤ 150 ms; ≤ 200 ms at 5,000 attendees); anchor p50 {percentile(rows[-1][1], 50):.1f} ms")
    if args.profile:
        print("\nwhere the full page's time goes (10 requests):")
        print(profile(get(client, page_url, auth)))


if __name__ == "__main__":
    main()
