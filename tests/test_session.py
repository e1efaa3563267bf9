"""The tool session inside Canvas's iframe: hand-off, header token, cookie flags, CSRF, framing."""
from __future__ import annotations

from lti_tool.models import Course

from .support.clients import session_token


def test_handoff_sets_a_partitioned_cookie_and_embeds_the_header_token(lti):
    response = lti.launch("teacher")
    page = lti.client.get(response.location)
    cookie = page.headers["Set-Cookie"]
    assert cookie.startswith("ma_session=")
    for flag in ("Secure", "HttpOnly", "SameSite=None", "Partitioned", "Path=/"):
        assert flag in cookie
    token = session_token(page.text)
    assert f"ma_session={token}" in cookie


def test_handoff_code_works_once(lti, app):
    response = lti.launch("teacher")
    assert lti.client.get(response.location).status_code == 200
    fresh = app.test_client()  # another browser that got hold of the URL
    assert fresh.get(response.location).status_code == 401


def test_header_token_works_without_any_cookie(launch_as, app):
    teacher = launch_as("teacher")
    no_cookies = app.test_client()
    response = no_cookies.get(f"/courses/{teacher.course.id}/", headers={"X-Session-Token": teacher.token})
    assert response.status_code == 200
    assert "<h1>People</h1>" in response.text


def test_cookie_alone_serves_pages_but_never_a_change(lti, launch_as, db):
    course_id = launch_as("teacher").course.id
    assert lti.client.get(f"/courses/{course_id}/settings").status_code == 200
    refused = lti.client.post(f"/courses/{course_id}/settings", data={"timezone": "Europe/Paris"})
    assert refused.status_code == 401
    db.session.expire_all()
    assert db.session.get(Course, course_id).timezone is None


def test_settings_change_with_header_token(launch_as, db):
    teacher = launch_as("teacher")
    course_id = teacher.course.id
    response = teacher.htmx("course-settings").post(f"/courses/{course_id}/settings", data={"timezone": "Europe/Paris"})
    assert response.status_code == 200
    assert "Settings saved." in response.text
    assert "<html" not in response.text  # only the form block for htmx
    assert response.text.lstrip().startswith('<form id="course-settings"')
    db.session.expire_all()
    assert db.session.get(Course, course_id).timezone == "Europe/Paris"


def test_bad_settings_are_refused_and_change_nothing(launch_as, db):
    teacher = launch_as("teacher")
    course_id = teacher.course.id
    for value in ("Mars/Olympus", "x" * 5000, "<script>"):
        response = teacher.htmx("course-settings").post(f"/courses/{course_id}/settings", data={"timezone": value})
        assert response.status_code == 422
        assert "is not a time zone name" in response.text
        assert "<script>" not in response.text
    db.session.expire_all()
    assert db.session.get(Course, course_id).timezone is None


def test_oversized_request_is_refused(launch_as, db):
    teacher = launch_as("teacher")
    course_id = teacher.course.id
    response = teacher.post(f"/courses/{course_id}/settings", data={"timezone": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    db.session.expire_all()
    assert db.session.get(Course, course_id).timezone is None


def test_garbage_tokens_are_401(client, db):
    for token in ("", "nope", "x" * 5000, "' OR 1=1 --"):
        response = client.get("/courses/1/", headers={"X-Session-Token": token})
        assert response.status_code == 401


def test_dashboard_pages_may_be_framed_only_by_the_registration_hosts(lti):
    page = lti.open("teacher")
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://canvas.test.edu;" in csp
    assert "X-Frame-Options" not in page.headers
    assert page.headers["Cache-Control"] == "no-store"


def test_pages_outside_a_session_forbid_framing(client, db):
    response = client.get("/courses/1/")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_htmx_requests_vary_on_hx_request(launch_as):
    admin = launch_as("admin")
    course_id = admin.course.id
    response = admin.htmx("course-table").get(f"/courses/{course_id}/admin/courses?q=course")
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    assert response.text.lstrip().startswith('<div id="course-table"')
    full = admin.get(f"/courses/{course_id}/admin/courses?q=course")
    assert "<html" in full.text and 'id="course-table"' in full.text


def test_admin_course_search_filters_and_says_when_nothing_matches(launch_as):
    admin = launch_as("admin")
    response = admin.get(f"/courses/{admin.course.id}/admin/courses?q=zzz")
    assert "No course matches" in response.text


def test_tool_settings_update_and_validation(launch_as, db, registration):
    admin = launch_as("admin")
    url = f"/courses/{admin.course.id}/admin/tool"
    bad = admin.post(url, data={"default_timezone": "UTC", "unknown_deployment": "sometimes"})
    assert bad.status_code == 422 and "Choose reject or accept." in bad.text
    ok = admin.post(url, data={"default_timezone": "America/Denver", "unknown_deployment": "accept"})
    assert ok.status_code == 200 and "Settings saved." in ok.text
    db.session.refresh(registration)
    assert registration.unknown_deployment == "accept" and registration.default_timezone == "America/Denver"


def test_boosted_navigation_gets_the_whole_page(launch_as):
    admin = launch_as("admin")
    response = admin.htmx(boosted=True).get(f"/courses/{admin.course.id}/admin/courses")
    assert "<html" in response.text and "<h1>All courses</h1>" in response.text


def test_course_time_zone_setting_wins_over_the_persons(launch_as):
    teacher = launch_as("teacher")
    course_id = teacher.course.id
    before = teacher.get(f"/courses/{course_id}/")
    assert "Times shown in America/Chicago." in before.text
    teacher.post(f"/courses/{course_id}/settings", data={"timezone": "Asia/Tokyo"})
    after = teacher.get(f"/courses/{course_id}/")
    assert "Times shown in Asia/Tokyo." in after.text
