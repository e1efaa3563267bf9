"""Player streams: events that say which play they belong to only when read together.

A Kava session's beacons about one media, an xAPI session's statements about one video, a Caliper
session's events about one media object: each is a *stream*. Which play an event of a stream
belongs to, how many seconds a Kava VIEW adds, which played-segments an xAPI statement adds and
where a Caliper jump starts depend on the stream's other events. They are worked out from the
whole stream as stored, never from the order in which its events arrived: delivered in any order,
repeated, delayed or split across batches, a stream ends with the same assignment.

The pipeline calls `assign` with a batch's new event rows before inserting them. It reads what is
stored of the batch's streams, runs the feed's assigner over stored + new events, fills in the new
rows and updates the stored rows whose assignment changed (a late PLAY can split a play, a late
VIEW changes the seconds of the next). Concurrent batches of one entry run one after the other
(`pipeline.resolve_entries` locks the entry), and a stream never spans entries.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import select, update

from lti_tool.extensions import db
from lti_tool.models import PlayerEvent

from . import retention

# The columns an assigner may set; any other column of an event is what its sender said.
ASSIGNED = ("event_type", "play_key", "seconds_viewed", "segments", "position", "seq")
CHUNK = 500


@dataclass(frozen=True)
class StreamEvent:
    """One event of a stream, as an assigner reads it: what was sent, never what was assigned."""

    key: str
    occurred_at: datetime
    position: float | None        # as sent (a Caliper jump sends none)
    seek_to: float | None
    reported: dict                # the feed's own facts (Kava event, index, playTimeSum; xAPI verb, ...)


# (stream key, its events) -> {event key: {assigned column: value}}; every event gets an entry.
Assigner = Callable[[str, list[StreamEvent]], dict[str, dict]]


def _assigners() -> dict[str, Assigner]:
    from . import caliper, kava, xapi  # they import the pipeline, which imports this module

    return {kava.SOURCE: kava.assign_stream, "xapi": xapi.assign_stream, "caliper": caliper.assign_stream}


def _after_reassign() -> dict[str, Callable[[int, list[dict]], None]]:
    from . import kava

    return {kava.SOURCE: kava.after_reassign}


@dataclass
class _Stored:
    id: int
    source: str
    play_key: str | None
    assigned: dict
    event: StreamEvent


def assign(registration_id: int, rows: list[dict]) -> set[str]:
    """Fill in the assigned columns of new event rows that belong to a stream, and update stored
    events of their streams whose assignment changed. Returns the play keys that stored events left
    or joined (their plays must be derived again, besides the new rows' own)."""
    new_by_stream: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if row.get("stream_key"):
            new_by_stream[row["stream_key"]].append(row)
    for stream_key in retention.cut_streams(registration_id, set(new_by_stream)):
        # Part of it was dropped by retention: its new events are stored as sent and join no play.
        del new_by_stream[stream_key]
    if not new_by_stream:
        return set()
    stored = _stored(registration_id, sorted(new_by_stream))
    assigners = _assigners()
    updates: dict[str, list[dict]] = defaultdict(list)
    touched: set[str] = set()
    for stream_key, new_rows in new_by_stream.items():
        old = stored.get(stream_key, {})
        fresh = [row for row in new_rows if row["event_key"] not in old]  # the rest are duplicates
        if not fresh:
            continue
        source = fresh[0]["source"]
        events = [s.event for s in old.values()] + [_stream_event(row) for row in fresh]
        assignment = assigners[source](stream_key, events)
        for row in fresh:
            row.update(assignment[row["event_key"]])
        for key, before in old.items():
            after = assignment[key]
            if any(before.assigned.get(column) != value for column, value in after.items()):
                updates[before.source].append({"id": before.id, **after})
                touched |= {before.play_key, after.get("play_key", before.play_key)}
    hooks = _after_reassign()
    for source, changed in updates.items():
        db.session.execute(update(PlayerEvent).execution_options(synchronize_session=False), changed)
        if source in hooks:
            hooks[source](registration_id, changed)
    touched.discard(None)
    return touched


def reassign_all(registration_id: int, stream_keys: set[str]) -> set[str]:
    """Assign the given streams again from what is stored (after a change of the rules, or for
    `flask analytics rebuild`); returns the play keys touched. A stream cut by retention keeps what
    it was assigned."""
    stored = _stored(registration_id, sorted(set(stream_keys) - retention.cut_streams(registration_id, stream_keys)))
    assigners = _assigners()
    touched: set[str] = set()
    for stream_key, old in stored.items():
        first = next(iter(old.values()))
        assignment = assigners[first.source](stream_key, [s.event for s in old.values()])
        changed = []
        for key, before in old.items():
            after = assignment[key]
            if any(before.assigned.get(column) != value for column, value in after.items()):
                changed.append({"id": before.id, **after})
                touched |= {before.play_key, after.get("play_key", before.play_key)}
        if changed:
            db.session.execute(update(PlayerEvent).execution_options(synchronize_session=False), changed)
            hook = _after_reassign().get(first.source)
            if hook:
                hook(registration_id, changed)
    touched.discard(None)
    return touched


def _stored(registration_id: int, stream_keys: list[str]) -> dict[str, dict[str, _Stored]]:
    """Stored events of the streams: stream key -> event key -> what was sent and what was assigned."""
    found: dict[str, dict[str, _Stored]] = defaultdict(dict)
    for start in range(0, len(stream_keys), CHUNK):
        chunk = stream_keys[start:start + CHUNK]
        for row in db.session.execute(
                select(PlayerEvent.id, PlayerEvent.event_key, PlayerEvent.source, PlayerEvent.stream_key,
                       PlayerEvent.occurred_at, PlayerEvent.seek_to, PlayerEvent.reported,
                       *[getattr(PlayerEvent, column) for column in ASSIGNED])
                .where(PlayerEvent.registration_id == registration_id, PlayerEvent.stream_key.in_(chunk))):
            reported = row.reported or {}
            event = StreamEvent(key=row.event_key, occurred_at=row.occurred_at,
                                position=reported.get("position", row.position), seek_to=row.seek_to,
                                reported=reported)
            found[row.stream_key][row.event_key] = _Stored(
                id=row.id, source=row.source, play_key=row.play_key,
                assigned={column: getattr(row, column) for column in ASSIGNED}, event=event)
    return found


def _stream_event(row: dict) -> StreamEvent:
    reported = row.get("reported") or {}
    return StreamEvent(key=row["event_key"], occurred_at=row["occurred_at"],
                       position=reported.get("position", row["position"]), seek_to=row["seek_to"],
                       reported=reported)
