"""What the demo offers beyond launches: its mail outbox (/dev/mail), a course page on another site
than the tool, and the Names and Role service the roster sync reads."""
from __future__ import annotations

import email
import re
from email import policy
from html import unescape
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from lti_tool.devplatform.names_roles import LATE_ENROLLED
from lti_tool.extensions import db as _db
from lti_tool.models import Course, Enrollment, Person
from lti_tool.roster import NRPS_SCOPE

from ..support.clients import Requests, session_token
from ..support.factories import embedded_app
from ..support.servers import LoopbackServer
from ..test_devplatform import BASE, demo_launch, form_fields


def demo(tmp_path, base: str = BASE, **config):
    settings = {"EXPORT_DIR": str(tmp_path / "exports"), "MAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
                "SMTP_URL": None, **config}
    app = embedded_app(tmp_path / "demo.sqlite3", SECRET_KEY="demo-test", KEY_ENCRYPTION_SECRET="demo-test-keys",
                       **settings)
    result = app.test_cli_runner().invoke(args=["demo", "setup", "--base-url", base])
    assert result.exit_code == 0, result.output
    return app


def signed_in(app, person: str, base: str = BASE) -> tuple[Requests, int]:
    """A client launched through the dev platform as `person` (its requests carry the page's session
    header, as htmx sends it), and the id of the course it landed in."""
    client = app.test_client()
    page = demo_launch(client, person, base=base)
    course_id = int(re.search(r"/courses/(\d+)/", page.request.path).group(1))
    return Requests(client, {"X-Session-Token": session_token(page.text)}), course_id


def test_an_emailed_export_arrives_in_the_demo_outbox_with_a_date_and_the_sender(tmp_path):
    app = demo(tmp_path, MAIL_FROM="Demo Analytics <analytics@demo.example.edu>")
    teacher, course_id = signed_in(app, "teacher")
    dialog = teacher.get(f"{BASE}/courses/{course_id}/exports/new?kind=gallery-csv")
    assert "This server does not send email" not in dialog.text and "a*****@*****.e" in dialog.text

    teacher.htmx().post(f"{BASE}/courses/{course_id}/exports/",
                        data={"kind": "gallery-csv", "delivery": "email"}).close()  # the in-process job runs once the response is sent

    (sent,) = (tmp_path / "outbox").glob("*.eml")
    message = email.message_from_bytes(sent.read_bytes(), policy=policy.default)
    assert message["To"] == "ada.palmer@demo.example.edu"
    assert message["From"] == "Demo Analytics <analytics@demo.example.edu>"
    assert message["Date"].datetime.utcoffset().total_seconds() == 0 and message["Date"].endswith("+0000")
    outbox = teacher.get(f"{BASE}/dev/mail")
    assert outbox.status_code == 200 and "ada.palmer@demo.example.edu" in outbox.text
    link = unescape(re.search(r'href="(/dev/mail/[^"]+)"', outbox.text).group(1))
    shown = teacher.get(f"{BASE}{link}")
    assert shown.status_code == 200 and message["Subject"] in unescape(shown.text)
    assert "<dt>Date</dt>" in shown.text and "/exports/download/" in shown.text
    raw = teacher.get(f"{BASE}{link}/raw")
    assert raw.mimetype == "message/rfc822" and raw.data == sent.read_bytes()


def test_the_outbox_serves_only_its_own_messages_and_only_on_loopback(tmp_path):
    app = demo(tmp_path)
    (tmp_path / "secret.eml").write_text("Subject: not yours\n\nno")
    client = app.test_client()
    assert client.get(f"{BASE}/dev/mail/..%2Fsecret.eml").status_code == 404
    assert client.get(f"{BASE}/dev/mail/0000000000000-{'0' * 32}.eml").status_code == 404
    assert client.get(f"{BASE}/dev/mail", environ_base={"REMOTE_ADDR": "192.0.2.10"}).status_code == 404
    assert "No email yet" in client.get(f"{BASE}/dev/mail").text


