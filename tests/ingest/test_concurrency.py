"""Concurrent requests for the same new entry and new people, on a live server with real commits."""
from __future__ import annotations

import json
import threading
import urllib.request

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select

from lti_tool import MIGRATIONS_DIR, create_app
from lti_tool.extensions import db as _db
from lti_tool.ingest import tokens
from lti_tool.ingest import rollups
from lti_tool.models import MediaEntry, Person, Play

from ..conftest import REDIS_URL, TEST_SETTINGS, fresh_database
from ..support.factories import make_registration
from ..support.servers import LoopbackServer
from .dataset import utc_day_totals

VIEWERS = 8


@pytest.fixture(scope="module")
def live():
    database_url = fresh_database("concurrency")
    app = create_app({**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": database_url,
                      "REDIS_URL": REDIS_URL.rsplit("/", 1)[0] + "/8"})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        reg = make_registration("42")
        _token, secret = tokens.create(reg.id)
        assert rollups.ensure_zone(_db.session, reg.id, "UTC")  # kept at ingest from now on
    with LoopbackServer(app) as server:
        yield app, server.url, secret
    with app.app_context():
        _db.engine.dispose()


def post(base, secret, events):
    request = urllib.request.Request(f"{base}/api/v1/events", method="POST",
                                     data=json.dumps({"version": 1, "events": events}).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {secret}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def viewer_events(n):
    base = {"entry_id": "1_brand_new", "user": f"login:viewer{n}", "play_id": f"play-{n}", "duration": 100,
            "playback_context": "gallery-x"}
    return [dict(base, id=f"{n}-play", type="play", time="2026-10-05T10:00:00Z", position=0),
            dict(base, id=f"{n}-pause", type="pause", time="2026-10-05T10:00:30Z", position=30),
            dict(base, id=f"{n}-resume", type="resume", time="2026-10-05T10:01:00Z", position=30),
            dict(base, id=f"{n}-end", type="ended", time="2026-10-05T10:02:10Z", position=100)]


def test_concurrent_viewers_of_a_new_entry_lose_nothing(live):
    app, base, secret = live
    statuses, barrier = [], threading.Barrier(VIEWERS)

    def viewer(n):
        barrier.wait()
        for event in viewer_events(n):  # one request per event, as a player sends them
            statuses.append(post(base, secret, [event]))

    threads = [threading.Thread(target=viewer, args=(n,)) for n in range(VIEWERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * (VIEWERS * 4)
    with app.app_context():
        assert _db.session.scalar(select(func.count(MediaEntry.id))) == 1
        assert _db.session.scalar(select(func.count(Person.id))) == VIEWERS
        plays = _db.session.scalars(select(Play)).all()
        assert len(plays) == VIEWERS and {p.seconds_viewed for p in plays} == {100.0} and all(p.reached_end for p in plays)
        assert utc_day_totals(_db.session)[1:] == (VIEWERS, VIEWERS, VIEWERS * 100.0)
