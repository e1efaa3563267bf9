"""The report API (GET /api/v1/reports/<name>) over the hand-computed data set of tests/ingest/dataset.py.

Entry 1_e1 is put into the course's Media Gallery; every number below is worked out by hand in
dataset.py, tests/ingest/test_metrics.py or tests/analytics/test_reports.py.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from lti_tool.analytics.definitions import METRICS
from lti_tool.analytics.scopes import gallery_of
from lti_tool.ingest import tokens
from lti_tool.models import Course, Enrollment, Person
from lti_tool.views.api.reports import REPORTS

from ..ingest.dataset import EVENTS, EXPECTED, LATE_PAUSE, LATE_PLAY, P1, P2, P3
from ..support.factories import another_tenant, ingest

# The data set's day, read in UTC unless a test says otherwise.
DAY = {"range": "custom", "from": "2026-10-05", "to": "2026-10-05", "tz": "UTC"}


@pytest.fixture
def token(registration):
    return tokens.create(registration.id)


@pytest.fixture
def auth(token):
    return {"Authorization": f"Bearer {token[1]}"}


@pytest.fixture
def course(db, gallery_course):
    """A launched course whose gallery holds 1_e1, with the data set's events stored."""
    course = gallery_course(EVENTS, ["1_e1"])
    # The data set's viewers are students of the course, so its people reports name them
    # (tests/views/test_people_rule.py: viewers from elsewhere are folded into one row).
    for person in db.session.scalars(select(Person).where(Person.subject.in_([P[4:] for P in (P1, P2, P3)]))):
        db.session.add(Enrollment(course_id=course.id, person_id=person.id, roles=[], level="viewer",
                                  role_label="Student"))
    db.session.commit()
    return course


def get(client, auth, name, **args):
    """The report with the data set's day as the range; an argument given as None is left out."""
    query = {key: value for key, value in {**DAY, **args}.items() if value is not None}
    return client.get(f"/api/v1/reports/{name}", query_string=query, headers=auth)


def data(client, auth, name, **args):
    response = get(client, auth, name, **args)
    assert response.status_code == 200, response.text
    return response.get_json()["data"]


def person_ids(db) -> dict[str, int]:
    return {p.subject: p.id for p in db.session.scalars(select(Person))}


def test_gallery_highlights_are_the_hand_computed_numbers(client, auth, course):
    response = get(client, auth, "gallery-highlights", course=course.id)
    assert response.status_code == 200
    body = response.get_json()
    assert body["report"] == "gallery-highlights"
    assert body["subject"] == {"type": "course", "id": course.id, "title": course.title, "label": course.label,
                               "timezone": None}
    assert body["filters"] == {"range": "custom", "from": "2026-10-05", "to": "2026-10-05"}
    assert body["period"] == {"first_day": "2026-10-05", "last_day": "2026-10-05", "timezone": "UTC",
                              "granularity": "day", "compare": None}
    assert body["metrics"]["avg_drop_off"] == {"label": METRICS["avg_drop_off"].label,
                                               "definition": METRICS["avg_drop_off"].definition, "unit": "fraction"}
    current = body["data"]["current"]
    for name, value in EXPECTED.items():
        assert current[name] == pytest.approx(value), name
    assert (current["plays"], current["impressions"], current["unique_viewers"]) == (4, 6, 2)
    assert (current["avg_completion_rate"], current["avg_drop_off"]) == (40.0, 0.625)
    assert current["anonymous_share"] == 0.25
    assert body["data"]["previous"] is None and body["data"]["change"] is None
    assert body["data"]["data_as_of"] == "2026-10-05T15:00:00+00:00"  # impression i6, the newest fact


def test_entry_reports_give_the_same_numbers_for_the_entry(client, auth, course):
    gallery = data(client, auth, "gallery-highlights", course=course.id)
    body = get(client, auth, "entry-highlights", entry="1_e1").get_json()
    assert body["subject"]["type"] == "entry" and body["subject"]["id"] == "1_e1"
    assert body["data"]["current"] == gallery["current"]
    assert [p["plays"] for p in data(client, auth, "entry-timeline", entry="1_e1")["points"]] == [4]


