"""The beacon queue under faults, with real processes: gunicorn with BEACON_QUEUE on, a `flask ingest
drain` subprocess, a private PostgreSQL and a private redis-server that the test restarts and kills.

Each player session of the test plays its own entry, so a stored beacon is told apart by (entry,
eventIndex) whatever key the product gives it. The oracle: every beacon answered 2xx is stored
exactly once (no beacon lost, none counted twice); a beacon answered otherwise was not acknowledged.
Each test prints its figures: answered / refused / stored / double-counted / lost.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field

import pytest
import redis
from sqlalchemy import create_engine, text

from lti_tool.extensions import db as _db
from lti_tool.ingest import beacon_queue, player_tokens
from lti_tool.registrations import RegistrationInput, upsert

from ..support.processes import wait_for

PARTNER = "7701"
# One player session: impression, play request, play, VIEWs with their quartiles, a pause.
SESSION_PLAN = [
    (1, {"position": 0}), (2, {"position": 0}), (3, {"position": 0, "joinTime": 0.3}),
    (99, {"playTimeSum": 0, "position": 0}), (99, {"playTimeSum": 10, "position": 10}), (11, {"position": 15}),
    (99, {"playTimeSum": 20, "position": 20}), (12, {"position": 30}), (99, {"playTimeSum": 30, "position": 30}),
    (33, {"position": 31}),
]


@dataclass
class BeaconFeed:
    """`sessions` player sessions sent over HTTP by `lanes` threads (each session in order, a lane's
    beacons `gap` seconds apart); every beacon's answer is kept."""

    url: str
    ks: str
    sessions: int
    lanes: int = 6
    gap: float = 0.0
    prefix: str = "1_fault"
    answers: dict = field(default_factory=dict)    # (entry, eventIndex) -> HTTP status, None: no answer
    bodies: dict = field(default_factory=dict)     # status -> one body of that status
    lock: threading.Lock = field(default_factory=threading.Lock)

    def entry(self, session: int) -> str:
        return f"{self.prefix}_{session:04d}"

    @property
    def total(self) -> int:
        return self.sessions * len(SESSION_PLAN)

    def send_session(self, session: int) -> None:
        entry = self.entry(session)
        for index, (event_type, extra) in enumerate(SESSION_PLAN, start=1):
            params = {"service": "analytics", "action": "trackEvent", "eventType": event_type,
                      "partnerId": PARTNER, "entryId": entry, "sessionId": f"{entry}-session", "eventIndex": index,
                      "ks": self.ks, "referrer": "https://canvas.test.edu/courses/7/pages/week-1",
                      "playbackType": "vod", **extra}
            status, body = self.post(params)
            with self.lock:
                self.answers[(entry, index)] = status
                self.bodies.setdefault(status, body)
            if self.gap:
                time.sleep(self.gap)

    def post(self, params: dict) -> tuple[int | None, str]:
        routing = {k: params[k] for k in ("service", "action", "eventType", "partnerId", "entryId", "sessionId")}
        body = json.dumps({k: v for k, v in params.items() if k not in routing}).encode()
        request = urllib.request.Request(f"{self.url}/api/v1/kava?{urllib.parse.urlencode(routing)}", data=body,
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")
        except OSError as exc:
            return None, repr(exc)

    def start(self) -> list[threading.Thread]:
        def lane(number: int) -> None:
            for session in range(number, self.sessions, self.lanes):
                self.send_session(session)
        threads = [threading.Thread(target=lane, args=(n,), daemon=True) for n in range(self.lanes)]
        for thread in threads:
            thread.start()
        return threads

    def answered(self) -> int:
        with self.lock:
            return len(self.answers)

    def acknowledged(self) -> set[tuple[str, int]]:
        return {key for key, status in self.answers.items() if status is not None and 200 <= status < 300}


def stored_rows(database_url: str, prefix: str) -> Counter:
    """(entry, eventIndex) -> number of stored player events, read with a connection of the test's own."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT m.external_id, e.seq, count(*) FROM player_event e JOIN media_entry m ON m.id = e.entry_id "
                "WHERE m.external_id LIKE :prefix GROUP BY 1, 2"), {"prefix": prefix + "%"}).all()
    finally:
        engine.dispose()
    return Counter({(entry, seq): count for entry, seq, count in rows})


@dataclass
class Outcome:
    answered: int
    acknowledged: int
    refused: Counter
    stored: int
    double_counted: int
    lost: int
    parked: int

    def line(self, name: str) -> str:
        refused = ", ".join(f"{count} × {status}" for status, count in sorted(self.refused.items(), key=str)) or "none"
        return (f"[beacon fault figures] {name}: sent {self.answered}, answered 2xx {self.acknowledged}, "
                f"not acknowledged {refused}; stored {self.stored}, double-counted {self.double_counted}, "
                f"lost {self.lost}, parked {self.parked}")


def settle(services, feed: BeaconFeed, timeout: float = 60.0) -> Outcome:
    """Wait until every acknowledged beacon is stored, or the queue is empty and nothing moves; the outcome."""
    client = redis.Redis.from_url(services.redis.url(), socket_timeout=5)
    keys = [key for shard in beacon_queue.SHARD_LIST for key in (shard.queue, shard.processing)]
    acknowledged = feed.acknowledged()
    last, still_since = None, time.monotonic()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            rows = stored_rows(services.database_url, feed.prefix)
            if acknowledged <= set(rows):
                break
            pending = sum(client.llen(key) for key in keys)
            if pending == 0 and rows == last and time.monotonic() - still_since > 3:
                break  # nothing left to store and nothing moving: what is missing is lost
            if rows != last:
                last, still_since = rows, time.monotonic()
            time.sleep(0.2)
        rows = stored_rows(services.database_url, feed.prefix)
        parked = client.llen(beacon_queue.FAILED_KEY)
    finally:
        client.close()
    refused = Counter(status for status in feed.answers.values() if status is None or not 200 <= status < 300)
    return Outcome(answered=len(feed.answers), acknowledged=len(acknowledged), refused=refused,
                   stored=sum(1 for key in rows if key in acknowledged),
                   double_counted=sum(count - 1 for count in rows.values() if count > 1),
                   lost=len(acknowledged - set(rows)), parked=parked)


@pytest.fixture
def player(services):
    """A registration whose players send partnerId PARTNER, and a player token of one of its viewers."""
    app = services.app
    with app.app_context():
        registration, _ = upsert(RegistrationInput(
            issuer="https://canvas.test.edu", client_id="fault-client", deployment_ids=("1:fault",),
            auth_login_url="https://canvas.test.edu/api/lti/authorize_redirect",
            auth_token_url="https://canvas.test.edu/login/oauth2/token",
            key_set_url="https://canvas.test.edu/api/lti/security/jwks", title="Fault test",
            player_partner_id=PARTNER))
        ks, _ = player_tokens.mint(registration.id, "sub:fault-viewer", 3600)
        _db.session.remove()
        _db.engine.dispose()
    return ks


def started(services):
    """The web server and a drain that holds the queue's lease (it is running, not still starting)."""
    web = services.web(BEACON_QUEUE="on").start()
    drain = services.flask(["ingest", "drain", "--interval", "0.1"]).start()
    client = redis.Redis.from_url(services.redis.url(), socket_timeout=5)
    try:
        wait_for(lambda: client.exists(beacon_queue.LEASE_KEY) or not drain.running, 60, "the drain to start")
    finally:
        client.close()
    assert drain.running, drain.output()
    return web, drain


def in_progress(client) -> int:
    """Beacons in the processing lists of every shard (taken by a drain, not acknowledged yet)."""
    pipe = client.pipeline(transaction=False)
    for shard in beacon_queue.SHARD_LIST:
        pipe.llen(shard.processing)
    return sum(pipe.execute())


def assert_exactly_once(outcome: Outcome, services) -> None:
    assert outcome.lost == 0 and outcome.double_counted == 0 and outcome.parked == 0, services.logs()[-8000:]
    assert outcome.stored == outcome.acknowledged


def test_postgres_restart_while_beacons_arrive(services, player):
    """PostgreSQL stops (-m immediate) for 5 s while 600 beacons arrive: every beacon answered 200 is
    stored once, after the database is back; none is parked."""
    web, drain = started(services)
    feed = BeaconFeed(web.url, player, sessions=60, gap=0.1)
    threads = feed.start()
    wait_for(lambda: feed.answered() >= 150, 60, "150 answers")
    services.postgres.kill()
    time.sleep(5)
    services.postgres.start()
    for thread in threads:
        thread.join(timeout=120)
    outcome = settle(services, feed)
    print(outcome.line("PostgreSQL down 5 s (stop -m immediate) while 600 beacons arrive"))
    assert drain.running, drain.output()[-4000:]
    assert_exactly_once(outcome, services)
    assert outcome.refused.keys() <= {503}, outcome.refused  # never a 500
    log = drain.output()
    assert log.count("database unreachable") == 1 and log.count("database is back") == 1, log[-4000:]


@pytest.mark.parametrize("private_redis", [{"persist": True}], indirect=True)
def test_redis_stop_and_start_while_beacons_arrive(services, player):
    """redis-server stops for 3 s while beacons arrive: the endpoint answers 503 while it cannot queue,
    the drain waits for Redis and goes on; every beacon answered 200 is stored once. (Redis keeps the
    queue over a restart only with persistence: this server fsyncs an append-only file.)"""
    web, drain = started(services)
    feed = BeaconFeed(web.url, player, sessions=60, gap=0.1)
    threads = feed.start()
    wait_for(lambda: feed.answered() >= 150, 60, "150 answers")
    services.redis.stop()
    time.sleep(3)
    services.redis.start()
    for thread in threads:
        thread.join(timeout=120)
    outcome = settle(services, feed)
    print(outcome.line("Redis stopped 3 s while 600 beacons arrive"))
    assert drain.running, drain.output()[-4000:]
    assert_exactly_once(outcome, services)
    assert outcome.refused.keys() <= {503}, (outcome.refused, feed.bodies)
    if 503 in outcome.refused:
        assert "queue" in json.loads(feed.bodies[503])["error"]
    log = drain.output()
    assert log.count("Redis unreachable") == 1 and log.count("Redis is back") == 1, log[-4000:]


def test_drain_killed_mid_batch_and_started_again(services, player):
    """600 beacons are queued; the drain is killed (SIGKILL) three times while storing a batch and
    started again: every beacon is stored once."""
    web = services.web(BEACON_QUEUE="on").start()
    feed = BeaconFeed(web.url, player, sessions=60)
    for thread in feed.start():
        thread.join(timeout=120)
    assert len(feed.acknowledged()) == feed.total
    client = redis.Redis.from_url(services.redis.url(), socket_timeout=5)
    drain = services.flask(["ingest", "drain", "--batch", "100", "--interval", "0.1"])
    kills_mid_batch = 0
    try:
        for _ in range(3):
            drain.start()
            # A batch is being stored while it sits in the processing list; kill the drain then.
            wait_for(lambda: in_progress(client) > 0 or not drain.running, 60, "a batch in progress",
                     interval=0.002)
            drain.kill()
            kills_mid_batch += in_progress(client) > 0
        drain.start()
        outcome = settle(services, feed)
    finally:
        client.close()
    print(outcome.line(f"drain killed -9 three times ({kills_mid_batch} mid-batch), 600 beacons queued"))
    assert kills_mid_batch >= 1
    assert_exactly_once(outcome, services)
