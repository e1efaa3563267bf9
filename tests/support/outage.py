"""A Redis outage for the app under test: `redis_down` points the app's store, rate limit and job queues at
a private redis-server (tests/support/processes.py) and stops it, so every call finds Redis gone as in
production. `redis_down.start()` brings it back (empty). Import the fixture into a test module:

    from ..support.outage import redis_down  # noqa: F401
"""
from __future__ import annotations

import pytest

from lti_tool import jobs, store

from .processes import PrivateRedis


@pytest.fixture
def redis_down(app, monkeypatch):
    server = PrivateRedis()
    try:
        server.start()
        monkeypatch.setitem(app.config, "REDIS_URL", server.url())
        monkeypatch.setitem(app.config, "JOB_RUNNER", "rq")
        # The app's own factories, on the private server; the originals come back after the test.
        monkeypatch.setitem(app.extensions, "ma_store", None)
        monkeypatch.setitem(app.extensions, "jobs", None)
        store.init_app(app)
        jobs.init_app(app)
        server.stop()
        yield server
    finally:
        server.cleanup()