def test_with_a_mail_server_nothing_goes_to_the_outbox(tmp_path):
    app = demo(tmp_path, SMTP_URL="smtp://127.0.0.1:2525")
    with app.test_request_context():
        from lti_tool.exports import mail

        assert mail.outbox_dir() is None and mail.is_configured()
    assert "sends email over" in app.test_client().get(f"{BASE}/dev/mail").text


def test_the_course_page_frames_the_tool_from_another_site(tmp_path):
    """/dev/ is printed at 127.0.0.1: "Open inside the course page" opens the course page on localhost,
    and the tool in its frame stays on 127.0.0.1, so the frame is cross-site as in Canvas."""
    client = demo(tmp_path).test_client()
    index = client.get(f"{BASE}/dev/").text
    button = re.search(r'<button[^>]*data-testid="frame-teacher-bio101"[^>]*>', index).group(0)
    course_page_start = re.search(r'formaction="([^"]+)"', button).group(1)
    assert course_page_start == "http://localhost:5000/dev/start"

    page = client.post(course_page_start, data={"person": "teacher", "course": "bio101", "display": "frame"})
    assert page.status_code == 200 and 'target="tool-frame"' in page.text
    action, _fields = form_fields(page.text)
    assert urlsplit(action).hostname == "127.0.0.1"  # what the iframe loads
    assert urlsplit(page.request.url).hostname == "localhost"  # the page around it
    assert "frame-src 'self' http://127.0.0.1:5000" in page.headers["Content-Security-Policy"]


@pytest.fixture
def served_demo(tmp_path):
    """The demo on a real loopback server, so the tool's roster sync can reach the platform over HTTP.
    Launches start no sync of their own here (the test client never runs a launch's after-response
    job), so "Sync roster now" is the one that runs."""
    app = embedded_app(tmp_path / "demo.sqlite3", SECRET_KEY="demo-test", KEY_ENCRYPTION_SECRET="demo-test-keys",
                       JOB_RETRY_INTERVALS=(), ROSTER_SYNC_ON_LAUNCH=False)
    with LoopbackServer(app) as server:
        result = app.test_cli_runner().invoke(args=["demo", "setup", "--base-url", server.url])
        assert result.exit_code == 0, result.output
        yield app, server.url


def test_sync_roster_now_lists_the_demo_course_members(served_demo):
    app, base = served_demo
    teacher, course_id = signed_in(app, "teacher", base)
    settings = teacher.get(f"{base}/courses/{course_id}/settings").text
    assert "Sync roster now" in settings and "Canvas has not sent this course's roster service" not in settings

    teacher.htmx("roster").post(f"{base}/courses/{course_id}/settings/roster").close()

    settings = teacher.get(f"{base}/courses/{course_id}/settings").text
    assert "Last synced from Canvas: <time" in settings and "The last sync failed" not in settings
    late = next(p for p in LATE_ENROLLED if p.roles_in("bio101"))
    with app.app_context():
        course = _db.session.get(Course, course_id)
        roster = _db.session.scalars(select(Person.name).join(Enrollment, Enrollment.person_id == Person.id)
                                     .where(Enrollment.course_id == course.id, Enrollment.source == "roster")).all()
    assert late.name in roster and len(roster) >= 70  # the seed's BIO-101 students and the latecomers
    gallery = teacher.get(f"{base}/courses/{course_id}/gallery/?q=Latecomer").text
    row = gallery[gallery.index(late.name):]
    assert '<span class="badge">not viewed</span>' in row[:row.index("</th>")]


def test_the_roster_service_refuses_a_bad_assertion_and_a_missing_token(tmp_path):
    client = demo(tmp_path).test_client()
    token = client.post(f"{BASE}/dev/login/oauth2/token", data={
        "grant_type": "client_credentials", "client_assertion": "not-a-jwt", "scope": NRPS_SCOPE,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
    assert token.status_code == 401 and token.json["error"] == "invalid_client"
    members = client.get(f"{BASE}/dev/api/lti/courses/101/names_and_roles")
    assert members.status_code == 401 and members.json["errors"][0]["message"] == "Invalid access token"
    assert client.get(f"{BASE}/dev/api/lti/courses/999/names_and_roles").status_code == 404
