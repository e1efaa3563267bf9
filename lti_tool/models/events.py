"""Facts: raw player events (append-only, idempotent), and what is derived from them.

Dashboards read the derived tables (plays, player loads, local-day rollups), never raw events.

On PostgreSQL raw events are partitioned by month of `occurred_at` (ingest/partitions.py), so
`flask analytics retention` can drop old months whole. A partitioned table's unique constraints must
hold the partition key, and a feed's `occurred_at` is not always a function of the event's key (a
Kava beacon without its own time takes the time it arrived), so which keys were accepted is kept in
`player_event_key`, unpartitioned and never dropped: a re-sent event is a duplicate whenever it
comes back.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, Integer, String, UniqueConstraint, event
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.dialects.postgresql import BIT
from sqlalchemy.orm import Mapped
from sqlalchemy.schema import CreateTable

from .types import Column, JSONType, UTCDateTime, db, utcnow

# SQLite only auto-increments INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class IngestToken(db.Model):
    """A bearer token a server uses to send events or read reports for one registration."""

    __tablename__ = "ingest_token"

    id: Mapped[int] = Column(primary_key=True)
    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = Column(String(100), default="")
    token_hash: Mapped[str] = Column(String(64), unique=True)
    prefix: Mapped[str] = Column(String(12))
    created_at: Mapped[datetime] = Column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = Column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = Column(UTCDateTime, nullable=True)


class _Dimensions:
    """Where and on what: enriched at ingest. The client IP is never stored."""

    playback_type: Mapped[str] = Column(String(8), default="vod")
    context_category_id: Mapped[int | None] = Column(
        ForeignKey("category.id", ondelete="SET NULL"), nullable=True)
    url: Mapped[str | None] = Column(String(1000), nullable=True)
    domain: Mapped[str | None] = Column(String(255), nullable=True)
    device_type: Mapped[str] = Column(String(16), default="other")
    os: Mapped[str | None] = Column(String(64), nullable=True)
    browser: Mapped[str | None] = Column(String(64), nullable=True)
    country: Mapped[str | None] = Column(String(2), nullable=True)
    region: Mapped[str | None] = Column(String(128), nullable=True)
    city: Mapped[str | None] = Column(String(128), nullable=True)


class PlayerEventKey(db.Model):
    """The key of every event accepted (registration_id, event_key): a re-sent event is a duplicate,
    also after retention dropped its raw row."""

    __tablename__ = "player_event_key"

    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"), primary_key=True)
    event_key: Mapped[str] = Column(String(255), primary_key=True)


class PlayerEvent(_Dimensions, db.Model):
    """One accepted player event; its key is in PlayerEventKey (stored once, whatever its time)."""

    __tablename__ = "player_event"
    __table_args__ = (
        Index("ix_player_event_play", "registration_id", "play_key"),
        Index("ix_player_event_stream", "registration_id", "stream_key"),
        # Not unique (player_event_key is): finds the rows of the keys a batch just stored (their player
        # loads, a beacon's engagement sample) without reading every partition.
        Index("ix_player_event_key", "registration_id", "event_key"),
        # PostgreSQL: a table partitioned by month; its primary key is (id, occurred_at) there.
        {"postgresql_partition_by": "RANGE (occurred_at)", "info": {"partition_key": "occurred_at"}},
    )

    id: Mapped[int] = Column(BigId, primary_key=True, autoincrement=True)
    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"))
    event_key: Mapped[str] = Column(String(255))
    source: Mapped[str] = Column(String(16))
    event_type: Mapped[str] = Column(String(16))
    occurred_at: Mapped[datetime] = Column(UTCDateTime)
    received_at: Mapped[datetime] = Column(UTCDateTime, default=utcnow)
    entry_id: Mapped[int] = Column(ForeignKey("media_entry.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = Column(ForeignKey("person.id", ondelete="SET NULL"), nullable=True, index=True)
    play_key: Mapped[str | None] = Column(String(255), nullable=True)
    load_key: Mapped[str | None] = Column(String(255), nullable=True)
    seq: Mapped[int] = Column(Integer, default=0)
    position: Mapped[float | None] = Column(Float, nullable=True)
    seconds_viewed: Mapped[float | None] = Column(Float, nullable=True)
    segments: Mapped[list | None] = Column(JSONType, nullable=True)
    seek_to: Mapped[float | None] = Column(Float, nullable=True)
    extra: Mapped[dict | None] = Column(JSONType, nullable=True)
    # Events of one player stream (a Kava session's media, an xAPI or Caliper session's video) are
    # assigned to plays together, from everything stored of the stream (see ingest/streams.py).
    stream_key: Mapped[str | None] = Column(String(255), nullable=True)
    # What the sender reported that the stream assignment reads (Kava playTimeSum, xAPI verb and
    # played-segments, Caliper action), kept as sent.
    reported: Mapped[dict | None] = Column(JSONType, nullable=True)


@compiles(CreateTable, "postgresql")
def _create_partitioned(element, compiler, **kw):
    """A partitioned table's primary key holds its partition key (PostgreSQL only; SQLite keeps an
    INTEGER PRIMARY KEY, the only kind it auto-increments)."""
    text = compiler.visit_create_table(element, **kw)
    key = element.element.info.get("partition_key")
    if key:
        text = text.replace("PRIMARY KEY (id)", f"PRIMARY KEY (id, {key})")
    return text


@event.listens_for(PlayerEvent.__table__, "after_create")
def _first_partitions(target, connection, **kw):
    from lti_tool.ingest.partitions import create_ahead  # PostgreSQL only; it reads no model

    create_ahead(connection)


class RawRetention(db.Model):
    """Up to when a registration's raw events were dropped (`flask analytics retention`): events from
    before `kept_from` are no longer stored, so plays that started before it are kept as they are
    and events from before it are not accepted."""

    __tablename__ = "raw_retention"

    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"), primary_key=True)
    kept_from: Mapped[datetime] = Column(UTCDateTime)
    updated_at: Mapped[datetime] = Column(UTCDateTime, default=utcnow)


class CutStream(db.Model):
    """A player stream some of whose raw events retention dropped while others are kept: its
    assignment is never worked out again (from part of it, it would come out different)."""

    __tablename__ = "cut_stream"

    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"), primary_key=True)
    stream_key: Mapped[str] = Column(String(255), primary_key=True)


class PlayerLoad(_Dimensions, db.Model):
    """One player impression (a player loaded with an entry)."""

    __tablename__ = "player_load"
    __table_args__ = (
        UniqueConstraint("registration_id", "load_key"),
        Index("ix_player_load_entry_time", "entry_id", "occurred_at"),
    )

    id: Mapped[int] = Column(BigId, primary_key=True, autoincrement=True)
    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"))
    load_key: Mapped[str] = Column(String(255))
    entry_id: Mapped[int] = Column(ForeignKey("media_entry.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = Column(ForeignKey("person.id", ondelete="SET NULL"), nullable=True, index=True)
    occurred_at: Mapped[datetime] = Column(UTCDateTime)


class Play(_Dimensions, db.Model):
    """One play (first frame to the end of that viewing), derived from its events by derive.derive_play."""

    __tablename__ = "play"
    __table_args__ = (
        UniqueConstraint("registration_id", "play_key"),
        Index("ix_play_entry_time", "entry_id", "started_at"),
    )

    id: Mapped[int] = Column(BigId, primary_key=True, autoincrement=True)
    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"))
    play_key: Mapped[str] = Column(String(255))
    entry_id: Mapped[int] = Column(ForeignKey("media_entry.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = Column(ForeignKey("person.id", ondelete="SET NULL"), nullable=True, index=True)
    source: Mapped[str] = Column(String(16))
    started_at: Mapped[datetime] = Column(UTCDateTime)
    last_event_at: Mapped[datetime] = Column(UTCDateTime)
    seconds_viewed: Mapped[float] = Column(Float, default=0.0)
    # Merged watched intervals in seconds, [[start, end], ...].
    segments: Mapped[list] = Column(JSONType, default=list)
    # 101 characters, "1" where that percentile (0-100) was watched; None while the duration is unknown.
    percentiles: Mapped[str | None] = Column(String(101), nullable=True)
    percentile_count: Mapped[int] = Column(Integer, default=0)
    # Quartile events (25/50/75/100) reached in this play, 0-4, for avg. drop-off.
    quartile_events: Mapped[int] = Column(Integer, default=0)
    highest_quartile: Mapped[int] = Column(Integer, default=0)
    reached_end: Mapped[bool] = Column(default=False)


class RollupZone(db.Model):
    """A time zone whose local-day rollups a registration keeps (built on its first use, then kept at
    ingest; see ingest/rollups.py). `ready` is false while it is being built."""

    __tablename__ = "rollup_zone"

    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"), primary_key=True)
    zone: Mapped[str] = Column(String(64), primary_key=True)
    ready: Mapped[bool] = Column(default=False)
    built_at: Mapped[datetime | None] = Column(UTCDateTime, nullable=True)


# A play's watched percentiles as a bit string (bit_or of several is what they covered together).
Watched = BIT(101, varying=True).with_variant(String(101), "sqlite")


class PlayRollup(_Dimensions, db.Model):
    """Plays and player loads summed per local day (grain "d") or local month (grain "m", `day` its first
    day) of one time zone, per entry, viewer and every dimension a page filters or groups by: any
    filter and grouping of `metrics.Scope` reads these rows as it reads plays, exactly (ingest/rollups.py)."""

    __tablename__ = "play_rollup"
    __table_args__ = (
        Index("ix_play_rollup_read", "registration_id", "zone", "grain", "day"),
        Index("ix_play_rollup_entry", "entry_id", "zone", "grain", "day"),
    )

    id: Mapped[int] = Column(BigId, primary_key=True, autoincrement=True)
    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"))
    zone: Mapped[str] = Column(String(64))
    grain: Mapped[str] = Column(String(1))
    day: Mapped[date] = Column(Date)
    entry_id: Mapped[int] = Column(ForeignKey("media_entry.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = Column(ForeignKey("person.id", ondelete="SET NULL"), nullable=True)
    impressions: Mapped[int] = Column(Integer, default=0)
    plays: Mapped[int] = Column(Integer, default=0)
    seconds_viewed: Mapped[float] = Column(Float, default=0.0)
    capped_percentiles: Mapped[int] = Column(Integer, default=0)
    quartile_events: Mapped[int] = Column(Integer, default=0)
    completed_plays: Mapped[int] = Column(Integer, default=0)
    reached_25: Mapped[int] = Column(Integer, default=0)    # plays whose highest quartile is at least 25
    reached_50: Mapped[int] = Column(Integer, default=0)
    reached_75: Mapped[int] = Column(Integer, default=0)
    reached_100: Mapped[int] = Column(Integer, default=0)
    watched: Mapped[str | None] = Column(Watched, nullable=True)   # bit_or of the plays' percentiles
    last_played_at: Mapped[datetime | None] = Column(UTCDateTime, nullable=True)
    last_viewed_at: Mapped[datetime | None] = Column(UTCDateTime, nullable=True)
    last_loaded_at: Mapped[datetime | None] = Column(UTCDateTime, nullable=True)
