"""Kava beacons over HTTP, as a Kaltura player sends them, and the player tokens (ks) they carry."""
from __future__ import annotations

import base64
import hashlib
import json
import time
import warnings
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from flask_migrate import upgrade
from sqlalchemy import JSON, String, Text, func, select, text

from lti_tool import MIGRATIONS_DIR, create_app
from lti_tool.extensions import db as _db
from lti_tool.ingest import player_tokens, tokens
from lti_tool.ingest.kava import beacon_to_event
from lti_tool.ingest.pipeline import accept
from lti_tool.models import MediaEntry, Person, PersonAlias, Play, PlayerEvent, PlayerLoad, Registration
from lti_tool.registrations import RegistrationInput, upsert

PARTNER = "2503451"
ENTRY = "1_lecture01"
PAGE = "https://canvas.test.edu/courses/7/external_tools/12"
ROUTING = ("eventType", "partnerId", "entryId", "sessionId")


class KavaPlayer:
    """One player's Kava session: eventIndex from 1, +1 per beacon, as playkit-js-kava numbers them.

    `how` is the transport: "json" (what the player does: service, action and the routing
    parameters in the URL, the rest as a JSON body), "get" (everything in the query string) or
    "form" (the rest as a form body).
    """

    def __init__(self, client, *, session_id="5d1f0c6e-7a43:9b2e-41aa", entry=ENTRY, ks=None, how="json",
                 partner_id=PARTNER, remote_addr="127.0.0.1", path="/api/v1/kava", **common):
        self.client, self.how, self.remote_addr, self.path = client, how, remote_addr, path
        self.index = 1
        self.sent: list[dict] = []
        self.common = {"partnerId": partner_id, "entryId": entry, "sessionId": session_id, "referrer": PAGE,
                       "deliveryType": "hls", "playbackType": "vod", "clientVer": "3.17.4",
                       "clientTag": "html5:v3.17.4", "playbackSpeed": 1, "playerSkin": 1, **common}
        if ks:
            self.common["ks"] = ks

    def send(self, event_type, **params):
        """Send the next beacon; returns the response."""
        beacon = {"service": "analytics", "action": "trackEvent", "eventType": event_type, **self.common,
                  "eventIndex": self.index, **params}
        beacon = {k: v for k, v in beacon.items() if v is not None}
        self.index += 1
        self.sent.append(beacon)
        return self.post(beacon)

    def resend(self, which: int = -1):
        """Send a beacon already sent again, unchanged."""
        return self.post(self.sent[which])

    def reset(self):
        """What Kava does after 30 s without a VIEW: eventIndex restarts at 1 (and playTimeSum at 0)."""
        self.index = 1

    def post(self, beacon: dict):
        # Each request gets its own database session, as in production: the test's app context
        # would otherwise keep one session, and what it remembers, across requests.
        _db.session.remove()
        environ = {"REMOTE_ADDR": self.remote_addr}
        headers = {"User-Agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
                                 "(KHTML, like Gecko) Version/17.4 Safari/605.1.15"}
        url_part = {k: v for k, v in beacon.items() if k in ("service", "action", *ROUTING)}
        rest = {k: v for k, v in beacon.items() if k not in url_part}
        if self.how == "get":
            return self.client.get(self.path, query_string=beacon, environ_base=environ, headers=headers)
        if self.how == "form":
            return self.client.post(self.path, query_string=url_part, data=rest, environ_base=environ,
                                    headers=headers)
        return self.client.post(self.path, query_string=url_part, json=rest, environ_base=environ,
                                headers=headers)


@pytest.fixture
def partner(db, registration):
    """The test registration, its players sending partnerId PARTNER."""
    registration.player_partner_id = PARTNER
    db.session.commit()
    return registration


@pytest.fixture
def auth(registration):
    _token, secret = tokens.create(registration.id, "kava tests")
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def described(client, auth, partner):
    """ENTRY is a 60-second video in the catalog (Kava sends no duration)."""
    response = client.put(f"/api/v1/entries/{ENTRY}", json={"name": "Lecture 1", "media_type": "video", "duration": 60},
                          headers=auth)
    assert response.status_code == 201


