"""Without Redis the tool degrades instead of failing (a real redis-server, stopped; tests/support/outage.py).

What does not need Redis keeps working: ingest and the report API (their rate limit fails open, logged
once per outage), course settings, and the launch, whose nonce, state, id_token guard and hand-off are
kept in the database meanwhile with the same single-use checks. What needs Redis, queueing a job, answers
503 and says so. Each of these answered 500 before.
"""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from lti_tool import store
from lti_tool.ingest import tokens
from lti_tool.models import PlayerEvent

from .ingest.dataset import EVENTS
from .support.outage import redis_down  # noqa: F401

OUTAGE_LOG = "Redis does not answer"


@pytest.fixture
def auth(registration):
    _token, secret = tokens.create(registration.id, "tests")
    return {"Authorization": f"Bearer {secret}"}


def outage_lines(caplog, text: str = OUTAGE_LOG) -> int:
    return sum(text in record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING)


def test_ingest_and_reports_answer_and_the_rate_limit_fails_open_logged_once(app, client, db, auth, launch_as,
                                                                             redis_down, monkeypatch, caplog):
    monkeypatch.setitem(app.config, "INGEST_RATE_LIMIT_PER_MINUTE", 1)
    caplog.set_level(logging.WARNING, logger="lti_tool")
    # The session's migrations ran alembic's logging.config.fileConfig, which disables loggers that existed then.
    monkeypatch.setattr(store.log, "disabled", False)
    course = launch_as("teacher").course
    answers = [client.post("/api/v1/events", json={"version": 1, "events": EVENTS}, headers=auth).status_code,
               client.get("/api/v1/reports/gallery-highlights", query_string={"course": course.id, "range": "last7"},
                          headers=auth).status_code,
               client.get("/api/v1/reports/top-entries", query_string={"course": course.id}, headers=auth).status_code]
    assert answers == [200, 200, 200]                 # three requests over a limit of one a minute: fail open
    assert db.session.scalar(select(func.count(PlayerEvent.id))) == len(EVENTS)
    assert outage_lines(caplog) == 1                  # the outage is logged once, not per request
    redis_down.start()                                # Redis is back: the limit holds again
    limited = [client.get("/api/v1/reports/top-entries", query_string={"course": course.id}, headers=auth).status_code
               for _ in range(2)]
    assert limited == [200, 429]
    assert outage_lines(caplog, "Redis answers again") == 1


def test_a_launch_works_and_keeps_its_single_use_checks(lti, canvas, client, db, redis_down):
    page = lti.open("teacher")                        # login, launch, hand-off: all without Redis
    assert page.status_code == 200 and "Media Gallery" in page.text
    params = canvas.auth_params(lti.login("teacher").location)
    token = canvas.sign(canvas.claims("teacher", params["nonce"]))
    assert client.post("/lti/launch", data={"id_token": token, "state": params["state"]}).status_code == 303
    client.set_cookie(f"lti1p3-{params['state']}", params["state"], path="/lti")
    replayed = client.post("/lti/launch", data={"id_token": token, "state": params["state"]})
    assert replayed.status_code == 401 and "<code>id_token_replayed</code>" in replayed.text
    again = canvas.auth_params(lti.login("teacher").location)
    claims = canvas.claims("teacher", params["nonce"])          # a new token reusing the spent nonce
    claims["iat"] += 1
    reused = client.post("/lti/launch", data={"id_token": canvas.sign(claims), "state": again["state"]})
    assert reused.status_code == 401 and "<code>nonce_invalid</code>" in reused.text


def test_a_login_begun_during_an_outage_finishes_once_after_it(lti, canvas, client, db, redis_down):
    params = canvas.auth_params(lti.login("teacher").location)   # nonce and state kept in the database
    redis_down.start()
    data = {"id_token": canvas.sign(canvas.claims("teacher", params["nonce"])), "state": params["state"]}
    launched = client.post("/lti/launch", data=data)
    assert launched.status_code == 303
    assert client.get(launched.location).status_code == 200
    client.set_cookie(f"lti1p3-{params['state']}", params["state"], path="/lti")
    data["id_token"] = canvas.sign({**canvas.claims("teacher", params["nonce"]), "iat": canvas.claims(
        "teacher", params["nonce"])["iat"] + 1})
    assert client.post("/lti/launch", data=data).status_code == 401   # its nonce worked once


def test_course_settings_answer_and_sync_roster_now_says_it_could_not_be_queued(launch_as, canvas, app,
                                                                                monkeypatch, redis_down):
    monkeypatch.setitem(app.config, "ROSTER_SYNC_ON_LAUNCH", True)   # the launch's own sync cannot be queued either
    teacher = launch_as("teacher", claims=lambda body: body.update(canvas.nrps_claim()))
    course = teacher.course
    assert teacher.get(f"/courses/{course.id}/settings").status_code == 200
    saved = teacher.post(f"/courses/{course.id}/settings", data={"timezone": "America/Chicago"})
    assert saved.status_code == 200
    clicked = teacher.htmx("roster").post(f"/courses/{course.id}/settings/roster")
    assert clicked.status_code == 503
    assert clicked.text.lstrip().startswith('<section id="roster"')
    assert ("The roster sync was not started: the background job service is not answering, so this could not be "
            "queued; try again in a few minutes.") in clicked.text
    assert "Roster sync started" not in clicked.text
    redis_down.start()                                # asking again at once is not "requested a minute ago"
    clicked = teacher.htmx("roster").post(f"/courses/{course.id}/settings/roster")
    assert clicked.status_code == 200 and "Roster sync started" in clicked.text
