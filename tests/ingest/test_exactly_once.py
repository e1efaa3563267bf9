"""Exactly once, whatever the delivery: a property-based test against an independent oracle.

Hypothesis generates viewings (loads, plays, pauses short and long, seeks, replays after the end,
quartile marks, signed-in and anonymous viewers) on every feed: Kava beacons, native events, xAPI
Video statements and Caliper MediaEvents (tests/ingest/viewings.py). The oracle there computes
the expected numbers from what happened, with DESIGN §5's definitions, reading nothing of the
product. Then the events are delivered the way the world delivers them: each one possibly two or
three times, in a random order, in batches of random sizes, over HTTP (stored in the request,
concurrently from several connections, or queued for `flask ingest drain`) or through
`flask ingest import` files, on PostgreSQL and on the embedded SQLite default. The report API must
answer exactly what the oracle says.

Each example is a fresh registration on a live server with real commits, so examples do not see
each other's data. Set HYPOTHESIS_PROFILE=explore for a long random run (tests/conftest.py).
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from itertools import count
from pathlib import Path

import pytest
import requests
from flask_migrate import upgrade
from hypothesis import given, settings
from hypothesis import strategies as st

from lti_tool import MIGRATIONS_DIR, create_app
from lti_tool.extensions import db as _db
from lti_tool.ingest import beacon_queue, player_tokens, tokens
from lti_tool.registrations import RegistrationInput, upsert

from ..conftest import REDIS_URL, TEST_SETTINGS, fresh_database
from ..support.servers import LoopbackServer
from .viewings import (CALIPER, ENTRIES, FEEDS, Viewing, caliper_events, identity, kava_beacons, native_events,
                       oracle, xapi_statements)

NOW = datetime.now(timezone.utc).replace(microsecond=0)
BASE = NOW - timedelta(hours=3)
PERIOD = {"range": "custom", "from": (NOW - timedelta(days=2)).date().isoformat(), "to": NOW.date().isoformat(),
          "tz": "UTC"}
TENANTS = count(1)


# -- the live servers -----------------------------------------------------------------------------

def _redis_url(offset: int) -> str:
    base, _, number = REDIS_URL.rpartition("/")
    return f"{base}/{(int(number) + offset) % 16}"


class Live:
    """A live server on loopback with real commits, and a fresh tenant per example."""

    def __init__(self, app, base_url: str) -> None:
        self.app, self.base_url = app, base_url
        self.http = requests.Session()

    def tenant(self) -> "Tenant":
        n = next(TENANTS)
        with self.app.app_context():
            registration, _ = upsert(RegistrationInput(
                issuer="https://canvas.instructure.com", client_id=f"prop-{n}",
                auth_token_url=f"https://exactly-once-{n}.example.edu/login/oauth2/token"))
            registration.player_partner_id = f"9{n:06d}"
            _db.session.commit()
            _token, secret = tokens.create(registration.id, "property test")
            ks = {viewer: player_tokens.mint(registration.id, f"sub:{viewer}", 3600)[0] for viewer in ("v1", "v2", "v3")}
            registration_id = registration.id
            _db.session.remove()
        tenant = Tenant(self, registration_id, secret, f"9{n:06d}", ks)
        for entry, duration in ENTRIES.items():
            response = tenant.call("PUT", f"/api/v1/entries/{entry}",
                                   json={"name": entry, "media_type": "video", "duration": duration})
            assert response.status_code in (200, 201), response.text
        return tenant


class Tenant:
    def __init__(self, live: Live, registration_id: int, secret: str, partner: str, ks: dict) -> None:
        self.live, self.registration_id, self.partner, self.ks = live, registration_id, partner, ks
        self.auth = {"Authorization": f"Bearer {secret}"}

    def call(self, method: str, path: str, http=None, **kwargs):
        return (http or self.live.http).request(method, self.live.base_url + path, headers=self.auth, timeout=60,
                                                **kwargs)

    def beacon(self, viewing: Viewing, params: dict, http=None):
        who = {"ks": self.ks[viewing.viewer]} if viewing.viewer else {"partnerId": self.partner}
        query = {"service": "analytics", "action": "trackEvent", **who, **params}
        return (http or self.live.http).get(self.live.base_url + "/api/v1/kava", params=query, timeout=60)

    def report(self, entry: str) -> dict | None:
        """The entry's highlights; None when no feed ever named the entry."""
        response = self.call("GET", "/api/v1/reports/entry-highlights", params={"entry": entry, **PERIOD})
        if response.status_code in (403, 404):  # another tenant's entry reads as one that does not exist
            return None
        assert response.status_code == 200, response.text
        return response.json()["data"]["current"]