def ks_for(registration, user="sub:student-1", ttl=3600) -> str:
    return player_tokens.mint(registration.id, user, ttl)[0]


def counts(db) -> tuple[int, ...]:
    return tuple(db.session.scalar(select(func.count()).select_from(m))
                 for m in (PlayerEvent, Play, PlayerLoad, MediaEntry, Person))


def plays(db) -> list[Play]:
    return list(db.session.scalars(select(Play).order_by(Play.play_key)))


def ok(response) -> None:
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["viewEventsEnabled"] is True and abs(body["time"] - time.time()) < 60


def watch_lecture(player: KavaPlayer) -> None:
    """A viewer watches the 60 s lecture to the end with a pause and a seek, then replays after a reset."""
    ok(player.send(1, position=0))                          # impression
    ok(player.send(2, position=0))                          # play request
    ok(player.send(3, position=0, joinTime=0.4))            # play
    ok(player.send(99, playTimeSum=0, position=0))          # the VIEW Kava sends with the first frame
    ok(player.send(99, playTimeSum=10, position=10))
    ok(player.send(11, position=15))                        # 25 %
    ok(player.send(99, playTimeSum=20, position=20))
    ok(player.send(33, position=24))                        # pause
    ok(player.send(35, position=40, targetPosition=40))     # seek past 50 %...
    ok(player.send(12, position=40))                        # ...fires the skipped quartile
    ok(player.send(4, position=40))                         # resume
    ok(player.send(13, position=45))                        # 75 %
    ok(player.send(99, playTimeSum=30, position=46))
    ok(player.send(99, playTimeSum=40, position=56))
    ok(player.send(14, position=60))                        # 100 %
    player.reset()                                          # 30 s after the end, Kava resets the session
    ok(player.send(34, position=0))                         # replay: a new play
    ok(player.send(99, playTimeSum=10, position=10))
    ok(player.send(99, playTimeSum=20, position=20))
    ok(player.send(33, position=22))


def test_a_real_player_sequence_becomes_plays_and_a_load(client, db, described, partner):
    player = KavaPlayer(client, ks=ks_for(partner))
    watch_lecture(player)
    sid = player.common["sessionId"]

    first, replay = plays(db)
    stream = f"kava:{sid}:{ENTRY}"
    assert first.play_key == f"{stream}:1" and replay.play_key == f"{stream}:2"
    # Seconds viewed are the playTimeSum deltas; each VIEW covers [position - delta, position].
    assert first.seconds_viewed == 40.0
    assert first.segments == [[0.0, 20.0], [36.0, 56.0]]
    assert (first.quartile_events, first.highest_quartile, first.reached_end) == (4, 100, True)
    assert replay.seconds_viewed == 20.0 and replay.segments == [[0.0, 20.0]]
    assert replay.reached_end is False and replay.quartile_events == 0  # Kava fired no quartile in the replay
    person = db.session.get(Person, first.person_id)
    assert person.subject == "student-1" and replay.person_id == first.person_id
    assert (first.domain, first.browser, first.playback_type) == ("canvas.test.edu", "Safari", "vod")

    events = list(db.session.scalars(select(PlayerEvent).order_by(PlayerEvent.occurred_at)))
    assert len(events) == 19 and {e.stream_key for e in events} == {stream}
    impression, seek, replayed = events[0], events[8], events[15]
    load = db.session.scalar(select(PlayerLoad))
    assert load.load_key == impression.event_key and load.person_id == first.person_id
    assert impression.event_key.startswith(f"kava:{sid}:1:1:") and impression.play_key is None
    assert (seek.event_type, seek.seek_to, seek.play_key) == ("seek", 40.0, first.play_key)
    assert replayed.extra == {"replay": True} and replayed.play_key == replay.play_key
    assert replayed.reported == {"event": 34, "index": 1}


