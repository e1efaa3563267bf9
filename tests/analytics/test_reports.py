"""Reports over the hand-computed data set, and local-day buckets across a time zone boundary."""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import select

from lti_tool.analytics import reports
from lti_tool.analytics.filters import Filters, period
from lti_tool.analytics.metrics import Scope
from lti_tool.models import MediaEntry

from ..ingest.dataset import EVENTS, LATE_PAUSE, LATE_PLAY
from ..support.factories import embedded_app, ingest, make_registration


def load(db, registration):
    ingest(registration.id, EVENTS)


def test_timeline_buckets_follow_the_viewers_day(db, registration):
    # A play at 23:30 in Chicago on Oct 4 is Oct 5 04:30 in UTC.
    ingest(registration.id, EVENTS + [LATE_PLAY, LATE_PAUSE])
    filters = Filters(preset="custom", start=date(2026, 10, 4), end=date(2026, 10, 5))
    now = datetime(2026, 11, 1, tzinfo=timezone.utc)
    chicago = period(filters, "America/Chicago", now)
    points = {p.bucket: p for p in reports.timeline(db.session, Scope(registration.id, chicago.start, chicago.end), chicago,
                                                     "America/Chicago")}
    assert points["2026-10-04"].plays == 1 and points["2026-10-05"].plays == 4
    utc = period(filters, "UTC", now)
    points = {p.bucket: p for p in reports.timeline(db.session, Scope(registration.id, utc.start, utc.end), utc, "UTC")}
    assert points["2026-10-04"].plays == 0 and points["2026-10-05"].plays == 5
    assert points["2026-10-05"].impressions == 6 and points["2026-10-05"].unique_viewers == 2
    assert points["2026-10-05"].minutes_viewed == round(215 / 60, 4)


def test_timeline_by_month_across_a_dst_change(db, registration):
    load(db, registration)
    filters = Filters(preset="custom", start=date(2026, 9, 1), end=date(2026, 11, 30), granularity="month")
    p = period(filters, "America/Chicago", datetime(2026, 12, 5, tzinfo=timezone.utc))
    points = reports.timeline(db.session, Scope(registration.id, p.start, p.end), p, "America/Chicago")
    assert [x.bucket for x in points] == ["2026-09", "2026-10", "2026-11"]
    assert [x.plays for x in points] == [0, 4, 0]


def test_entries_funnel_breakdowns_and_people(db, registration):
    load(db, registration)
    scope = Scope(registration.id)
    (row,) = reports.entries_table(db.session, scope)
    assert (row.external_id, row.plays, row.impressions, row.unique_viewers, row.avg_completion_rate) == ("1_e1", 4, 6, 2, 40.0)
    assert row.engagement == 5 + 2.5 + 1.0  # top in plays and viewers; min(0.025 x 40, 2.5) = 1.0
    steps = [(s.label, s.count) for s in reports.funnel(db.session, scope)]
    assert steps == [("Player impressions", 6), ("Plays", 4), ("Reached 25 %", 4), ("Reached 50 %", 3),
                     ("Reached 75 %", 2), ("Reached 100 %", 1)]
    domains = {r.value: r for r in reports.breakdown(db.session, scope, "domain")}
    assert domains["canvas.umn.edu"].impressions == 1 and domains[None].plays == 4
    countries = {r.value: r.impressions for r in reports.breakdown(db.session, scope, "country")}
    assert countries == {"US": 1, None: 5}
    devices = {r.value: r.impressions for r in reports.breakdown(db.session, scope, "device")}
    assert devices == {"desktop": 1, "other": 5}


def test_context_split_and_not_viewed_people(db, registration, launch_as):
    course = launch_as("student").course  # enrolled, never watched
    inside = dict(EVENTS[1], id="in-play", play_id="IN", playback_context="g1")
    ingest(registration.id, EVENTS + [inside])
    from lti_tool.models import Category

    gallery = db.session.scalar(select(Category).where(Category.external_id == "g1"))
    split = reports.context_split(db.session, Scope(registration.id, context_category_id=gallery.id))
    assert (split.inside, split.elsewhere) == (1, 4)
    rows = reports.people_engagement(db.session, Scope(registration.id), course.id)
    student = next(r for r in rows if r.engagement.name == "Student Tester")
    assert (student.viewed, student.role_label, student.engagement.plays) == (False, "Student", 0)
    assert db.session.scalar(select(MediaEntry.external_id)) == "1_e1"


def test_timeline_on_sqlite_matches(tmp_path):
    from lti_tool.extensions import db as _db

    app = embedded_app(tmp_path / "t.sqlite3")
    with app.app_context():
        reg = make_registration()
        ingest(reg.id, EVENTS + [LATE_PLAY])
        filters = Filters(preset="custom", start=date(2026, 10, 4), end=date(2026, 11, 3), granularity="day")
        p = period(filters, "America/Chicago", datetime(2026, 12, 1, tzinfo=timezone.utc))
        points = {x.bucket: x for x in reports.timeline(_db.session, Scope(reg.id, p.start, p.end), p, "America/Chicago")}
        assert points["2026-10-04"].plays == 1 and points["2026-10-05"].plays == 4 and len(points) == 31
