"""A small key-value store with expiry: Redis when REDIS_URL is set, else the database.

Launch data, single-use nonces, login hand-offs and the platform JWKS cache live here, so any web
process can serve any request of a user.
"""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import redis
from flask import current_app
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from lti_tool.extensions import db
from lti_tool.models import KeyValueEntry
from lti_tool.models.types import utcnow


class RedisStore:
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)

    def get(self, key: str) -> Any:
        raw = self.client.get(key)
        return None if raw is None else json.loads(raw)

    def set(self, key: str, value: Any, ttl: int) -> None:
        if ttl <= 0:  # already expired
            self.client.delete(key)
            return
        self.client.set(key, json.dumps(value), ex=ttl)

    def add(self, key: str, value: Any, ttl: int) -> bool:
        """Set only if absent; True when this call created the key."""
        return bool(self.client.set(key, json.dumps(value), ex=ttl, nx=True))

    def pop(self, key: str) -> Any:
        """Read and delete in one atomic step (GETDEL): the second caller gets None."""
        raw = self.client.getdel(key)
        return None if raw is None else json.loads(raw)

    def delete(self, key: str) -> None:
        self.client.delete(key)

    def incr(self, key: str, ttl: int) -> int:
        """Add one to a counter that lives `ttl` seconds from its first increment."""
        pipe = self.client.pipeline()
        pipe.incr(key)
        pipe.expire(key, ttl, nx=True)
        return int(pipe.execute()[0])


class DatabaseStore:
    """The embedded default (SQLite). Each call commits at once, as Redis would.

    It runs on the request's own session: SQLite allows one writer, so a second connection would
    wait on the request's open transaction.
    """

    def get(self, key: str) -> Any:
        row = db.session.execute(
            select(KeyValueEntry.value).where(KeyValueEntry.key == key, KeyValueEntry.expires_at > utcnow())
        ).first()
        return None if row is None else json.loads(row[0])

    def set(self, key: str, value: Any, ttl: int) -> None:
        db.session.execute(delete(KeyValueEntry).where(KeyValueEntry.key == key))
        db.session.execute(insert(KeyValueEntry).values(**self._row(key, value, ttl)))
        db.session.commit()

    def add(self, key: str, value: Any, ttl: int) -> bool:
        db.session.execute(
            delete(KeyValueEntry).where(KeyValueEntry.key == key, KeyValueEntry.expires_at <= utcnow())
        )
        try:
            with db.session.begin_nested():
                db.session.execute(insert(KeyValueEntry).values(**self._row(key, value, ttl)))
        except IntegrityError:
            db.session.commit()
            return False
        db.session.commit()
        return True

    def pop(self, key: str) -> Any:
        # DELETE … RETURNING is atomic on PostgreSQL and SQLite >= 3.35: a second caller gets nothing.
        row = db.session.execute(
            delete(KeyValueEntry)
            .where(KeyValueEntry.key == key)
            .returning(KeyValueEntry.value, KeyValueEntry.expires_at)
        ).first()
        db.session.commit()
        if row is None or row[1] <= utcnow():
            return None
        return json.loads(row[0])

    def delete(self, key: str) -> None:
        db.session.execute(delete(KeyValueEntry).where(KeyValueEntry.key == key))
        db.session.commit()

    def incr(self, key: str, ttl: int) -> int:
        row = db.session.execute(
            select(KeyValueEntry.value).where(KeyValueEntry.key == key, KeyValueEntry.expires_at > utcnow())
        ).first()
        if row is None:
            self.set(key, 1, ttl)
            return 1
        count = json.loads(row[0]) + 1
        db.session.execute(update(KeyValueEntry).where(KeyValueEntry.key == key).values(value=json.dumps(count)))
        db.session.commit()
        return count

    def purge_expired(self) -> int:
        result = db.session.execute(delete(KeyValueEntry).where(KeyValueEntry.expires_at <= utcnow()))
        db.session.commit()
        return result.rowcount

    @staticmethod
    def _row(key: str, value: Any, ttl: int) -> dict:
        return {"key": key, "value": json.dumps(value), "expires_at": utcnow() + timedelta(seconds=ttl)}


def init_app(app) -> None:
    url = app.config.get("REDIS_URL")
    app.extensions["ma_store"] = RedisStore(url) if url else DatabaseStore()


def get_store() -> RedisStore | DatabaseStore:
    return current_app.extensions["ma_store"]
