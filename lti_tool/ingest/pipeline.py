"""Accepting a batch of IncomingEvents: all or nothing, exactly once, enriched, derived at once.

One transaction: entries, categories and people are resolved (created when unknown), events of a
player stream are assigned to plays from everything stored of their stream (`streams.assign`),
events are inserted with ON CONFLICT DO NOTHING on (registration, event_key) so a re-sent event is
a duplicate, and the plays, player loads and daily rollups they touch are derived again from their
events before the commit, so an accepted event is visible to queries as soon as the call returns.
The format whose events these are may take a step of its own in the same transaction (its
`after_accept` in ingest/formats.py: Kava's VIEWs of a live room become engagement samples), so no
caller has to remember it.
"""
from __future__ import annotations

import json
import operator
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator

from flask import current_app
from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from lti_tool.extensions import db
from lti_tool.models import Category, MediaEntry, Play, PlayerEvent, PlayerEventKey, PlayerLoad

from . import partitions, people, retention, rollups, streams
from .derive import derive_play
from .enrich import Location, device_info, locate, page_info
from .schema import IncomingEvent

CHUNK = 500


@dataclass
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    ignored: int = 0
    play_keys: set = field(default_factory=set)        # plays whose events changed
    impression_days: set = field(default_factory=set)  # (entry id, UTC day) of new impressions

    def as_dict(self) -> dict:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "ignored": self.ignored}


def _insert(model):
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def _chunks(items: list, size: int = CHUNK):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def resolve_entries(registration_id: int, events: list[IncomingEvent]) -> dict[str, MediaEntry]:
    """Entries by external id, locked for this transaction; an unknown entry is created, marked as
    not described by the catalog.

    Creating is INSERT … ON CONFLICT DO NOTHING, so concurrent first events of a new entry are
    fine; the row lock (PostgreSQL; SQLite has one writer anyway) makes concurrent batches of one
    entry derive its plays and rollups one after the other, each from committed data.
    """
    wanted = sorted({e.entry for e in events})
    for chunk in _chunks(wanted):
        db.session.execute(_insert(MediaEntry).values([
            {"registration_id": registration_id, "external_id": external_id, "described": False, "name": "",
             "media_type": "video", "tags": [], "created_at": datetime.now(timezone.utc),
             "updated_at": datetime.now(timezone.utc)} for external_id in chunk
        ]).on_conflict_do_nothing(index_elements=["registration_id", "external_id"]))
    entries: dict[str, MediaEntry] = {}
    for chunk in _chunks(wanted):
        query = (select(MediaEntry).where(MediaEntry.registration_id == registration_id,
                                          MediaEntry.external_id.in_(chunk))
                 .order_by(MediaEntry.id).with_for_update().execution_options(populate_existing=True))
        entries.update({entry.external_id: entry for entry in db.session.scalars(query)})
    for event in events:
        entry = entries[event.entry]
        if not entry.described:
            # What feeds say about an entry only fills gaps until the catalog describes it.
            if event.duration and not entry.duration_seconds:
                entry.duration_seconds = event.duration
            if event.entry_name and not entry.name:
                entry.name = event.entry_name[:500]
            if event.media_type and entry.media_type != event.media_type:
                entry.media_type = event.media_type
    db.session.flush()
    return entries


def resolve_categories(registration_id: int, external_ids: set[str]) -> dict[str, int]:
    """Category ids by external id; unknown categories are created (concurrency-safe)."""
    if not external_ids:
        return {}
    db.session.execute(_insert(Category).values([
        {"registration_id": registration_id, "external_id": external_id, "name": "", "kind": "channel",
         "created_at": datetime.now(timezone.utc)} for external_id in sorted(external_ids)
    ]).on_conflict_do_nothing(index_elements=["registration_id", "external_id"]))
    rows = db.session.execute(select(Category.external_id, Category.id).where(
        Category.registration_id == registration_id, Category.external_id.in_(external_ids)))
    return dict(rows.all())


