"""The built-in dev platform on the embedded default: SQLite, no Redis, real signed launches."""
from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import func, select

from lti_tool.extensions import db as _db
from lti_tool.models import KeyValueEntry, ToolSession

from .support.factories import embedded_app

BASE = "http://127.0.0.1:5000"


@pytest.fixture
def demo_app(tmp_path):
    app = embedded_app(tmp_path / "demo.sqlite3", SECRET_KEY="demo-test", KEY_ENCRYPTION_SECRET="demo-test-keys")
    result = app.test_cli_runner().invoke(args=["demo", "setup", "--base-url", BASE])
    assert result.exit_code == 0, result.output
    return app


def form_fields(html: str) -> tuple[str, dict]:
    action = unescape(re.search(r'<form method="post" action="([^"]+)"', html).group(1))
    fields = {k: unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', html)}
    return action, fields


def absolute(location: str, base: str = BASE) -> str:
    # Everything happens on the demo's origin (127.0.0.1:5000 unless a test serves it), so cookies follow.
    return location if location.startswith("http") else base + location


def demo_launch(client, person: str, course: str = "bio101", base: str = BASE):
    start = client.post(f"{base}/dev/start", data={"person": person, "course": course})
    assert start.status_code == 200
    action, fields = form_fields(start.text)
    assert action == f"{base}/lti/login"
    login = client.post(f"{base}/lti/login", data=fields)
    assert login.status_code == 302 and login.location.startswith(f"{base}/dev/authorize?")
    authorize = client.get(login.location)
    assert authorize.status_code == 200, authorize.text
    action, fields = form_fields(authorize.text)
    assert action == f"{base}/lti/launch"
    launch = client.post(f"{base}/lti/launch", data=fields)
    assert launch.status_code == 303, launch.text
    return client.get(absolute(launch.location, base))


@pytest.mark.parametrize("person, heading, badge", [
    ("teacher", "Media Gallery analytics", "Teacher"),
    ("ta", "Media Gallery analytics", "TA"),
    ("designer", "Media Gallery analytics", "Designer"),
    ("student", "My viewing", "Student"),
    ("observer", "My viewing", "Observer"),
    ("admin", "Media Gallery analytics", "Account admin"),
])
def test_every_demo_person_launches_into_their_page(demo_app, person, heading, badge):
    client = demo_app.test_client()
    page = demo_launch(client, person)
    assert page.status_code == 200
    assert f"<h1>{heading}</h1>" in page.text
    assert f">{badge}</span>" in page.text
    assert "Introduction to Biology" in page.text
    with demo_app.app_context():
        # Embedded default: launch data and nonces live in the database, not in Redis.
        session = _db.session.scalar(select(ToolSession))
        assert _db.session.get(KeyValueEntry, session.launch_id) is not None


def test_demo_index_lists_people_in_two_courses(demo_app):
    page = demo_app.test_client().get(f"{BASE}/dev/")
    assert page.status_code == 200
    assert "BIO-101" in page.text and "HIST-210" in page.text
    for name in ("Ada Palmer", "Ben Okafor", "Chloe Nguyen", "Dana Reyes", "Eli Park", "Farah Haddad"):
        assert name in page.text


def test_dev_platform_answers_only_on_loopback(demo_app):
    remote = demo_app.test_client()
    response = remote.get(f"{BASE}/dev/", environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert response.status_code == 404
    response = remote.post(f"{BASE}/dev/start", data={"person": "teacher", "course": "bio101"},
                           environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert response.status_code == 404


def test_dev_platform_is_off_unless_enabled(client):
    assert client.get(f"{BASE}/dev/").status_code == 404


def test_dev_platform_refuses_a_foreign_redirect_uri(demo_app):
    client = demo_app.test_client()
    _action, fields = form_fields(client.post(f"{BASE}/dev/start", data={"person": "teacher", "course": "bio101"}).text)
    login = client.post(f"{BASE}/lti/login", data=fields)
    forged = login.location.replace("redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Flti%2Flaunch",
                                    "redirect_uri=https%3A%2F%2Fevil.example%2F")
    response = client.get(forged)
    assert response.status_code == 400 and "redirect_uri" in response.text


@pytest.mark.parametrize("form", [
    {"person": "nobody", "course": "bio101"},
    {"person": "ta", "course": "hist210"},  # the TA is not in that course
    {},
])
def test_dev_platform_bad_start_is_400(demo_app, form):
    assert demo_app.test_client().post(f"{BASE}/dev/start", data=form).status_code == 400


def test_demo_setup_is_repeatable(demo_app):
    result = demo_app.test_cli_runner().invoke(args=["demo", "setup", "--base-url", BASE])
    assert result.exit_code == 0
    with demo_app.app_context():
        from lti_tool.models import Registration, ToolKey

        assert _db.session.scalar(select(func.count(Registration.id))) == 1
        assert _db.session.scalar(select(func.count(ToolKey.id))) == 3  # current, next, platform


def test_moving_the_demo_to_another_port_keeps_its_registration(demo_app):
    demo_launch(demo_app.test_client(), "teacher")
    result = demo_app.test_cli_runner().invoke(args=["demo", "setup", "--base-url", "http://127.0.0.1:8123"])
    assert result.exit_code == 0
    with demo_app.app_context():
        from lti_tool.models import Course, Registration

        (reg,) = _db.session.scalars(select(Registration)).all()
        assert reg.issuer == "http://127.0.0.1:8123/dev" and reg.auth_login_url == "http://127.0.0.1:8123/dev/authorize"
        assert "http://localhost:8123" in reg.allowed_frame_hosts
        assert _db.session.scalar(select(func.count(Course.id))) == 1
