"""The key-value store behind nonces, launch data and hand-offs: Redis, and the database (embedded)."""
from __future__ import annotations

import pytest

from lti_tool import create_app
from lti_tool.extensions import db as _db
from lti_tool.store import DatabaseStore, RedisStore, get_store


@pytest.fixture
def sqlite_app(tmp_path):
    app = create_app({"APP_ENV": "dev", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/store.sqlite3",
                      "REDIS_URL": None})
    with app.app_context():
        _db.create_all()
        yield app


def exercise(store):
    store.set("k", {"a": 1}, 60)
    assert store.get("k") == {"a": 1}
    assert store.pop("k") == {"a": 1}
    assert store.pop("k") is None  # single use
    assert store.add("once", 1, 60) is True
    assert store.add("once", 2, 60) is False
    assert store.get("once") == 1
    store.set("gone", 1, -1)
    assert store.get("gone") is None and store.pop("gone") is None
    assert store.add("gone", 3, 60) is True  # an expired key does not block a new one


def test_database_store_on_sqlite(sqlite_app):
    store = get_store()
    assert isinstance(store, DatabaseStore)
    exercise(store)
    store.set("old", 1, -5)
    assert store.get("old") is None  # written already expired: never read back


def test_redis_store(app):
    with app.app_context():
        store = get_store()
        assert isinstance(store, RedisStore)
        exercise(store)
