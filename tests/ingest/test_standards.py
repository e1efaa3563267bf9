"""POST /api/v1/caliper and /api/v1/xapi/statements: real Caliper fixtures, Canvas Live Events,
xAPI Video Profile and Open edX statements, and every refusal leaving the database as it was."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lti_tool.ingest import tokens
from lti_tool.models import MediaEntry, Person, PersonAlias, Play, PlayerEvent, PlayerLoad

FIXTURES = Path("/work/shared/fixtures/caliper")
V1P1 = "http://purl.imsglobal.org/ctx/caliper/v1p1"
V1P2 = "http://purl.imsglobal.org/ctx/caliper/v1p2"
VIDEO = {"id": "https://example.edu/videos/1225", "type": "VideoObject", "name": "Introduction to IMS Caliper",
         "duration": "PT20M20S"}  # 1220 s
SESSION = "https://example.edu/sessions/s1"
XVIDEO = "https://w3id.org/xapi/video"
ADL = "http://adlnet.gov/expapi/verbs"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def auth(registration):
    _token, secret = tokens.create(registration.id, "tests")
    return {"Authorization": f"Bearer {secret}"}


def counts(db):
    """Rows of every table an accepted event writes to."""
    return tuple(db.session.scalar(select(func.count()).select_from(m))
                 for m in (PlayerEvent, Play, PlayerLoad, MediaEntry, Person))


def envelope(*data, version=V1P2) -> dict:
    return {"sensor": "https://example.edu/sensors/1", "sendTime": "2026-10-05T11:05:01.000Z",
            "dataVersion": version, "data": list(data)}


def media_event(action, at, current=None, *, session=SESSION, obj=VIDEO, kind="MediaEvent", **extra) -> dict:
    event = {"@context": V1P2, "id": f"urn:uuid:{uuid.uuid4()}", "type": kind, "profile": "MediaProfile",
             "actor": {"id": "https://example.edu/users/554433", "type": "Person"}, "action": action,
             "object": obj, "eventTime": f"2026-10-05T{at}.000Z", "session": {"id": session, "type": "Session"},
             **extra}
    if current is not None:
        event["target"] = {"id": f"{obj['id']}?t={current}", "type": "MediaLocation", "currentTime": current}
    return event


def post_caliper(client, auth, body, **kwargs):
    return client.post("/api/v1/caliper", json=body, headers=auth, **kwargs)


# ── Caliper ─────────────────────────────────────────────────────────────────────────────────────


def test_caliper_configuration(client, auth):
    response = client.get("/api/v1/caliper", headers=auth)
    assert response.status_code == 200
    assert response.get_json() == {"caliper_maximum_payload_size": 8 * 1024 * 1024,
                                   "caliper_supported_versions": [V1P1, V1P2], "caliper_supported_extensions": {}}


def test_fixtures_in_one_envelope_keep_the_media_event(client, db, auth):
    data = [fixture(n) for n in ("caliperEventMediaPausedVideo.json", "caliperEventSessionLoggedIn.json",
                                 "caliperEventToolUseUsed.json", "caliperEntityVideoObject.json",
                                 "caliperEntityMediaLocation.json", "caliperEntityLtiSession.json")]
    response = post_caliper(client, auth, envelope(*data))
    assert response.status_code == 200, response.text
    assert response.get_json() == {"accepted": 1, "duplicates": 0, "ignored": 5}
    event = db.session.scalar(select(PlayerEvent))
    assert (event.event_type, event.position, event.source) == ("pause", 321.0, "caliper")
    assert event.event_key == "caliper:urn:uuid:956b4a02-8de0-4991-b8c5-b6eebb6b4cab"
    entry = db.session.get(MediaEntry, event.entry_id)
    assert (entry.external_id, entry.name, entry.duration_seconds) == (
        "https://example.edu/UQVK-dsU7-Y", "Information and Welcome", 1220.0)
    alias = db.session.scalar(select(PersonAlias).where(PersonAlias.person_id == event.person_id))
    assert (alias.kind, alias.value) == ("player_user_id", "https://example.edu/users/554433")
    assert db.session.scalar(select(func.count()).select_from(Play)) == 0  # a pause alone starts no play


@pytest.mark.parametrize("name, ignored", [("caliperEnvelopeEventBatch.json", 3), ("caliperEnvelopeEventSingle.json", 1)])
def test_envelope_fixtures_without_media_events_are_ignored(client, db, auth, name, ignored):
    before = counts(db)
    response = post_caliper(client, auth, fixture(name))
    assert response.status_code == 200
    assert response.get_json() == {"accepted": 0, "duplicates": 0, "ignored": ignored}
    assert counts(db) == before


def test_caliper_media_sequence_builds_plays(client, db, auth):
    sequence = [
        media_event("Started", "10:00:00", "PT0S"),
        media_event("Paused", "10:01:00", "PT1M"),
        media_event("Resumed", "10:02:00", "PT1M"),
        media_event("ChangedVolume", "10:02:10", "PT1M10S"),
        media_event("JumpedTo", "10:02:30", "PT5M"),
        media_event("Ended", "10:18:00", "PT20M20S"),
        media_event("Restarted", "10:20:00", "PT0S"),
        media_event("Paused", "10:31:40", "PT11M40S"),
    ]
    response = post_caliper(client, auth, envelope(*sequence))
    assert response.get_json() == {"accepted": 7, "duplicates": 0, "ignored": 1}
    plays = db.session.scalars(select(Play).order_by(Play.started_at)).all()
    assert [p.play_key for p in plays] == [f"caliper:{SESSION}:{VIDEO['id']}",
                                          f"caliper:{SESSION}:{VIDEO['id']}:2"]
    first, second = plays
    # 0-60 played, paused, resumed at 60, jumped at 60 (its last known position) to 300, ended at 1220.
    assert first.segments == [[0.0, 60.0], [300.0, 1220.0]]
    assert first.seconds_viewed == 980.0
    # Percentiles 0-4 (0-60 s) and 24-100 (300-1220 s) of 1220 s.
    assert first.percentile_count == 5 + 77
    assert (first.quartile_events, first.highest_quartile, first.reached_end) == (4, 100, True)
    # Restarted: 0-700 s of 1220 s passes 25 % (305 s) and 50 % (610 s), not 75 % (915 s).
    assert (second.segments, second.seconds_viewed) == ([[0.0, 700.0]], 700.0)
    assert (second.quartile_events, second.highest_quartile, second.reached_end) == (2, 50, False)
    seek = db.session.scalar(select(PlayerEvent).where(PlayerEvent.event_type == "seek"))
    assert (seek.position, seek.seek_to) == (60.0, 300.0)


def test_caliper_events_arriving_one_per_request_join_the_play(client, db, auth):
    for action, at, current in (("Started", "10:00:00", "PT0S"), ("Paused", "10:01:00", "PT1M"),
                                ("Resumed", "10:02:00", "PT1M"), ("Paused", "10:03:30", "PT2M30S")):
        assert post_caliper(client, auth, envelope(media_event(action, at, current))).status_code == 200
    play = db.session.scalar(select(Play))
    assert (play.segments, play.seconds_viewed, play.highest_quartile) == ([[0.0, 150.0]], 150.0, 0)


def test_canvas_live_events_v1p1(client, db, auth):
    def canvas_event(action, at, current, login):
        event = media_event(action, at, current, session="urn:instructure:canvas:session:ef686f8ed684abf7")
        event["@context"] = V1P1
        del event["profile"]
        event["actor"] = {"id": "urn:instructure:canvas:user:21070000000000042", "type": "Person",
                          "extensions": {"com.instructure.canvas": {
                              "user_sis_id": "456-T45", "root_account_id": "21070000000000001",
                              "entity_id": "21070000000000042", **({"user_login": login} if login else {})}}}
        event["extensions"] = {"com.instructure.canvas": {
            "hostname": "oxana.instructure.com", "client_ip": "93.184.216.34",
            "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_3) AppleWebKit/537.36 Chrome/73.0 Safari/537.36",
            "request_url": "https://oxana.instructure.com/courses/7/pages/intro"}}
        return event

    with_login = canvas_event("Started", "10:00:00", "PT0S", "oxana@example.com")
    without_login = canvas_event("Paused", "10:00:30", "PT30S", None)
    viewed = canvas_event("NavigatedTo", "09:59:58", None, None) | {"type": "NavigationEvent"}
    for event in (with_login, without_login, viewed):  # Canvas sends one event per envelope
        response = post_caliper(client, auth, envelope(event, version=V1P1))
        assert response.get_json() == {"accepted": 1, "duplicates": 0, "ignored": 0}
    aliases = {(a.kind, a.value) for a in db.session.scalars(select(PersonAlias))}
    assert aliases == {("login_id", "oxana@example.com"), ("canvas_user_id", "42")}  # the local id
    load = db.session.scalar(select(PlayerLoad))
    assert load.url == "https://oxana.instructure.com/courses/7/pages/intro"
    assert load.device_type == "desktop" and load.browser == "Chrome"
    play = db.session.scalar(select(Play))
    assert play.seconds_viewed == 30.0


def test_replayed_envelope_is_all_duplicates(client, db, auth):
    body = envelope(media_event("Started", "10:00:00", "PT0S"), media_event("Paused", "10:01:00", "PT1M"),
                    fixture("caliperEventSessionLoggedIn.json"))
    assert post_caliper(client, auth, body).get_json() == {"accepted": 2, "duplicates": 0, "ignored": 1}
    before = counts(db)
    assert post_caliper(client, auth, body).get_json() == {"accepted": 0, "duplicates": 2, "ignored": 1}
    assert counts(db) == before


def _without(event: dict, field: str) -> dict:
    return {k: v for k, v in event.items() if k != field}


GOOD = media_event("Started", "10:00:00", "PT0S")
BAD_ENVELOPES = [
    ({"sensor": "https://example.edu/sensors/1", "data": [GOOD]}, "missing sendTime, dataVersion"),
    (envelope(GOOD) | {"extra": 1}, "no other fields"),
    (envelope(), "non-empty list"),
    (envelope(GOOD) | {"sendTime": "yesterday"}, "not ISO 8601"),
    ([GOOD], "must be a Caliper envelope"),
    (envelope(GOOD, media_event("Paused", "10:01:00", "PT5X")), "index 1: target.currentTime 'PT5X'"),
    (envelope(GOOD, media_event("Paused", "10:01:00", "P1Y")), "index 1: target.currentTime"),
    (envelope(GOOD, _without(media_event("Paused", "10:01:00", "PT1M"), "actor")), "index 1: the event is missing actor"),
    (envelope(GOOD, _without(media_event("Paused", "10:01:00", "PT1M"), "eventTime")), "index 1: the event is missing eventTime"),
    (envelope(GOOD, fixture("caliperEventMediaPausedVideo.json") | {"id": "956b4a02"}), "index 1: id must be a urn:uuid"),
    (envelope(GOOD, media_event("Rewinded", "10:01:00", "PT1M")), "index 1: action 'Rewinded' is not a MediaEvent action"),
    (envelope(GOOD, media_event("Paused", "10:01:00", "PT1M", obj={"id": "https://x.edu/a", "type": "Document"})),
     "index 1: object must be a MediaObject"),
    (envelope(GOOD, media_event("Paused", "10:01:00", "PT1M") | {"target": {"id": "x", "type": "WebPage"}}),
     "index 1: target must be a MediaLocation"),
    (envelope(GOOD, "not an event"), "index 1: each item of data must be a JSON object"),
]


@pytest.mark.parametrize("body, reason", BAD_ENVELOPES)
def test_a_malformed_envelope_or_event_is_refused_whole(client, db, auth, body, reason):
    before = counts(db)
    response = post_caliper(client, auth, body)
    assert response.status_code == 400
    found = response.get_json()
    messages = [f"index {e['index']}: {e['reason']}" if e["index"] is not None else e["reason"]
                for e in found["errors"]]
    assert any(reason in m for m in messages), messages
    assert "nothing was stored" in found["error"]
    assert counts(db) == before


def test_unsupported_data_version_is_422(client, db, auth):
    before = counts(db)
    response = post_caliper(client, auth, envelope(GOOD, version="http://purl.imsglobal.org/ctx/caliper/v1p0"))
    assert response.status_code == 422
    assert V1P2 in response.get_json()["error"]
    assert counts(db) == before


def test_wrong_content_type_and_bad_json(client, db, auth):
    before = counts(db)
    text_body = client.post("/api/v1/caliper", data=json.dumps(envelope(GOOD)), headers=auth, content_type="text/plain")
    assert text_body.status_code == 415
    broken = client.post("/api/v1/caliper", data='{"sensor": ', headers=auth, content_type="application/json")
    assert broken.status_code == 400 and "not valid JSON" in broken.get_json()["error"]
    assert counts(db) == before


def test_oversized_body_is_413(client, db, auth, app, monkeypatch):
    monkeypatch.setitem(app.config, "INGEST_MAX_BYTES", 2000)
    before = counts(db)
    big = envelope(*[media_event("Paused", "10:01:00", "PT1M") for _ in range(20)])
    response = post_caliper(client, auth, big)
    assert response.status_code == 413
    assert counts(db) == before


@pytest.mark.parametrize("path", ["/api/v1/caliper", "/api/v1/xapi/statements"])
def test_tokens_that_are_missing_revoked_or_foreign_are_refused(client, db, registration, path):
    token, secret = tokens.create(registration.id)
    tokens.revoke(token.id)
    before = counts(db)
    for headers in ({}, {"Authorization": f"Bearer {secret}"}, {"Authorization": "Bearer mat_not-one-of-ours"},
                    {"Authorization": secret}):
        response = client.post(path, json=envelope(GOOD), headers=headers)
        assert response.status_code == 401, headers
    assert client.get("/api/v1/caliper").status_code == 401
    assert counts(db) == before


# ── xAPI ────────────────────────────────────────────────────────────────────────────────────────

ACTIVITY = "https://example.edu/xblock/block-v1:edX+DemoX+type@video+block@0b9e"
ACCOUNT = {"homePage": "http://localhost:18000", "name": "32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb"}


def statement(verb, at, *, session=None, length=30.0, id=True, **result) -> dict:
    extensions = {f"{XVIDEO}/extensions/{k.replace('_', '-')}": v for k, v in result.items()}
    context = {"extensions": {f"{XVIDEO}/extensions/length": length}}
    if session:
        context["extensions"][f"{XVIDEO}/extensions/session-id"] = session
    body = {"actor": {"objectType": "Agent", "account": ACCOUNT},
            "verb": {"id": verb, "display": {"en": verb.rsplit("/", 1)[1]}},
            "object": {"id": ACTIVITY, "objectType": "Activity",
                       "definition": {"type": f"{XVIDEO}/activity-type/video", "name": {"en-US": "Welcome"}}},
            "context": context, "result": {"extensions": extensions},
            "timestamp": f"2026-10-05T{at}+00:00", "version": "1.0.3"}
    if id:
        body["id"] = str(uuid.uuid4())
    return body


def video_session(session: str) -> list[dict]:
    """initialized, played 0, paused 12, played 12, seeked 21 -> 14, completed 30, with played-segments."""
    return [
        statement(f"{ADL}/initialized", "10:00:00", session=session),
        statement(f"{XVIDEO}/verbs/played", "10:00:01", session=session, time=0.0),
        statement(f"{XVIDEO}/verbs/paused", "10:00:13", session=session, time=12.0, progress=0.4,
                  played_segments="0.000[.]12.000"),
        statement(f"{XVIDEO}/verbs/played", "10:00:20", session=session, time=12.0,
                  played_segments="0.000[.]12.000"),
        statement(f"{XVIDEO}/verbs/seeked", "10:00:29", session=session, time_from=21.0, time_to=14.0,
                  played_segments="0.000[.]12.000[,]12.000[.]21.000"),
        statement(f"{ADL}/completed", "10:00:45", session=session, time=30.0, progress=1.0,
                  played_segments="0.000[.]12.000[,]12.000[.]21.000[,]14.000[.]30.000"),
        statement(f"{ADL}/interacted", "10:00:46", session=session),
    ]


def post_xapi(client, auth, body, **kwargs):
    return client.post("/api/v1/xapi/statements", json=body, headers=auth, **kwargs)


def test_xapi_played_segments_in_one_request_or_one_by_one(client, db, auth):
    together = video_session("session-together")
    response = post_xapi(client, auth, together)
    assert response.status_code == 200
    assert response.get_json() == [s["id"] for s in together]  # as an LRS answers
    assert response.headers["X-Experience-API-Version"] == "1.0.3"
    assert (response.headers["X-Ingest-Accepted"], response.headers["X-Ingest-Duplicates"],
            response.headers["X-Ingest-Ignored"]) == ("6", "0", "1")
    for single in video_session("session-apart"):
        assert post_xapi(client, auth, single).status_code == 200
    plays = {p.play_key: p for p in db.session.scalars(select(Play))}
    assert set(plays) == {f"xapi:session-together:{ACTIVITY}", f"xapi:session-apart:{ACTIVITY}"}
    for play in plays.values():
        # 0-12, then 12-21 (closed by the seek), then 14-30: 12 + 9 + 16 seconds, rewatching counted.
        assert play.seconds_viewed == 37.0
        assert play.segments == [[0.0, 30.0]]
        assert (play.reached_end, play.percentile_count) == (True, 101)
    assert db.session.scalar(select(func.count()).select_from(PlayerLoad)) == 2
    alias = db.session.scalar(select(PersonAlias))
    assert alias.value == f"http://localhost:18000|{ACCOUNT['name']}"
    assert db.session.scalar(select(MediaEntry)).name == "Welcome"


def test_open_edx_statements_without_played_segments(client, db, auth):
    openedx_session = {"https://w3id.org/xapi/openedx/extensions/session-id": "e4858858443cd99828206e294587dac5"}
    statements = [
        statement(f"{XVIDEO}/verbs/played", "06:50:00", length=195.0, id=False, time=0.0),
        statement(f"{XVIDEO}/verbs/paused", "06:51:00", length=195.0, id=False, time=60.0),
        statement(f"{XVIDEO}/verbs/played", "06:52:00", length=195.0, id=False, time=60.0),
        statement(f"{XVIDEO}/verbs/seeked", "06:52:30", length=195.0, id=False, time_from=90.0, time_to=150.0),
        statement(f"{XVIDEO}/verbs/paused", "06:52:50", length=195.0, id=False, time=170.0),
    ]
    for s in statements:
        s["context"]["extensions"].update(openedx_session)
    response = post_xapi(client, auth, statements)
    assert response.status_code == 200 and response.headers["X-Ingest-Accepted"] == "5"
    ids = response.get_json()
    assert len(set(ids)) == 5 and all(uuid.UUID(i) for i in ids)
    play = db.session.scalar(select(Play))
    assert play.play_key == f"xapi:e4858858443cd99828206e294587dac5:{ACTIVITY}"
    # Rebuilt: 0-60, 60-90 (until the seek), 150-170.
    assert play.segments == [[0.0, 90.0], [150.0, 170.0]]
    assert play.seconds_viewed == 110.0
    # Furthest 170 of 195 s: past 25 % (48.75), 50 % (97.5) and 75 % (146.25), not the end.
    assert (play.quartile_events, play.highest_quartile, play.reached_end) == (3, 75, False)
    types = [e.event_type for e in db.session.scalars(select(PlayerEvent).order_by(PlayerEvent.occurred_at))]
    assert types == ["play", "pause", "resume", "seek", "pause"]
    before = counts(db)
    again = post_xapi(client, auth, statements)  # no ids: derived from the content, so stable
    assert again.get_json() == ids and again.headers["X-Ingest-Duplicates"] == "5"
    assert counts(db) == before


BAD_STATEMENTS = [
    (_without(statement(f"{XVIDEO}/verbs/paused", "10:00:13", time=12.0), "timestamp"), "time is missing"),
    (statement(f"{XVIDEO}/verbs/paused", "10:00:13", time=12.0, played_segments="0[.]12[,]"), "played-segments"),
    (statement(f"{XVIDEO}/verbs/paused", "10:00:13", time="12"), "time must be a number"),
    (statement(f"{XVIDEO}/verbs/seeked", "10:00:13", time_to=12.0), "needs time-from and time-to"),
    (statement(f"{XVIDEO}/verbs/paused", "10:00:13", time=12.0) | {"actor": {"name": "nobody"}}, "actor must be identified"),
    (statement(f"{XVIDEO}/verbs/paused", "10:00:13", time=12.0) | {"id": "not-a-uuid"}, "id must be a UUID"),
    (_without(statement(f"{XVIDEO}/verbs/paused", "10:00:13", time=12.0), "verb"), "verb.id is required"),
]


@pytest.mark.parametrize("bad, reason", BAD_STATEMENTS)
def test_a_bad_statement_rejects_the_request(client, db, auth, bad, reason):
    before = counts(db)
    response = post_xapi(client, auth, [statement(f"{XVIDEO}/verbs/played", "10:00:01", time=0.0), bad])
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert errors[0]["index"] == 1 and reason in errors[0]["reason"], errors
    assert counts(db) == before


def test_xapi_refuses_what_is_not_statements(client, db, auth):
    before = counts(db)
    assert post_xapi(client, auth, []).status_code == 400
    assert post_xapi(client, auth, "played").status_code == 400
    wrong_type = client.post("/api/v1/xapi/statements", data="{}", headers=auth, content_type="text/plain")
    assert wrong_type.status_code == 415
    assert counts(db) == before
