"""`flask demo seed`: a reproducible, realistic semester for the dev platform, on SQLite and PostgreSQL."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from lti_tool.analytics import metrics
from lti_tool.extensions import db as _db
from lti_tool.models import (
    Category, CategoryEntry, Course, EntryCoeditor, Enrollment, MediaEntry, Person, PersonAlias, Play, PlayerEvent,
    PlayerLoad, Room, RoomSession,
)

from ..support.factories import embedded_app
from ..test_devplatform import BASE, demo_launch

TODAY = "2026-05-20"
SEED_ARGS = ["demo", "seed", "--seed", "7", "--events", "3000", "--today", TODAY]
# How a page saved to a viewer's computer shows as a domain (file:///C:/Users/..., file:///Users/...).
OFFLINE_LABELS = {"C:", "Users"}


def sqlite_app(path, *, setup: bool = True):
    app = embedded_app(path, SECRET_KEY="seed-test", KEY_ENCRYPTION_SECRET="seed-test-keys")
    if setup:
        run_command(app, ["demo", "setup", "--base-url", BASE])
    return app


def invoke(app, args):
    """Run a command on this app, even while a test holds another app's context (a command runs in
    the current app context when there is one)."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=args)


def run_command(runner_or_app, args) -> str:
    """Run a command that must succeed (on a CLI runner, or on an app in its own context); its output."""
    if hasattr(runner_or_app, "invoke"):
        result = runner_or_app.invoke(args=args)
    else:
        result = invoke(runner_or_app, args)
    assert result.exit_code == 0, result.output
    return result.output


def run_seed(runner_or_app, *extra):
    return run_command(runner_or_app, [*SEED_ARGS, *extra])


def summary_numbers(output: str) -> dict[str, int]:
    """The figures the command prints: people, entries, viewings, events, accepted, duplicates, plays."""
    numbers = {}
    for name in ("people", "entries", "viewings", "plays"):
        numbers[name] = int(re.search(rf"^{name}\s+(\d+)", output, re.M).group(1))
    events = re.search(r"^events\s+(\d+): (\d+) accepted, (\d+) duplicates", output, re.M)
    numbers["events"], numbers["accepted"], numbers["duplicates"] = map(int, events.groups())
    return numbers


def registration_id(session) -> int:
    from lti_tool.devplatform.platform import dev_registration

    return dev_registration().id


def fingerprint(session) -> list[tuple]:
    """Every derived play, with what identifies it across databases (not the database's own ids)."""
    viewer = aliased(Person)
    return session.execute(
        select(Play.play_key, MediaEntry.external_id, viewer.subject, Play.started_at, Play.seconds_viewed,
               Play.percentiles, Play.quartile_events, Play.domain, Play.url, Play.device_type, Play.browser,
               Play.country, Play.city, Play.context_category_id.is_(None))
        .join(MediaEntry, MediaEntry.id == Play.entry_id).outerjoin(viewer, viewer.id == Play.person_id)
        .order_by(Play.play_key)).all()


def table_counts(session) -> dict[str, int]:
    models = (Course, Category, CategoryEntry, Person, PersonAlias, Enrollment, MediaEntry, EntryCoeditor,
              PlayerEvent, PlayerLoad, Play)
    return {m.__name__: session.scalar(select(func.count()).select_from(m)) for m in models}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """One SQLite demo seeded once, shared by the tests that only read it."""
    app = sqlite_app(tmp_path_factory.mktemp("seeded") / "demo.sqlite3")
    return app, run_seed(app)


# ── Determinism and idempotence ─────────────────────────────────────────────────────────────────

def test_same_seed_gives_the_same_semester_on_sqlite_and_postgresql(seeded, tmp_path, db, runner):
    sqlite_a, output_a = seeded
    sqlite_b = sqlite_app(tmp_path / "again.sqlite3")
    output_b = run_seed(sqlite_b)
    assert runner.invoke(args=["demo", "setup", "--base-url", BASE]).exit_code == 0
    output_pg = run_seed(runner)

    numbers = summary_numbers(output_a)
    assert summary_numbers(output_b) == summary_numbers(output_pg) == numbers
    assert numbers["people"] == 126 and numbers["entries"] == 41
    assert 2900 <= numbers["events"] <= 3600 and numbers["accepted"] == numbers["events"]

    results = []
    for app in (sqlite_a, sqlite_b):
        with app.app_context():
            results.append((fingerprint(_db.session),
                            metrics.highlights(_db.session, metrics.Scope(registration_id(_db.session)))))
    results.append((fingerprint(db.session), metrics.highlights(db.session, metrics.Scope(registration_id(db.session)))))
    (plays_a, highlights_a), *others = results
    assert len(plays_a) == numbers["plays"] > 20
    for plays, highlights in others:
        assert plays == plays_a
        assert highlights.plays == highlights_a.plays and highlights.impressions == highlights_a.impressions
        assert highlights.unique_viewers == highlights_a.unique_viewers
        assert highlights.minutes_viewed == pytest.approx(highlights_a.minutes_viewed)
        assert highlights.avg_completion_rate == pytest.approx(highlights_a.avg_completion_rate)


