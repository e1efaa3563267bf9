"""Outages of the services we depend on (the database, Redis): telling them from other errors, and
waiting one out — logged once when it starts and once when it ends, retried with a growing pause.
"""
from __future__ import annotations

import logging
import time

import redis
from sqlalchemy import exc as sa_exc

log = logging.getLogger(__name__)


def database_unavailable(error: BaseException) -> bool:
    """True for a database that cannot be reached or dropped the connection (down, restarting,
    network), and for conflicts that pass when tried again (deadlock, serialization, lock timeout)."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
                              sa_exc.TimeoutError))


def redis_unavailable(error: BaseException) -> bool:
    """True for a Redis that cannot be reached, timed out, or is still loading its data."""
    return isinstance(error, (redis.ConnectionError, redis.TimeoutError))


def reason(error: BaseException, limit: int = 300) -> str:
    """A short one-line description of an error (for SQLAlchemy errors the driver's message, without the SQL)."""
    cause = getattr(error, "orig", None) or error
    text = " ".join(str(cause).split()) or type(cause).__name__
    return text[:limit]


class Outage:
    """One service's availability as a long-running process sees it.

    `failed(error)` records a failure and returns the seconds to wait before trying again (doubling
    from `first` to `longest`); only the first failure of an outage is logged. `ok()` ends an
    outage, logging how long it lasted.
    """

    def __init__(self, name: str, *, first: float = 0.5, longest: float = 10.0, logger: logging.Logger = log):
        self.name, self.first, self.longest, self.log = name, first, longest, logger
        self.since: float | None = None
        self.delay = first

    def failed(self, error: BaseException) -> float:
        if self.since is None:
            self.since = time.monotonic()
            self.delay = self.first
            self.log.warning("%s unreachable (%s); retrying until it is back", self.name, reason(error))
        else:
            self.delay = min(self.delay * 2, self.longest)
        return self.delay

    def ok(self) -> None:
        if self.since is not None:
            self.log.warning("%s is back after %.1f s", self.name, time.monotonic() - self.since)
            self.since = None
            self.delay = self.first
