"""Authorization matrix: every guarded route x every level, no session, and another course's session."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from lti_tool.models import Course

from .conftest import session_token

# (method, path template, capability) for every route behind the guard.
ROUTES = [
    ("GET", "/courses/{id}/", "course.view"),
    ("GET", "/courses/{id}/gallery/", "gallery"),
    ("GET", "/courses/{id}/my/", "my"),
    ("GET", "/courses/{id}/my-analytics/", "my"),
    # Entry pages check the entry too (tests/views/test_entry.py); an unknown entry is 404 for anyone.
    ("GET", "/courses/{id}/entries/<path:external_id>/", "entry-lookup"),
    ("GET", "/courses/{id}/rooms/", "rooms"),
    # Room pages look the room up after the guard: an unknown room is 404 for those who may open rooms.
    ("GET", "/courses/{id}/rooms/<path:external_id>/", "room-lookup"),
    ("GET", "/courses/{id}/settings", "course.settings"),
    ("POST", "/courses/{id}/settings", "course.settings"),
    ("POST", "/courses/{id}/settings/roster", "course.settings"),
    ("GET", "/courses/{id}/exports/", "exports"),
    ("GET", "/courses/{id}/exports/custom", "exports"),
    # The export dialog and the export itself need a kind: without one they are 400 for those who may export.
    ("GET", "/courses/{id}/exports/new", "exports-params"),
    ("POST", "/courses/{id}/exports/", "exports-params"),
    # An export's status is its owner's only: an unknown (or someone else's) export is 404 for those who may export.
    ("GET", "/courses/{id}/exports/<export_id>/status", "export-lookup"),
    ("GET", "/courses/{id}/admin/courses", "tenant.courses"),
    ("GET", "/courses/{id}/admin/tool", "tool.settings"),
    ("POST", "/courses/{id}/admin/tool", "tool.settings"),
    ("GET", "/courses/{id}/admin/embed-rules", "tool.settings"),
    ("GET", "/courses/{id}/admin/beacon-queue", "tool.settings"),
    ("POST", "/courses/{id}/admin/beacon-queue", "tool.settings"),
    ("GET", "/courses/{id}/embeds/audit", "domains"),
    ("GET", "/courses/{id}/embeds/mine", "my-media"),   # "my", and owning media: nobody here owns any
]
ALLOWED = {
    "teacher": {"course.view", "gallery", "rooms", "domains", "my", "course.settings", "exports"},
    "ta": {"course.view", "gallery", "rooms", "domains", "my", "exports"},
    "designer": {"course.view", "gallery", "rooms", "domains", "my", "exports"},
    "student": {"my"},
    "observer": {"my"},
    "admin": {"course.view", "gallery", "rooms", "domains", "my", "course.settings", "tenant.courses", "tool.settings", "exports"},
}
FORM = {"timezone": "America/Chicago", "default_timezone": "UTC", "unknown_deployment": "reject"}


def test_every_guarded_route_is_in_the_matrix(app):
    guarded = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if hasattr(view, "required_capability"):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                guarded.add((method, rule.rule.replace("<int:course_id>", "{id}")))
    assert guarded == {(m, p) for m, p, _ in ROUTES}


def _course_id(db, name, canvas):
    return db.session.scalar(select(Course.id).where(Course.context_id == canvas.context_id(name)))


@pytest.mark.parametrize("person", sorted(ALLOWED))
@pytest.mark.parametrize("method, path, capability", ROUTES)
def test_level_matrix(lti, db, canvas, person, method, path, capability):
    token = session_token(lti.open(person).text)
    url = (path.format(id=_course_id(db, "course-a", canvas)).replace("<path:external_id>", "1_unknown")
           .replace("<export_id>", "0" * 32))
    response = lti.client.open(url, method=method, data=FORM if method == "POST" else None,
                               headers={"X-Session-Token": token})
    expected = 404 if capability == "entry-lookup" else (200 if capability in ALLOWED[person] else 403)
    if capability == "room-lookup":
        expected = 404 if "rooms" in ALLOWED[person] else 403
    if capability == "my-media":
        expected = 403
    if capability in ("exports-params", "export-lookup"):
        expected = (400 if capability == "exports-params" else 404) if "exports" in ALLOWED[person] else 403
    assert response.status_code == expected, response.text[:500]
    if expected == 403:
        assert "You do not have access to this page" in response.text
        assert "Teacher Tester" not in response.text or person == "teacher"


@pytest.mark.parametrize("method, path, capability", ROUTES)
def test_no_session_is_401(client, db, method, path, capability):
    response = client.open(path.format(id=1).replace("<path:external_id>", "1_x").replace("<export_id>", "0" * 32),
                           method=method, data=FORM if method == "POST" else None)
    assert response.status_code == 401
    assert "Your session has ended" in response.text


@pytest.mark.parametrize("method, path, capability", ROUTES)
def test_session_of_another_course_is_403(lti, db, canvas, method, path, capability):
    lti.open("student", "course-a")  # course-a exists, with a student's data in it
    token = session_token(lti.open("teacher", "course-b").text)
    url = (path.format(id=_course_id(db, "course-a", canvas)).replace("<path:external_id>", "1_x")
           .replace("<export_id>", "0" * 32))
    response = lti.client.open(url, method=method, data=FORM if method == "POST" else None,
                               headers={"X-Session-Token": token})
    assert response.status_code == 403
    assert "Student Tester" not in response.text


def test_admin_opens_every_course_of_the_tenant(lti, db, canvas):
    lti.open("teacher", "course-a")
    token = session_token(lti.open("admin", "course-b").text)
    other = _course_id(db, "course-a", canvas)
    response = lti.client.get(f"/courses/{other}/", headers={"X-Session-Token": token})
    assert response.status_code == 200
    assert "Course course-a" in response.text and "Teacher Tester" in response.text
    listing = lti.client.get(f"/courses/{other}/admin/courses", headers={"X-Session-Token": token})
    assert "Course course-a" in listing.text and "Course course-b" in listing.text


def test_admin_of_another_tenant_sees_nothing(lti, db, canvas, registration):
    from lti_tool.registrations import RegistrationInput, upsert

    lti.open("teacher", "course-a")
    course_a = _course_id(db, "course-a", canvas)
    upsert(RegistrationInput(issuer=canvas.issuer, client_id="20000000000002", deployment_ids=(canvas.deployment_id,),
                             auth_login_url=canvas.auth_login_url, auth_token_url=canvas.token_url,
                             key_set_url=canvas.jwks_url))
    original = canvas.client_id
    canvas.client_id = "20000000000002"
    try:
        token = session_token(lti.open("admin", "course-a").text)
    finally:
        canvas.client_id = original
    response = lti.client.get(f"/courses/{course_a}/", headers={"X-Session-Token": token})
    assert response.status_code == 403
    assert "Teacher Tester" not in response.text


def test_expired_session_is_401(lti, db):
    from datetime import timedelta

    from lti_tool.models import ToolSession
    from lti_tool.models.types import utcnow

    page = lti.open("teacher")
    token = session_token(page.text)
    session = db.session.scalar(select(ToolSession))
    session.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = lti.client.get(f"/courses/{session.course_id}/", headers={"X-Session-Token": token})
    assert response.status_code == 401