def _live(database_url: str, redis_url: str):
    app = create_app({**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url,
                      "BEACON_QUEUE": False})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        _db.engine.dispose()
    with LoopbackServer(app) as server:
        yield Live(app, server.url)
    with app.app_context():
        _db.engine.dispose()


@pytest.fixture(scope="module")
def postgres_live():
    yield from _live(fresh_database("exactly"), _redis_url(3))


@pytest.fixture(scope="module")
def sqlite_live(tmp_path_factory):
    path = tmp_path_factory.mktemp("exactly") / "exactly.sqlite3"
    yield from _live(f"sqlite:///{path}", _redis_url(4))


# -- what happened --------------------------------------------------------------------------------

VIEWERS = ("v1", "v2", "v3")
watch = st.tuples(st.just("watch"), st.integers(1, 4))
pause = st.tuples(st.just("pause"), st.booleans())
seek = st.tuples(st.just("seek"), st.integers(1, 11))


@st.composite
def play_actions(draw, replay: bool, more_follow: bool) -> list[tuple]:
    # A play starts by playing at least one heartbeat; a replay comes after the end.
    actions = [draw(watch), *draw(st.lists(st.one_of(watch, pause, seek), max_size=4))]
    if more_follow or draw(st.booleans()):
        actions.append(("end",))
    if replay and draw(st.booleans()):
        actions.insert(0, ("long-gap",))
    return actions


@st.composite
def viewings(draw, feeds=FEEDS) -> list[Viewing]:
    found = []
    for number in range(draw(st.integers(1, 6))):
        feed = draw(st.sampled_from(feeds))
        anonymous_allowed = feed in ("kava", "native")  # xAPI and Caliper always name an actor
        viewer = draw(st.sampled_from(VIEWERS + ((None,) if anonymous_allowed else ())))
        plays = draw(st.integers(0, 2))
        found.append(Viewing(
            number=number, feed=feed, viewer=viewer, entry=draw(st.sampled_from(sorted(ENTRIES))),
            start=BASE + timedelta(seconds=draw(st.integers(0, 7200))),
            plays=[draw(play_actions(replay=n > 0, more_follow=n < plays - 1)) for n in range(plays)]))
    return found


# -- how it is delivered --------------------------------------------------------------------------

def repeated_and_shuffled(items: list, rng) -> list:
    """Each item once, or two or three times; all in a random order."""
    out = [item for item in items for _ in range(1 + (rng.randint(1, 2) if rng.random() < 0.4 else 0))]
    rng.shuffle(out)
    return out


def batches(items: list, rng, largest: int) -> list[list]:
    out = []
    while items:
        size = rng.randint(1, largest)
        out.append(items[:size])
        items = items[size:]
    return out


def requests_of(tenant: Tenant, found: list[Viewing], rng) -> list:
    """Every request the feeds make (a callable each), delivery order already shuffled."""
    calls = []
    beacons = [(v, b) for v in found if v.feed == "kava" for b in kava_beacons(v)]
    calls += [lambda http, v=v, b=b: tenant.beacon(v, b, http) for v, b in repeated_and_shuffled(beacons, rng)]
    native = repeated_and_shuffled([e for v in found if v.feed == "native" for e in native_events(v)], rng)
    calls += [lambda http, b=b: tenant.call("POST", "/api/v1/events", http, json={"version": 1, "events": b})
              for b in batches(native, rng, 8)]
    statements = repeated_and_shuffled([s for v in found if v.feed == "xapi" for s in xapi_statements(v)], rng)
    calls += [lambda http, b=b: tenant.call("POST", "/api/v1/xapi/statements", http, json=b if len(b) > 1 else b[0])
              for b in batches(statements, rng, 8)]
    caliper = repeated_and_shuffled([e for v in found if v.feed == "caliper" for e in caliper_events(v)], rng)
    calls += [lambda http, b=b: tenant.call("POST", "/api/v1/caliper", http, json=envelope(b))
              for b in batches(caliper, rng, 8)]
    rng.shuffle(calls)
    return calls