def test_timeline_top_entries_funnel_and_context(client, auth, course):
    (point,) = data(client, auth, "gallery-timeline", course=course.id)["points"]
    assert point == {"bucket": "2026-10-05", "impressions": 6, "plays": 4, "unique_viewers": 2,
                     "minutes_viewed": round(155 / 60, 4), "avg_drop_off": 0.625, "avg_completion_rate": 40.0,
                     "first_day": "2026-10-05", "last_day": "2026-10-05"}
    top = data(client, auth, "top-entries", course=course.id)
    (row,) = top["rows"]
    assert top["total"] == 1
    assert (row["external_id"], row["plays"], row["impressions"], row["unique_viewers"]) == ("1_e1", 4, 6, 2)
    assert (row["avg_completion_rate"], row["engagement"]) == (40.0, 8.5)
    assert row["last_played_at"] == "2026-10-05T13:00:05+00:00"
    steps = data(client, auth, "funnel", course=course.id)["steps"]
    assert [(s["label"], s["count"]) for s in steps] == [
        ("Player impressions", 6), ("Plays", 4), ("Reached 25 %", 4), ("Reached 50 %", 3), ("Reached 75 %", 2),
        ("Reached 100 %", 1)]
    assert data(client, auth, "viewing-context", course=course.id) == {"inside": 0, "elsewhere": 4}
    reach = data(client, auth, "funnel", course=course.id, milestone="75")["reach"]   # as the page's milestone list
    for bad in ("60", "x", "75.0"):
        refused = get(client, auth, "funnel", course=course.id, milestone=bad)
        assert refused.status_code == 400 and refused.get_json()["error"] == "milestone must be one of 25, 50, 75, 100"
    assert reach["milestone"] == 75
    assert [(r["name"], r["reached"], r["plays"]) for r in reach["entries"]] == [("1_e1", 2, 4)]     # plays B and C
    # The data set's viewers are enrolled here: p1 (play B of A and B), then p2 (play C), each by id.
    assert [(r["reached"], r["plays"]) for r in reach["people"]] == [(1, 2), (1, 1)]
    assert all(r["key"] for r in reach["people"])
    assert data(client, auth, "funnel", course=course.id)["reach"] is None


def test_user_engagement_lists_each_person_and_the_enrolled_who_watched_nothing(client, auth, course, db):
    ids = person_ids(db)
    rows = {r["person_id"]: r for r in data(client, auth, "user-engagement", course=course.id)["rows"]}
    p1, p2, p3, unknown = rows[ids[P1[4:]]], rows[ids[P2[4:]]], rows[ids[P3[4:]]], rows[None]
    assert (p1["impressions"], p1["plays"], p1["minutes_viewed"]) == (2, 2, round(110 / 60, 4))
    assert (p1["avg_completion_rate"], p1["total_completion_rate"], p1["viewed"]) == (56.0, 100.0, True)
    assert (p2["plays"], p2["avg_completion_rate"], p2["total_completion_rate"]) == (1, 22.0, 22.0)
    assert (p3["impressions"], p3["plays"], p3["avg_completion_rate"], p3["viewed"]) == (1, 0, None, True)
    assert (unknown["name"], unknown["impressions"], unknown["plays"], unknown["email"]) == ("Unknown", 2, 1, None)
    teacher = next(r for r in rows.values() if r["name"] == "Teacher Tester")
    assert (teacher["viewed"], teacher["plays"], teacher["email"]) == (False, 0, "teacher@test.edu")
    assert teacher["role_label"]


def test_user_engagement_search_sort_and_pages(client, auth, course, db):
    ids = person_ids(db)
    found = data(client, auth, "user-engagement", course=course.id, q="TEACHER@test")
    assert [r["name"] for r in found["rows"]] == ["Teacher Tester"] and found["total"] == 1
    by_completion = data(client, auth, "user-engagement", course=course.id, sort="avg_completion_rate")
    # p1 56, the Unknown row 26 (play D alone), p2 22: the Unknown row is placed by its numbers like any row;
    # p3 and the teacher have no plays, so no value: after them, as on the page (one table rule: analytics.tables).
    assert [r["avg_completion_rate"] for r in by_completion["rows"]] == [56.0, 26.0, 22.0, None, None]
    ascending = data(client, auth, "user-engagement", course=course.id, sort="plays", dir="asc")
    assert [r["plays"] for r in ascending["rows"]] == [0, 0, 1, 1, 2]   # the Unknown row (1 play) among the ones
    page = data(client, auth, "user-engagement", course=course.id, per_page="2", page="2")
    assert (page["total"], page["pages"], page["page"], len(page["rows"])) == (5, 3, 2, 2)
    first = data(client, auth, "user-engagement", course=course.id, per_page="2")["rows"]
    assert first[0]["person_id"] == ids[P1[4:]]
    assert data(client, auth, "user-engagement", course=course.id, page="9")["rows"] == []


