"""The fault-test machinery itself: private servers really stop, die and come back, and app processes
really run against them."""
from __future__ import annotations

import json
import urllib.request

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from ..support.processes import run_flask


def test_private_postgres_stops_dies_and_comes_back(services):
    engine = create_engine(services.database_url, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM registration")).scalar() == 0  # migrated
        services.postgres.kill()  # pg_ctl stop -m immediate
        with pytest.raises(OperationalError):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        services.postgres.start()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_private_redis_stops_dies_and_comes_back(services):
    client = redis.Redis.from_url(services.redis.url(), socket_timeout=2)
    client.set("k", "v")
    services.redis.kill()
    with pytest.raises(redis.ConnectionError):
        client.get("k")
    services.redis.start()
    assert client.get("k") is None  # no persistence: a restart forgets everything
    client.close()


def test_app_processes_run_on_the_private_services(services):
    web = services.web(workers=1).start()
    with urllib.request.urlopen(web.url + "/lti/jwks", timeout=10) as response:
        assert "keys" in json.loads(response.read())
    listed = run_flask(["lti", "list"], services.env())
    assert listed.returncode == 0, listed.stderr
    web.kill()
    assert not web.running