def envelope(data: list) -> dict:
    return {"sensor": "https://example.edu/sensors/player", "sendTime": NOW.isoformat().replace("+00:00", "Z"),
            "dataVersion": CALIPER, "data": data}


def deliver_over_http(tenant: Tenant, found: list[Viewing], rng, *, concurrent: bool) -> None:
    calls = requests_of(tenant, found, rng)
    if concurrent:
        with ThreadPoolExecutor(max_workers=4) as pool:
            sessions = [requests.Session() for _ in range(4)]
            responses = list(pool.map(lambda n_call: n_call[1](sessions[n_call[0] % 4]), enumerate(calls)))
    else:
        responses = [call(None) for call in calls]
    for response in responses:
        assert response.status_code == 200, response.text


def drain_queue(live: Live, rng) -> None:
    runner = live.app.test_cli_runner()
    with live.app.app_context():
        client = beacon_queue.get_store().client
        for _ in range(200):
            result = runner.invoke(args=["ingest", "drain", "--once", "--batch", str(rng.randint(1, 40))])
            assert result.exit_code == 0, result.output
            if not beacon_queue.waiting(client):
                break
        assert beacon_queue.waiting(client) == 0
        assert not [(b.kind, b.reason, b.params) for b in beacon_queue.parked(client)]
        assert beacon_queue.state(client=client).in_progress == 0


def deliver_queued(tenant: Tenant, found: list[Viewing], rng, monkeypatch) -> None:
    monkeypatch.setitem(tenant.live.app.config, "BEACON_QUEUE", True)
    deliver_over_http(tenant, found, rng, concurrent=False)
    drain_queue(tenant.live, rng)


def deliver_by_import(tenant: Tenant, found: list[Viewing], rng, folder: Path) -> None:
    """One file per feed, lines repeated and shuffled, stored in batches of random sizes."""
    beacons = [dict(b, user=identity(v)) if v.viewer else b for v in found if v.feed == "kava" for b in kava_beacons(v)]
    native = [e for v in found if v.feed == "native" for e in native_events(v)]
    statements = [s for v in found if v.feed == "xapi" for s in xapi_statements(v)]
    caliper = [e for v in found if v.feed == "caliper" for e in caliper_events(v)]
    files = {
        "beacons.kava.jsonl": [json.dumps(b) for b in repeated_and_shuffled(beacons, rng)],
        "events.jsonl": [json.dumps(e) for e in repeated_and_shuffled(native, rng)],
        "statements.xapi.jsonl": [json.dumps(b) for b in batches(repeated_and_shuffled(statements, rng), rng, 6)],
        "envelopes.caliper.jsonl": [json.dumps(envelope(b))
                                    for b in batches(repeated_and_shuffled(caliper, rng), rng, 6)],
    }
    runner = tenant.live.app.test_cli_runner()
    for name, lines in files.items():
        if not lines:
            continue
        path = folder / f"{tenant.registration_id}-{name}"
        path.write_text("\n".join(lines) + "\n")
        result = runner.invoke(args=["ingest", "import", str(path), "--registration", str(tenant.registration_id),
                                     "--batch-size", str(rng.randint(1, 30))])
        assert result.exit_code == 0 and "rejected 0" in result.output, result.output


def check(tenant: Tenant, found: list[Viewing]) -> None:
    expected = oracle(found)
    for entry, numbers in expected.items():
        got = tenant.report(entry)
        if got is None:
            assert numbers["impressions"] == numbers["plays"] == 0, (entry, numbers, found)
            continue
        for name in ("impressions", "plays", "unique_viewers", "anonymous_plays"):
            assert got[name] == numbers[name], (entry, name, got, numbers, found)
        assert got["minutes_viewed"] == pytest.approx(numbers["minutes_viewed"], abs=1e-4), (entry, got, numbers)
        if numbers["avg_completion_rate"] is None:
            assert got["avg_completion_rate"] is None
        else:
            assert got["avg_completion_rate"] == pytest.approx(numbers["avg_completion_rate"], abs=0.01), (
                entry, got, numbers, found)


