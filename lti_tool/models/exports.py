"""Exports a person asked for (CSV reports, PDF summaries, custom reports): one row per request,
its id the id of the RQ job that makes it."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped

from .types import Column, JSONType, UTCDateTime, db, utcnow

ACTIVE_STATES = ("queued", "running")


class Export(db.Model):
    __tablename__ = "export"
    __table_args__ = (Index("ix_export_person_course_created", "person_id", "course_id", "created_at"),)

    id: Mapped[str] = Column(String(40), primary_key=True)
    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"))
    course_id: Mapped[int] = Column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    # Who asked: the only person who sees it in the tool, and the one it is emailed to.
    person_id: Mapped[int] = Column(ForeignKey("person.id", ondelete="CASCADE"))
    kind: Mapped[str] = Column(String(32))            # a key of exports.tasks.KINDS (room-csv, entry-pdf, ...)
    # What the page showed: its filters and options (JSON), enough to make the same report again.
    params: Mapped[dict] = Column(JSONType, default=dict)
    delivery: Mapped[str] = Column(String(16), default="download")  # email or download
    # SHA-256 of person, course, kind, delivery and params: the same request while one is under way is
    # "already in progress". Set only while queued or running, so the unique index allows one at a time.
    active_key: Mapped[str | None] = Column(String(64), nullable=True, unique=True)
    state: Mapped[str] = Column(String(16), default="queued")  # queued, running, done or failed
    # For a person to read: why it failed, or, while it runs, what it waits for (a retry).
    reason: Mapped[str | None] = Column(Text, nullable=True)
    file_name: Mapped[str | None] = Column(String(255), nullable=True)
    # Relative to EXPORT_DIR, so the directory can move.
    file_path: Mapped[str | None] = Column(String(500), nullable=True)
    file_size: Mapped[int | None] = Column(BigInteger, nullable=True)   # bytes
    # Masked (j*****@*****.e): enough to tell the person where it went, nothing more.
    emailed_to: Mapped[str | None] = Column(String(255), nullable=True)
    # Who is making it (see lti_tool.exports.holder): the job that holds the row (its id, or "<id>-email"
    # while the email is sent) and which run of that job it is (1, then 2 for its first retry, …; 0
    # until the job starts). A retry takes over what an earlier attempt left; every later write of a job
    # is conditional on still holding the row, so an attempt that lost it changes nothing.
    job_id: Mapped[str | None] = Column(String(64), nullable=True)
    attempt: Mapped[int] = Column(Integer, default=0, server_default="0")
    # The holder's promise to show a sign of life before then (its heartbeat moves it on); past it, the
    # export is ended as failed unless its job waits in RQ for a retry. None: jobs run in-process.
    alive_until: Mapped[datetime | None] = Column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = Column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = Column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = Column(UTCDateTime, nullable=True)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES
