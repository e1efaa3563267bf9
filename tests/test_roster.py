"""Roster sync through NRPS against a loopback Canvas: the token endpoint checks the tool's client
assertion, members come in pages linked by mixed-case URLs, a revoked token is replaced once, and
a sync that fails changes nothing."""
from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import jwt
import pytest
import requests
from sqlalchemy import func, select

from lti_tool.launch import keys
from lti_tool.models import Course, Enrollment, Person, PersonAlias
from lti_tool.models.types import utcnow
from lti_tool.roster import NRPS_SCOPE, RosterError, access_token, roster_is_stale, sync_roster

from .support.canvas import JWT_BEARER, NRPS_MEDIA_TYPE

NRPS_JSON = {"Content-Type": NRPS_MEDIA_TYPE}


@pytest.fixture(autouse=True)
def no_sync_on_launch(app, monkeypatch):
    """These tests start each sync themselves; the one after a launch is tested on its own below."""
    monkeypatch.setitem(app.config, "ROSTER_SYNC_ON_LAUNCH", False)


@pytest.fixture
def teacher(launch_as, canvas):
    """The teacher, signed in by a launch that carries the NRPS claim."""
    return launch_as("teacher", claims=lambda body: body.update(canvas.nrps_claim()))


@pytest.fixture
def course(teacher, canvas, client):
    """The launched course; Canvas holds the tool's published keys, as the developer key does."""
    canvas.tool_jwks = client.get("/lti/jwks").get_json()
    return teacher.course


def person(db, name):
    return db.session.scalar(select(Person).where(Person.given_name == name.title()))


def enrollment_of(db, course, name):
    found = person(db, name)
    return found and db.session.scalar(select(Enrollment).where(Enrollment.course_id == course.id,
                                                                Enrollment.person_id == found.id))


def snapshot(db, course):
    counts = tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (Person, PersonAlias, Enrollment))
    db.session.expire_all()
    return counts, db.session.get(Course, course.id).roster_synced_at


def test_two_mixed_case_pages_record_people_and_enrollments(canvas, course, db):
    canvas.nrps_members = [canvas.member("teacher"), canvas.member("sam", email="Sam.Student@Test.edu")]
    canvas.nrps_page_size = 1

    result = sync_roster(course.id)

    assert (result.members, result.added, result.updated, result.removed, result.pages, result.complete) == (
        2, 1, 1, 0, 2, True)  # the teacher's launch enrollment gets the roster's roles (no institution role)
    # Page 2 was requested exactly as Canvas linked it: path and query case intact.
    assert canvas.nrps_requests == [("/api/lti/courses/1/names_and_roles", 200),
                                    ("/api/lti/courses/1/Names_And_Roles?Page=2&PER_page=1", 200)]
    sam = person(db, "sam")
    assert (sam.subject, sam.name, sam.family_name, sam.email) == (
        canvas.sub("sam"), "Sam Tester", "Tester", "Sam.Student@Test.edu")
    aliases = {(a.kind, a.value) for a in db.session.scalars(select(PersonAlias).where(PersonAlias.person_id == sam.id))}
    assert aliases == {("email", "sam.student@test.edu"), ("sis_id", "SIS-sam")}
    enrollment = enrollment_of(db, course, "sam")
    assert (enrollment.level, enrollment.role_label, enrollment.source, enrollment.launch_count) == (
        "viewer", "Student", "roster", 0)
    teacher = enrollment_of(db, course, "teacher")
    assert (teacher.level, teacher.role_label, teacher.source, teacher.launch_count) == ("owner", "Teacher", "launch", 1)
    db.session.refresh(course)
    assert course.roster_synced_at is not None


def test_a_launch_into_a_course_with_a_stale_roster_syncs_it_in_the_background(app, canvas, lti, client, db,
                                                                              monkeypatch):
    monkeypatch.setitem(app.config, "ROSTER_SYNC_ON_LAUNCH", True)
    canvas.tool_jwks = client.get("/lti/jwks").get_json()
    canvas.nrps_members = [canvas.member("teacher"), canvas.member("sam")]
    response = lti.launch("teacher", claims=lambda body: body.update(canvas.nrps_claim()))
    assert response.status_code == 303, response.text
    response.close()  # the in-process job runs once the response is sent
    course = db.session.scalar(select(Course))
    db.session.refresh(course)
    assert course.roster_synced_at is not None
    assert enrollment_of(db, course, "sam").source == "roster"
    requests_made = len(canvas.nrps_requests)
    again = lti.launch("teacher", claims=lambda body: body.update(canvas.nrps_claim()))
    again.close()
    assert len(canvas.nrps_requests) == requests_made  # fresh for an hour: the next launch does not sync