def test_entry_heatmap_with_a_persons_levels(client, auth, course, db):
    ids = person_ids(db)
    heat = data(client, auth, "entry-heatmap", entry="1_e1")
    points = heat["points"]
    assert len(points) == 101 and heat["person_levels"] is None
    assert (points[5]["plays"], points[5]["viewers"]) == (3, 2)     # plays A, C, D; p1 and p2
    assert (points[45]["plays"], points[45]["viewers"]) == (2, 1)   # A, B: both p1
    assert (points[85]["plays"], points[85]["viewers"]) == (2, 2)   # B, C
    assert (points[95]["plays"], points[95]["viewers"]) == (1, 1)   # B
    levels = data(client, auth, "entry-heatmap", entry="1_e1", person=str(ids[P1[4:]]))["person_levels"]
    assert levels == [1] * 40 + [2] * 11 + [1] * 50


def test_breakdowns_by_country_device_domain_and_page(client, auth, course):
    countries = data(client, auth, "countries", course=course.id)
    assert countries["level"] == "country"
    assert {r["value"]: r["impressions"] for r in countries["rows"]} == {"US": 1, None: 5}
    devices = data(client, auth, "devices", course=course.id)
    assert {r["value"]: r["impressions"] for r in devices["device_types"]["rows"]} == {"desktop": 1, "other": 5}
    assert {r["value"] for r in devices["os"]["rows"]} >= {"Windows"}
    assert {r["value"] for r in devices["browsers"]["rows"]} >= {"Chrome"}
    domains = {r["value"]: r for r in data(client, auth, "domains", course=course.id)["rows"]}
    assert domains["canvas.umn.edu"]["impressions"] == 1 and domains[None]["plays"] == 4
    urls = data(client, auth, "page-urls", course=course.id, domain="canvas.umn.edu")
    assert [(r["value"], r["impressions"]) for r in urls["rows"]] == [
        ("https://canvas.umn.edu/courses/1/pages/week-1", 1)]
    assert get(client, auth, "page-urls", course=course.id).status_code == 400  # a drill-down of one domain
    limited = data(client, auth, "countries", course=course.id, limit="1")
    assert len(limited["rows"]) == 1 and limited["total"] == 2


def test_countries_drill_down_to_regions_and_cities(client, auth, course, registration):
    located = [{"id": f"x{i}", "type": "impression", "time": "2026-10-05T16:00:00Z", "entry_id": "1_e1",
                "location": {"country": "US", "region": region, "city": city}}
               for i, (region, city) in enumerate([("Minnesota", "Minneapolis"), ("Minnesota", "Duluth"),
                                                   ("Texas", "Austin")])]
    ingest(registration.id, located)
    regions = data(client, auth, "countries", course=course.id, country="US")
    assert regions["level"] == "region"
    assert {r["value"]: r["impressions"] for r in regions["rows"]} == {"Minnesota": 2, "Texas": 1, None: 1}
    cities = data(client, auth, "countries", course=course.id, country="US", region="Minnesota")
    assert cities["level"] == "city"
    assert {r["value"]: r["impressions"] for r in cities["rows"]} == {"Minneapolis": 1, "Duluth": 1}


@pytest.mark.parametrize("args, expected", [
    ({}, (6, 4, 2)),
    ({"from": "2026-09-01", "to": "2026-09-30"}, (0, 0, 0)),          # a range without data: zeros
    ({"device": "desktop"}, (1, 0, 0)),                                 # only impression i1 is from a desktop
    ({"device": "mobile"}, (0, 0, 0)),
    ({"domain": "canvas.umn.edu"}, (1, 0, 0)),                          # only i1 names its page
    ({"country": "US"}, (1, 0, 0)),                                     # only i1 has an IP address
    ({"context": "outside"}, (6, 4, 2)),                                # nothing was played inside the gallery page
    ({"context": "inside"}, (0, 0, 0)),
    ({"media_type": "audio"}, (0, 0, 0)),                               # 1_e1 is a video
    ({"media_type": "video", "unknown_argument": "ignored"}, (6, 4, 2)),
])
def test_filters_narrow_the_numbers(client, auth, course, args, expected):
    current = data(client, auth, "gallery-highlights", course=course.id, **args)["current"]
    assert (current["impressions"], current["plays"], current["unique_viewers"]) == expected


