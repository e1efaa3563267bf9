"""Factories for the data tests set up again and again: registrations, tokens, events, catalog and rooms.

Each one goes through the tool's own code (upsert, tokens.create, the ingest pipeline) or writes the
same rows a launch or the catalog API would, so a test reads as "given this, when that".
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import select

from lti_tool import MIGRATIONS_DIR, create_app
from lti_tool.analytics.scopes import gallery_of
from lti_tool.ingest import tokens
from lti_tool.ingest.pipeline import BatchResult, accept
from lti_tool.ingest.schema import native_event
from lti_tool.models import CategoryEntry, Course, MediaEntry, Registration, Room
from lti_tool.registrations import RegistrationInput, upsert

CANVAS = "https://canvas.instructure.com"


def embedded_app(database: Path, **config) -> Flask:
    """The embedded default (SQLite, no Redis) on a new file, migrated; `config` adds to it."""
    app = create_app({"APP_ENV": "dev", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}", "REDIS_URL": None,
                      **config})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
    return app


def make_registration(client_id: str = "1", issuer: str = CANVAS,
                      auth_token_url: str = "https://x.edu/login/oauth2/token", **fields) -> Registration:
    """A platform registration with only what ingest needs (no launch URLs unless given in `fields`)."""
    registration, _ = upsert(RegistrationInput(issuer=issuer, client_id=client_id, auth_token_url=auth_token_url,
                                               **fields))
    return registration


def another_tenant(host: str = "https://other.example.edu") -> Registration:
    """A second registration (another platform), for what one tenant must never see of another."""
    return make_registration("other", issuer=host, auth_login_url=f"{host}/authorize",
                             auth_token_url=f"{host}/token", key_set_url=f"{host}/jwks")


def bearer(registration_id: int, name: str = "") -> dict[str, str]:
    """The Authorization header of a new ingest/report token of the registration."""
    _token, secret = tokens.create(registration_id, name)
    return {"Authorization": f"Bearer {secret}"}


def ingest(registration_id: int, events: list[dict]) -> BatchResult:
    """Store native-format events as POST /api/v1/events would (validated, exactly once, plays derived)."""
    return accept(registration_id, [native_event(e) for e in events], "native")


def make_play(index: int, at: datetime, *, entry: str = "1_e1", user: str | None = None,
              page_url: str | None = None) -> list[dict]:
    """One player load of `entry` at `at` (an impression) and a play in it 5 s later, paused after 30 s
    at position 30: ids i<index>, p<index>, q<index>, load l<index>, play P<index>; the entry is 100 s
    long. The page URL goes on the impression and the play (the pause does not repeat it)."""
    stamp = lambda seconds: (at + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")  # noqa: E731
    common = {"entry_id": entry, "duration": 100, "load_id": f"l{index}", **({"user": user} if user else {})}
    page = {"page_url": page_url} if page_url else {}
    return [dict(common, id=f"i{index}", type="impression", time=stamp(0), **page),
            dict(common, id=f"p{index}", type="play", time=stamp(5), play_id=f"P{index}", position=0, **page),
            dict(common, id=f"q{index}", type="pause", time=stamp(35), play_id=f"P{index}", position=30)]


def entry(session, external_id: str) -> MediaEntry:
    """The media entry with this Kaltura id (ingest creates it the first time an event names it)."""
    return session.scalar(select(MediaEntry).where(MediaEntry.external_id == external_id))


def add_to_gallery(session, course: Course, *external_ids: str) -> None:
    """Put these entries (all stored entries when none is named) into the course's Media Gallery, as the
    catalog would, and commit."""
    gallery = gallery_of(session, course)
    query = select(MediaEntry)
    if external_ids:
        query = query.where(MediaEntry.external_id.in_(external_ids))
    for media in session.scalars(query):
        session.add(CategoryEntry(category_id=gallery.id, entry_id=media.id))
    session.commit()


def give_room_to(session, course: Course, external_id: str = "room-1") -> Room:
    """Attach the room to the course (rooms arrive from the feed without one) and commit."""
    room = session.scalar(select(Room).where(Room.external_id == external_id))
    room.course_id = course.id
    session.commit()
    return room
