"""Whom a course's dashboards name: one rule on every surface (gallery page, single-media page, report
API, CSV export, PDF summary). People enrolled in the course are named; viewers of its media from
other courses are one "Viewers outside this course" row with numbers only, never a name or an email,
and never a Top viewer. Only the media's owners and co-editors see every viewer of their own media."""
from __future__ import annotations

import pytest
from flask import g
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from lti_tool.exports import pdf
from lti_tool.exports.csv_export import gallery_sections
from lti_tool.exports.selection import gallery_context, gallery_params
from lti_tool.ingest import tokens
from lti_tool.models import Person
from lti_tool.models.types import utcnow

from ..ingest.dataset import EVENTS, P1
from ..support.factories import add_to_gallery, entry, ingest

OCT = {"range": "custom", "from": "2026-10-01", "to": "2026-10-10"}
OUTSIDER, OUTSIDER_EMAIL = "Olga Outside", "olga@elsewhere.edu"
FOLDED = "Viewers outside this course"


@pytest.fixture
def course_world(launch_as, db, registration, canvas):
    """Course A whose gallery holds 1_e1: the data set's viewers (p1 named Olga, with an email) are in no
    course of the tool; the enrolled student watched it twice."""
    viewers = {"teacher": launch_as("teacher"), "student": launch_as("student")}
    course = viewers["teacher"].course
    own = [dict(e, id=f"s-{e['id']}", user=f"sub:{canvas.sub('student')}", play_id=f"S{e.get('play_id')}",
                load_id=f"s{e.get('load_id')}") for e in EVENTS[:6]]
    ingest(registration.id, EVENTS + own)
    outsider = db.session.scalar(select(Person).where(Person.subject == P1[4:]))
    outsider.name, outsider.email = OUTSIDER, OUTSIDER_EMAIL
    add_to_gallery(db.session, course, "1_e1")

    def page(who, path, **args):
        return viewers[who].get(f"/courses/{course.id}{path}", query_string={**OCT, **args})
    return {"course": course, "entry": entry(db.session, "1_e1"), "page": page, "db": db, "canvas": canvas,
            "registration": registration, "client": viewers["teacher"].client}


def assert_folded(text: str) -> None:
    assert FOLDED in text
    assert OUTSIDER not in text and OUTSIDER_EMAIL not in text


def test_gallery_people_table_and_top_viewers_fold_viewers_from_other_courses(course_world):
    html = course_world["page"]("teacher", "/gallery/").text
    assert_folded(html)
    top = html[html.index("<h2>Top viewers</h2>"):html.index('id="people"')]
    student = course_world["db"].session.scalar(select(Person).where(
        Person.subject == course_world["canvas"].sub("student"))).display_name
    assert student in top and FOLDED not in top     # an enrolled viewer is named; outsiders are no "top viewer"
    users = course_world["page"]("teacher", "/gallery/", details="users").text
    assert_folded(users[users.index('id="timeline"'):users.index('id="top"')])


def test_single_media_page_uses_the_same_rule_for_staff_and_admins(course_world, launch_as):
    assert_folded(course_world["page"]("teacher", "/entries/1_e1/").text)
    admin = launch_as("admin")
    html = admin.get(f"/courses/{course_world['course'].id}/entries/1_e1/", query_string=OCT).text
    assert_folded(html)
    outsider = course_world["db"].session.scalar(select(Person).where(Person.subject == P1[4:]))
    heat = admin.htmx("heatmap").get(f"/courses/{course_world['course'].id}/entries/1_e1/",
                                     query_string={**OCT, "person": outsider.id}).text
    assert OUTSIDER not in heat                        # no per-person heatmap of an outsider either


def test_the_owner_of_the_media_sees_every_viewer_of_it(course_world):
    db, canvas = course_world["db"], course_world["canvas"]
    student = db.session.scalar(select(Person).where(Person.subject == canvas.sub("student")))
    course_world["entry"].owner_person_id = student.id
    db.session.commit()
    html = course_world["page"]("student", "/entries/1_e1/").text
    assert OUTSIDER in html and FOLDED not in html
    mine = course_world["page"]("student", "/my-analytics/").text
    assert OUTSIDER in mine and FOLDED not in mine


def test_report_api_csv_and_pdf_fold_the_same_viewers(course_world):
    db, course, registration = course_world["db"], course_world["course"], course_world["registration"]
    token = tokens.create(registration.id)[1]
    body = course_world["client"].get("/api/v1/reports/user-engagement", query_string={**OCT, "course": course.id},
                                      headers={"Authorization": f"Bearer {token}"}).get_json()
    names = [r["name"] for r in body["data"]["rows"]]
    assert FOLDED in names and OUTSIDER not in names
    assert all(r["email"] != OUTSIDER_EMAIL for r in body["data"]["rows"])
    for name in ("viewer", "course"):  # as in a worker: nothing left over from the launches' requests
        g.pop(name, None)
    params = gallery_params(db.session, course, MultiDict(OCT), "UTC", utcnow())
    sections = {s.title: list(s.rows()) for s in gallery_sections(gallery_context(db.session, course, params),
                                                                  include_events=True)}
    assert FOLDED in [row[0] for row in sections["User engagement"]]
    assert all(OUTSIDER not in map(str, row) and OUTSIDER_EMAIL not in map(str, row)
               for title in ("User engagement", "Player events") for row in sections[title])
    summary = pdf.gallery_summary(db.session, course.id, OCT, "UTC")
    assert summary.top_viewers and OUTSIDER not in [v.name for v in summary.top_viewers]