def test_resent_beacons_change_nothing(client, db, described, partner):
    player = KavaPlayer(client, ks=ks_for(partner))
    ok(player.send(1, position=0))
    ok(player.send(2, position=0))
    ok(player.send(3, position=0))
    ok(player.resend())                                     # the PLAY again: no second play
    ok(player.send(99, playTimeSum=10, position=10))
    ok(player.resend())                                     # the same VIEW again: no extra seconds
    ok(player.send(11, position=15))
    before = counts(db)
    ok(player.resend())
    assert counts(db) == before
    ok(player.send(99, playTimeSum=20, position=20))
    (play,) = plays(db)
    assert play.seconds_viewed == 20.0 and play.quartile_events == 1
    assert db.session.scalar(select(func.count(PlayerEvent.id))) == 6


def test_a_long_pause_resets_the_session_but_not_the_play(client, db, described, partner):
    player = KavaPlayer(client, ks=ks_for(partner))
    ok(player.send(1, position=0))
    ok(player.send(3, position=0))
    ok(player.send(99, playTimeSum=10, position=10))
    ok(player.send(99, playTimeSum=20, position=20))
    ok(player.send(33, position=25))
    player.reset()                                          # paused for more than 30 s
    ok(player.send(4, position=25))                         # resume: eventIndex 1
    ok(player.send(99, playTimeSum=5, position=30))         # playTimeSum restarted at 0
    ok(player.send(99, playTimeSum=15, position=40))
    (play,) = plays(db)
    assert play.seconds_viewed == 35.0
    assert play.segments == [[0.0, 20.0], [25.0, 40.0]]


def test_a_batch_of_beacons_stored_at_once_keeps_the_play_across_a_reset(db, partner):
    """As a bulk import does: every beacon adapted first, then one batch accepted."""
    beacons = [(1, 1, {}), (3, 2, {}), (99, 3, {"playTimeSum": "10", "position": "10"}), (33, 4, {"position": "12"}),
               (4, 1, {"position": "12"}), (99, 2, {"playTimeSum": "8", "position": "20"})]
    now = datetime.now(timezone.utc)
    events = [beacon_to_event(partner.id, {"eventType": str(kind), "eventIndex": str(index), "entryId": ENTRY,
                                           "sessionId": "batch", **params},
                              received_at=now + timedelta(seconds=n), ip=None, user_agent=None, user="sub:batch")
              for n, (kind, index, params) in enumerate(beacons)]
    assert len({e.key for e in events}) == 6 and {e.stream for e in events} == {f"kava:batch:{ENTRY}"}
    accept(partner.id, events, "kava")
    (play,) = plays(db)
    assert play.seconds_viewed == 18.0
    assert [e.play_key for e in db.session.scalars(select(PlayerEvent).order_by(PlayerEvent.occurred_at))] == [
        None, play.play_key, play.play_key, play.play_key, play.play_key, play.play_key]


def test_a_new_media_in_the_same_session_starts_afresh(client, db, described, partner):
    player = KavaPlayer(client, ks=ks_for(partner))
    ok(player.send(1, position=0))
    ok(player.send(3, position=0))
    ok(player.send(99, playTimeSum=10, position=10))
    player.reset()
    player.common["entryId"] = "1_other"
    ok(player.send(1, position=0))
    ok(player.send(99, playTimeSum=10, position=10))         # (a VIEW before its PLAY joins no play)
    ok(player.send(3, position=0))
    ok(player.send(99, playTimeSum=20, position=20))
    first, second = plays(db)
    assert first.seconds_viewed == 10.0 and second.seconds_viewed == 10.0
    assert db.session.get(MediaEntry, second.entry_id).external_id == "1_other"
    assert db.session.scalar(select(func.count(PlayerLoad.id))) == 2