def deliver(live: Live, mode: str, found: list[Viewing], rng, monkeypatch, folder: Path) -> Tenant:
    tenant = live.tenant()
    if mode == "import":
        deliver_by_import(tenant, found, rng, folder)
    elif mode == "queued":
        deliver_queued(tenant, found, rng, monkeypatch)
    else:
        deliver_over_http(tenant, found, rng, concurrent=mode == "concurrent")
    return tenant


# -- the properties -------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["stored", "concurrent", "queued", "import"])
@settings(max_examples=int(os.environ.get("EXACTLY_ONCE_EXAMPLES", 12)))
@given(found=viewings(), rng=st.randoms(use_true_random=False))
def test_postgres_numbers_equal_the_oracle_whatever_the_delivery(postgres_live, mode, found, rng, monkeypatch,
                                                                  tmp_path_factory):
    tenant = deliver(postgres_live, mode, found, rng, monkeypatch, tmp_path_factory.mktemp("import"))
    check(tenant, found)


@pytest.mark.parametrize("mode", ["stored", "queued", "import"])
@settings(max_examples=int(os.environ.get("EXACTLY_ONCE_EXAMPLES", 12)) // 2)
@given(found=viewings(), rng=st.randoms(use_true_random=False))
def test_sqlite_numbers_equal_the_oracle_whatever_the_delivery(sqlite_live, mode, found, rng, monkeypatch,
                                                                tmp_path_factory):
    tenant = deliver(sqlite_live, mode, found, rng, monkeypatch, tmp_path_factory.mktemp("import"))
    check(tenant, found)


def test_the_oracle_agrees_with_numbers_worked_by_hand():
    """The oracle itself, on a viewing whose numbers are worked out by hand: a 60 s video watched
    0-20, a seek to 40, watched to the end, then replayed 0-10 after a long gap."""
    viewing = Viewing(number=0, feed="kava", viewer="v1", entry="1_prop_short", start=BASE,
                      plays=[[("watch", 2), ("seek", 4), ("end",)], [("long-gap",), ("watch", 1)]])
    numbers = oracle([viewing])["1_prop_short"]
    # play 1: [0, 20] -> percentiles 0-33 (34), [40, 60] -> 66-100 (35): 69; play 2: [0, 10] -> 0-16 (17)
    assert numbers == {"impressions": 1, "plays": 2, "unique_viewers": 1, "anonymous_plays": 0,
                       "minutes_viewed": 50 / 60, "avg_completion_rate": (69 + 17) / 2}
    assert oracle([viewing])["1_prop_long"]["plays"] == 0
    assert oracle([viewing])["https://example.edu/media/1_prop_short"]["impressions"] == 0


# -- the reproductions of issue 12 (Kava as Kaltura's players send it: no event time) -------------

def kava_only(count_: int, seed: int, never_played: int = 0) -> list[Viewing]:
    """`count_` Kava viewings by known and anonymous viewers, the first `never_played` of them loads only."""
    import random

    rng = random.Random(seed)
    found = []
    for number in range(count_):
        never = number < never_played
        actions = [("watch", rng.randint(1, 4)), *rng.sample([("pause", False), ("seek", 3), ("watch", 2)], 2)]
        found.append(Viewing(number=number, feed="kava", viewer=rng.choice(VIEWERS + (None,)),
                             entry=rng.choice(sorted(ENTRIES)), start=BASE, plays=[] if never else [actions]))
    return found


def send_beacons(tenant: Tenant, pairs: list[tuple[Viewing, dict]], workers: int = 1) -> None:
    if workers == 1:
        responses = [tenant.beacon(v, b) for v, b in pairs]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            responses = list(pool.map(lambda pair: tenant.beacon(*pair, requests.Session()), pairs))
    assert [r.status_code for r in responses] == [200] * len(pairs), [r.text for r in responses if r.status_code != 200]


def totals(tenant: Tenant) -> dict:
    found = {name: 0 for name in ("impressions", "plays", "minutes_viewed")}
    for entry in ENTRIES:
        got = tenant.report(entry)
        for name in found:
            found[name] += got[name]
    found["minutes_viewed"] = pytest.approx(found["minutes_viewed"], abs=1e-3)  # each entry's is rounded
    return found


def expected_totals(found: list[Viewing]) -> dict:
    numbers = oracle(found)
    return {"impressions": sum(n["impressions"] for n in numbers.values()),
            "plays": sum(n["plays"] for n in numbers.values()),
            "minutes_viewed": round(sum(n["minutes_viewed"] for n in numbers.values()), 4)}


def settle(tenant: Tenant, queued: bool) -> None:
    if queued:
        import random

        drain_queue(tenant.live, random.Random(0))


@pytest.mark.parametrize("queued", [False, True], ids=["stored", "queued"])
def test_one_session_sent_twice_counts_once(postgres_live, monkeypatch, queued):
    """Impression, play request, play and one VIEW, then the same four again: 1 / 1 / 0.17 min."""
    monkeypatch.setitem(postgres_live.app.config, "BEACON_QUEUE", queued)
    tenant = postgres_live.tenant()
    viewing = Viewing(number=0, feed="kava", viewer="v1", entry="1_prop_short", start=BASE, plays=[[("watch", 1)]])
    four = [(viewing, b) for b in kava_beacons(viewing, event_time=False)[:4]]
    assert [b["eventType"] for _, b in four] == ["1", "2", "3", "99"]
    send_beacons(tenant, four)
    settle(tenant, queued)
    assert totals(tenant) == {"impressions": 1, "plays": 1, "minutes_viewed": 0.1667}
    send_beacons(tenant, four)
    settle(tenant, queued)
    assert totals(tenant) == {"impressions": 1, "plays": 1, "minutes_viewed": 0.1667}


@pytest.mark.parametrize("queued", [False, True], ids=["stored", "queued"])
def test_sixty_player_loads_sent_again_in_order_count_once(postgres_live, monkeypatch, queued):
    """Every beacon of 60 player loads (47 of them played) sent, then all of them again, in order."""
    monkeypatch.setitem(postgres_live.app.config, "BEACON_QUEUE", queued)
    tenant = postgres_live.tenant()
    found = kava_only(60, seed=12, never_played=13)
    assert sum(1 for v in found if v.plays) == 47
    pairs = [(v, b) for v in found for b in kava_beacons(v, event_time=False)]
    send_beacons(tenant, pairs)
    settle(tenant, queued)
    expected = expected_totals(found)
    assert expected["impressions"] == 60 and expected["plays"] == 47
    assert totals(tenant) == expected
    send_beacons(tenant, pairs)
    settle(tenant, queued)
    assert totals(tenant) == expected


@pytest.mark.parametrize("queued", [False, True], ids=["stored", "queued"])
def test_each_sessions_beacons_sent_at_once_and_again_shuffled(postgres_live, monkeypatch, queued):
    """Each session's beacons sent concurrently (so they arrive in any order, late VIEWs with a lower
    playTimeSum included), then every beacon again, three times, shuffled and concurrently: the
    numbers are the oracle's, never inflated."""
    import random

    monkeypatch.setitem(postgres_live.app.config, "BEACON_QUEUE", queued)
    tenant = postgres_live.tenant()
    found = kava_only(24, seed=7)
    pairs_by_session = [[(v, b) for b in kava_beacons(v, event_time=False)] for v in found]
    for pairs in pairs_by_session:
        send_beacons(tenant, pairs, workers=len(pairs))
    settle(tenant, queued)
    expected = expected_totals(found)
    assert totals(tenant) == expected
    again = [pair for pairs in pairs_by_session for pair in pairs] * 3
    random.Random(3).shuffle(again)
    send_beacons(tenant, again, workers=8)
    settle(tenant, queued)
    assert totals(tenant) == expected
