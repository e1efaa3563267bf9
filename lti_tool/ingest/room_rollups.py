"""The room rollups (`RoomMinute`, `RoomPerson`): a session's engagement samples summed per minute and
per person, kept in the transaction that stores or changes the samples.

Exactly once: ingest adds only the samples its INSERT … ON CONFLICT DO NOTHING returned (a re-sent
event returns nothing), and a sample that changes (a late Kava beacon moves a VIEW's seconds) is taken
out with its old values and added back with its new ones. Sums are exact numerics, so the order the
samples arrive in does not matter: the rollups always equal `rebuild_room_rollups` from the samples.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Numeric, case, cast, delete, func, literal, select, true
from sqlalchemy.orm import Session

from lti_tool.analytics.buckets import epoch_minute
from lti_tool.analytics.rooms import ENGAGED_LEVELS   # the live engagement rate's numerator
from lti_tool.models import EngagementSample, RoomMinute, RoomPerson

from .pipeline import _chunks, _insert


def _sums(sign: int):
    seconds = cast(EngagementSample.interval_seconds, Numeric)
    engaged = case((EngagementSample.level.in_(ENGAGED_LEVELS), seconds), else_=literal(0, Numeric))
    return (func.count(EngagementSample.id) * sign, func.sum(seconds) * sign, func.sum(engaged) * sign)


def _keys(session: Session):
    """(rollup table, its key column name, the samples' expression for that key)."""
    minute = epoch_minute(EngagementSample.at, EngagementSample.interval_seconds, session.get_bind().dialect.name)
    return ((RoomMinute, "minute", minute), (RoomPerson, "person_id", EngagementSample.person_id))


def _add(session: Session, where, sign: int) -> None:
    """Add (sign 1) or take out (sign -1) the samples matching `where` to both rollups."""
    for table, key, expression in _keys(session):
        rows = (select(EngagementSample.session_id, expression, EngagementSample.registration_id, *_sums(sign))
                .where(where).group_by(EngagementSample.session_id, expression, EngagementSample.registration_id)
                .order_by(EngagementSample.session_id, expression))   # one lock order for concurrent batches
        statement = _insert(table).from_select(
            ["session_id", key, "registration_id", "samples", "sampled_seconds", "engaged_seconds"], rows)
        session.execute(statement.on_conflict_do_update(
            index_elements=["session_id", key],
            set_={name: getattr(table, name) + getattr(statement.excluded, name)
                  for name in ("samples", "sampled_seconds", "engaged_seconds")}))
        if sign < 0:
            session.execute(delete(table).where(table.samples <= 0))


def add_samples(session: Session, sample_ids: Iterable[int]) -> None:
    """Count newly stored samples (by id) in the rollups."""
    for chunk in _chunks(sorted(set(sample_ids))):
        _add(session, EngagementSample.id.in_(chunk), 1)


def remove_samples(session: Session, sample_ids: Iterable[int]) -> None:
    """Take samples (by id, as they are stored now) out of the rollups, before they change or go."""
    for chunk in _chunks(sorted(set(sample_ids))):
        _add(session, EngagementSample.id.in_(chunk), -1)


def stand_in_dropped(session: Session, person_id: int) -> None:
    """A person is about to be deleted (their room facts go with them): their samples leave the rollups."""
    remove_samples(session, session.scalars(select(EngagementSample.id).where(EngagementSample.person_id == person_id)))


def rebuild_room_rollups(session: Session, registration_id: int | None = None) -> dict[str, int]:
    """Empty the room rollups (of one registration, or all) and fill them again from the engagement
    samples. Returns the rows written per table. The caller commits."""
    for table in (RoomMinute, RoomPerson):
        session.execute(delete(table).where(true() if registration_id is None
                                            else table.registration_id == registration_id))
    _add(session, true() if registration_id is None else EngagementSample.registration_id == registration_id, 1)
    counts = {}
    for table in (RoomMinute, RoomPerson):
        query = select(func.count()).select_from(table)
        if registration_id is not None:
            query = query.where(table.registration_id == registration_id)
        counts[table.__tablename__] = session.scalar(query)
    return counts
