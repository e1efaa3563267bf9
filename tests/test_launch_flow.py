"""The whole OIDC login -> launch flow for each Canvas role, against a platform on loopback HTTP."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from lti_tool.models import Course, Enrollment, Person, PersonAlias, ToolSession

from .support.clients import session_token


def test_login_redirects_to_platform_with_oidc_parameters(lti, canvas):
    response = lti.login("teacher")
    assert response.status_code == 302
    assert response.location.startswith(canvas.auth_login_url + "?")
    params = canvas.auth_params(response.location)
    assert params["scope"] == "openid"
    assert params["response_type"] == "id_token"
    assert params["response_mode"] == "form_post"
    assert params["prompt"] == "none"
    assert params["client_id"] == canvas.client_id
    # The redirect URI is fixed, whatever target_link_uri said.
    assert params["redirect_uri"] == "http://localhost/lti/launch"
    assert params["login_hint"] == canvas.sub("teacher")
    assert params["lti_message_hint"]
    assert params["state"] and params["nonce"]
    cookie = response.headers["Set-Cookie"]
    for flag in ("Secure", "HttpOnly", "SameSite=None", "Partitioned", "Path=/lti"):
        assert flag in cookie


def test_login_accepts_get_as_well_as_post(client, canvas, registration):
    response = client.get("/lti/login", query_string=canvas.login_params("teacher"))
    assert response.status_code == 302
    assert response.location.startswith(canvas.auth_login_url)


def test_login_inside_an_iframe_checks_cookies_first(client, canvas, registration):
    response = client.post("/lti/login", data=canvas.login_params("teacher"), headers={"Sec-Fetch-Dest": "iframe"})
    assert response.status_code == 200
    assert "Open in a new tab" in response.text
    assert canvas.auth_login_url in response.text
    # The new-tab form re-enters login outside the frame, where it redirects at once.
    new_tab = client.post("/lti/login", data={**canvas.login_params("teacher"), "new_window": "1"},
                          headers={"Sec-Fetch-Dest": "iframe"})
    assert new_tab.status_code == 302


@pytest.mark.parametrize(
    "person, landing, visible, hidden",
    [
        ("teacher", "/courses/{id}/gallery/", ["Media Gallery analytics", "Course settings", "Teacher"], ["All courses"]),
        ("ta", "/courses/{id}/gallery/", ["Media Gallery analytics", "TA"], ["Course settings", "All courses"]),
        ("designer", "/courses/{id}/gallery/", ["Media Gallery analytics", "Designer"], ["Course settings", "All courses"]),
        ("student", "/courses/{id}/my/", ["My viewing", "Student"], ["Media Gallery", "People", "Course settings"]),
        ("observer", "/courses/{id}/my/", ["My viewing", "Observer"], ["Media Gallery", "People", "Course settings"]),
        ("admin", "/courses/{id}/gallery/", ["Media Gallery analytics", "All courses", "Tool settings", "Account admin"], []),
    ],
)
def test_each_role_lands_on_what_it_may_see(lti, db, person, landing, visible, hidden):
    response = lti.launch(person)
    assert response.status_code == 303
    course = db.session.scalar(select(Course))
    assert response.location.startswith(landing.format(id=course.id) + "?handoff=")
    page = lti.client.get(response.location)
    assert page.status_code == 200
    for text in visible:
        assert text in page.text
    for text in hidden:
        assert text not in page.text
    assert session_token(page.text)


def test_launch_saves_course_person_aliases_enrollment_and_session(lti, db, canvas):
    lti.open("teacher")
    course = db.session.scalar(select(Course))
    assert course.context_id == canvas.context_id("course-a")
    assert course.title == "Course course-a" and course.label == "COURSE-A"
    assert course.canvas_course_id == "4242" and course.api_domain == "canvas.test.edu"
    assert course.platform_guid == "CeADzK7hYmVbX0j:canvas-lms"
    person = db.session.scalar(select(Person))
    assert person.subject == canvas.sub("teacher")
    assert person.name == "Teacher Tester" and person.email == "teacher@test.edu"
    assert person.timezone == "America/Chicago"
    aliases = {(a.kind, a.value) for a in db.session.scalars(select(PersonAlias))}
    assert ("login_id", "teacher@test.edu") in aliases and ("sis_id", "SIS-teacher") in aliases
    enrollment = db.session.scalar(select(Enrollment))
    assert enrollment.level == "owner" and enrollment.role_label == "Teacher" and enrollment.launch_count == 1
    session = db.session.scalar(select(ToolSession))
    assert session.level == "owner" and session.timezone == "America/Chicago"
    assert session.token_hash and len(session.token_hash) == 64


def test_relaunch_updates_instead_of_duplicating(lti, db):
    lti.open("teacher")
    lti.open("teacher")
    assert db.session.scalar(select(func.count(Course.id))) == 1
    assert db.session.scalar(select(func.count(Person.id))) == 1
    assert db.session.scalar(select(Enrollment.launch_count)) == 2


def test_privacy_level_without_name_or_email_stores_none(lti, db):
    def anonymous(claims):
        for key in ("name", "given_name", "family_name", "email"):
            claims.pop(key)
    response = lti.launch("student", claims=anonymous)
    assert response.status_code == 303
    person = db.session.scalar(select(Person))
    assert person.name is None and person.email is None
    page = lti.client.get(response.location)
    assert "Unnamed user" in page.text


def test_launch_data_is_kept_in_redis_for_other_processes(lti, db, app):
    lti.open("teacher")
    session = db.session.scalar(select(ToolSession))
    from lti_tool.store import get_store

    stored = get_store().get(session.launch_id)
    assert stored["sub"] and stored["iss"]


def test_staff_in_one_course_is_a_student_in_another(lti, db, canvas):
    teacher = lti.launch("teacher", "course-a")
    assert "/courses/" in teacher.location and "/my/" not in teacher.location

    def as_learner(claims):
        claims["https://purl.imsglobal.org/spec/lti/claim/roles"] = [
            "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]
    student = lti.launch("teacher", "course-b", claims=as_learner)
    assert "/my/" in student.location
    levels = {e.level for e in db.session.scalars(select(Enrollment))}
    assert levels == {"owner", "viewer"}