def test_viewing_context_inside_and_outside_the_gallery_page(client, auth, course, registration, db):
    gallery = gallery_of(db.session, course)
    inside = [dict(EVENTS[1], id="in-play", play_id="IN", playback_context=gallery.external_id),
              dict(EVENTS[2], id="in-pause", play_id="IN")]
    ingest(registration.id, inside)
    assert data(client, auth, "viewing-context", course=course.id) == {"inside": 1, "elsewhere": 4}
    inside_only = data(client, auth, "gallery-highlights", course=course.id, context="inside")["current"]
    outside = data(client, auth, "gallery-highlights", course=course.id, context="outside")["current"]
    assert (inside_only["plays"], inside_only["unique_viewers"], inside_only["impressions"]) == (1, 1, 0)
    assert (outside["plays"], outside["unique_viewers"], outside["impressions"]) == (4, 2, 6)


def test_compare_with_a_previous_period_without_data(client, auth, course):
    body = get(client, auth, "gallery-highlights", course=course.id, compare="previous").get_json()
    assert body["filters"]["compare"] == "previous"
    assert body["period"]["compare"] == {"first_day": "2026-10-04", "last_day": "2026-10-04"}
    current, previous, change = body["data"]["current"], body["data"]["previous"], body["data"]["change"]
    assert (current["plays"], current["impressions"]) == (4, 6)
    assert (previous["plays"], previous["impressions"], previous["unique_viewers"]) == (0, 0, 0)
    assert previous["avg_completion_rate"] is None
    assert set(change) >= {"plays", "impressions", "unique_viewers"} and set(change.values()) == {None}
    timeline = data(client, auth, "gallery-timeline", course=course.id, compare="previous")
    assert [(p["bucket"], p["plays"]) for p in timeline["points"]] == [("2026-10-05", 4)]
    # Drawn on the current period's bucket, holding the compare period's day.
    assert [(p["bucket"], p["first_day"], p["plays"], p["impressions"]) for p in timeline["compare_points"]] == [
        ("2026-10-05", "2026-10-04", 0, 0)]


def test_compare_change_is_relative_to_the_previous_period(client, auth, course):
    # Oct 6 against Oct 5: everything fell to zero, a change of -100 %.
    fell = get(client, auth, "gallery-highlights", course=course.id, compare="previous",
               **{"from": "2026-10-06", "to": "2026-10-06"}).get_json()["data"]
    assert fell["previous"]["plays"] == 4 and fell["current"]["plays"] == 0
    assert fell["change"]["plays"] == -1.0 and fell["change"]["impressions"] == -1.0


def test_local_days_follow_the_time_zone(client, auth, course, registration):
    # A play at 23:30 on Oct 4 in Chicago is Oct 5 04:30 in UTC.
    ingest(registration.id, [LATE_PLAY, LATE_PAUSE])
    two_days = {"from": "2026-10-04", "to": "2026-10-05"}
    chicago = get(client, auth, "gallery-timeline", course=course.id, tz="America/Chicago", **two_days).get_json()
    assert chicago["period"]["timezone"] == "America/Chicago"
    assert [(p["bucket"], p["plays"]) for p in chicago["data"]["points"]] == [("2026-10-04", 1), ("2026-10-05", 4)]
    utc = data(client, auth, "gallery-timeline", course=course.id, tz="UTC", **two_days)
    assert [(p["bucket"], p["plays"]) for p in utc["points"]] == [("2026-10-04", 0), ("2026-10-05", 5)]
    # The day Oct 5 alone: in Chicago it starts at 05:00 UTC, after the late play.
    one_day = data(client, auth, "gallery-highlights", course=course.id, tz="America/Chicago")["current"]
    assert one_day["plays"] == 4


def test_time_zone_defaults_to_the_course_then_the_registration(client, auth, course, registration, db):
    assert get(client, auth, "funnel", course=course.id, tz=None).get_json()["period"]["timezone"] == "UTC"
    registration.default_timezone = "Europe/Berlin"
    db.session.commit()
    assert get(client, auth, "funnel", entry="1_e1", tz=None).get_json()["period"]["timezone"] == "Europe/Berlin"
    course.timezone = "America/Chicago"
    db.session.commit()
    assert get(client, auth, "funnel", course=course.id, tz=None).get_json()["period"]["timezone"] == "America/Chicago"


