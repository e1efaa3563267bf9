"""Retention of raw player events: `flask analytics retention --keep-raw-months N`.

Raw events of the months before the last N whole months (and the current one) are dropped: on
PostgreSQL whole monthly partitions of `player_event` (and the same months' rows of its DEFAULT
partition); for one registration (`--registration`), or on SQLite, that registration's rows.
Plays, player loads and rollups are derived data and stay, so every page keeps its numbers.

What was dropped must never be derived again from what is left:
- each registration remembers `kept_from` (RawRetention): a play that started before it is kept
  as it is by the pipeline and by `flask analytics rebuild`, which also keeps the loads and daily
  rollups from before it;
- a player stream with events on both sides of the cut is recorded (CutStream) and never assigned
  again: its late events are stored as sent and join no play;
- an event from before `kept_from` that arrives late is not stored (counted as ignored), and the
  key of every event ever accepted stays in player_event_key, so a re-sent event of any age is a
  duplicate.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import delete, exists, select, text
from sqlalchemy.orm import aliased

from lti_tool.extensions import db
from lti_tool.models import CutStream, Play, PlayerEvent, RawRetention

from . import partitions

CHUNK = 500


def kept_from(registration_id: int) -> datetime | None:
    """The instant before which this registration's raw events were dropped, None if never."""
    return db.session.scalar(select(RawRetention.kept_from).where(RawRetention.registration_id == registration_id))


def without_kept_plays(registration_id: int, play_keys: list[str], since: datetime) -> list[str]:
    """The play keys less those of plays that started before `since` (kept as they are)."""
    kept = set(db.session.scalars(select(Play.play_key).where(
        Play.registration_id == registration_id, Play.play_key.in_(play_keys), Play.started_at < since)))
    return [key for key in play_keys if key not in kept]


def cut_streams(registration_id: int, stream_keys) -> set[str]:
    """Which of these streams lost part of their events to retention."""
    keys = sorted(stream_keys)
    found: set[str] = set()
    for start in range(0, len(keys), CHUNK):
        found |= set(db.session.scalars(select(CutStream.stream_key).where(
            CutStream.registration_id == registration_id, CutStream.stream_key.in_(keys[start:start + CHUNK]))))
    return found


def cutoff(keep_months: int, now: datetime | None = None) -> datetime:
    """The first instant kept: the start of the month `keep_months` before the current one (UTC)."""
    month = partitions.add_months(partitions.month_of(now or datetime.now(timezone.utc)), -keep_months)
    return datetime(month.year, month.month, 1, tzinfo=timezone.utc)


def run(keep_months: int, registration_id: int | None = None, now: datetime | None = None) -> dict:
    """Drop raw events before `cutoff(keep_months)`; plays, loads and rollups stay. Commits."""
    from lti_tool.models import Registration
    from .pipeline import _insert

    start = cutoff(keep_months, now)
    ids = [registration_id] if registration_id else list(db.session.scalars(select(Registration.id)))
    earlier = aliased(PlayerEvent)
    cut = 0
    for reg_id in ids:
        straddling = db.session.scalars(select(PlayerEvent.stream_key).distinct().where(
            PlayerEvent.registration_id == reg_id, PlayerEvent.occurred_at >= start, PlayerEvent.stream_key.isnot(None),
            exists().where(earlier.registration_id == reg_id, earlier.stream_key == PlayerEvent.stream_key,
                           earlier.occurred_at < start))).all()
        for index in range(0, len(straddling), CHUNK):
            db.session.execute(_insert(CutStream).values([
                {"registration_id": reg_id, "stream_key": key} for key in straddling[index:index + CHUNK]
            ]).on_conflict_do_nothing())
        cut += len(straddling)
        mark = db.session.get(RawRetention, reg_id)
        if mark is None:
            db.session.add(RawRetention(registration_id=reg_id, kept_from=start))
        elif mark.kept_from < start:
            mark.kept_from, mark.updated_at = start, datetime.now(timezone.utc)
    db.session.flush()
    connection = db.session.connection()
    dropped: list[str] = []
    if connection.dialect.name == "postgresql" and registration_id is None:
        first_month = partitions.month_of(start)
        for name, month in sorted(partitions.partitions(connection).items()):
            if month is not None and month < first_month:
                connection.execute(text(f"DROP TABLE {name}"))
                dropped.append(name)
        deleted = connection.execute(text(f"DELETE FROM {partitions.DEFAULT} WHERE occurred_at < :start"),
                                     {"start": start.replace(tzinfo=None)}).rowcount
        partitions.create_ahead(connection, now)
        partitions.forget()
    else:
        deleted = db.session.execute(delete(PlayerEvent).where(
            PlayerEvent.registration_id.in_(ids), PlayerEvent.occurred_at < start)
            .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return {"kept_from": start, "partitions_dropped": dropped, "rows_deleted": deleted, "streams_cut": cut,
            "registrations": len(ids)}

