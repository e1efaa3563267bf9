"""Dashboards and the report API read from a real PostgreSQL streaming replica (DATABASE_REPLICA_URL).

A private primary cluster on loopback, migrated, and a hot standby made from it by `pg_basebackup -R`
on a second port (tests/support/processes.py). Which server a query ran on is seen from each engine's
own statements (SQLAlchemy events), and from what the answers hold while the standby's replay is
paused (`pg_wal_replay_pause()`): the standby then keeps an older state than the primary.
"""
from __future__ import annotations

import itertools
import logging
import re
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, event, select, text

from lti_tool import create_app, replica
from lti_tool.analytics.scopes import gallery_of
from lti_tool.extensions import db as _db
from lti_tool.launch import keys
from lti_tool.models import Course
from lti_tool.registrations import RegistrationInput, upsert

from ..conftest import LtiFlow, REDIS_URL
from ..support.clients import Viewer, htmx_headers
from ..support.factories import bearer, ingest, make_play
from ..support.processes import PrivatePostgres, test_settings, wait_for
from .conftest import migrated_database

DATABASE = "replicated"   # migrated; each test works on a copy of its own (CREATE DATABASE … TEMPLATE)
_numbers = itertools.count(1)
ENTRY = "1_e1"
NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture(scope="module")
def clusters():
    """(primary, standby): a migrated primary and its streaming hot standby, both running."""
    primary = PrivatePostgres(replicable=True)
    standby = None
    try:
        primary.start()
        migrated_database(primary, DATABASE)
        standby = primary.streaming_replica()
        yield primary, standby
    finally:
        if standby is not None:
            standby.cleanup()
        primary.cleanup()


class Statements:
    """The SQL each engine ran while `recording()`."""

    def __init__(self, primary, standby) -> None:
        self.on = {"primary": [], "replica": []}
        self.engines = {"primary": primary, "replica": standby}
        self.active = False
        for name, engine in self.engines.items():
            event.listen(engine, "before_cursor_execute", self._listener(name))

    def _listener(self, name):
        def record(conn, cursor, statement, parameters, context, executemany):
            if self.active:
                self.on[name].append(statement)
        return record

    @contextmanager
    def recording(self):
        self.on = {"primary": [], "replica": []}
        self.active = True
        try:
            yield self
        finally:
            self.active = False

    def reading_plays(self, name: str) -> int:
        """How many statements on that server read plays, player loads or their rollups."""
        return sum(1 for s in self.on[name] if re.search(r"\bFROM (play|player_load|play_rollup)\b", s))