@pytest.fixture
def other_registration(db, registration):
    """Another tenant with its own course and entry."""
    other = another_tenant()
    foreign_course = Course(registration_id=other.id, context_id="foreign", title="Foreign")
    db.session.add(foreign_course)
    db.session.commit()
    ingest(other.id, [dict(EVENTS[0], id="f1", entry_id="2_foreign")])
    return other, foreign_course


def test_access(client, auth, course, token, other_registration, db):
    _other, foreign_course = other_registration
    assert client.get(f"/api/v1/reports/funnel?course={course.id}").status_code == 401
    assert client.get(f"/api/v1/reports/funnel?course={course.id}",
                      headers={"Authorization": "Bearer mat_wrong"}).status_code == 401
    # Another tenant's ids are answered as missing ones (tests/views/test_report_api_tenants.py).
    assert get(client, auth, "funnel", course=foreign_course.id).status_code == 404
    assert get(client, auth, "funnel", entry="2_foreign").status_code == 404
    assert get(client, auth, "funnel", course=999999).status_code == 404
    assert get(client, auth, "funnel", entry="1_nope").status_code == 404
    tokens.revoke(token[0].id)
    assert get(client, auth, "funnel", course=course.id).status_code == 401


@pytest.mark.parametrize("name, args, status, message", [
    ("gallery-highlights", {"range": "forever"}, 400, "range must be one of"),
    ("gallery-highlights", {"from": "2026-10-05", "to": "2026-10-01"}, 400, "must end after it starts"),
    ("gallery-highlights", {"device": "toaster"}, 400, "device must be among"),
    ("gallery-highlights", {"tz": "Mars/Olympus"}, 400, "is not a time zone"),
    ("gallery-highlights", {"course": None}, 400, "needs exactly one subject: course="),
    ("gallery-highlights", {"entry": "1_e1"}, 400, "needs exactly one subject: course="),   # both
    ("gallery-highlights", {"course": "abc"}, 400, "course must be the tool's course id"),
    ("gallery-highlights", {"course": "\u00b2"}, 400, "course must be the tool's course id"),  # a digit to isdigit
    ("entry-heatmap", {"course": None}, 400, "needs exactly one subject: entry="),
    ("entry-heatmap", {"course": None, "entry": "1_e1", "person": "me"}, 400, "person must be an integer"),
    ("funnel", {"entry": "1_e1"}, 400, "course= or entry="),                                # both
    ("user-engagement", {"per_page": "5000"}, 400, "per_page must be an integer from 1 to 200"),  # not clamped
    ("user-engagement", {"sort": "password"}, 400, "sort must be one of"),
    ("top-entries", {"limit": "0"}, 400, "limit must be an integer from 1 to 500"),
    ("top-entries", {"limit": "9" * 40}, 400, "limit must be an integer from 1 to 500"),
    ("top-entries", {"limit": "-1"}, 400, "limit must be an integer from 1 to 500"),
    ("no-such-report", {}, 404, "no such report"),
])
def test_bad_input(client, auth, course, name, args, status, message):
    response = get(client, auth, name, **{"course": course.id, **args})
    assert response.status_code == status, response.text
    assert message in response.get_json()["error"]


def test_an_unknown_report_lists_the_reports(client, auth, course):
    body = get(client, auth, "gallery-higlights", course=course.id).get_json()
    assert body["reports"] == list(REPORTS) and "gallery-highlights" in body["reports"]


def test_every_report_answers_and_is_documented(client, auth, course):
    doc = client.get("/api/v1/openapi.json").get_json()["paths"]["/reports/{id}"]
    assert doc["parameters"][0]["schema"]["enum"] == list(REPORTS)
    for name, report in REPORTS.items():
        if report.subjects == ("room",):
            continue  # needs a room: tests/rooms/test_room_page.py::test_every_room_report_answers_and_is_documented
        subject = {"course": course.id} if "course" in report.subjects else {"entry": "1_e1"}
        extra = {"domain": "canvas.umn.edu"} if name in ("page-urls", "embed-pages") else {}
        body = get(client, auth, name, **subject, **extra).get_json()
        assert body["report"] == name and set(body["metrics"]) == set(report.metrics), name
        assert name in doc["get"]["description"]