@pytest.mark.parametrize("how", ["get", "form", "json"])
def test_get_form_and_json_beacons_are_accepted(client, db, partner, how):
    player = KavaPlayer(client, how=how, session_id=f"session-{how}")
    ok(player.send(1, position=0))
    ok(player.send(3, position=0))
    ok(player.send(99, playTimeSum=10, position=10, playbackContext="cat-42"))
    (play,) = plays(db)
    assert play.play_key == f"kava:session-{how}:{ENTRY}:1" and play.seconds_viewed == 10.0
    assert play.person_id is None  # no ks: anonymous
    view = db.session.scalar(select(PlayerEvent).where(PlayerEvent.event_type == "view"))
    assert view.context_category_id is not None and view.position == 10.0 and view.seq == 3
    assert db.session.scalar(select(func.count(PlayerLoad.id))) == 1


def test_javascript_numbers_are_read_as_sent(client, db, partner):
    player = KavaPlayer(client)
    ok(player.send(3, position=0))
    ok(player.send(99, playTimeSum=10.000000000000002, position=10.123456789012345, bufferTime=1.5e-05))
    ok(player.send(99, playTimeSum=20.043218999999997, position=20.166574999999998))
    (play,) = plays(db)
    assert play.seconds_viewed == 20.043  # derive keeps milliseconds


def test_the_url_wins_over_the_body(client, db, partner):
    response = client.post("/api/v1/kava", query_string={"service": "analytics", "action": "trackEvent",
                                                         "eventType": 1, "partnerId": PARTNER, "entryId": ENTRY,
                                                         "sessionId": "s1"},
                           json={"eventType": 3, "eventIndex": 1, "position": 0})
    ok(response)
    assert db.session.scalar(select(PlayerEvent.event_type)) == "impression"


