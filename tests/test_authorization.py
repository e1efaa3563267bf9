"""Authorization matrix: every guarded route x every level, no session, and another course's session."""
from __future__ import annotations

import pytest
from sqlalchemy import select


from .support.factories import make_registration

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


@pytest.mark.parametrize("person", sorted(ALLOWED))
@pytest.mark.parametrize("method, path, capability", ROUTES)
def test_level_matrix(launch_as, person, method, path, capability):
    viewer = launch_as(person)
    url = (path.format(id=viewer.course.id).replace("<path:external_id>", "1_unknown")
           .replace("<export_id>", "0" * 32))
    response = viewer.open(url, method=method, data=FORM if method == "POST" else None)
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
def test_session_of_another_course_is_403(launch_as, method, path, capability):
    course_a = launch_as("student", "course-a").course  # course-a exists, with a student's data in it
    teacher_b = launch_as("teacher", "course-b")
    url = (path.format(id=course_a.id).replace("<path:external_id>", "1_x")
           .replace("<export_id>", "0" * 32))
    response = teacher_b.open(url, method=method, data=FORM if method == "POST" else None)
    assert response.status_code == 403
    assert "Student Tester" not in response.text


def test_admin_opens_every_course_of_the_tenant(launch_as):
    other = launch_as("teacher", "course-a").course.id
    admin = launch_as("admin", "course-b")
    response = admin.get(f"/courses/{other}/")
    assert response.status_code == 200
    assert "Course course-a" in response.text and "Teacher Tester" in response.text
    listing = admin.get(f"/courses/{other}/admin/courses")
    assert "Course course-a" in listing.text and "Course course-b" in listing.text


def test_admin_of_another_tenant_sees_nothing(launch_as, canvas, registration, monkeypatch):
    course_a = launch_as("teacher", "course-a").course.id
    make_registration("20000000000002", issuer=canvas.issuer, deployment_ids=(canvas.deployment_id,),
                      auth_login_url=canvas.auth_login_url, auth_token_url=canvas.token_url,
                      key_set_url=canvas.jwks_url)
    with monkeypatch.context() as patch:
        patch.setattr(canvas, "client_id", "20000000000002")   # the same platform, another developer key
        admin = launch_as("admin", "course-a")
    response = admin.get(f"/courses/{course_a}/")
    assert response.status_code == 403
    assert "Teacher Tester" not in response.text


def test_expired_session_is_401(launch_as, db):
    from datetime import timedelta

    from lti_tool.models import ToolSession
    from lti_tool.models.types import utcnow

    teacher = launch_as("teacher")
    session = db.session.scalar(select(ToolSession))
    session.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = teacher.get(f"/courses/{session.course_id}/")
    assert response.status_code == 401
