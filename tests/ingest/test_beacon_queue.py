"""Queued beacons: checked and answered at once, stored by the drainer with the same result."""
from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from lti_tool.ingest import beacon_queue
from lti_tool.models import MediaEntry, Play, PlayerEvent
from lti_tool.store import get_store

from .test_kava import KavaPlayer, auth, counts, described, ks_for, ok, partner, plays, watch_lecture  # noqa: F401


@pytest.fixture
def queued(app, monkeypatch):
    monkeypatch.setitem(app.config, "BEACON_QUEUE", True)
    with app.app_context():
        client = get_store().client
    client.delete(beacon_queue.QUEUE_KEY, beacon_queue.FAILED_KEY)
    yield client
    client.delete(beacon_queue.QUEUE_KEY, beacon_queue.FAILED_KEY)


def test_queued_beacons_give_the_same_plays_as_stored_ones(client, db, described, partner, queued):
    before = counts(db)
    player = KavaPlayer(client, ks=ks_for(partner), remote_addr="8.8.8.8")
    watch_lecture(player)
    assert counts(db) == before  # answered, nothing stored yet
    assert queued.llen(beacon_queue.QUEUE_KEY) == 19
    assert all("8.8.8.8" not in raw.decode() for raw in queued.lrange(beacon_queue.QUEUE_KEY, 0, -1))
    result = beacon_queue.drain(batch=100)
    assert (result.taken, result.accepted, result.rejected) == (19, 19, 0)
    stored = plays(db)
    assert [(p.seconds_viewed, p.quartile_events) for p in stored] == [(40.0, 4), (20.0, 0)]
    assert {e.country for e in db.session.scalars(select(PlayerEvent))} == {"US"}
    # Re-sent beacons drained again change nothing.
    ok(player.resend())
    assert beacon_queue.drain().duplicates == 1
    assert len(db.session.scalars(select(Play)).all()) == 2


def test_bad_beacons_are_refused_before_queueing(client, db, partner, queued):
    player = KavaPlayer(client, ks=ks_for(partner))
    response = player.send(99, position=5)  # a VIEW without playTimeSum
    assert response.status_code == 400 and "playTimeSum" in response.get_json()["error"]
    bad = KavaPlayer(client, ks="not-a-token")
    assert bad.send(3, position=0).status_code == 401
    assert queued.llen(beacon_queue.QUEUE_KEY) == 0


def test_a_failing_batch_is_kept_with_its_reason(db, partner, queued, monkeypatch, app):
    from datetime import datetime, timezone

    beacon_queue.enqueue(partner.id, {"eventType": "3", "eventIndex": "1", "entryId": "1_x", "sessionId": "s"},
                         received_at=datetime.now(timezone.utc), ip=None, user_agent=None, user=None)

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")
    monkeypatch.setattr(beacon_queue, "accept", broken)
    result = beacon_queue.drain()
    assert result.rejected == 1
    (kept,) = beacon_queue.parked()
    assert kept.params["entryId"] == "1_x"
    assert (kept.kind, kept.reason, kept.registration_id) == ("error", "RuntimeError: database went away", partner.id)
    assert kept.retry_at is not None  # an unexpected error is tried again by the drain
    assert queued.llen(beacon_queue.QUEUE_KEY) == queued.llen(beacon_queue.PROCESSING_KEY) == 0


