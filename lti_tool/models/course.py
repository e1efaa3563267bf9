"""Courses, people and their enrollments, as launches (and later the roster) describe them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, relationship

from .lti import Registration
from .types import Column, JSONType, UTCDateTime, db, utcnow


class Course(db.Model):
    """A course = (registration, LTI context.id)."""

    __tablename__ = "course"
    __table_args__ = (UniqueConstraint("registration_id", "context_id"),)

    id: Mapped[int] = Column(primary_key=True)
    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"), index=True)
    context_id: Mapped[str] = Column(String(255))
    label: Mapped[str] = Column(String(255), default="")
    title: Mapped[str] = Column(String(500), default="")
    platform_guid: Mapped[str | None] = Column(String(255), nullable=True)
    canvas_course_id: Mapped[str | None] = Column(String(64), nullable=True)
    api_domain: Mapped[str | None] = Column(String(255), nullable=True)
    nrps_url: Mapped[str | None] = Column(String(1000), nullable=True)
    # When the roster was last fetched through NRPS (None: never); a launch after an hour refreshes it.
    roster_synced_at: Mapped[datetime | None] = Column(UTCDateTime, nullable=True)
    # A course setting; None means each viewer's own (or the registration's default) time zone.
    timezone: Mapped[str | None] = Column(String(64), nullable=True)
    created_at: Mapped[datetime] = Column(UTCDateTime, default=utcnow)
    last_launch_at: Mapped[datetime] = Column(UTCDateTime, default=utcnow)

    registration: Mapped[Registration] = relationship()


class Person(db.Model):
    """A person = (registration, LTI sub). Name and email only as the privacy level sends them."""

    __tablename__ = "person"
    __table_args__ = (UniqueConstraint("registration_id", "subject"),)

    id: Mapped[int] = Column(primary_key=True)
    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str] = Column(String(255))
    name: Mapped[str | None] = Column(String(255), nullable=True)
    given_name: Mapped[str | None] = Column(String(255), nullable=True)
    family_name: Mapped[str | None] = Column(String(255), nullable=True)
    email: Mapped[str | None] = Column(String(255), nullable=True)
    timezone: Mapped[str | None] = Column(String(64), nullable=True)
    created_at: Mapped[datetime] = Column(UTCDateTime, default=utcnow)
    last_launch_at: Mapped[datetime | None] = Column(UTCDateTime, nullable=True)

    @property
    def display_name(self) -> str:
        full = " ".join(p for p in (self.given_name, self.family_name) if p)
        return self.name or full or "Unnamed user"


class PersonAlias(db.Model):
    """Other identifiers of a person, so events from players and feeds join the same person."""

    __tablename__ = "person_alias"
    __table_args__ = (UniqueConstraint("registration_id", "kind", "value"),)

    id: Mapped[int] = Column(primary_key=True)
    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"))
    person_id: Mapped[int] = Column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    # canvas_user_id, login_id, email, sis_id, lti11_user_id, player_user_id
    kind: Mapped[str] = Column(String(32))
    value: Mapped[str] = Column(String(255))


class Enrollment(db.Model):
    __tablename__ = "enrollment"
    __table_args__ = (UniqueConstraint("course_id", "person_id"),)

    id: Mapped[int] = Column(primary_key=True)
    course_id: Mapped[int] = Column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = Column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    roles: Mapped[list] = Column(JSONType, default=list)
    # Course level from the role policy: owner, co-editor, viewer, or none.
    level: Mapped[str] = Column(String(20))
    role_label: Mapped[str] = Column(String(64), default="")
    source: Mapped[str] = Column(String(16), default="launch")
    launch_count: Mapped[int] = Column(Integer, default=0)
    last_launch_at: Mapped[datetime | None] = Column(UTCDateTime, nullable=True)

    course: Mapped[Course] = relationship()
    person: Mapped[Person] = relationship()