def test_a_preflight_is_answered_for_any_origin(client, db):
    response = client.options("/api/v1/kava", headers={"Origin": "https://canvas.test.edu",
                                                       "Access-Control-Request-Method": "POST"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]


# Where a player configuration can point: plugins.kava.serviceUrl names the whole URL; the player's
# provider.env.analyticsServiceUrl names a host or path, to which it appends /api_v3/index.php.
V3_PATHS = ("/api_v3/index.php", "/api/v1/kava/api_v3/index.php")
KAVA_PATHS = ("/api/v1/kava", *V3_PATHS)


@pytest.mark.parametrize("path", V3_PATHS)
@pytest.mark.parametrize("how", ["json", "get", "form"])
def test_the_api_v3_paths_a_player_appends_count_as_the_kava_route_does(client, db, described, partner, path, how):
    watch_lecture(KavaPlayer(client, ks=ks_for(partner), how=how, path=path, session_id="v3-session"))
    watch_lecture(KavaPlayer(client, ks=ks_for(partner), how=how, session_id="own-session"))
    by_session = {p.play_key.split(":")[1]: p for p in plays(db) if p.play_key.endswith(":1")}
    v3, own = by_session["v3-session"], by_session["own-session"]
    assert (v3.seconds_viewed, v3.segments, v3.quartile_events, v3.reached_end, v3.person_id) == \
        (own.seconds_viewed, own.segments, own.quartile_events, own.reached_end, own.person_id)
    assert len(plays(db)) == 4 and db.session.scalar(select(func.count(PlayerLoad.id))) == 2


def _cors(response) -> bool:
    return response.headers.get("Access-Control-Allow-Origin") == "*" and \
        "POST" in response.headers.get("Access-Control-Allow-Methods", "")


@pytest.mark.parametrize("path", KAVA_PATHS)
def test_every_answer_on_a_kava_path_allows_any_origin_errors_included(client, db, partner, path):
    """Without CORS on an error the browser shows the player only a network error, not the reason."""
    url = {"service": "analytics", "action": "trackEvent", "eventType": 1, "entryId": ENTRY, "sessionId": "s"}
    answers = {
        "stored": client.post(path, query_string={**url, "partnerId": PARTNER}, json={"eventIndex": 1}),
        "preflight": client.options(path, headers={"Origin": "https://canvas.test.edu",
                                                   "Access-Control-Request-Method": "POST"}),
        "no partner": client.get(path, query_string=url),
        "unknown partner": client.get(path, query_string={**url, "partnerId": "999"}),
        "bad token": client.get(path, query_string={**url, "ks": "not-a-token"}),
        "not JSON": client.post(path, query_string=url, data=b"{", content_type="application/json"),
        "other body": client.post(path, query_string=url, data=b"x", content_type="application/octet-stream"),
        "too large": client.post(path, query_string=url, data=b"x" * (70 * 1024), content_type="text/plain"),
        "method": client.put(path, query_string=url),
    }
    statuses = {name: r.status_code for name, r in answers.items()}
    assert statuses == {"stored": 200, "preflight": 204, "no partner": 400, "unknown partner": 404,
                        "bad token": 401, "not JSON": 400, "other body": 415, "too large": 413, "method": 405}
    assert all(_cors(r) for r in answers.values()), {n: dict(r.headers) for n, r in answers.items() if not _cors(r)}
    assert all(r.is_json for name, r in answers.items() if name not in ("preflight",)), statuses
    assert db.session.scalar(select(func.count(PlayerEvent.id))) == 1


def test_other_paths_do_not_allow_any_origin(client, db):
    assert "Access-Control-Allow-Origin" not in client.get("/api/v1/events").headers


@pytest.mark.parametrize("event_type", [15, 24, 25, 31, 32, 36, 38, 41, 45, 46, 10002, 10003, 777])
def test_ignored_event_types_are_answered_and_not_stored(client, db, partner, event_type):
    player = KavaPlayer(client)
    ok(player.send(1, position=0))
    before = counts(db)
    ok(player.send(event_type, position=3))
    assert counts(db) == before
    ok(player.send(3, position=3))
    assert len(plays(db)) == 1


def test_live_views_carry_engagement(client, db, partner):
    player = KavaPlayer(client, playbackType="live")
    ok(player.send(3, position=-4))
    ok(player.send(99, playTimeSum=10, position=-3, soundMode=2, tabMode=1, screenMode=2, viewabilityMode=2))
    view = db.session.scalar(select(PlayerEvent).where(PlayerEvent.event_type == "view"))
    assert view.extra == {"soundMode": 2, "tabMode": 1, "screenMode": 2}
    assert view.playback_type == "live" and view.seconds_viewed == 10.0
    assert plays(db)[0].seconds_viewed == 10.0


def test_player_time_is_used_only_when_close_to_ours(client, db, partner):
    player = KavaPlayer(client)
    sent = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
    ok(player.send(1, eventTime=int(sent.timestamp())))
    ok(player.send(2, eventTime=int((sent - timedelta(days=3)).timestamp())))
    impression, request = db.session.scalars(select(PlayerEvent).order_by(PlayerEvent.seq)).all()
    assert impression.occurred_at == sent
    assert abs(request.occurred_at - datetime.now(timezone.utc)) < timedelta(minutes=1)


def test_the_user_comes_from_the_ks_not_user_id(client, db, partner):
    player = KavaPlayer(client, ks=ks_for(partner, "sub:alice"), userId="bob")
    ok(player.send(1, position=0))
    ok(player.send(3, position=0))
    anonymous = KavaPlayer(client, session_id="anon", userId="bob")
    ok(anonymous.send(3, position=0))
    people = {p.person_id for p in plays(db)}
    subjects = set(db.session.scalars(select(Person.subject)))
    assert subjects == {"alice"} and len(people) == 2 and None in people
    assert not any("bob" in value for value in db.session.scalars(select(PersonAlias.value)))


def test_anonymous_beacons_refused_when_the_registration_disallows_them(client, db, partner):
    ks = ks_for(partner)
    partner.allow_anonymous_beacons = False
    db.session.commit()
    before = counts(db)
    response = KavaPlayer(client).send(1, position=0)
    assert response.status_code == 403 and "player token" in response.get_json()["error"]
    assert counts(db) == before
    ok(KavaPlayer(client, ks=ks, partner_id=None).send(1, position=0))
    assert db.session.scalar(select(func.count(PlayerEvent.id))) == 1


def test_a_ks_of_a_registration_that_is_gone_is_401(client, db, partner):
    before = counts(db)
    orphan = player_tokens.mint(partner.id + 1000, "sub:ghost", 60)[0]
    response = KavaPlayer(client, ks=orphan).send(1, position=0)
    assert response.status_code == 401 and "no longer exists" in response.get_json()["error"]
    assert counts(db) == before


def _signed(claims: dict, key: bytes) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)  # SECRET_KEY itself is short in tests
        return jwt.encode(claims, key, algorithm="HS256")


