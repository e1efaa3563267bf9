"""Rollups of plays and player loads per local day and month of each time zone in use (PostgreSQL).

A `play_rollup` row sums the plays and player loads of one entry, one viewer and one combination of
every dimension (`_Dimensions`: context, page URL and domain, device type, OS, browser, country,
region, city) on one local day (grain "d") or local month (grain "m") of one zone. Grouping keeps
every column a Scope filters or groups by, so any filter and grouping reads these rows exactly as it
reads plays (analytics/metrics.py says which questions read them).

Zones: a registration keeps the rollups of the zones listed in `rollup_zone`. A zone is built on its
first use by a dashboard (`ensure_zone`) or by `flask analytics rebuild`, and kept at ingest from
then on: `refresh` recomputes the local days (and their months) that touched (entry, UTC day)
pairs fall on, from plays and loads, so redelivered or out-of-order events give the rollups a
rebuild gives. Local days are cut with Python's zone data (`buckets.offset_segments`), the same
boundaries the plays-based answers use.

Builds and refreshes are ordered by a PostgreSQL advisory lock per registration: ingest takes it
shared (after deriving its plays, before reading the zone list), a build exclusive, so a build sees
every ingest that read the zone list before it, and every later ingest sees the new zone.
SQLite (the demo) keeps no rollups: its dashboards read plays.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from lti_tool.analytics.buckets import offset_segments

LOCK_CLASS = 0x526F6C6C  # "Roll": advisory lock (LOCK_CLASS, registration id)

KEYS = ("entry_id", "person_id", "playback_type", "context_category_id", "url", "domain", "device_type", "os",
        "browser", "country", "region", "city")
MEASURES = ("impressions", "plays", "seconds_viewed", "capped_percentiles", "quartile_events", "completed_plays",
            "reached_25", "reached_50", "reached_75", "reached_100")
LATEST = ("last_played_at", "last_viewed_at", "last_loaded_at")
COLUMNS = ("registration_id", "zone", "grain", "day", *KEYS, *MEASURES, "watched", *LATEST)


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _naive(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")


def _local_day_sql(column: str, start: datetime, end: datetime, zone: str) -> str:
    """SQL: the local date in `zone` of a naive-UTC timestamp column within [start, end). The instants and
    offsets are our own numbers, never input, so they are written into the SQL."""
    segments = offset_segments(start, end, zone)

    def shifted(minutes: int) -> str:
        return f"CAST({column} + interval '{int(minutes)} minutes' AS date)"
    if len(segments) == 1:
        return shifted(segments[0][1])
    whens = " ".join(f"WHEN {column} < TIMESTAMP '{_naive(segments[i + 1][0])}' THEN {shifted(minutes)}"
                     for i, (_at, minutes) in enumerate(segments[:-1]))
    return f"CASE {whens} ELSE {shifted(segments[-1][1])} END"


def _day_rows_sql(zone: str, start: datetime, end: datetime, where_play: str, where_load: str, pairs: bool) -> str:
    """INSERT … SELECT of the day rows of plays started and loads in [start, end) matching the conditions;
    with `pairs`, only the (entry, local day) pairs given as :entries/:days arrays."""
    keys = ", ".join(KEYS)
    play_day = _local_day_sql("p.started_at", start, end, zone)
    load_day = _local_day_sql("l.occurred_at", start, end, zone)
    play_keys = ", ".join(f"p.{k}" for k in KEYS)
    load_keys = ", ".join(f"l.{k}" for k in KEYS)
    reached = ", ".join(f"count(*) FILTER (WHERE p.highest_quartile >= {q}) AS reached_{q}" for q in (25, 50, 75, 100))
    chosen = ("WHERE (entry_id, day) IN (SELECT * FROM unnest(CAST(:entries AS integer[]), CAST(:days AS date[])))"
              if pairs else "")
    sums = ", ".join(f"sum({m})" for m in MEASURES)
    return f"""