def test_another_seed_gives_another_semester(seeded, tmp_path):
    app, _output = seeded
    other = sqlite_app(tmp_path / "other.sqlite3")
    result = invoke(other, ["demo", "seed", "--seed", "8", "--events", "3000", "--today", TODAY])
    assert result.exit_code == 0, result.output
    with app.app_context():
        first = fingerprint(_db.session)
    with other.app_context():
        assert fingerprint(_db.session) != first


def test_a_second_run_stores_nothing_new(db, runner):
    assert runner.invoke(args=["demo", "setup", "--base-url", BASE]).exit_code == 0
    first = summary_numbers(run_seed(runner))
    before, plays_before = table_counts(db.session), fingerprint(db.session)
    play_ids = set(db.session.scalars(select(Play.id)))

    second = summary_numbers(run_seed(runner))
    assert second["accepted"] == 0 and second["duplicates"] == second["events"] == first["events"]
    assert table_counts(db.session) == before
    assert fingerprint(db.session) == plays_before
    assert set(db.session.scalars(select(Play.id))) == play_ids  # not even derived again


def test_if_empty_does_nothing_on_a_seeded_database(seeded):
    app, _output = seeded
    with app.app_context():
        before = table_counts(_db.session)
    result = invoke(app, ["demo", "seed", "--if-empty", "--seed", "9", "--today", TODAY])
    assert result.exit_code == 0, result.output
    assert "already has events; nothing seeded" in result.output
    with app.app_context():
        assert table_counts(_db.session) == before


def test_if_empty_seeds_an_empty_demo(tmp_path):
    app = sqlite_app(tmp_path / "empty.sqlite3")
    result = invoke(app, [*SEED_ARGS[:-4], "--events", "500", "--if-empty", "--today", TODAY])
    assert result.exit_code == 0, result.output
    assert summary_numbers(result.output)["accepted"] > 0


def test_without_demo_setup_the_error_says_what_to_do(tmp_path, db, runner):
    app = sqlite_app(tmp_path / "bare.sqlite3", setup=False)
    for result in (invoke(app, SEED_ARGS), runner.invoke(args=SEED_ARGS)):
        assert result.exit_code == 1
        assert "run `flask demo setup` first" in result.output
    assert db.session.scalar(select(func.count(PlayerEvent.id))) == 0


# ── What was written ────────────────────────────────────────────────────────────────────────────

def test_courses_people_and_catalog_are_as_launches_and_feeds_leave_them(seeded):
    from lti_tool.devplatform.platform import COURSES, PEOPLE

    app, _output = seeded
    with app.app_context():
        session = _db.session
        courses = {c.context_id: c for c in session.scalars(select(Course))}
        assert {(c.context_id, c.label, c.title) for c in COURSES} == {
            (c.context_id, c.label, c.title) for c in courses.values()}
        galleries = {g.course_id: g for g in session.scalars(select(Category).where(Category.kind == "gallery"))}
        assert {g.external_id for g in galleries.values()} == {f"gallery:{c.context_id}" for c in COURSES}

        roles = {(p.subject, e.course_id): (e.role_label, e.level, e.source)
                 for p, e in session.execute(select(Person, Enrollment).join(Enrollment))}
        bio = next(c.id for c in courses.values() if c.label == "BIO-101")
        by_key = {p.key: p.sub for p in PEOPLE}
        assert roles[(by_key["teacher"], bio)] == ("Teacher", "owner", "seed")
        assert roles[(by_key["ta"], bio)][:2] == ("TA", "co-editor")
        assert roles[(by_key["student"], bio)][:2] == ("Student", "viewer")
        labels = [label for (_sub, _course), (label, _level, _source) in roles.items()]
        assert labels.count("Student") > 100 and 4 <= labels.count("TA") <= 5

        people = session.scalar(select(func.count(Person.id)))
        assert people == len(PEOPLE) + 120
        aliases = {kind: n for kind, n in session.execute(
            select(PersonAlias.kind, func.count()).group_by(PersonAlias.kind))}
        assert aliases["canvas_user_id"] == aliases["login_id"] == aliases["email"] == people
        assert not session.scalar(select(func.count(Person.id)).where(Person.subject.like("unresolved:%")))

        # The rooms' live streams and recordings are media entries too (see test_room_seed.py).
        room_media = set(session.scalars(select(Room.live_entry_id))) | set(
            session.scalars(select(RoomSession.recording_entry_id)))
        entries = [e for e in session.scalars(select(MediaEntry)) if e.id not in room_media]
        assert len(entries) == 41 and all(e.described for e in entries)
        assert {e.media_type for e in entries} == {"video", "audio", "quiz", "youtube"}
        assert all(180 <= e.duration_seconds <= 3600 for e in entries)
        assert any(e.name == "Week 3 — Cell membranes" for e in entries)
        assert len({e.entry_created_at.date() for e in entries}) > 20
        teacher = session.scalar(select(Person.id).where(Person.subject == by_key["teacher"]))
        assert {e.owner_person_id for e in entries} == {teacher}
        assert session.scalar(select(func.count(EntryCoeditor.id))) >= 2 * len(entries)
        memberships = session.execute(select(CategoryEntry.entry_id, func.count()).group_by(CategoryEntry.entry_id)).all()
        assert len(memberships) == 41 and sum(1 for _entry, n in memberships if n == 2) == 3


