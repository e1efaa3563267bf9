"""Live rooms: rooms, their sessions (breakouts point to their parent) and what happens in a session.

Facts are append-only and idempotent: every fact table has a unique (registration_id, event_key),
the id the feed gave the event, so a re-sent event is a duplicate. Rooms, sessions and
interactions are described by their own external ids instead.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr

from .events import BigId
from .types import Column, JSONType, UTCDateTime, db, utcnow

ATTENDANCE_MODES = ("live", "recording")
REACTION_KINDS = ("clap", "heart", "think", "wow", "smile")
QA_STATES = ("pending", "owned", "resolved", "done")
INTERACTION_KINDS = ("poll", "quiz", "rating", "open", "crowd_vote")
MESSAGE_KINDS = ("moderator", "private")


def engagement_level(sound_on: bool, tab_focused: bool, full_screen: bool) -> str:
    """DESIGN §5: sound + focus + full screen = high; sound + focus = good; sound without focus = fair;
    focus without sound = low; neither = none."""
    if sound_on:
        if tab_focused:
            return "high" if full_screen else "good"
        return "fair"
    return "low" if tab_focused else "none"


def _registration():
    return Column(ForeignKey("registration.id", ondelete="CASCADE"))


def _session(index: bool = False):
    return Column(ForeignKey("room_session.id", ondelete="CASCADE"), index=index)


def _person(nullable: bool = False):
    return Column(ForeignKey("person.id", ondelete="SET NULL" if nullable else "CASCADE"),
                  nullable=nullable, index=True)


class SessionFact:
    """What every per-person fact of a session has: its feed id (unique per registration), the
    session, the person and when. Tables read by (session, time)."""

    id: Mapped[int] = Column(BigId, primary_key=True, autoincrement=True)
    registration_id: Mapped[int] = _registration()
    event_key: Mapped[str] = Column(String(255))
    session_id: Mapped[int] = _session()
    person_id: Mapped[int] = _person()
    at: Mapped[datetime] = Column(UTCDateTime)

    @declared_attr.directive
    def __table_args__(cls):
        return (UniqueConstraint("registration_id", "event_key"),
                Index(f"ix_{cls.__tablename__}_session_at", "session_id", "at"))


class Room(db.Model):
    """A live room (e.g. a channel's Kaltura Room), usually belonging to a course."""

    __tablename__ = "room"
    __table_args__ = (UniqueConstraint("registration_id", "external_id"),)

    id: Mapped[int] = Column(primary_key=True)
    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = Column(String(255))
    name: Mapped[str] = Column(String(500), default="")
    course_id: Mapped[int | None] = Column(ForeignKey("course.id", ondelete="SET NULL"), nullable=True, index=True)
    # The live stream's media entry: Kava VIEW beacons of live playback of it become engagement samples.
    live_entry_id: Mapped[int | None] = Column(ForeignKey("media_entry.id", ondelete="SET NULL"), nullable=True,
                                               index=True)
    created_at: Mapped[datetime] = Column(UTCDateTime, default=utcnow)


class RoomSession(db.Model):
    """One live session held in a room; a breakout room is a session with a parent session."""

    __tablename__ = "room_session"
    __table_args__ = (
        UniqueConstraint("registration_id", "external_id"),
        Index("ix_room_session_room_start", "room_id", "started_at"),
    )

    id: Mapped[int] = Column(primary_key=True)
    registration_id: Mapped[int] = _registration()
    external_id: Mapped[str] = Column(String(255))
    room_id: Mapped[int] = Column(ForeignKey("room.id", ondelete="CASCADE"))
    name: Mapped[str] = Column(String(500), default="")
    started_at: Mapped[datetime] = Column(UTCDateTime)
    ended_at: Mapped[datetime | None] = Column(UTCDateTime, nullable=True)
    host_person_id: Mapped[int | None] = _person(nullable=True)
    parent_session_id: Mapped[int | None] = Column(
        ForeignKey("room_session.id", ondelete="CASCADE"), nullable=True, index=True)
    # Who opened the breakout room (None for a main session or when the feed does not say).
    initiator_person_id: Mapped[int | None] = _person(nullable=True)
    # The session's recording as a media entry: its plays are the room's recording plays.
    recording_entry_id: Mapped[int | None] = Column(ForeignKey("media_entry.id", ondelete="SET NULL"),
                                                    nullable=True, index=True)


class BreakoutParticipant(db.Model):
    """A person assigned to a breakout room (a session with a parent), as the session event listed them."""

    __tablename__ = "breakout_participant"

    session_id: Mapped[int] = Column(ForeignKey("room_session.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = Column(ForeignKey("person.id", ondelete="CASCADE"), primary_key=True, index=True)


class Attendance(db.Model):
    """One stay in a session, from join to leave; left_at is None until the leave arrives."""

    __tablename__ = "attendance"
    __table_args__ = (
        UniqueConstraint("registration_id", "event_key"),
        Index("ix_attendance_session_joined", "session_id", "joined_at"),
    )

    id: Mapped[int] = Column(BigId, primary_key=True, autoincrement=True)
    registration_id: Mapped[int] = _registration()
    event_key: Mapped[str] = Column(String(255))
    session_id: Mapped[int] = _session()
    person_id: Mapped[int | None] = _person(nullable=True)  # None = anonymous
    joined_at: Mapped[datetime] = Column(UTCDateTime)
    left_at: Mapped[datetime | None] = Column(UTCDateTime, nullable=True)
    mode: Mapped[str] = Column(String(16))  # ATTENDANCE_MODES
    # Where and on what, enriched at ingest from the join's ip and user agent (the IP is never stored).
    device_type: Mapped[str] = Column(String(16), default="other", server_default="other")
    os: Mapped[str | None] = Column(String(64), nullable=True)
    browser: Mapped[str | None] = Column(String(64), nullable=True)
    country: Mapped[str | None] = Column(String(2), nullable=True)
    region: Mapped[str | None] = Column(String(128), nullable=True)
    city: Mapped[str | None] = Column(String(128), nullable=True)


class EngagementSample(SessionFact, db.Model):
    """A viewer's player state over one sampling interval of live playback."""

    __tablename__ = "engagement_sample"

    interval_seconds: Mapped[float] = Column(Float)
    sound_on: Mapped[bool] = Column(Boolean)
    tab_focused: Mapped[bool] = Column(Boolean)
    full_screen: Mapped[bool] = Column(Boolean)
    # engagement_level() of the three flags, stored so dashboards group by it.
    level: Mapped[str] = Column(String(8))


def _seconds():
    # Exact sums (each sample's seconds as PostgreSQL converts a double to numeric), so adding samples in
    # any order, or all at once in a rebuild, gives the same total. Read as floats.
    return Column(Numeric(asdecimal=False), default=0, server_default="0")


class RoomMinute(db.Model):
    """Rollup of a session's engagement samples per minute, kept at ingest (`ingest.room_rollups`).

    A sample belongs to the minute its interval starts in; `minute` counts whole minutes since
    1970-01-01 UTC. Rows with no sample left are deleted, so the rollup equals one rebuilt from the
    samples."""

    __tablename__ = "room_minute"

    session_id: Mapped[int] = Column(ForeignKey("room_session.id", ondelete="CASCADE"), primary_key=True)
    minute: Mapped[int] = Column(BigInteger, primary_key=True)
    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"), index=True)
    samples: Mapped[int] = Column(Integer, default=0)
    sampled_seconds: Mapped[float] = _seconds()
    engaged_seconds: Mapped[float] = _seconds()   # at the high or good level


class RoomPerson(db.Model):
    """Rollup of a session's engagement samples per person, kept at ingest like RoomMinute."""

    __tablename__ = "room_person"

    session_id: Mapped[int] = Column(ForeignKey("room_session.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = Column(ForeignKey("person.id", ondelete="CASCADE"), primary_key=True, index=True)
    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"), index=True)
    samples: Mapped[int] = Column(Integer, default=0)
    sampled_seconds: Mapped[float] = _seconds()
    engaged_seconds: Mapped[float] = _seconds()


class Reaction(db.Model):
    """A reaction click; throttled ones are kept but not counted (see ingest.rooms.throttle)."""

    __tablename__ = "reaction"
    __table_args__ = (
        UniqueConstraint("registration_id", "event_key"),
        Index("ix_reaction_session_at", "session_id", "at"),
        Index("ix_reaction_session_person", "session_id", "person_id", "at"),
    )

    id: Mapped[int] = Column(BigId, primary_key=True, autoincrement=True)
    registration_id: Mapped[int] = _registration()
    event_key: Mapped[str] = Column(String(255))
    session_id: Mapped[int] = _session()
    person_id: Mapped[int] = Column(ForeignKey("person.id", ondelete="CASCADE"))
    at: Mapped[datetime] = Column(UTCDateTime)
    kind: Mapped[str] = Column(String(8))  # REACTION_KINDS
    throttled: Mapped[bool] = Column(Boolean, default=False)


class ChatMessage(SessionFact, db.Model):
    """A group chat message. The text is kept for transcripts."""

    __tablename__ = "chat_message"

    text: Mapped[str] = Column(Text)
    # The event id of the message this one answers, as the feed sent it.
    reply_to: Mapped[str | None] = Column(String(255), nullable=True)
    likes: Mapped[int] = Column(Integer, default=0)
    deleted: Mapped[bool] = Column(Boolean, default=False)
    # Where in the room it was written, e.g. "breakout" or "qa"; None for the main group chat.
    sub_context: Mapped[str | None] = Column(String(64), nullable=True)


class RoomMessage(SessionFact, db.Model):
    """A moderator or private message; person_id is its sender."""

    __tablename__ = "room_message"

    kind: Mapped[str] = Column(String(16))  # MESSAGE_KINDS
    recipient_person_id: Mapped[int | None] = _person(nullable=True)
    # Who started the conversation the message belongs to, when the feed says.
    creator_person_id: Mapped[int | None] = _person(nullable=True)
    text: Mapped[str] = Column(Text)
    # As the feed words it, e.g. "sent", "read", "answered".
    state: Mapped[str | None] = Column(String(32), nullable=True)
    labels: Mapped[list] = Column(JSONType, default=list)
    # The other party is outside the organization or room: "external" sent/received counts.
    external: Mapped[bool] = Column(Boolean, default=False)


class ChatConnection(SessionFact, db.Model):
    """A person connecting to the session's chat."""

    __tablename__ = "chat_connection"


class QaThread(SessionFact, db.Model):
    """A Q&A thread a person opened, with its state and the moderator who owns it."""

    __tablename__ = "qa_thread"

    state: Mapped[str] = Column(String(16))  # QA_STATES
    owner_person_id: Mapped[int | None] = _person(nullable=True)


class RaisedHand(SessionFact, db.Model):
    __tablename__ = "raised_hand"


class Interaction(db.Model):
    """A launched poll, quiz question, rating scale, open question or crowd vote."""

    __tablename__ = "interaction"
    __table_args__ = (
        UniqueConstraint("registration_id", "external_id"),
        Index("ix_interaction_session_launched", "session_id", "launched_at"),
    )

    id: Mapped[int] = Column(primary_key=True)
    registration_id: Mapped[int] = _registration()
    external_id: Mapped[str] = Column(String(255))
    session_id: Mapped[int] = _session()
    launched_at: Mapped[datetime] = Column(UTCDateTime)
    kind: Mapped[str] = Column(String(16))  # INTERACTION_KINDS
    question: Mapped[str] = Column(Text)
    # The possible answers in the order shown; [] for an open question.
    options: Mapped[list] = Column(JSONType, default=list)
    # The right answer of a quiz question (one of options); None for every other kind.
    correct_option: Mapped[str | None] = Column(String(500), nullable=True)


class InteractionAnswer(db.Model):
    """One person's answer: an option, or free text for an open question."""

    __tablename__ = "interaction_answer"
    __table_args__ = (
        UniqueConstraint("registration_id", "event_key"),
        Index("ix_interaction_answer_interaction_at", "interaction_id", "at"),
    )

    id: Mapped[int] = Column(BigId, primary_key=True, autoincrement=True)
    registration_id: Mapped[int] = _registration()
    event_key: Mapped[str] = Column(String(255))
    interaction_id: Mapped[int] = Column(ForeignKey("interaction.id", ondelete="CASCADE"))
    person_id: Mapped[int] = _person()
    at: Mapped[datetime] = Column(UTCDateTime)
    option: Mapped[str | None] = Column(String(500), nullable=True)
    text: Mapped[str | None] = Column(Text, nullable=True)


class AttachmentDownload(SessionFact, db.Model):
    __tablename__ = "attachment_download"

    name: Mapped[str] = Column(String(500))


class Rsvp(db.Model):
    """A registration for a room's sessions, with what the form asked."""

    __tablename__ = "rsvp"
    __table_args__ = (
        UniqueConstraint("registration_id", "event_key"),
        Index("ix_rsvp_room_at", "room_id", "at"),
    )

    id: Mapped[int] = Column(BigId, primary_key=True, autoincrement=True)
    registration_id: Mapped[int] = _registration()
    event_key: Mapped[str] = Column(String(255))
    room_id: Mapped[int] = Column(ForeignKey("room.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = _person(nullable=True)
    at: Mapped[datetime] = Column(UTCDateTime)
    name: Mapped[str] = Column(String(255))
    title: Mapped[str | None] = Column(String(255), nullable=True)
    company: Mapped[str | None] = Column(String(255), nullable=True)
    email: Mapped[str | None] = Column(String(255), nullable=True)
    country: Mapped[str | None] = Column(String(2), nullable=True)
    role: Mapped[str | None] = Column(String(255), nullable=True)
    industry: Mapped[str | None] = Column(String(255), nullable=True)