def _dimensions(event: IncomingEvent, categories: dict[str, int], city_db: str | None, memo: dict) -> dict:
    """Where and on what, from the event's page URL, user agent and IP (each looked up once per batch:
    a player sends the same ones with every event, so the answer is kept by all of them at once)."""
    key = (event.page_url, event.user_agent, event.location or event.ip, event.playback_context, event.playback_type)
    found = memo.get(key)
    if found is None:
        found = memo[key] = _dimensions_of(event, categories, city_db, memo)
    return found


def _dimensions_of(event: IncomingEvent, categories: dict[str, int], city_db: str | None, memo: dict) -> dict:
    page = memo.get(("page", event.page_url)) or memo.setdefault(("page", event.page_url), page_info(event.page_url))
    device = memo.get(("ua", event.user_agent)) or memo.setdefault(("ua", event.user_agent), device_info(event.user_agent))
    # The IP is used here and nowhere else (the memo lives for this call only); a location the
    # feed already knows wins.
    if event.location:
        where = Location(*event.location)
    else:
        where = memo.get(("ip", event.ip)) or memo.setdefault(("ip", event.ip), locate(event.ip, city_db))
    return {
        "playback_type": event.playback_type,
        "context_category_id": categories.get(event.playback_context) if event.playback_context else None,
        "url": page.url, "domain": page.domain,
        "device_type": device.device_type, "os": device.os, "browser": device.browser,
        "country": where.country, "region": where.region, "city": where.city,
    }


def accept(registration_id: int, events: list[IncomingEvent], source: str, *, ignored: int = 0,
           derive: bool = True, commit: bool = True) -> BatchResult:
    """Store a validated batch exactly once and bring derived data up to date."""
    result = BatchResult(ignored=ignored)
    if not events:
        if commit:
            db.session.commit()
        return result
    kept_from = retention.kept_from(registration_id)
    if kept_from is not None and any(e.occurred_at < kept_from for e in events):
        # From a month whose raw events retention dropped: its plays are kept as they were.
        result.ignored += sum(e.occurred_at < kept_from for e in events)
        events = [e for e in events if e.occurred_at >= kept_from]
        if not events:
            if commit:
                db.session.commit()
            return result
    partitions.ensure({e.occurred_at for e in events})  # before this transaction locks anything
    city_db = current_app.config.get("GEOIP_CITY_DB")
    entries = resolve_entries(registration_id, events)
    categories = resolve_categories(registration_id, {e.playback_context for e in events if e.playback_context})
    persons = people.resolve(registration_id, {e.user for e in events if e.user})

    rows, seen, memo, of_row = [], set(), {}, {}
    received_at = datetime.now(timezone.utc)
    entry_ids = {external_id: entry.id for external_id, entry in entries.items()}
    for event in events:
        if event.key in seen:
            result.duplicates += 1
            continue
        seen.add(event.key)
        key = event.key[:255]
        of_row[key] = event
        rows.append({
            "registration_id": registration_id, "event_key": key, "source": source,
            "event_type": event.type, "occurred_at": event.occurred_at, "received_at": received_at,
            "entry_id": entry_ids[event.entry], "person_id": persons.get(event.user) if event.user else None,
            "play_key": f"{source}:{event.play}"[:255] if event.play else None,
            "load_key": f"{source}:{event.load}"[:255] if event.load else None,
            "seq": event.seq, "position": event.position, "seconds_viewed": event.seconds_viewed,
            "segments": [list(s) for s in event.segments] or None, "seek_to": event.seek_to,
            "extra": event.extra or None,
            "stream_key": event.stream[:255] if event.stream else None, "reported": event.reported,
            **_dimensions(event, categories, city_db, memo),
        })
    reassigned = streams.assign(registration_id, rows)
    keys = _insert_events(rows)
    inserted = [row for row in rows if row["event_key"] in keys]
    lost = {row["stream_key"] for row in rows if row["stream_key"] and row["event_key"] not in keys}
    if lost:
        # A key stored under another stream (a sender re-using an id): assign without the duplicate.
        reassigned |= streams.reassign_all(registration_id, lost)
    for row in inserted:
        if row["stream_key"]:  # what the stream assigned, for callers that read the events
            of_row[row["event_key"]].seconds_viewed = row["seconds_viewed"]
    result.accepted = len(inserted)
    result.duplicates += len(rows) - len(inserted)
    result.play_keys = {row["play_key"] for row in inserted if row["play_key"]} | reassigned
    impressions = [row for row in inserted if row["event_type"] == "impression"]
    result.impression_days = {(row["entry_id"], row["occurred_at"].date()) for row in impressions}
    _record_loads(registration_id, [row["event_key"] for row in impressions])
    if derive:
        derive_touched(registration_id, result.play_keys, result.impression_days)
    _after_accept(registration_id, events, source)
    if commit:
        db.session.commit()
    return result