class Setup:
    """The app (TestConfig on the private primary, DATABASE_REPLICA_URL the standby), a course a teacher
    launched with ENTRY in its gallery and plays stored, a report token, and ways to steer the standby."""

    def __init__(self, primary: PrivatePostgres, standby: PrivatePostgres, canvas, database: str) -> None:
        self.primary, self.standby, self.database = primary, standby, database
        self.app = create_app(test_settings(primary.url(database), REDIS_URL,
                                            DATABASE_REPLICA_URL=standby.url(database)))
        self.client = self.app.test_client()
        self.caught_up()   # the new database is on the standby too
        with self.app.app_context():
            keys.ensure_keys()
            registration, _ = upsert(RegistrationInput(
                issuer=canvas.issuer, client_id=canvas.client_id, deployment_ids=(canvas.deployment_id,),
                auth_login_url=canvas.auth_login_url, auth_token_url=canvas.token_url, key_set_url=canvas.jwks_url,
                title="Test Canvas", allowed_frame_hosts=("https://canvas.test.edu",)))
            self.registration_id = registration.id
            self.auth = bearer(registration.id)
            self.store_plays(0, 3)
            self.statements = Statements(_db.engine, self.app.extensions["replica"].engine)
        page = LtiFlow(self.client, canvas).open("teacher")
        assert page.status_code == 200, page.text
        with self.app.app_context():
            course = _db.session.scalar(select(Course))
            self.course_id = course.id
            gallery = gallery_of(_db.session, course)
            gallery_id, gallery_name = gallery.external_id, gallery.name
            _db.session.commit()
        self.teacher = Viewer(self.client, page, "teacher", course)
        answer = self.client.put(f"/api/v1/categories/{gallery_id}", headers=self.auth,
                                 json={"kind": "gallery", "name": gallery_name, "course_id": self.course_id,
                                       "members": [ENTRY]})
        assert answer.status_code == 200, answer.text
        self.caught_up()

    def store_plays(self, first: int, count: int, at: datetime | None = None) -> None:
        """`count` plays (ids from `first`) written to the primary by the ingest pipeline."""
        with self.app.app_context():
            events = [e for i in range(first, first + count)
                      for e in make_play(i, (at or NOW - timedelta(hours=2)) + timedelta(minutes=i))]
            assert ingest(self.registration_id, events).accepted == len(events)

    def sql(self, cluster: PrivatePostgres, query: str, database: str = "postgres"):
        engine = create_engine(cluster.url(database))
        try:
            with engine.begin() as conn:
                result = conn.execute(text(query))
                return result.scalar() if result.returns_rows else None
        finally:
            engine.dispose()

    def caught_up(self) -> None:
        """Wait until the standby has replayed everything the primary has written so far."""
        target = self.sql(self.primary, "SELECT pg_current_wal_lsn()::text")
        wait_for(lambda: self.sql(self.standby, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"),
                 60, "the standby to replay the primary's writes")

    def pause(self) -> datetime:
        """Stop the standby's replay (it keeps receiving WAL); its replay time, which now stands still."""
        self.sql(self.standby, "SELECT pg_wal_replay_pause()")
        wait_for(lambda: self.sql(self.standby, "SELECT pg_get_wal_replay_pause_state()") == "paused",
                 30, "the standby's replay to pause")
        return self.sql(self.standby, "SELECT pg_last_xact_replay_timestamp()")

    def resume(self) -> None:
        self.sql(self.standby, "SELECT pg_wal_replay_resume()")
        self.caught_up()

    def report(self, name: str = "entry-highlights", **args) -> dict:
        query = {"entry": ENTRY, "range": "last30", "today": "1", "tz": "UTC", **args}
        answer = self.client.get(f"/api/v1/reports/{name}", query_string=query, headers=self.auth)
        assert answer.status_code == 200, answer.text
        return answer.get_json()["data"]

    def plays(self) -> int:
        return self.report()["current"]["plays"]

    def gallery(self, **headers):
        answer = self.teacher.get(f"/courses/{self.course_id}/gallery/?range=last30&today=1", headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.text

    def close(self) -> None:
        with self.app.app_context():
            self.app.extensions["replica"].engine.dispose()
            _db.engine.dispose()


@pytest.fixture
def setup(clusters, canvas, clean_redis):
    primary, standby = clusters
    if not standby.running:
        standby.start()
    standby.psql("SELECT pg_wal_replay_resume()")   # a failed test may have left it paused
    database = f"{DATABASE}_{next(_numbers)}"
    primary.create_database(database, template=DATABASE)
    bundle = Setup(primary, standby, canvas, database)
    yield bundle
    bundle.close()
    primary.psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_pages_and_reports_read_the_replica_writes_go_to_the_primary(setup):
    setup.report()                    # the token's first use writes its last-used time: read from the primary
    setup.gallery()                   # the course's zone is built on the primary at its first use
    setup.caught_up()
    with setup.statements.recording() as seen:
        assert setup.plays() == 3
        setup.gallery()
        setup.gallery(**htmx_headers("highlights"))
        setup.report("user-engagement")
    assert seen.reading_plays("replica") > 0
    assert seen.reading_plays("primary") == 0, seen.on["primary"]
    assert not [s for s in seen.on["replica"] if re.match(r"\s*(INSERT|UPDATE|DELETE)", s)]

    # The standby stops replaying: what the pages read is its older state, while the primary has more.
    setup.pause()
    setup.store_plays(10, 2)
    with setup.statements.recording() as seen:
        assert setup.plays() == 3
        assert "Data as of" in setup.gallery()
    assert seen.reading_plays("primary") == 0
    assert setup.sql(setup.primary, "SELECT count(*) FROM play", setup.database) == 5

    # A write of the token's own (an ingest): its next report reads the primary, which has its write...
    with setup.statements.recording() as seen:
        answer = setup.client.post("/api/v1/events", headers=setup.auth,
                                   json={"version": 1, "events": make_play(20, NOW - timedelta(hours=1))})
        assert answer.status_code == 200, answer.text
        assert setup.plays() == 6
    assert any(re.match(r"\s*INSERT INTO play\b", s) for s in seen.on["primary"])
    assert seen.reading_plays("replica") == 0
    # ... and a teacher's settings change: the page after it reads the primary too.
    with setup.statements.recording() as seen:
        saved = setup.teacher.post(f"/courses/{setup.course_id}/settings", data={"timezone": "Asia/Kolkata"})
        assert saved.status_code == 200, saved.text
        setup.gallery()
    assert seen.reading_plays("primary") > 0 and seen.reading_plays("replica") == 0

    # Once the standby has replayed those writes, reads go back to it, and it has everything.
    setup.resume()
    with setup.statements.recording() as seen:
        assert setup.plays() == 6
        setup.gallery()
    assert seen.reading_plays("replica") > 0 and seen.reading_plays("primary") == 0


def test_data_as_of_is_never_later_than_the_replicas_replay(setup):
    # A play whose client clock ran a day ahead: the newest fact is stamped after any replay time.
    ahead = NOW + timedelta(days=1)
    setup.sql(setup.primary, f"UPDATE play SET last_event_at = '{ahead.isoformat()}' WHERE id = (SELECT max(id) FROM play)",
               setup.database)
    # ... and so do the rollups the pages read (kept at ingest, which this change went around).
    setup.sql(setup.primary, f"UPDATE play_rollup SET last_viewed_at = '{ahead.isoformat()}' "
              "WHERE last_viewed_at = (SELECT max(last_viewed_at) FROM play_rollup)", setup.database)
    setup.report()
    setup.caught_up()
    replayed_at = setup.pause()
    try:
        as_of = datetime.fromisoformat(setup.report()["data_as_of"])
        assert as_of == replayed_at < ahead
        assert f'Data as of <time datetime="{replayed_at.isoformat()}">' in setup.gallery()
        # The primary's answer (after a write of the token's own) is the newest fact itself.
        answer = setup.client.post("/api/v1/events", headers=setup.auth,
                                   json={"version": 1, "events": make_play(30, NOW - timedelta(hours=1))})
        assert answer.status_code == 200, answer.text
        assert datetime.fromisoformat(setup.report()["data_as_of"]) == ahead
    finally:
        setup.resume()
    # Replayed again: the replica's replay time is later than the facts of the 30 days, bar the one ahead.
    assert datetime.fromisoformat(setup.report()["data_as_of"]) <= ahead


def test_a_stopped_replica_falls_back_to_the_primary(setup, caplog, monkeypatch):
    setup.report()
    setup.caught_up()
    setup.standby.stop("fast")
    caplog.set_level(logging.WARNING, logger="lti_tool.replica")
    with setup.statements.recording() as seen:
        assert setup.plays() == 3
        setup.gallery()
        assert setup.plays() == 3
    assert seen.reading_plays("primary") > 0 and seen.reading_plays("replica") == 0
    down = [r for r in caplog.records if "cannot be reached" in r.getMessage()]
    assert len(down) == 1   # logged once, not per request

    # Back: after the retry interval, reads use it again (and say so once).
    monkeypatch.setattr(replica, "RETRY_SECONDS", 0)
    setup.app.extensions["replica"].went_down(RuntimeError("still down"))
    setup.standby.start()
    setup.caught_up()
    with setup.statements.recording() as seen:
        assert setup.plays() == 3
    assert seen.reading_plays("replica") > 0 and seen.reading_plays("primary") == 0
    assert [r for r in caplog.records if "reachable again" in r.getMessage()]


def test_without_a_replica_everything_reads_the_primary(clusters, canvas, clean_redis):
    primary, standby = clusters
    app = create_app(test_settings(primary.url(DATABASE), REDIS_URL))
    assert app.extensions["replica"] is None
    with app.test_request_context("/"):
        assert replica.reading().session is _db.session and replica.reading().replayed_at is None


def test_the_replica_is_set_by_database_replica_url(monkeypatch):
    import config

    for name, value in {"SECRET_KEY": "s", "KEY_ENCRYPTION_SECRET": "k",
                        "DATABASE_URL": "postgres://app@db-primary/media"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DATABASE_REPLICA_URL", raising=False)
    assert config.load("prod").DATABASE_REPLICA_URL is None
    monkeypatch.setenv("DATABASE_REPLICA_URL", "postgres://app@db-replica/media")
    assert config.load("prod").DATABASE_REPLICA_URL == "postgresql+psycopg://app@db-replica/media"