def _tampered(ks: str) -> str:
    header, payload, signature = ks.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["user"] = "sub:someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return ".".join((header, forged, signature))


def _player_key(app) -> bytes:
    return hashlib.sha256(b"player-token:" + app.config["SECRET_KEY"].encode()).digest()


BAD_BEACONS = [
    ({"entryId": None}, 400, "entryId is required"),
    ({"sessionId": None}, 400, "sessionId is required"),
    ({"eventType": None}, 400, "eventType is required"),
    ({"eventIndex": None}, 400, "eventIndex is required"),
    ({"eventType": "play"}, 400, "not a Kava event id"),
    ({"eventType": "-3"}, 400, "not a Kava event id"),
    ({"eventIndex": "seven"}, 400, "eventIndex must be a whole number"),
    ({"eventIndex": "0"}, 400, "eventIndex must be between"),
    ({"eventIndex": "1.5"}, 400, "eventIndex must be a whole number"),
    ({"position": "ten"}, 400, "position must be a number"),
    ({"position": "nan"}, 400, "position must be a number"),
    ({"position": "1e300"}, 400, "position must be between"),
    ({"eventType": 99, "playTimeSum": "lots"}, 400, "playTimeSum must be a number"),
    ({"eventType": 99, "playTimeSum": "-5"}, 400, "playTimeSum must be between"),
    ({"eventType": 99}, 400, "playTimeSum is required"),
    ({"eventType": 35, "targetPosition": "end"}, 400, "targetPosition must be a number"),
    ({"eventTime": "yesterday"}, 400, "eventTime must be a number"),
    ({"soundMode": "3"}, 400, "soundMode must be between 1 and 2"),
    ({"tabMode": "on"}, 400, "tabMode must be a whole number"),
    ({"playbackType": "radio"}, 400, "playbackType must be vod, live or dvr"),
    ({"entryId": "e" * 256}, 400, "entryId is longer than 255"),
    ({"sessionId": "s" * 129}, 400, "sessionId is longer than 128"),
    ({"playbackContext": "c" * 256}, 400, "playbackContext is longer than 255"),
    ({"referrer": "https://x.edu/" + "p" * 8000}, 400, "referrer is longer than 8000"),
    ({"errorCode": "E" * 65, "eventType": 98}, 400, "errorCode is longer than 64"),
    ({"partnerId": "999999"}, 404, "unknown partnerId"),
    ({"partnerId": None}, 400, "partnerId is required"),
    ({"partnerId": "9" * 33}, 400, "partnerId is longer than 32"),
    ({"service": "media"}, 400, "service=analytics&action=trackEvent"),
    ({"action": "list"}, 400, "service=analytics&action=trackEvent"),
    ({"ks": "djJ8MjUwMzQ1MXzq8NqTz0bx"}, 401, "malformed"),
    ({"ks": "expired"}, 401, "has expired"),
    ({"ks": "tampered"}, 401, "signature is not valid"),
    ({"ks": "signed with SECRET_KEY"}, 401, "signature is not valid"),
    ({"ks": "no user"}, 401, "user"),
]