def test_the_assertion_canvas_accepted(canvas, course, db):
    canvas.nrps_members = [canvas.member("sam")]
    sync_roster(course.id)

    [request] = canvas.token_requests
    current = keys.signing_key()
    assert request["header"] == {"alg": "RS256", "typ": "JWT", "kid": current.kid}
    claims = request["claims"]
    assert claims["iss"] == claims["sub"] == canvas.client_id
    assert claims["aud"] == canvas.token_url
    assert 0 < claims["exp"] - claims["iat"] <= 310 and claims["jti"]
    assert request["scope"] == NRPS_SCOPE


def test_the_fake_canvas_finds_pages_only_by_their_exact_url(canvas, course, db):
    canvas.nrps_members = [canvas.member("teacher"), canvas.member("sam")]
    canvas.nrps_page_size = 1
    headers = {"Authorization": "Bearer " + access_token(course.registration, [NRPS_SCOPE]), "Accept": NRPS_MEDIA_TYPE}
    exact = requests.get(canvas.nrps_page_url(2), headers=headers, timeout=5)
    lowered = requests.get(canvas.nrps_page_url(2).lower(), headers=headers, timeout=5)
    assert (exact.status_code, lowered.status_code) == (200, 404)
    assert exact.json()["members"][0]["user_id"] == canvas.sub("sam")


def test_a_revoked_token_is_replaced_once_and_the_page_retried(canvas, course, db):
    canvas.nrps_members = [canvas.member("teacher"), canvas.member("sam")]
    canvas.nrps_page_size = 1
    canvas.revoke_tokens_before_page = 2

    result = sync_roster(course.id)

    assert result.members == 2 and result.pages == 2
    page2 = "/api/lti/courses/1/Names_And_Roles?Page=2&PER_page=1"
    assert canvas.nrps_requests == [("/api/lti/courses/1/names_and_roles", 200), (page2, 401), (page2, 200)]
    assert len(canvas.token_requests) == 2
    assert person(db, "sam") is not None


def test_a_second_401_fails_with_the_status(canvas, course, db):
    canvas.nrps_members = [canvas.member("sam")]
    canvas.nrps_page_overrides[1] = (401, NRPS_JSON, b'{"errors": []}')
    before = snapshot(db, course)

    with pytest.raises(RosterError, match="HTTP 401") as caught:
        sync_roster(course.id)

    assert caught.value.status == 401 and len(canvas.token_requests) == 2
    assert snapshot(db, course) == before


def test_the_token_is_cached_and_a_second_sync_changes_nothing(canvas, course, db):
    canvas.nrps_members = [canvas.member("teacher"), canvas.member("sam"), canvas.member("ta")]
    first = sync_roster(course.id)
    second = sync_roster(course.id)

    assert len(canvas.token_requests) == 1
    assert (first.added, second.added, second.updated, second.removed) == (2, 0, 0, 0)
    assert db.session.scalar(select(func.count()).select_from(Enrollment)) == 3
    assert enrollment_of(db, course, "ta").level == "co-editor"


def test_a_token_about_to_expire_is_not_reused(canvas, course, db):
    canvas.token_lifetime = 30  # inside the safety margin: never cached
    canvas.nrps_members = [canvas.member("sam")]
    sync_roster(course.id)
    sync_roster(course.id)
    assert len(canvas.token_requests) == 2


def test_inactive_and_dropped_members_lose_only_roster_enrollments(canvas, course, lti, db):
    lti.launch("student", claims=lambda body: body.update(canvas.nrps_claim()))
    canvas.nrps_members = [canvas.member(p) for p in ("teacher", "student", "sam", "alex")]
    sync_roster(course.id)
    assert enrollment_of(db, course, "alex").source == "roster"

    # Sam is reported inactive, Alex is no longer listed, the student who launched is inactive too.
    canvas.nrps_members = [canvas.member("teacher"), canvas.member("student", status="Inactive"),
                           canvas.member("sam", status="Inactive")]
    result = sync_roster(course.id)

    assert (result.members, result.removed) == (1, 2)
    assert enrollment_of(db, course, "sam") is None and enrollment_of(db, course, "alex") is None
    kept = enrollment_of(db, course, "student")
    assert (kept.source, kept.launch_count) == ("launch", 1)  # launch-made: kept, as is everything they did
    assert person(db, "sam") is not None and person(db, "alex") is not None


def test_absent_members_stay_when_the_page_limit_cut_the_roster(canvas, course, app, db, monkeypatch):
    canvas.nrps_members = [canvas.member("teacher"), canvas.member("sam")]
    canvas.nrps_page_size = 1
    sync_roster(course.id)
    monkeypatch.setitem(app.config, "ROSTER_MAX_PAGES", 1)

    result = sync_roster(course.id)

    assert (result.pages, result.complete, result.removed) == (1, False, 0)
    assert "page limit reached" in result.line()
    assert enrollment_of(db, course, "sam") is not None