def test_a_launch_after_seeding_finds_the_seeded_course(tmp_path):
    app = sqlite_app(tmp_path / "launch.sqlite3")
    result = invoke(app, [*SEED_ARGS[:-4], "--events", "500", "--today", TODAY])
    assert result.exit_code == 0, result.output
    page = demo_launch(app.test_client(), "teacher")
    assert page.status_code == 200 and "Introduction to Biology" in page.text
    with app.app_context():
        assert _db.session.scalar(select(func.count(Course.id))) == 2
        assert _db.session.scalar(select(func.count(Category.id))) == 2


# ── A realistic shape ───────────────────────────────────────────────────────────────────────────

def test_fewer_plays_reach_each_quartile(seeded):
    app, _output = seeded
    with app.app_context():
        reached = [_db.session.scalar(select(func.count(Play.id)).where(Play.highest_quartile >= q))
                   for q in (25, 50, 75, 100)]
        plays = _db.session.scalar(select(func.count(Play.id)))
    assert plays > reached[0] > reached[1] > reached[2] > reached[3] > 0


def test_some_viewers_are_anonymous_and_some_loads_never_play(seeded):
    app, _output = seeded
    with app.app_context():
        highlights = metrics.highlights(_db.session, metrics.Scope(registration_id(_db.session)))
    assert 0.03 <= highlights.anonymous_share <= 0.15
    assert 0.6 < highlights.load_play_ratio < 0.95
    assert highlights.unique_viewers > 10


def test_viewing_comes_from_many_embeds_devices_and_places(seeded):
    app, _output = seeded
    with app.app_context():
        session = _db.session
        domains = set(session.scalars(select(Play.domain).distinct()))
        devices = set(session.scalars(select(Play.device_type).distinct()))
        countries = set(session.scalars(select(Play.country).distinct()))
        in_gallery = session.scalar(select(func.count(Play.id)).where(Play.context_category_id.isnot(None)))
        elsewhere = session.scalar(select(func.count(Play.id)).where(Play.context_category_id.is_(None)))
        offline = session.scalar(select(func.count(Play.id)).where(Play.domain.in_(OFFLINE_LABELS)))
    assert {"kaf.canvas.umn.edu", "canvas.umn.edu", "mediaspace.umn.edu", "umn.instructure.com",
            "umn.quiz-lti-iad-prod.instructure.com", "iad.scorm.canvaslms.com", "umn.qualtrics.com",
            "articulateusercontent.com", "cdnapisec.kaltura.com"} <= domains
    assert any(d and d.endswith(".cluster79.canvas-user-content.com") for d in domains)
    assert any(d and d.endswith("-atari-embeds.googleusercontent.com") for d in domains)
    assert offline >= 1
    assert {"desktop", "mobile", "tablet"} <= devices
    assert "US" in countries and len(countries - {None}) > 1
    assert in_gallery > 0 and elsewhere > in_gallery / 2


def test_viewing_peaks_after_releases_and_before_exams(seeded):
    from lti_tool.devplatform.seed import plan_world

    app, _output = seeded
    world = plan_world(7, date.fromisoformat(TODAY))
    released = {e.external_id: e.release for e in world.entries}
    with app.app_context():
        rows = _db.session.execute(select(MediaEntry.external_id, Play.started_at)
                                   .join(MediaEntry, MediaEntry.id == Play.entry_id)
                                   .where(MediaEntry.external_id.in_(released))).all()  # not the room recordings
    one_day = timedelta(days=1)  # UTC dates of evening viewing in Minnesota are a day later
    assert all(released[entry] - one_day <= started.date() <= world.semester.end + one_day for entry, started in rows)
    assert sum(1 for entry, started in rows if (started.date() - released[entry]).days < 7) > len(rows) / 2
    weeks = (world.semester.end - world.semester.start).days / 7
    final_week = sum(1 for _entry, started in rows if started.date() > world.semester.end - timedelta(days=8))
    assert final_week > 2 * len(rows) / weeks