def _after_accept(registration_id: int, events: list[IncomingEvent], source: str) -> None:
    """Run the step after accept of the format whose events were stored (after the stream assignment,
    which gives them their seconds)."""
    from .formats import after_accept  # the formats' parsers import this module

    step = after_accept(source)
    if step:
        step(registration_id, events)


def derive_touched(registration_id: int, play_keys: set[str], impression_days: set[tuple[int, object]]) -> None:
    """Derive the plays whose events changed, then the rollups of every (entry, day) they or new
    impressions touch."""
    touched = derive_plays(registration_id, play_keys) if play_keys else set()
    refresh_rollups(registration_id, touched | impression_days)


COPY_THRESHOLD = 200


def _insert_events(rows: list[dict]) -> set[str]:
    """Insert event rows, skipping keys already accepted; return the keys that were new.

    A key is new when it goes into player_event_key; only the rows of new keys go into player_event.
    Large batches on PostgreSQL first COPY their keys into player_event_key and then their rows
    straight into player_event, rows made as COPY takes them (so PostgreSQL stores the first while
    the next are made): a batch of new events, the usual case, costs about what PostgreSQL's own COPY
    costs. When a key of the batch was accepted already (a re-sent batch, a concurrent sender of the
    same events), the key table's unique key refuses the COPY, which is undone, and the batch goes
    through a temporary table and one statement inserting the new keys and their rows. Small batches
    are an INSERT … ON CONFLICT DO NOTHING RETURNING of their keys, then of their new rows.
    """
    if not rows:
        return set()
    if len(rows) < COPY_THRESHOLD or db.session.get_bind().dialect.name != "postgresql":
        statement = _insert(PlayerEventKey).on_conflict_do_nothing(
            index_elements=["registration_id", "event_key"]).returning(PlayerEventKey.event_key)
        keys = set(db.session.scalars(statement, [
            {"registration_id": row["registration_id"], "event_key": row["event_key"]} for row in rows]))
        new = [row for row in rows if row["event_key"] in keys]
        if new:
            db.session.execute(insert(PlayerEvent), new)
        return keys
    from psycopg.errors import UniqueViolation

    columns = [c.name for c in PlayerEvent.__table__.columns if c.name != "id"]
    listed = ", ".join(f'"{c}"' for c in columns)
    raw = db.session.connection().connection.driver_connection
    with raw.cursor() as cursor:
        cursor.execute("SAVEPOINT copy_events")
        try:
            with cursor.copy("COPY player_event_key (registration_id, event_key) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row((row["registration_id"], row["event_key"]))
        except UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT copy_events")
        else:
            cursor.execute("RELEASE SAVEPOINT copy_events")
            with cursor.copy(f"COPY player_event ({listed}) FROM STDIN") as copy:
                for values in _copy_rows(rows, columns):
                    copy.write_row(values)
            return {row["event_key"] for row in rows}
        cursor.execute("RELEASE SAVEPOINT copy_events")
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS incoming_event AS SELECT {listed} FROM player_event WITH NO DATA")
        cursor.execute("TRUNCATE incoming_event")
        with cursor.copy(f"COPY incoming_event ({listed}) FROM STDIN") as copy:
            for values in _copy_rows(rows, columns):
                copy.write_row(values)
        cursor.execute(
            "WITH new AS (INSERT INTO player_event_key (registration_id, event_key) "
            "SELECT registration_id, event_key FROM incoming_event ON CONFLICT DO NOTHING RETURNING event_key) "
            f"INSERT INTO player_event ({listed}) SELECT {listed} FROM incoming_event "
            "WHERE event_key IN (SELECT event_key FROM new) RETURNING event_key")
        keys = {key for (key,) in cursor.fetchall()}
        cursor.execute("TRUNCATE incoming_event")
    return keys


JSON_COLUMNS = frozenset({"segments", "extra", "reported"})
TIME_COLUMNS = frozenset({"occurred_at", "received_at"})


def _copy_rows(rows: list[dict], columns: list[str]) -> Iterator[list]:
    """The rows as COPY takes them, one by one, in the order of `columns`: times naive UTC (as the
    columns hold them), JSON as its text."""
    values_of = operator.itemgetter(*columns)
    times = [i for i, c in enumerate(columns) if c in TIME_COLUMNS]
    documents = [i for i, c in enumerate(columns) if c in JSON_COLUMNS]
    utc = timezone.utc
    for row in rows:
        values = list(values_of(row))
        for i in times:
            value = values[i]
            if value.tzinfo is not utc:
                value = value.astimezone(utc)
            values[i] = value.replace(tzinfo=None)
        for i in documents:
            if values[i] is not None:
                values[i] = json.dumps(values[i])
        yield values


DIMENSION_COLUMNS = ("playback_type", "context_category_id", "url", "domain", "device_type", "os", "browser",
                     "country", "region", "city")
LOAD_COLUMNS = ("registration_id", "load_key", "entry_id", "person_id", "occurred_at", *DIMENSION_COLUMNS)


def _record_loads(registration_id: int, impression_keys: list[str]) -> None:
    """The player loads of impressions just stored, made from their stored rows in SQL (a load's key
    is its impression's load key, else the impression's own); the first impression of a load wins."""
    for chunk in _chunks(impression_keys, 5000):
        _insert_loads(PlayerEvent.registration_id == registration_id, PlayerEvent.event_key.in_(chunk))


def _insert_loads(*where) -> None:
    """INSERT INTO player_load … SELECT from the impressions that match `where`, in the order they
    were stored, leaving loads already kept as they are."""
    db.session.execute(_insert(PlayerLoad).from_select(list(LOAD_COLUMNS), stored_impressions(*where))
                       .on_conflict_do_nothing(index_elements=["registration_id", "load_key"]))


def stored_impressions(*where):
    """The player-load columns (LOAD_COLUMNS) of the stored impressions matching `where`, in stored order."""
    return (select(PlayerEvent.registration_id, func.coalesce(PlayerEvent.load_key, PlayerEvent.event_key),
                   PlayerEvent.entry_id, PlayerEvent.person_id, PlayerEvent.occurred_at,
                   *[getattr(PlayerEvent, c) for c in DIMENSION_COLUMNS])
            .where(*where, PlayerEvent.event_type == "impression").order_by(PlayerEvent.id))


def derive_plays(registration_id: int, play_keys: set[str]) -> set[tuple[int, object]]:
    """Derive the plays again from all their events; return the (entry id, UTC day) pairs touched.

    A play that started before the registration's raw events were dropped (retention) is kept as
    it is: part of its events are gone."""
    touched: set[tuple[int, object]] = set()
    kept_from = retention.kept_from(registration_id)
    for chunk in _chunks(sorted(play_keys)):
        if kept_from is not None:
            chunk = retention.without_kept_plays(registration_id, chunk, kept_from)
            if not chunk:
                continue
        events = db.session.scalars(
            select(PlayerEvent).where(PlayerEvent.registration_id == registration_id,
                                      PlayerEvent.play_key.in_(chunk))
            .order_by(PlayerEvent.play_key, PlayerEvent.occurred_at, PlayerEvent.seq, PlayerEvent.id)
            .execution_options(populate_existing=True)  # streams.assign may have updated them in bulk
        ).all()
        by_play: dict[str, list[PlayerEvent]] = defaultdict(list)
        for event in events:
            by_play[event.play_key].append(event)
        old = db.session.execute(select(Play.entry_id, Play.started_at).where(
            Play.registration_id == registration_id, Play.play_key.in_(chunk))).all()
        touched |= {(entry_id, started.date()) for entry_id, started in old}
        db.session.execute(delete(Play).where(Play.registration_id == registration_id, Play.play_key.in_(chunk)))
        durations = _durations({e.entry_id for e in events})
        plays = [row for key, evs in by_play.items() if (row := play_row(registration_id, key, evs, durations))]
        if plays:
            db.session.execute(insert(Play), plays)
        touched |= {(p["entry_id"], p["started_at"].date()) for p in plays}
    return touched


def _durations(entry_ids: set[int]) -> dict[int, float | None]:
    if not entry_ids:
        return {}
    return dict(db.session.execute(select(MediaEntry.id, MediaEntry.duration_seconds)
                                   .where(MediaEntry.id.in_(entry_ids))).all())


def play_row(registration_id: int, key: str, events: list, durations: dict) -> dict | None:
    """The Play row for one play's events (None when no event in it marks a play)."""
    first = next((e for e in events if e.event_type == "play"), None)
    if first is None:
        return None
    # Kava players report quartile events themselves (once per load, as Kaltura counts them).
    facts = derive_play(events, durations.get(first.entry_id), reports_quartiles=first.source == "kava")
    return {
        "registration_id": registration_id, "play_key": key, "entry_id": first.entry_id,
        "person_id": first.person_id, "source": first.source, "started_at": first.occurred_at,
        "last_event_at": max(e.occurred_at for e in events),
        "seconds_viewed": facts.seconds_viewed, "segments": facts.segments, "percentiles": facts.percentiles,
        "percentile_count": facts.percentile_count, "quartile_events": facts.quartile_events,
        "highest_quartile": facts.highest_quartile, "reached_end": facts.reached_end,
        **{c: getattr(first, c) for c in DIMENSION_COLUMNS},
    }


def refresh_rollups(registration_id: int, touched: set[tuple[int, object]]) -> None:
    """Recompute the rollups (every zone kept, see ingest/rollups.py) of the (entry, UTC day) pairs touched,
    from plays and loads."""
    rollups.refresh(db.session, registration_id, touched)


def rebuild(registration_id: int | None = None, since: datetime | None = None) -> dict:
    """Recompute plays, loads and rollups from raw events (for all registrations or one).

    What retention took the raw events of is kept: plays that started, loads and days before the
    registration's `kept_from` stay as they are, and a stream cut by retention keeps its assignment. The
    rollups of every zone kept are rebuilt whole from the plays and loads then stored."""
    from lti_tool.models import Registration

    ids = [registration_id] if registration_id else list(db.session.scalars(select(Registration.id)))
    counts = {"plays": 0, "loads": 0}
    for reg_id in ids:
        event_filter = [PlayerEvent.registration_id == reg_id]
        if since:
            event_filter.append(PlayerEvent.occurred_at >= since)
        stream_keys = set(db.session.scalars(select(PlayerEvent.stream_key).where(
            *event_filter, PlayerEvent.stream_key.isnot(None)).distinct()))
        reassigned = streams.reassign_all(reg_id, stream_keys) if stream_keys else set()
        keys = set(db.session.scalars(select(PlayerEvent.play_key).where(*event_filter, PlayerEvent.play_key.isnot(None)).distinct()))
        keys |= reassigned
        load_filter = [PlayerLoad.registration_id == reg_id] + ([PlayerLoad.occurred_at >= since] if since else [])
        kept_from = retention.kept_from(reg_id)
        if kept_from is not None:
            load_filter.append(PlayerLoad.occurred_at >= kept_from)
        db.session.execute(delete(PlayerLoad).where(*load_filter))
        _insert_loads(*event_filter)
        impressions = db.session.scalar(select(func.count()).select_from(PlayerEvent).where(
            *event_filter, PlayerEvent.event_type == "impression"))
        derive_plays(reg_id, keys)
        rollups.rebuild(db.session, reg_id)  # every zone kept, whole, from the plays and loads now stored
        counts["plays"] += len(keys)
        counts["loads"] += impressions
    db.session.commit()
    return counts