def test_the_gallery_lists_a_roster_member_who_never_watched_as_not_viewed(canvas, course, teacher):
    canvas.nrps_members = [canvas.member("teacher"), canvas.member("never_watched")]
    sync_roster(course.id)

    html = teacher.get(f"/courses/{course.id}/gallery/").text

    row = html[html.index("Never Watched Tester"):]
    assert '<span class="badge">not viewed</span>' in row[:row.index("</th>")]


def _big_page(canvas, size):
    member = canvas.member("sam")
    return json.dumps({"members": [member] * (size // len(json.dumps(member)) + 1)}).encode()


@pytest.mark.parametrize("answer, message", [
    ((200, NRPS_JSON, b'{"members": [{"status": "Active", "name": "No Id"'), "not JSON"),
    ((200, {"Content-Type": "text/html"}, b"<html>Log in to Canvas</html>"), "not JSON"),
    ((200, NRPS_JSON, b'{"members": "everyone"}'), "not a membership container"),
    ((200, NRPS_JSON, b'{"members": [{"status": "Active", "roles": []}]}'), "no usable user_id"),
    ((200, NRPS_JSON, b'{"members": [{"user_id": "u1", "status": "Gone"}]}'), "unknown status"),
    ((500, NRPS_JSON, b'{"errors": []}'), "HTTP 500"),
    ("declared", "larger than 4096 bytes"),
    ("streamed", "larger than 4096 bytes"),
])
def test_a_bad_page_changes_nothing(canvas, course, app, db, monkeypatch, answer, message):
    monkeypatch.setitem(app.config, "ROSTER_MAX_PAGE_BYTES", 4096)
    canvas.nrps_members = [canvas.member("teacher"), canvas.member("sam")]
    canvas.nrps_page_size = 1
    if answer == "declared":
        answer = (200, NRPS_JSON, _big_page(canvas, 10_000))
    elif answer == "streamed":  # no Content-Length: the cap on the bytes read must stop it
        answer = (200, NRPS_JSON, iter([_big_page(canvas, 10_000)] * 50))
    canvas.nrps_page_overrides[2] = answer
    before = snapshot(db, course)

    with pytest.raises(RosterError, match=message):
        sync_roster(course.id)

    assert snapshot(db, course) == before  # page 1 (the teacher) was not written either
    assert person(db, "sam") is None


def test_a_next_link_to_another_host_is_not_followed(canvas, course, db):
    canvas.nrps_page_overrides[1] = (200, {**NRPS_JSON, "Link": '<http://127.0.0.2:9/steal?Page=2>; rel="next"'},
                                     json.dumps({"members": [canvas.member("sam")]}).encode())
    with pytest.raises(RosterError, match="another host"):
        sync_roster(course.id)
    assert person(db, "sam") is None


@pytest.mark.parametrize("change, error", [
    (lambda c: c.__setattr__("tool_jwks", {"keys": []}), "invalid_client"),   # Canvas does not know the key
    (lambda c: c.__setattr__("granted_scopes", ()), "invalid_scope"),         # NRPS scope not on the key
])
def test_a_refused_token_request_fails_clearly(canvas, course, db, change, error):
    canvas.nrps_members = [canvas.member("sam")]
    change(canvas)
    before = snapshot(db, course)

    with pytest.raises(RosterError, match=f"refused the token request .*{error}"):
        sync_roster(course.id)

    assert snapshot(db, course) == before and canvas.nrps_requests == []
    assert canvas.token_refusals[0].startswith(error)


def _assertion(canvas, key, **changes):
    now = int(time.time())
    claims = {"iss": canvas.client_id, "sub": canvas.client_id, "aud": canvas.token_url, "iat": now,
              "exp": now + 300, "jti": str(uuid.uuid4()), **changes}
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key.private_pem, algorithm="RS256", headers={"kid": key.kid})


@pytest.mark.parametrize("case", ["ok", "wrong_aud", "wrong_iss", "expired", "no_jti", "replayed_jti",
                                  "other_key", "grant_type", "assertion_type", "scope"])
def test_the_loopback_token_endpoint_checks_the_assertion(canvas, course, db, case):
    key = keys.signing_key()
    form = {"grant_type": "client_credentials", "client_assertion_type": JWT_BEARER,
            "client_assertion": _assertion(canvas, key), "scope": NRPS_SCOPE}
    if case == "wrong_aud":
        form["client_assertion"] = _assertion(canvas, key, aud="https://canvas.instructure.com/login/oauth2/token")
    elif case == "wrong_iss":
        form["client_assertion"] = _assertion(canvas, key, iss="someone-else")
    elif case == "expired":
        form["client_assertion"] = _assertion(canvas, key, iat=int(time.time()) - 900, exp=int(time.time()) - 600)
    elif case == "no_jti":
        form["client_assertion"] = _assertion(canvas, key, jti=None)
    elif case == "replayed_jti":
        requests.post(canvas.token_url, data=form, timeout=5)
    elif case == "other_key":
        stranger = keys.SigningKey(key.kid, _stranger_pem(), key.public_pem)
        form["client_assertion"] = _assertion(canvas, stranger)
    elif case == "grant_type":
        form["grant_type"] = "authorization_code"
    elif case == "assertion_type":
        form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
    elif case == "scope":
        form["scope"] = "https://purl.imsglobal.org/spec/lti-ags/scope/score"

    response = requests.post(canvas.token_url, data=form, timeout=5)

    if case == "ok":
        assert response.status_code == 200 and response.json()["expires_in"] == 3600
    else:
        assert response.status_code in (400, 401) and "access_token" not in response.json()


def _stranger_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()


def test_roster_is_stale_after_an_hour_or_never_and_not_after_a_failure(canvas, course, db):
    now = utcnow()
    assert roster_is_stale(course, now)
    course.roster_synced_at = now - timedelta(minutes=10)
    assert not roster_is_stale(course, now)
    course.roster_synced_at = now - timedelta(hours=1, seconds=1)
    assert roster_is_stale(course, now)

    course.roster_synced_at = None
    db.session.commit()
    canvas.granted_scopes = ()
    with pytest.raises(RosterError):
        sync_roster(course.id)
    db.session.refresh(course)
    assert not roster_is_stale(course, utcnow())  # no sync after every launch while the key is misconfigured

    course.nrps_url = None
    assert not roster_is_stale(course, now)


def test_cli_sync_prints_the_counts(runner, canvas, course, db):
    canvas.nrps_members = [canvas.member("teacher"), canvas.member("sam")]
    result = runner.invoke(args=["roster", "sync", "--course", str(course.id)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (f"course {course.id}: 2 members in 1 page(s); 1 added, 1 updated, 0 removed")


def test_cli_refuses_bad_input_and_changes_nothing(runner, canvas, course, db):
    canvas.nrps_members = [canvas.member("sam")]
    before = snapshot(db, course)

    unknown = runner.invoke(args=["roster", "sync", "--course", "999999"])
    assert unknown.exit_code == 1 and "there is no course 999999" in unknown.output
    not_a_number = runner.invoke(args=["roster", "sync", "--course", "abc"])
    assert not_a_number.exit_code == 2

    db.session.get(Course, course.id).nrps_url = None
    db.session.commit()
    no_service = runner.invoke(args=["roster", "sync", "--course", str(course.id)])
    assert no_service.exit_code == 1 and "has no roster service URL" in no_service.output

    counts, synced_at = snapshot(db, course)
    assert (counts, synced_at) == before and canvas.token_requests == [] and canvas.nrps_requests == []


def test_cli_reports_a_platform_refusal(runner, canvas, course, db):
    canvas.tool_jwks = {"keys": []}
    result = runner.invoke(args=["roster", "sync", "--course", str(course.id)])
    assert result.exit_code == 1 and "HTTP 401: invalid_client" in result.output


def test_sync_roster_now_runs_the_job_and_the_settings_page_shows_the_result(canvas, course, teacher, db):
    canvas.nrps_members = [canvas.member("teacher"), canvas.member("sam")]
    page = teacher.get(f"/courses/{course.id}/settings").text
    assert "Last synced from Canvas: never" in page and "Sync roster now" in page

    clicked = teacher.htmx("roster").post(f"/courses/{course.id}/settings/roster")

    assert clicked.status_code == 200
    assert clicked.text.lstrip().startswith('<section id="roster"') and "Roster sync started" in clicked.text
    assert enrollment_of(db, course, "sam") is None  # the page did not wait for Canvas
    clicked.close()  # the response has been sent: the in-process job runs now
    assert enrollment_of(db, course, "sam").source == "roster"  # the job ran after the response
    db.session.expire_all()  # the job committed in its own session; the test's session still holds the course
    page = teacher.get(f"/courses/{course.id}/settings").text
    assert "Last synced from Canvas: <time" in page and "The last sync failed" not in page


def test_a_failed_sync_is_shown_on_the_settings_page(canvas, course, teacher):
    canvas.granted_scopes = ()
    teacher.post(f"/courses/{course.id}/settings/roster").close()
    page = teacher.get(f"/courses/{course.id}/settings").text
    assert "The last sync failed: the platform refused the token request (HTTP 400: invalid_scope" in page


def test_a_course_without_a_roster_service_offers_no_button(launch_as):
    teacher = launch_as("teacher")
    html = teacher.get(f"/courses/{teacher.course.id}/settings").text
    assert "Canvas has not sent this course's roster service" in html and "Sync roster now" not in html
