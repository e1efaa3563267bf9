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
    client.delete(*beacon_queue.keys())
    yield client
    client.delete(*beacon_queue.keys())


def test_queued_beacons_give_the_same_plays_as_stored_ones(client, db, described, partner, queued):
    before = counts(db)
    player = KavaPlayer(client, ks=ks_for(partner), remote_addr="8.8.8.8")
    watch_lecture(player)
    assert counts(db) == before  # answered, nothing stored yet
    assert beacon_queue.waiting() == 19
    (shard,) = [key for key in beacon_queue.QUEUE_KEYS if queued.llen(key)]  # one session: one shard
    assert all("8.8.8.8" not in raw.decode() for raw in queued.lrange(shard, 0, -1))
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
    assert beacon_queue.waiting() == 0


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
    assert beacon_queue.state().waiting == beacon_queue.state().in_progress == 0


def test_drain_command_needs_redis(tmp_path):
    from lti_tool import create_app

    app = create_app({"APP_ENV": "dev", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/q.sqlite3", "REDIS_URL": None})
    result = app.test_cli_runner().invoke(args=["ingest", "drain", "--once"])
    assert result.exit_code == 1 and "only with REDIS_URL" in result.output


# -- reliability: nothing acknowledged is lost, a bad beacon does not hold up the others -------------

def queue_beacons(registration_id: int, entries: list[str], session="s1", one_session=False, **extra) -> None:
    """One PLAY beacon per entry (each its own session unless `one_session`), queued as the web process
    queues them."""
    from datetime import datetime, timezone

    for number, entry in enumerate(entries, start=1):
        beacon_queue.enqueue(registration_id, {"eventType": "3", "eventIndex": "1", "entryId": entry,
                                               "sessionId": session if one_session else f"{session}-{number}",
                                               "position": "0", **extra},
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
    queue_beacons(partner.id, entries[:11] + ["1_poison"] + entries[11:], one_session=True)  # one shard
    result = beacon_queue.drain(batch=100)
    assert (result.taken, result.accepted, result.rejected) == (16, 15, 1)
    assert stored_entries(db) == Counter({entry: 1 for entry in entries})
    (kept,) = beacon_queue.parked()
    assert (kept.params["entryId"], kept.kind, kept.reason) == ("1_poison", "error", "ValueError: cannot store this one")
    # Halving: 16 -> 8 + 8 -> 4 + 4 -> 2 + 2 -> 1 + 1, not one try per beacon.
    assert len(poison) <= 2 * 4 + 1
    assert beacon_queue.state().in_progress == 0


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

    queue_beacons(partner.id, ["1_a", "1_b"], one_session=True)
    real = beacon_queue.accept

    def down(*args, **kwargs):
        raise OperationalError("INSERT ...", {}, Exception("server closed the connection unexpectedly"))
    monkeypatch.setattr(beacon_queue, "accept", down)
    with pytest.raises(OperationalError):
        beacon_queue.drain()
    assert beacon_queue.state().in_progress == 2 and queued.llen(beacon_queue.FAILED_KEY) == 0
    monkeypatch.setattr(beacon_queue, "accept", real)
    result = beacon_queue.drain()
    assert (result.taken, result.accepted, result.rejected) == (2, 2, 0)
    assert stored_entries(db) == Counter({"1_a": 1, "1_b": 1})
    assert beacon_queue.state().in_progress == 0


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


def shard_with(registration_id: int, entry: str, session: str) -> beacon_queue.Shard:
    """The shard of the first beacon queue_beacons queues with `session`."""
    return beacon_queue.SHARD_LIST[beacon_queue.shard_of({"sessionId": f"{session}-1"})]


def test_what_a_killed_drain_left_is_stored_first_and_once(db, partner, queued):
    sessions = ["a", "b", "c", "d", "e", "f"]
    shard = shard_with(partner.id, "1_a", "a")
    # Three beacons in one shard (sessions chosen by their hash), one elsewhere.
    mates = [s for s in (f"m{n}" for n in range(400)) if shard_with(partner.id, "", s) == shard][:3]
    other = next(s for s in sessions if shard_with(partner.id, "", s) != shard)
    for entry, session in zip(["1_a", "1_b", "1_c"], mates):
        queue_beacons(partner.id, [entry], session=session)
    first = beacon_queue.Drainer(2)
    assert first.acquire() and shard.number in first.held
    result = first.step_shard(shard)
    assert result.accepted == 2
    # The drain dies after taking its next batch, before storing it: the batch waits in the processing list.
    first._scripts["take"](keys=[shard.lease, shard.queue, shard.processing], args=[first.token, 2])
    assert queued.llen(shard.processing) == 1
    queue_beacons(partner.id, ["1_d"], session=mates[0])
    queue_beacons(partner.id, ["1_e"], session=other)
    queued.delete(*(s.lease for s in beacon_queue.SHARD_LIST), beacon_queue.DRAINS_KEY)  # its leases lapse
    result = beacon_queue.drain(batch=10)
    assert result.taken == 2  # the processing list first, alone, and the other shard's beacon
    assert beacon_queue.drain(batch=10).taken == 1
    # Storing a batch again (a drain killed after its commit) counts nothing twice.
    queue_beacons(partner.id, ["1_a"], session=mates[0])
    queue_beacons(partner.id, ["1_b"], session=mates[1])
    assert beacon_queue.drain(batch=10).duplicates == 2
    assert stored_entries(db) == Counter({"1_a": 1, "1_b": 1, "1_c": 1, "1_d": 1, "1_e": 1})


def test_drains_share_the_shards_and_never_hold_one_together(db, partner, queued):
    import subprocess
    import sys

    def holders() -> dict[int, str]:
        return {shard.number: (queued.get(shard.lease) or b"").decode() for shard in beacon_queue.SHARD_LIST}

    first, second = beacon_queue.Drainer(10), beacon_queue.Drainer(10)
    # A drain in another process of this host holds every shard.
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for shard in beacon_queue.SHARD_LIST:
            queued.set(shard.lease, f"{first.host}:{other.pid}:other", px=60_000)
        assert not first.acquire()
        with pytest.raises(beacon_queue.LeaseLost):
            beacon_queue.drain()
    finally:
        other.kill()
        other.wait()
    # Its process is gone: the next drain takes its shards over at once, without waiting for the leases.
    assert first.acquire() and set(holders().values()) == {first.token}
    # A second drain joins: it gets nothing until the first gives up half its shards (on its next round).
    assert not second.acquire()
    assert first.acquire() and len(first.held) == beacon_queue.SHARDS // 2
    assert second.acquire() and len(second.held) == beacon_queue.SHARDS // 2
    assert set(first.held).isdisjoint(second.held)
    assert holders() == {**{n: first.token for n in first.held}, **{n: second.token for n in second.held}}
    # The second stops: its shards are free at once and the first takes them back.
    second.release()
    assert first.acquire() and set(holders().values()) == {first.token}
    # Another drain took one over meanwhile (the first's lease lapsed): the old holder may not take,
    # store or acknowledge a batch of it any more.
    shard = beacon_queue.SHARD_LIST[3]
    queued.set(shard.lease, "another-host:1:x", px=60_000)
    with pytest.raises(beacon_queue.LeaseLost):
        first.step_shard(shard)
    first.release()


def test_a_drain_that_lost_its_shard_mid_batch_commits_nothing(db, partner, queued, monkeypatch):
    """The lease is checked just before the commit: a batch whose shard another drain took meanwhile
    is rolled back and stays in the processing list for the new holder."""
    queue_beacons(partner.id, ["1_a"], session="fenced")
    shard = shard_with(partner.id, "1_a", "fenced")
    real = beacon_queue.accept

    def slow(*args, **kwargs):
        counts = real(*args, **kwargs)  # stored, not committed yet; meanwhile the lease lapses and is taken
        queued.set(shard.lease, "another-host:1:x", px=60_000)
        return counts
    monkeypatch.setattr(beacon_queue, "accept", slow)
    drainer = beacon_queue.Drainer(10)
    assert drainer.acquire()
    with pytest.raises(beacon_queue.LeaseLost):
        drainer.step_shard(shard)
    assert stored_entries(db) == Counter() and queued.llen(shard.processing) == 1
    drainer.release()
    monkeypatch.setattr(beacon_queue, "accept", real)
    queued.delete(shard.lease)  # the other drain stopped
    assert beacon_queue.drain().accepted == 1
    assert stored_entries(db) == Counter({"1_a": 1})


def test_beacons_of_the_single_queue_of_earlier_versions_are_sent_on_to_their_shard(db, partner, queued):
    """Shard 0 is the queue of earlier versions: what is found there is sent on to its session's shard
    (not stored by shard 0's drain), then stored by that shard's drain."""
    import json
    from datetime import datetime, timezone

    sessions = [f"old-{n}" for n in range(40)]
    for session in sessions:
        queued.rpush(beacon_queue.QUEUE_KEY, json.dumps({
            "registration_id": partner.id, "received_at": datetime.now(timezone.utc).isoformat(),
            "params": {"eventType": "3", "eventIndex": "1", "entryId": f"1_{session}", "sessionId": session,
                       "position": "0"},
            "location": [None, None, None], "user_agent": None, "user": None}))
    drainer = beacon_queue.Drainer(100)
    assert drainer.acquire()
    first = drainer.step_shard(beacon_queue.SHARD_LIST[0])
    mine = sum(beacon_queue.shard_of({"sessionId": s}) == 0 for s in sessions)
    assert (first.taken, first.accepted, first.forwarded) == (40, mine, 40 - mine)
    for shard in beacon_queue.SHARD_LIST[1:]:
        expected = sum(beacon_queue.shard_of({"sessionId": s}) == shard.number for s in sessions)
        assert queued.llen(shard.queue) == expected
    drainer.step()
    drainer.release()
    assert stored_entries(db) == Counter({f"1_{s}": 1 for s in sessions})
    assert beacon_queue.state().waiting == beacon_queue.state().in_progress == 0


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


def test_a_batch_is_stored_in_parts_of_whole_media(db, partner, queued, monkeypatch):
    """Storing locks the rows of the media it touches until its commit: a batch is stored in parts of
    about TRANSACTION_BEACONS beacons, each holding every beacon of its media, so another drain playing
    the same media waits for a part, not a batch."""
    from datetime import datetime, timezone

    monkeypatch.setattr(beacon_queue, "TRANSACTION_BEACONS", 25)
    for index in range(1, 21):      # one session (one shard) playing three media, interleaved
        for entry in ("1_a", "1_b", "1_c"):
            beacon_queue.enqueue(partner.id, {"eventType": "3", "eventIndex": str(index), "entryId": entry,
                                              "sessionId": "parts", "position": str(index)},
                                 received_at=datetime.now(timezone.utc), ip=None, user_agent=None, user=None)
    real, parts = beacon_queue.accept, []

    def accept(registration_id, events, *args, **kwargs):
        parts.append(Counter(event.entry for event in events))
        return real(registration_id, events, *args, **kwargs)
    monkeypatch.setattr(beacon_queue, "accept", accept)
    result = beacon_queue.drain(batch=100)
    assert (result.taken, result.accepted) == (60, 60)
    assert parts == [Counter({"1_a": 20, "1_b": 20}), Counter({"1_c": 20})]
    assert stored_entries(db) == Counter({"1_a": 20, "1_b": 20, "1_c": 20})