@pytest.mark.parametrize("how", ["get", "json"])
@pytest.mark.parametrize("change, status, reason", BAD_BEACONS)
def test_bad_beacons_are_refused_and_store_nothing(app, client, db, partner, how, change, status, reason):
    player = KavaPlayer(client, how=how, ks=ks_for(partner))
    ok(player.send(1, position=0))
    before = counts(db)
    now = int(time.time())
    forged = {
        "expired": lambda: _signed({"reg": partner.id, "user": "sub:a", "iat": now - 7200, "exp": now - 3600},
                                   _player_key(app)),
        "tampered": lambda: _tampered(ks_for(partner)),
        "signed with SECRET_KEY": lambda: _signed({"reg": partner.id, "user": "sub:a", "iat": now, "exp": now + 60},
                                                  app.config["SECRET_KEY"].encode()),
        "no user": lambda: _signed({"reg": partner.id, "iat": now, "exp": now + 60}, _player_key(app)),
    }
    change = dict(change)
    if change.get("ks") in forged:
        change["ks"] = forged[change["ks"]]()
    if "partnerId" in change:
        player.common.pop("ks")  # without a ks, the partnerId names the registration
    response = player.send(3, **{"position": 0, **change})
    assert response.status_code == status, response.text
    assert reason in response.get_json()["error"]
    assert counts(db) == before


def test_malformed_bodies_are_refused(client, db, partner):
    url = {"service": "analytics", "action": "trackEvent", "eventType": 1, "partnerId": PARTNER,
           "entryId": ENTRY, "sessionId": "s1"}
    before = counts(db)
    assert client.post("/api/v1/kava", query_string=url, json=[1, 2]).status_code == 400
    assert client.post("/api/v1/kava", query_string=url, data="{nope",
                       content_type="application/json").status_code == 400
    nested = client.post("/api/v1/kava", query_string=url, json={"eventIndex": 1, "position": [1, 2]})
    assert nested.status_code == 400 and "position must be a string or a number" in nested.get_json()["error"]
    assert client.post("/api/v1/kava", query_string=url, data=b"\x00\x01",
                       content_type="application/octet-stream").status_code == 415
    huge = client.post("/api/v1/kava", query_string=url, json={"eventIndex": 1, "padding": "x" * 70_000})
    assert huge.status_code == 413 and "larger than" in huge.get_json()["error"]
    many = client.get("/api/v1/kava", query_string={**url, "eventIndex": 1, **{f"p{n}": n for n in range(300)}})
    assert many.status_code == 400 and "at most 300 parameters" in many.get_json()["error"]
    assert counts(db) == before


def test_no_ip_address_is_stored_anywhere(client, db, partner):
    ips = ["8.8.8.8", "2001:4860:4860::8888"]
    for n, ip in enumerate(ips):
        player = KavaPlayer(client, session_id=f"ip-session-{n}", remote_addr=ip, ks=ks_for(partner))
        ok(player.send(1, position=0))
        ok(player.send(3, position=0))
        ok(player.send(99, playTimeSum=10, position=10))
    assert db.session.scalar(select(PlayerLoad.country).where(PlayerLoad.load_key.like("kava:ip-session-0:%"))) == "US"
    for model in (PlayerEvent, Play, PlayerLoad):
        for column in model.__table__.columns:
            if not isinstance(column.type, (String, Text, JSON)):
                continue
            values = db.session.execute(text(f'SELECT CAST("{column.name}" AS TEXT) FROM "{model.__tablename__}"'))
            for (value,) in values:
                assert value is None or not any(ip in value for ip in ips), (model.__tablename__, column.name)


def test_player_tokens_for_a_server(client, db, auth, registration):
    response = client.post("/api/v1/player-tokens", json={"user": "canvas:4242", "ttl": 3600}, headers=auth)
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert player_tokens.verify(body["ks"]) == (registration.id, "canvas:4242")
    expires = datetime.fromisoformat(body["expires_at"])
    assert abs(expires - datetime.now(timezone.utc) - timedelta(hours=1)) < timedelta(minutes=1)
    default = client.post("/api/v1/player-tokens", json={"user": "sub:abc"}, headers=auth).get_json()
    lifetime = datetime.fromisoformat(default["expires_at"]) - datetime.now(timezone.utc)
    assert timedelta(hours=23, minutes=59) < lifetime <= timedelta(hours=24)