INSERT INTO play_rollup ({", ".join(COLUMNS)})
SELECT :registration_id, :zone, 'd', day, {keys}, {sums}, bit_or(watched), {", ".join(f"max({c})" for c in LATEST)}
FROM (
    SELECT {play_day} AS day, {play_keys}, 0 AS impressions, count(*) AS plays,
           sum(p.seconds_viewed) AS seconds_viewed, sum(least(p.percentile_count, 100)) AS capped_percentiles,
           sum(p.quartile_events) AS quartile_events, count(*) FILTER (WHERE p.reached_end) AS completed_plays,
           {reached}, bit_or(CAST(NULLIF(p.percentiles, '') AS bit varying)) AS watched,
           max(p.started_at) AS last_played_at, max(p.last_event_at) AS last_viewed_at,
           CAST(NULL AS timestamp) AS last_loaded_at
    FROM play p WHERE p.registration_id = :registration_id AND {where_play}
    GROUP BY 1, {play_keys}
    UNION ALL
    SELECT {load_day}, {load_keys}, count(*), 0, 0.0, 0, 0, 0, 0, 0, 0, 0, CAST(NULL AS bit varying),
           CAST(NULL AS timestamp), CAST(NULL AS timestamp), max(l.occurred_at)
    FROM player_load l WHERE l.registration_id = :registration_id AND {where_load}
    GROUP BY 1, {load_keys}
) found
{chosen}
GROUP BY day, {keys}
"""


def _month_rows_sql(pairs: bool) -> str:
    """INSERT … SELECT of the month rows summed from the zone's day rows (of the :entries/:months pairs)."""
    keys = ", ".join(KEYS)
    chosen = ("AND (entry_id, CAST(date_trunc('month', day) AS date)) IN "
              "(SELECT * FROM unnest(CAST(:entries AS integer[]), CAST(:months AS date[])))" if pairs else "")
    return f"""
INSERT INTO play_rollup ({", ".join(COLUMNS)})
SELECT registration_id, zone, 'm', CAST(date_trunc('month', day) AS date), {keys},
       {", ".join(f"sum({m})" for m in MEASURES)}, bit_or(watched), {", ".join(f"max({c})" for c in LATEST)}
FROM play_rollup
WHERE registration_id = :registration_id AND zone = :zone AND grain = 'd' {chosen}
GROUP BY registration_id, zone, CAST(date_trunc('month', day) AS date), {keys}
"""


def _lock(session: Session, registration_id: int, exclusive: bool) -> None:
    kind = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    session.execute(text(f"SELECT {kind}(:c, :r)"), {"c": LOCK_CLASS, "r": registration_id})


def zones(session: Session, registration_id: int) -> list[str]:
    return list(session.scalars(text("SELECT zone FROM rollup_zone WHERE registration_id = :r ORDER BY zone"),
                                {"r": registration_id}))


def local_days(utc_day: date, zone: str) -> set[date]:
    """The local days in `zone` that UTC day `utc_day` overlaps (one or two)."""
    start = datetime.combine(utc_day, time.min, timezone.utc)
    tz = ZoneInfo(zone)
    return {start.astimezone(tz).date(), (start + timedelta(days=1, microseconds=-1)).astimezone(tz).date()}


