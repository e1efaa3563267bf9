"""Tool sessions inside the Canvas iframe, and the one guard every request goes through.

A launch creates a server-side session and redirects with a single-use hand-off code. Opening
that URL mints the session's bearer token, sets it as a Partitioned cookie and embeds it in the
page, which hands it to htmx as the `X-Session-Token` header. So the tool keeps working when the
browser blocks third-party cookies, and state-changing requests must carry the header (CSRF).
"""
from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import abort, current_app, g, request
from sqlalchemy import select

from lti_tool.extensions import db
from lti_tool.models import Course, Registration, ToolSession
from lti_tool.models.types import MAX_INTEGER, utcnow
from lti_tool.store import get_store

from .roles import CAPABILITIES

HEADER = "X-Session-Token"
HANDOFF_PARAM = "handoff"
HANDOFF_TTL = 120
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(registration: Registration, course: Course, person, claims: dict, decision,
                   timezone: str, launch_id: str) -> ToolSession:
    """Add a session for a validated launch (the caller commits)."""
    session = ToolSession(
        registration=registration, course=course, person=person,
        deployment_id=claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"],
        roles=list(claims.get("https://purl.imsglobal.org/spec/lti/claim/roles", []))[:50],
        level=decision.level, role_label=decision.label, timezone=timezone, launch_id=launch_id,
        expires_at=utcnow() + timedelta(seconds=current_app.config["SESSION_LIFETIME"]),
    )
    db.session.add(session)
    return session


def issue_handoff(session: ToolSession) -> str:
    """A single-use code, valid for two minutes, that the redirect after a launch carries."""
    code = secrets.token_urlsafe(24)
    get_store().set("handoff-" + _hash(code), session.id, HANDOFF_TTL)
    return code


def _mint_token(session: ToolSession) -> str:
    token = secrets.token_urlsafe(32)
    session.token_hash = _hash(token)
    db.session.commit()
    return token


@dataclass(frozen=True)
class Viewer:
    """The person behind a request, as the guard resolved it."""

    session: ToolSession
    token: str

    @property
    def level(self) -> str:
        return self.session.level

    def can(self, capability: str) -> bool:
        return capability in CAPABILITIES[self.session.level]

    def may_open(self, course: Course) -> bool:
        if self.session.level == "admin":
            return course.registration_id == self.session.registration_id
        return course.id == self.session.course_id


def _load_viewer() -> Viewer | None:
    if "viewer" in g:
        return g.viewer
    viewer = None
    code = request.args.get(HANDOFF_PARAM)
    if code and request.method in SAFE_METHODS:
        session_id = get_store().pop("handoff-" + _hash(code))
        session = db.session.get(ToolSession, session_id) if session_id else None
        if session is not None and session.expires_at > utcnow():
            viewer = Viewer(session, _mint_token(session))
            g.set_session_cookie = viewer.token
    if viewer is None:
        header = request.headers.get(HEADER)
        token = header or request.cookies.get(current_app.config["SESSION_COOKIE_NAME"])
        if request.method not in SAFE_METHODS and not header:
            token = None  # a cookie alone never authorises a change
        if token and len(token) <= 200:
            session = db.session.scalar(select(ToolSession).where(ToolSession.token_hash == _hash(token)))
            if session is not None and session.expires_at > utcnow():
                viewer = Viewer(session, token)
    g.viewer = viewer
    if viewer is not None:
        g.frame_hosts = list(viewer.session.registration.allowed_frame_hosts or [])
    return viewer


def current_viewer() -> Viewer | None:
    return _load_viewer()


def require(capability: str):
    """The guard: a live session whose level grants `capability`, for the course in the URL if any."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            viewer = _load_viewer()
            if viewer is None:
                abort(401)
            course = None
            if "course_id" in kwargs:
                course_id = kwargs["course_id"]  # the URL's <int:>: any size; no course id exceeds an Integer
                course = db.session.get(Course, course_id) if course_id <= MAX_INTEGER else None
                if course is None or not viewer.may_open(course):
                    abort(403)
            if not viewer.can(capability):
                abort(403)
            g.course = course or viewer.session.course
            return view(*args, **kwargs)

        wrapped.required_capability = capability
        return wrapped

    return decorator


def init_app(app) -> None:
    @app.before_request
    def _fresh_viewer():
        # Each request resolves its own viewer, even when an app context outlives one request.
        for name in ("viewer", "course", "frame_hosts", "set_session_cookie", "owns_media"):
            g.pop(name, None)

    @app.after_request
    def _session_cookie(response):
        token = g.pop("set_session_cookie", None)
        if token:
            secure = app.config["COOKIE_SECURE"]
            response.set_cookie(
                app.config["SESSION_COOKIE_NAME"], token, max_age=app.config["SESSION_LIFETIME"],
                path="/", secure=secure, httponly=True, samesite="None" if secure else "Lax", partitioned=secure,
            )
        return response
