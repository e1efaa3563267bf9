"""A small key-value store with expiry: Redis when REDIS_URL is set, else the database.

Launch data, single-use nonces, login hand-offs and the platform JWKS cache live here, so any web
process can serve any request of a user.

Without Redis the tool degrades instead of failing: while Redis does not answer, `RedisStore` keeps
these values in the database (`DatabaseStore`, the same single-use guarantees) and `incr` answers None,
so rate limits fail open. Each process logs the outage once, and once more when Redis answers again.
"""
from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta
from typing import Any, Callable

import redis
from flask import current_app
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from lti_tool.extensions import db
from lti_tool.models import KeyValueEntry
from lti_tool.models.types import utcnow
from lti_tool.outages import reason, redis_unavailable


log = logging.getLogger(__name__)

# Seconds to wait for a connection to Redis before calling it down (a host that drops packets).
CONNECT_TIMEOUT = 2


class RedisStore:
    """Redis, with the database standing in while Redis does not answer.

    A value written during an outage lives in the database until it expires; `pop` looks there too
    after a Redis miss, so a login begun during an outage can still finish (once) after it.
    """

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT)
        self.fallback = DatabaseStore()
        self._down = False
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        return self._either(lambda: _loads(self.client.get(key)), lambda: self.fallback.get(key))

    def set(self, key: str, value: Any, ttl: int) -> None:
        def on_redis():
            if ttl <= 0:  # already expired
                self.client.delete(key)
            else:
                self.client.set(key, json.dumps(value), ex=ttl)
        self._either(on_redis, lambda: self.fallback.set(key, value, ttl))

    def add(self, key: str, value: Any, ttl: int) -> bool:
        """Set only if absent; True when this call created the key."""
        return self._either(lambda: bool(self.client.set(key, json.dumps(value), ex=ttl, nx=True)),
                            lambda: self.fallback.add(key, value, ttl))

    def pop(self, key: str) -> Any:
        """Read and delete in one atomic step (GETDEL): the second caller gets None."""
        value = self._either(lambda: _loads(self.client.getdel(key)), lambda: None)
        # Each store deletes atomically and a key is written to one of them, so it is still used once.
        return value if value is not None else self.fallback.pop(key)

    def delete(self, key: str) -> None:
        self._either(lambda: self.client.delete(key), lambda: self.fallback.delete(key))

    def incr(self, key: str, ttl: int) -> int | None:
        """Add one to a counter that lives `ttl` seconds from its first increment; None while Redis
        does not answer (a rate limit then lets the request through)."""
        def on_redis():
            pipe = self.client.pipeline()
            pipe.incr(key)
            pipe.expire(key, ttl, nx=True)
            return int(pipe.execute()[0])
        return self._either(on_redis, lambda: None)

    @property
    def available(self) -> bool:
        """False while this process's last call found Redis down."""
        return not self._down

    def _either(self, on_redis: Callable[[], Any], on_database: Callable[[], Any]) -> Any:
        try:
            result = on_redis()
        except Exception as exc:
            if not redis_unavailable(exc):
                raise
            self._went_down(exc)
            return on_database()
        if self._down:
            self._came_back()
        return result

    def _went_down(self, exc: Exception) -> None:
        with self._lock:
            if self._down:
                return
            self._down = True
        log.warning("Redis does not answer (%s): launch data and nonces are kept in the database, rate limits "
                    "are not enforced and jobs cannot be queued until it does", reason(exc))

    def _came_back(self) -> None:
        with self._lock:
            if not self._down:
                return
            self._down = False
        log.warning("Redis answers again: launch data, rate limits and job queues use it again")


def _loads(raw: bytes | None) -> Any:
    return None if raw is None else json.loads(raw)


class DatabaseStore:
    """The embedded default (SQLite), and the stand-in while Redis is down. Each call commits at once,
    as Redis would.

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

    @staticmethod
    def _row(key: str, value: Any, ttl: int) -> dict:
        return {"key": key, "value": json.dumps(value), "expires_at": utcnow() + timedelta(seconds=ttl)}


def init_app(app) -> None:
    url = app.config.get("REDIS_URL")
    app.extensions["ma_store"] = RedisStore(url) if url else DatabaseStore()


def get_store() -> RedisStore | DatabaseStore:
    return current_app.extensions["ma_store"]
