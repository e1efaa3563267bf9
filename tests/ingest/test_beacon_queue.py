"""Queued beacons: checked and answered at once, stored by the drainer with the same result."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from lti_tool.ingest import beacon_queue
from lti_tool.models import Play, PlayerEvent
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
    (kept,) = queued.lrange(beacon_queue.FAILED_KEY, 0, -1)
    assert json.loads(kept)["params"]["entryId"] == "1_x"


def test_drain_command_needs_redis(tmp_path):
    from lti_tool import create_app

    app = create_app({"APP_ENV": "dev", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/q.sqlite3", "REDIS_URL": None})
    result = app.test_cli_runner().invoke(args=["ingest", "drain", "--once"])
    assert result.exit_code == 1 and "only with REDIS_URL" in result.output