@pytest.mark.parametrize("body, reason", [
    ({}, "user is required"),
    ({"user": "bob"}, "user must look like kind:value"),
    ({"user": "sub:a", "ttl": 8 * 24 * 3600}, "ttl must be"),
    ({"user": "sub:a", "ttl": 0}, "ttl must be"),
    ({"user": "sub:a", "ttl": "1h"}, "ttl must be"),
    ([1], "JSON object"),
])
def test_bad_player_token_requests(client, db, auth, body, reason):
    response = client.post("/api/v1/player-tokens", json=body, headers=auth)
    assert response.status_code == 400 and reason in response.get_json()["error"]


def test_player_token_for_an_lti_session(client, launch_as, canvas, registration):
    student = launch_as("student")
    assert student.page.status_code == 200
    response = student.post("/api/v1/player-tokens")
    assert response.status_code == 200, response.text
    registration_id, user = player_tokens.verify(response.get_json()["ks"])
    assert (registration_id, user) == (registration.id, f"sub:{canvas.sub('student')}")
    # The session cookie alone does not mint one (a cross-site form could send it).
    assert client.post("/api/v1/player-tokens").status_code == 401


@pytest.mark.parametrize("headers, reason", [
    ({}, "bearer ingest token"),
    ({"X-Session-Token": "not-a-session"}, "bearer ingest token"),
    ({"Authorization": "Bearer mat_nope"}, "unknown token"),
])
def test_player_tokens_refused_without_a_server_or_a_session(client, db, registration, headers, reason):
    response = client.post("/api/v1/player-tokens", json={"user": "sub:a"}, headers=headers)
    assert response.status_code == 401 and reason in response.get_json()["error"]


def test_player_token_module(app, db, registration):
    ks, expires_at = player_tokens.mint(registration.id, "sub:x", 60)
    assert player_tokens.verify(ks) == (registration.id, "sub:x")
    claims = jwt.decode(ks, _player_key(app), algorithms=["HS256"])
    assert set(claims) == {"reg", "user", "iat", "exp"} and claims["exp"] - claims["iat"] == 60
    assert expires_at == datetime.fromtimestamp(claims["exp"], timezone.utc)
    for bad in ("", "a.b.c", "x" * 3000, ks + "x"):
        with pytest.raises(player_tokens.PlayerTokenError):
            player_tokens.verify(bad)
    with pytest.raises(player_tokens.PlayerTokenError, match="lives longer than 7 days"):
        now = int(time.time())
        player_tokens.verify(_signed({"reg": 1, "user": "sub:a", "iat": now, "exp": now + 8 * 86400},
                                     _player_key(app)))


def test_beacons_on_the_embedded_sqlite_default(tmp_path):
    app = create_app({"APP_ENV": "dev", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/kava.sqlite3",
                      "REDIS_URL": None, "SECRET_KEY": "kava-test", "KEY_ENCRYPTION_SECRET": "kava-test-keys"})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        registration, _ = upsert(RegistrationInput(
            issuer="https://lms.example.edu", client_id="10000000000001", deployment_ids=("1:abc",),
            auth_login_url="https://lms.example.edu/login", auth_token_url="https://lms.example.edu/token",
            key_set_url="https://lms.example.edu/jwks"))
        registration.player_partner_id = PARTNER
        _db.session.commit()
        registration_id = registration.id
        player = KavaPlayer(app.test_client())
        for event_type, params in [(1, {}), (3, {}), (99, {"playTimeSum": 10, "position": 10}),
                                   (99, {"playTimeSum": 20, "position": 20})]:
            ok(player.send(event_type, **params))
        ok(player.resend())
        (play,) = _db.session.scalars(select(Play)).all()
        assert play.seconds_viewed == 20.0
        assert _db.session.get(Registration, registration_id).player_partner_id == PARTNER
        _db.session.remove()
        _db.engine.dispose()
