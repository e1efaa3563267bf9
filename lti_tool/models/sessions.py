"""Server-side tool sessions and the embedded key-value store."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, relationship

from .course import Course, Person
from .lti import Registration
from .types import Column, JSONType, UTCDateTime, db, utcnow


class ToolSession(db.Model):
    """What a launch grants one browser: person, course, roles, level, expiry.

    Only a SHA-256 of the bearer token is stored; the token itself travels in a Partitioned cookie
    and in the `X-Session-Token` header that pages hand to htmx.
    """

    __tablename__ = "tool_session"

    id: Mapped[int] = Column(primary_key=True)
    token_hash: Mapped[str | None] = Column(String(64), unique=True, nullable=True)
    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"))
    person_id: Mapped[int] = Column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = Column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    deployment_id: Mapped[str] = Column(String(255))
    roles: Mapped[list] = Column(JSONType, default=list)
    # Effective level: admin, owner, co-editor, viewer.
    level: Mapped[str] = Column(String(20))
    role_label: Mapped[str] = Column(String(64), default="")
    timezone: Mapped[str] = Column(String(64), default="UTC")
    # Key of the validated launch data in the store (pylti1p3 launch id), for services later.
    launch_id: Mapped[str | None] = Column(String(80), nullable=True)
    created_at: Mapped[datetime] = Column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = Column(UTCDateTime)

    registration: Mapped[Registration] = relationship()
    person: Mapped[Person] = relationship()
    course: Mapped[Course] = relationship()


class KeyValueEntry(db.Model):
    """Short-lived values (nonces, launch data, JWKS cache) when no Redis is configured."""

    __tablename__ = "kv_entry"

    key: Mapped[str] = Column(String(255), primary_key=True)
    value: Mapped[str] = Column(Text)
    expires_at: Mapped[datetime] = Column(UTCDateTime, index=True)