def _window(day: date, zone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    return (datetime.combine(day, time.min, tz).astimezone(timezone.utc),
            datetime.combine(day + timedelta(days=1), time.min, tz).astimezone(timezone.utc))


def refresh(session: Session, registration_id: int, touched: set[tuple[int, date]]) -> None:
    """Recompute, in every zone kept, the rollups of the local days the touched (entry id, UTC day) pairs
    fall on, from the plays and loads now stored (call it after the plays are derived)."""
    if not touched or not is_postgresql(session):
        return
    _lock(session, registration_id, exclusive=False)
    for zone in zones(session, registration_id):
        pairs = sorted({(entry_id, local) for entry_id, day in touched for local in local_days(day, zone)})
        recompute(session, registration_id, zone, pairs)


def recompute(session: Session, registration_id: int, zone: str, pairs: list[tuple[int, date]]) -> None:
    """The day rows of these (entry id, local day) pairs and the month rows of their months, again."""
    if not pairs:
        return
    entries, days = [e for e, _ in pairs], [d for _, d in pairs]
    start, end = _window(min(days), zone)[0], _window(max(days), zone)[1]
    params = {"registration_id": registration_id, "zone": zone, "entries": entries, "days": days,
              "start": _naive(start), "end": _naive(end),
              "entry_set": sorted(set(entries))}
    session.execute(text(
        "DELETE FROM play_rollup WHERE registration_id = :registration_id AND zone = :zone AND grain = 'd' "
        "AND (entry_id, day) IN (SELECT * FROM unnest(CAST(:entries AS integer[]), CAST(:days AS date[])))"), params)
    span = "{t} >= CAST(:start AS timestamp) AND {t} < CAST(:end AS timestamp) AND {e} = ANY(CAST(:entry_set AS integer[]))"
    session.execute(text(_day_rows_sql(zone, start, end, span.format(t="p.started_at", e="p.entry_id"),
                                       span.format(t="l.occurred_at", e="l.entry_id"), pairs=True)), params)
    months = sorted({(e, d.replace(day=1)) for e, d in pairs})
    month_params = {"registration_id": registration_id, "zone": zone,
                    "entries": [e for e, _ in months], "months": [m for _, m in months]}
    session.execute(text(
        "DELETE FROM play_rollup WHERE registration_id = :registration_id AND zone = :zone AND grain = 'm' "
        "AND (entry_id, day) IN (SELECT * FROM unnest(CAST(:entries AS integer[]), CAST(:months AS date[])))"),
        month_params)
    session.execute(text(_month_rows_sql(pairs=True)), month_params)


def build_zone(session: Session, registration_id: int, zone: str) -> None:
    """Every rollup row of one zone, again from all plays and loads (the caller holds the exclusive lock)."""
    params = {"registration_id": registration_id, "zone": zone}
    session.execute(text("DELETE FROM play_rollup WHERE registration_id = :registration_id AND zone = :zone"), params)
    first, last = session.execute(text(
        "SELECT least((SELECT min(started_at) FROM play WHERE registration_id = :registration_id), "
        "(SELECT min(occurred_at) FROM player_load WHERE registration_id = :registration_id)), "
        "greatest((SELECT max(started_at) FROM play WHERE registration_id = :registration_id), "
        "(SELECT max(occurred_at) FROM player_load WHERE registration_id = :registration_id))"), params).one()
    if first is None:
        return
    start = first.replace(tzinfo=timezone.utc) - timedelta(days=1)
    end = last.replace(tzinfo=timezone.utc) + timedelta(days=1)
    session.execute(text(_day_rows_sql(zone, start, end, "TRUE", "TRUE", pairs=False)), params)
    session.execute(text(_month_rows_sql(pairs=False)), params)


def ensure_zone(session: Session, registration_id: int, zone: str) -> bool:
    """Whether this zone's rollups can be read; a zone not kept yet is built now (and committed), then kept
    at ingest. False on SQLite, which keeps none."""
    if not is_postgresql(session):
        return False
    ready = session.info.setdefault("rollup_zones", set())
    if (registration_id, zone) in ready:
        return True
    kept = text("SELECT ready FROM rollup_zone WHERE registration_id = :r AND zone = :z")
    if not session.scalar(kept, {"r": registration_id, "z": zone}) and session.info.get("replica"):
        # A read-only replica: the zone is built on the primary, and this request reads plays until the
        # replica has replayed the build.
        from lti_tool.extensions import db

        ensure_zone(db.session, registration_id, zone)
        return False
    if not session.scalar(kept, {"r": registration_id, "z": zone}):
        _lock(session, registration_id, exclusive=True)
        if session.scalar(kept, {"r": registration_id, "z": zone}):  # built while we waited
            session.commit()
            ready.add((registration_id, zone))
            return True
        session.execute(text("INSERT INTO rollup_zone (registration_id, zone, ready, built_at) "
                             "VALUES (:r, :z, true, :now) ON CONFLICT (registration_id, zone) DO NOTHING"),
                        {"r": registration_id, "z": zone, "now": _naive(datetime.now(timezone.utc))})
        build_zone(session, registration_id, zone)
        analyze(session)
        session.commit()
    ready.add((registration_id, zone))
    return True


def analyze(session: Session) -> None:
    """Fresh planner statistics for play_rollup after a zone was built: a zone adds as many rows as the
    table may have had, and planned with the old statistics its reads scan the whole zone (autovacuum
    would analyze later, or never where it is off). Our own uncommitted rows are sampled too."""
    session.execute(text("ANALYZE play_rollup"))


def rebuild(session: Session, registration_id: int) -> list[str]:
    """Every zone the registration keeps, rebuilt from its plays and loads (after they were rebuilt)."""
    if not is_postgresql(session):
        return []
    _lock(session, registration_id, exclusive=True)
    kept = zones(session, registration_id)
    for zone in kept:
        build_zone(session, registration_id, zone)
    if kept:
        analyze(session)
    return kept
