"""The media catalog: entries, their owners and co-editors, and categories (galleries, channels)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, relationship

from .types import Column, JSONType, UTCDateTime, db, utcnow

MEDIA_TYPES = ("video", "audio", "image", "quiz", "youtube")


class MediaEntry(db.Model):
    """A media entry, such as a Kaltura entry `1_abc123`. `described` is False while only events know it."""

    __tablename__ = "media_entry"
    __table_args__ = (UniqueConstraint("registration_id", "external_id"),)

    id: Mapped[int] = Column(primary_key=True)
    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = Column(String(255))
    name: Mapped[str] = Column(String(500), default="")
    media_type: Mapped[str] = Column(String(16), default="video")
    duration_seconds: Mapped[float | None] = Column(Float, nullable=True)
    tags: Mapped[list] = Column(JSONType, default=list)
    entry_created_at: Mapped[datetime | None] = Column(UTCDateTime, nullable=True)
    owner_person_id: Mapped[int | None] = Column(ForeignKey("person.id", ondelete="SET NULL"), nullable=True, index=True)
    described: Mapped[bool] = Column(default=False)
    created_at: Mapped[datetime] = Column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = Column(UTCDateTime, default=utcnow, onupdate=utcnow)

    coeditors: Mapped[list["EntryCoeditor"]] = relationship(cascade="all, delete-orphan")

    @property
    def display_name(self) -> str:
        return self.name or self.external_id


class EntryCoeditor(db.Model):
    __tablename__ = "entry_coeditor"
    __table_args__ = (UniqueConstraint("entry_id", "person_id"),)

    id: Mapped[int] = Column(primary_key=True)
    entry_id: Mapped[int] = Column(ForeignKey("media_entry.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = Column(ForeignKey("person.id", ondelete="CASCADE"), index=True)


class Category(db.Model):
    """A course's Media Gallery (created at first launch) or a channel; entries belong to many."""

    __tablename__ = "category"
    __table_args__ = (UniqueConstraint("registration_id", "external_id"),)

    id: Mapped[int] = Column(primary_key=True)
    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = Column(String(255))
    name: Mapped[str] = Column(String(500), default="")
    # "gallery" (a course's Media Gallery) or "channel"
    kind: Mapped[str] = Column(String(16), default="channel")
    course_id: Mapped[int | None] = Column(ForeignKey("course.id", ondelete="SET NULL"), nullable=True, index=True)
    created_at: Mapped[datetime] = Column(UTCDateTime, default=utcnow)


class CategoryEntry(db.Model):
    __tablename__ = "category_entry"
    __table_args__ = (UniqueConstraint("category_id", "entry_id"),)

    id: Mapped[int] = Column(primary_key=True)
    category_id: Mapped[int] = Column(ForeignKey("category.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[int] = Column(ForeignKey("media_entry.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = Column(Integer, default=0)


def find_entry(session: Session, registration_id: int, external_id: str) -> MediaEntry | None:
    """The registration's entry with that id (ids are unique per registration), or None."""
    return session.scalar(select(MediaEntry).where(MediaEntry.registration_id == registration_id,
                                                   MediaEntry.external_id == external_id))


def find_category(session: Session, registration_id: int, external_id: str) -> Category | None:
    """The registration's category (gallery or channel) with that id, or None."""
    return session.scalar(select(Category).where(Category.registration_id == registration_id,
                                                 Category.external_id == external_id))