def test_drain_command_needs_redis(tmp_path):
    from lti_tool import create_app

    app = create_app({"APP_ENV": "dev", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/q.sqlite3", "REDIS_URL": None})
    result = app.test_cli_runner().invoke(args=["ingest", "drain", "--once"])
    assert result.exit_code == 1 and "only with REDIS_URL" in result.output


# -- reliability: nothing acknowledged is lost, a bad beacon does not hold up the others -------------

def queue_beacons(registration_id: int, entries: list[str], session="s1", **extra) -> None:
    """One PLAY beacon per entry (each its own session), queued as the web process queues them."""
    from datetime import datetime, timezone

    for number, entry in enumerate(entries, start=1):
        beacon_queue.enqueue(registration_id, {"eventType": "3", "eventIndex": "1", "entryId": entry,
                                               "sessionId": f"{session}-{number}", "position": "0", **extra},
                             received_at=datetime.now(timezone.utc), ip=None, user_agent=None, user=None)


def stored_entries(db) -> Counter:
    return Counter(db.session.scalars(select(MediaEntry.external_id).join(PlayerEvent,
                                                                          PlayerEvent.entry_id == MediaEntry.id)))


@pytest.fixture
def poison(monkeypatch):
    """Storing fails (an unexpected error) for any batch holding a beacon of entry "1_poison"; calls counted."""
    real = beacon_queue.accept
    calls = []

    def accept(registration_id, events, *args, **kwargs):
        calls.append(len(events))
        if any(event.entry == "1_poison" for event in events):
            raise ValueError("cannot store this one")
        return real(registration_id, events, *args, **kwargs)
    monkeypatch.setattr(beacon_queue, "accept", accept)
    return calls


def test_a_bad_beacon_is_split_out_and_the_others_are_stored(db, partner, queued, poison):
    entries = [f"1_good{n:02d}" for n in range(15)]
    queue_beacons(partner.id, entries[:11] + ["1_poison"] + entries[11:])
    result = beacon_queue.drain(batch=100)
    assert (result.taken, result.accepted, result.rejected) == (16, 15, 1)
    assert stored_entries(db) == Counter({entry: 1 for entry in entries})
    (kept,) = beacon_queue.parked()
    assert (kept.params["entryId"], kept.kind, kept.reason) == ("1_poison", "error", "ValueError: cannot store this one")
    # Halving: 16 -> 8 + 8 -> 4 + 4 -> 2 + 2 -> 1 + 1, not one try per beacon.
    assert len(poison) <= 2 * 4 + 1
    assert queued.llen(beacon_queue.PROCESSING_KEY) == 0


def test_unreadable_and_orphaned_beacons_are_parked_with_their_reason(db, partner, queued):
    queue_beacons(partner.id, ["1_a"])
    queue_beacons(partner.id, ["1_b"], session="bad", eventIndex="0")  # eventIndex from 1: a check added since
    queue_beacons(partner.id + 1000, ["1_c"])                           # no such registration
    queued.rpush(beacon_queue.QUEUE_KEY, b"\xffnot json")
    result = beacon_queue.drain()
    assert (result.taken, result.accepted, result.rejected) == (4, 1, 3)
    assert stored_entries(db) == Counter({"1_a": 1})
    found = {(beacon.kind, beacon.params.get("entryId")): beacon for beacon in beacon_queue.parked()}
    assert set(found) == {("invalid", "1_b"), ("unknown-registration", "1_c"), ("invalid", None)}
    assert "eventIndex" in found[("invalid", "1_b")].reason
    assert found[("unknown-registration", "1_c")].reason == f"no registration with id {partner.id + 1000}"
    assert found[("invalid", None)].reason.startswith("not a queued beacon")
    assert all(beacon.retry_at is None for beacon in found.values())  # provably bad: an admin decides
    # An admin's page of one registration sees only its own.
    assert beacon_queue.state(partner.id).parked == 1
    assert beacon_queue.state().parked == 3


def test_a_database_outage_parks_nothing_and_keeps_the_batch(db, partner, queued, monkeypatch):
    from sqlalchemy.exc import OperationalError

    queue_beacons(partner.id, ["1_a", "1_b"])
    real = beacon_queue.accept

    def down(*args, **kwargs):
        raise OperationalError("INSERT ...", {}, Exception("server closed the connection unexpectedly"))
    monkeypatch.setattr(beacon_queue, "accept", down)
    with pytest.raises(OperationalError):
        beacon_queue.drain()
    assert queued.llen(beacon_queue.PROCESSING_KEY) == 2 and queued.llen(beacon_queue.FAILED_KEY) == 0
    monkeypatch.setattr(beacon_queue, "accept", real)
    result = beacon_queue.drain()
    assert (result.taken, result.accepted, result.rejected) == (2, 2, 0)
    assert stored_entries(db) == Counter({"1_a": 1, "1_b": 1})
    assert queued.llen(beacon_queue.PROCESSING_KEY) == 0


def test_a_drain_waits_out_a_database_outage(db, partner, queued, monkeypatch, caplog):
    """The running drain retries the same batch until the database is back; the outage is logged once."""
    from sqlalchemy.exc import OperationalError

    queue_beacons(partner.id, ["1_a", "1_b"])
    real = beacon_queue.accept
    failures = iter(range(3))

    def flaky(*args, **kwargs):
        if next(failures, None) is not None:
            raise OperationalError("INSERT ...", {}, Exception("connection refused"))
        return real(*args, **kwargs)
    monkeypatch.setattr(beacon_queue, "accept", flaky)
    monkeypatch.setattr(beacon_queue.Drainer, "pause", lambda self, seconds: None)
    # The session's migrations ran alembic's logging.config.fileConfig, which disables loggers that existed then.
    monkeypatch.setattr(beacon_queue.log, "disabled", False)
    drainer = beacon_queue.Drainer(10)
    assert drainer.acquire()
    result = drainer.step()
    assert (result.accepted, result.rejected) == (2, 0)
    messages = [r.getMessage() for r in caplog.records if r.name == beacon_queue.log.name]
    assert sum("database unreachable" in m for m in messages) == 1
    assert sum("database is back" in m for m in messages) == 1


def test_what_a_killed_drain_left_is_stored_first_and_once(db, partner, queued):
    queue_beacons(partner.id, ["1_a", "1_b", "1_c"])
    first = beacon_queue.Drainer(2)
    assert first.acquire()
    result = first.step()
    assert result.accepted == 2
    # The drain dies after taking its next batch, before storing it: the batch waits in the processing list.
    first._scripts["take"](keys=[beacon_queue.LEASE_KEY, beacon_queue.QUEUE_KEY, beacon_queue.PROCESSING_KEY],
                           args=[first.token, 2])
    assert queued.llen(beacon_queue.PROCESSING_KEY) == 1
    queue_beacons(partner.id, ["1_d"], session="later")
    queued.delete(beacon_queue.LEASE_KEY)  # its lease lapses
    result = beacon_queue.drain(batch=10)
    assert result.taken == 1  # the processing list first, alone
    assert beacon_queue.drain(batch=10).taken == 1
    # Storing a batch again (a drain killed after its commit) counts nothing twice.
    queue_beacons(partner.id, ["1_a", "1_b"])
    assert beacon_queue.drain(batch=10).duplicates == 2
    assert stored_entries(db) == Counter({"1_a": 1, "1_b": 1, "1_c": 1, "1_d": 1})


def test_one_drain_at_a_time(db, partner, queued):
    import subprocess
    import sys

    first, second = beacon_queue.Drainer(10), beacon_queue.Drainer(10)
    # A drain in another process of this host holds the queue.
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        queued.set(beacon_queue.LEASE_KEY, f"{first.host}:{other.pid}:other", px=60_000)
        assert not first.acquire() and not second.acquire()
        with pytest.raises(beacon_queue.LeaseLost):
            beacon_queue.drain()
    finally:
        other.kill()
        other.wait()
    # Its process is gone: the next drain takes over at once, without waiting for the lease to lapse.
    assert first.acquire() and queued.get(beacon_queue.LEASE_KEY).decode() == first.token
    queued.set(beacon_queue.LEASE_KEY, "another-host:1:x", px=60_000)  # another drain took over meanwhile
    with pytest.raises(beacon_queue.LeaseLost):
        first.step()  # the old holder may not take or finish a batch any more


def test_parked_beacons_are_retried(db, partner, queued, poison):
    from datetime import datetime, timedelta, timezone

    queue_beacons(partner.id, ["1_poison", "1_ok"])
    beacon_queue.drain()
    (kept,) = beacon_queue.parked()
    assert kept.attempts == 1
    now = datetime.now(timezone.utc)
    assert beacon_queue.requeue(due_before=now) == 0           # its retry is a minute away
    assert beacon_queue.requeue(due_before=now + timedelta(minutes=2)) == 1
    beacon_queue.drain()                                        # still failing: parked again, later
    (kept,) = beacon_queue.parked()
    assert kept.attempts == 2 and kept.retry_at > now + timedelta(minutes=4)
    # The cause is fixed; an admin sends it back.
    assert beacon_queue.requeue(registration_id=partner.id + 1) == 0  # another institution's: none
    assert beacon_queue.requeue(registration_id=partner.id, kind="error") == 1
    assert queued.llen(beacon_queue.FAILED_KEY) == 0


def test_an_admin_retry_stores_what_was_parked(db, partner, queued, monkeypatch):
    queue_beacons(partner.id, ["1_a", "1_b"])
    real = beacon_queue.accept
    monkeypatch.setattr(beacon_queue, "accept", lambda *a, **k: (_ for _ in ()).throw(ValueError("bug")))
    assert beacon_queue.drain().rejected == 2
    monkeypatch.setattr(beacon_queue, "accept", real)  # the bug is fixed
    assert beacon_queue.requeue(registration_id=partner.id) == 2
    assert beacon_queue.drain().accepted == 2
    assert stored_entries(db) == Counter({"1_a": 1, "1_b": 1}) and not list(beacon_queue.parked())


def test_without_redis_a_beacon_is_refused_with_503(client, db, partner, queued, app, monkeypatch):
    from lti_tool.store import RedisStore

    from ..support.processes import free_port

    monkeypatch.setitem(app.extensions, "ma_store", RedisStore(f"redis://127.0.0.1:{free_port()}/0"))
    player = KavaPlayer(client, ks=ks_for(partner))
    response = player.send(3, position=0)
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert "queue" in response.get_json()["error"] and "not stored" in response.get_json()["error"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_failed_command_lists_and_retries(db, partner, queued, runner, poison):
    queue_beacons(partner.id, ["1_poison"])
    queue_beacons(partner.id, ["1_b"], session="bad", eventIndex="0")
    beacon_queue.drain()
    listed = runner.invoke(args=["ingest", "failed"])
    assert listed.exit_code == 0, listed.output
    assert "parked: 2" in listed.output and "ValueError: cannot store this one" in listed.output
    assert "eventIndex" in listed.output and "entryId=1_poison" in listed.output
    retried = runner.invoke(args=["ingest", "failed", "--retry", "--kind", "error"])
    assert "sent 1 parked beacons back" in retried.output
    assert queued.llen(beacon_queue.QUEUE_KEY) == 1
    discarded = runner.invoke(args=["ingest", "failed", "--discard", "--kind", "invalid"])
    assert "discarded 1" in discarded.output and not list(beacon_queue.parked())
