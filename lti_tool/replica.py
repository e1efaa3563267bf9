"""Dashboard and report-API reads from a PostgreSQL streaming replica (`DATABASE_REPLICA_URL`).

The rule, in one place:
- Everything that writes, and everything a request looks up before it reads numbers (the session
  guard, the course and its settings, the subject, rooms and sessions by id, exports, admin pages),
  uses the primary (`db.session`), as without a replica.
- Only the analytics of a dashboard page, its htmx fragments and a report-API GET (the queries a
  `Context` runs) use `reading().session`: the replica when one is set, reachable, and has replayed
  this viewer's own last write.
- Read your writes: when a request of a tool session or an API token wrote to the primary, the
  primary's WAL position after that write is kept (in the key-value store, WRITE_MEMORY_SECONDS) for
  that session or token. Its reads use the replica only once the replica has replayed past that
  position (`pg_last_wal_replay_lsn()`); until then they use the primary. So a page after a settings
  change or a launch, and a report after the token's own ingest, never read older data than the writer
  wrote. A request that wrote itself follows the same rule. (Writes of background jobs, such as a
  roster sync, belong to no viewer: pages see them when the replica has replayed them.)
- A replica that cannot be reached is logged once and left alone for RETRY_SECONDS: reads use the
  primary meanwhile, so a replica outage slows pages, it does not break them.
- "Data as of": a read from the replica carries the replica's replay time
  (`pg_last_xact_replay_timestamp()`), and a page never says its data is newer than that.

With Redis (REDIS_URL), a page or report that only reads writes nothing. Without it, the key-value
store is a table of the primary and every API request (its rate count) is a write: reports then read the
primary. CSV and PDF exports read the primary: they run in workers after the export's row was written, and
their numbers must match the page the person exported from, which may just have read the primary.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app, g, has_app_context, has_request_context
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from .extensions import db
from .store import get_store

log = logging.getLogger(__name__)

WRITE_MEMORY_SECONDS = 600   # how long a writer's last WAL position is remembered
RETRY_SECONDS = 30           # how long an unreachable replica is left alone
CONNECT_TIMEOUT = 2          # seconds to reach the replica before falling back
# Position and replay time of the replica; a server that is not in recovery (a replica promoted, or the
# primary named twice) has replayed everything and has no replay time.
STATUS = text("SELECT pg_is_in_recovery(), "
              "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn) ELSE true END, "
              "pg_last_xact_replay_timestamp()")
STATUS_ANY = text("SELECT pg_is_in_recovery(), true, pg_last_xact_replay_timestamp()")


@dataclass(frozen=True)
class Reading:
    """Where a request's analytics read: `session`, and `replayed_at`, the replica's replay time when
    that session is the replica (None on the primary: its data is as new as it gets)."""

    session: Session
    replayed_at: datetime | None = None
    replica: bool = False


class Replica:
    """The replica's engine and whether it is reachable (one per app, shared by the threads of a process)."""

    def __init__(self, url: str, options: dict) -> None:
        connect_args = {**options.get("connect_args", {}), "connect_timeout": CONNECT_TIMEOUT}
        self.engine: Engine = create_engine(url, **{**options, "connect_args": connect_args, "pool_pre_ping": True})
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._down = False

    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def went_down(self, exc: Exception) -> None:
        with self._lock:
            self._down_until = time.monotonic() + RETRY_SECONDS
            if not self._down:
                self._down = True
                log.warning("the database replica cannot be reached (%s); reading from the primary, "
                            "retrying every %s s", type(exc).__name__, RETRY_SECONDS)

    def came_back(self) -> None:
        if self._down:
            with self._lock:
                if self._down:
                    self._down = False
                    log.warning("the database replica is reachable again; dashboards read from it")


def init_app(app: Flask) -> None:
    url = app.config.get("DATABASE_REPLICA_URL")
    if not url:
        app.extensions["replica"] = None
        return
    app.extensions["replica"] = Replica(url, dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}))
    _listen_for_writes()

    @app.after_request
    def remember(response):
        try:
            if g.get("replica_wrote") and _writer_key():
                _remember_write()
        except SQLAlchemyError as exc:   # the request's own transaction failed: it wrote nothing
            log.info("no WAL position kept after a failed request: %s", type(exc).__name__)
        return response

    @app.teardown_request
    def close(exc):
        session = g.pop("replica_session", None)
        if session is not None:
            session.close()


def replica() -> Replica | None:
    return current_app.extensions.get("replica") if has_app_context() else None


def reading() -> Reading:
    """Where this request's analytics read (see the module's rule). Decided once per request."""
    if "replica_reading" in g:
        return g.replica_reading
    g.replica_reading = _choose()
    return g.replica_reading


def _choose() -> Reading:
    chosen = replica()
    if chosen is None or not chosen.available():
        return Reading(db.session)
    lsn = _remember_write() or _last_write()
    session = Session(chosen.engine, autoflush=False, info={"replica": True})
    try:
        in_recovery, caught_up, replayed_at = session.execute(STATUS if lsn else STATUS_ANY,
                                                              {"lsn": lsn} if lsn else {}).one()
    except DBAPIError as exc:
        session.close()
        chosen.went_down(exc)
        return Reading(db.session)
    chosen.came_back()
    if not caught_up:
        session.close()
        return Reading(db.session)
    g.replica_session = session
    return Reading(session, replayed_at if in_recovery else None, replica=True)


def _writer_key() -> str | None:
    """Whose writes a later read must see: the tool session's, or the API token's."""
    viewer = g.get("viewer")
    if viewer is not None:
        return f"replica-wrote-s{viewer.session.id}"
    token = g.get("ingest_token")
    if token is not None:
        return f"replica-wrote-t{token.id}"
    return None


def _last_write() -> str | None:
    key = _writer_key()
    return get_store().get(key) if key else None


def _remember_write() -> str | None:
    """When this request wrote to the primary: the primary's WAL position after its last write (kept for
    the writer), else None."""
    if not g.get("replica_wrote"):
        return None
    if "replica_lsn" not in g:
        g.replica_recording = True
        try:
            g.replica_lsn = str(db.session.execute(text("SELECT pg_current_wal_lsn()")).scalar())
            key = _writer_key()
            if key:
                get_store().set(key, g.replica_lsn, WRITE_MEMORY_SECONDS)
        finally:
            g.replica_recording = False
    return g.replica_lsn


_listening = False


def _listen_for_writes() -> None:
    """Mark a request that wrote to the primary: a flush with changes, or a transaction that holds an id
    at commit (a write by SQL text or COPY). Only apps with a replica pay for the check."""
    global _listening
    if _listening:
        return
    _listening = True

    @event.listens_for(db.session, "after_flush")
    def flushed(session, context):
        _wrote()

    @event.listens_for(db.session, "before_commit")
    def committing(session):
        if not _watching() or g.get("replica_wrote"):
            return
        if session.get_bind().dialect.name == "postgresql" and \
                session.execute(text("SELECT txid_current_if_assigned()")).scalar() is not None:
            _wrote()


def _watching() -> bool:
    return has_request_context() and replica() is not None and not g.get("replica_recording")


def _wrote() -> None:
    if _watching():
        g.replica_wrote = True
        g.pop("replica_lsn", None)   # a later write: its position is taken again
