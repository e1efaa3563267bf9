"""Filters no page offers, typed into the address: a clear 4xx (or, for a chosen person that cannot
exist, the page without them), never a 500. And when a request fails with the database transaction
aborted, the error page is still ours."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from lti_tool.models import Room
from lti_tool.models.types import utcnow

from ..support.clients import Requests
from ..support.factories import add_to_gallery, bearer, ingest
from ..support.rows import row_counts

FAR_RANGE = "range=custom&from=9990-01-01&to=9999-12-31"


@pytest.fixture
def course_pages(launch_as, db, registration):
    """A teacher's session on a course whose gallery holds entry 1_e1 (viewed yesterday) and which has
    room room-1; get(path, query) opens a page, api(name, query) a report with an ingest token."""
    teacher = launch_as("teacher")
    course = teacher.course
    yesterday = utcnow().replace(microsecond=0).timestamp() - 86400
    ingest(registration.id, [{"id": "i1", "type": "impression", "time": yesterday, "entry_id": "1_e1",
                              "user": "sub:viewer"},
                             {"id": "p1", "type": "play", "time": yesterday + 5, "entry_id": "1_e1",
                              "user": "sub:viewer", "play_id": "p", "position": 0}])
    db.session.add(Room(registration_id=registration.id, external_id="room-1", name="Week 1", course_id=course.id,
                        created_at=utcnow()))
    add_to_gallery(db.session, course, "1_e1")
    reports = Requests(teacher.client, bearer(registration.id, "reports"))

    def get(path: str, query: str = ""):
        return teacher.get(f"/courses/{course.id}/{path}?{query}")

    def api(name: str, query: str):
        return reports.get(f"/api/v1/reports/{name}?{query}")

    get.course, get.api, get.teacher = course, api, teacher
    return get


def test_the_fixture_pages_open(course_pages):
    for path in ("gallery/", "rooms/room-1/", "embeds/audit", "entries/1_e1/"):
        assert course_pages(path).status_code == 200, path
    course = course_pages.course.id
    for name, query in (("gallery-timeline", f"course={course}"), ("room-timeline", "room=room-1"),
                        ("gallery-highlights", f"course={course}")):
        assert course_pages.api(name, query).status_code == 200, name


@pytest.mark.parametrize("path", ["gallery/", "rooms/room-1/", "embeds/audit", "entries/1_e1/", "my-analytics/"])
@pytest.mark.parametrize("query", [FAR_RANGE, "range=custom&from=9999-12-30&to=9999-12-31",
                                   "range=custom&from=0001-01-01&to=0001-01-02", "owner=99999999999999999999",
                                   "owner=2147483648", "owner=-1", "tag=a%00b", "country=U%00", "q=%00",
                                   "drill_domain=%00", "range=last7&compare=previous&from=%00"])
def test_pages_refuse_filters_that_cannot_be_used(course_pages, path, query):
    response = course_pages(path, query)
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert "cannot be used" in response.text or "could not be understood" in response.text


@pytest.mark.parametrize("name, subject", [("gallery-timeline", "course"), ("gallery-highlights", "course"),
                                           ("room-timeline", "room"), ("room-overview", "room")])
@pytest.mark.parametrize("query", [FAR_RANGE, "owner=99999999999999999999", "tag=a%00b"])
def test_reports_refuse_filters_that_cannot_be_used(course_pages, name, subject, query):
    value = course_pages.course.id if subject == "course" else "room-1"
    response = course_pages.api(name, f"{subject}={value}&{query}")
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert response.get_json()["error"]


def test_the_custom_range_says_which_dates_it_takes(course_pages):
    body = course_pages.api("gallery-timeline", f"course={course_pages.course.id}&{FAR_RANGE}").get_json()
    assert "2199-12-31" in body["error"]
    latest = course_pages.api("gallery-timeline", f"course={course_pages.course.id}&range=custom"
                                                  "&from=2190-01-01&to=2199-12-31")
    assert latest.status_code == 200, latest.text


@pytest.mark.parametrize("person", ["99999999999", "2147483648", "-5", "0", "1e3"])
def test_an_entry_page_with_a_person_that_cannot_exist_shows_the_entry(course_pages, person):
    response = course_pages("entries/1_e1/", f"person={person}")
    assert response.status_code == 200, response.text[:300]


@pytest.mark.parametrize("course", ["111111111111", "2147483648", "99999999999999999999"])
def test_a_report_on_a_course_id_that_cannot_exist_is_not_found(course_pages, course):
    response = course_pages.api("gallery-highlights", f"course={course}")
    assert response.status_code in (400, 404), response.text
    assert response.get_json()["error"]


@pytest.mark.parametrize("query", ["entry=a%00b", "room=a%00b", "course=1%00"])
def test_a_report_subject_with_nul_is_refused(course_pages, query):
    name = "room-overview" if query.startswith("room") else "gallery-highlights"
    assert course_pages.api(name, query).status_code == 400


@pytest.mark.parametrize("course_id", ["2147483648", "99999999999999999999"])
def test_a_course_id_in_the_address_that_cannot_exist(course_pages, course_id):
    response = course_pages.teacher.get(f"/courses/{course_id}/gallery/")
    assert response.status_code in (403, 404)


@pytest.mark.parametrize("path", ["gallery/", "embeds/audit", "rooms/room-1/", "entries/1_e1/"])
@pytest.mark.parametrize("target", ["dashboard", "no-such-block", ""])
def test_an_htmx_target_the_page_lacks_gets_the_whole_page(course_pages, path, target):
    response = course_pages.teacher.htmx(target).get(f"/courses/{course_pages.course.id}/{path}")
    assert response.status_code == 200


def test_the_error_page_is_ours_when_the_transaction_was_aborted(course_pages, app, monkeypatch):
    """A failure that leaves the database transaction aborted: the error page still renders (it reads
    the viewer's name from the database) instead of the server's bare text."""
    import lti_tool.analytics.context as context_module

    def failing_scope(session, *args, **kwargs):
        session.execute(text("SELECT 1 / 0"))

    with monkeypatch.context() as patch:
        patch.setattr(context_module, "course_scope", failing_scope)
        patch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
        response = course_pages("gallery/")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.text and "<!doctype html>" in response.text
    # The session goes on: the next page opens.
    assert course_pages("rooms/room-1/").status_code == 200



@pytest.mark.parametrize("form, status", [
    ({"kind": "room-csv", "room": "a\u0000b"}, 400),
    ({"kind": "room-pdf", "room": "room-1", "session": "s\u0000"}, 400),
    ({"kind": "gallery-csv", "tag": "a\u0000b"}, 400),
    ({"kind": "gallery-csv", "range": "custom", "from": "9990-01-01", "to": "9999-12-31"}, 422),
    ({"kind": "gallery-pdf", "owner": "99999999999999999999"}, 422),
])
def test_an_export_asked_with_filters_that_cannot_be_used_is_refused(course_pages, db, form, status):
    before = row_counts(db)
    response = course_pages.teacher.htmx().post(f"/courses/{course_pages.course.id}/exports/", data=form)
    assert response.status_code == status, response.text[:300]
    assert row_counts(db) == before
