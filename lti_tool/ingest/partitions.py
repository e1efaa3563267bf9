"""Raw player events by month (PostgreSQL): one partition of `player_event` per UTC month.

A month's partition is made before its first event is inserted: `ensure` (called by the pipeline
with the batch's times, besides the current and the next month) creates those missing, on its own
connection with a short lock timeout, so a creation that would wait on another transaction gives
up and the rows go to the DEFAULT partition instead (never an error for the sender). Months made
are remembered per process. Only months from MONTHS_BACK before now to MONTHS_AHEAD after get a
partition of their own (the tool accepts 1970-2199: a sender's odd times must not make thousands
of tables); any other month's rows live in the DEFAULT partition, which retention trims by rows.
When a month gets its partition while the DEFAULT partition already holds rows of it (a time far
ahead that has come), those rows are moved into the new partition.

SQLite keeps one plain table; everything here is a no-op there.
"""
from __future__ import annotations

import logging
import re
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from lti_tool.extensions import db

log = logging.getLogger(__name__)

PARENT = "player_event"
DEFAULT = "player_event_default"
MONTHS_BACK = 60
MONTHS_AHEAD = 12
LOCK_TIMEOUT = "300ms"  # well under deadlock_timeout (1 s by default)
RETRY_AFTER = timedelta(minutes=5)
_NAME = re.compile(r"^player_event_p(\d{4})(\d{2})$")

# Months known to have a partition, per database URL (a process may talk to more than one).
_made: dict[str, set[date]] = {}
_failed: dict[str, dict[date, datetime]] = {}


def month_of(moment: datetime) -> date:
    return date(moment.year, moment.month, 1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"player_event_p{month.year:04d}{month.month:02d}"


def month_of_partition(name: str) -> date | None:
    found = _NAME.match(name)
    return date(int(found[1]), int(found[2]), 1) if found else None


def _is_postgresql(connection) -> bool:
    return connection.dialect.name == "postgresql"


def partitions(connection) -> dict[str, date | None]:
    """The partitions of player_event: name -> its month (None for the DEFAULT partition)."""
    rows = connection.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = CAST(:parent AS regclass)"), {"parent": PARENT}).scalars()
    return {name: month_of_partition(name) for name in rows}


def _create_sql(month: date) -> str:
    following = add_months(month, 1)
    return (f"CREATE TABLE IF NOT EXISTS {partition_name(month)} PARTITION OF {PARENT} "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{following.isoformat()}')")


def create_ahead(connection, now: datetime | None = None) -> None:
    """The DEFAULT partition and the current and next months' (create_all, the migration, retention)."""
    if not _is_postgresql(connection):
        return
    month = month_of(now or datetime.now(timezone.utc))
    connection.execute(text(f"CREATE TABLE IF NOT EXISTS {DEFAULT} PARTITION OF {PARENT} DEFAULT"))
    for each in (month, add_months(month, 1)):
        _create(connection, each)


def in_window(month: date, now: datetime) -> bool:
    current = month_of(now)
    return add_months(current, -MONTHS_BACK) <= month <= add_months(current, MONTHS_AHEAD)


def ensure(times, now: datetime | None = None) -> None:
    """Make the partitions of the months of `times` (and of the current and next months) that are
    missing, within the window; the rest go to the DEFAULT partition.

    Called before the batch's transaction takes any lock: the partitions are made on a connection
    of their own, committed at once, waiting at most LOCK_TIMEOUT for a lock (creating a partition
    locks the tables its foreign keys name) — under PostgreSQL's deadlock_timeout, so when it meets
    an ingest in a lock cycle it is the one that gives up. A month that could not be made is tried
    again after RETRY_AFTER; meanwhile its rows go to the DEFAULT partition.
    """
    bind = db.session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    now = now or datetime.now(timezone.utc)
    url = str(bind.engine.url)
    made = _made.setdefault(url, set())
    current = month_of(now)
    wanted = {month_of(t) for t in times} | {current, add_months(current, 1)}
    failed = _failed.setdefault(url, {})
    missing = sorted(m for m in wanted - made if in_window(m, now) and not now < failed.get(m, now))
    if not missing:
        return
    with bind.engine.connect() as connection:
        for month in missing:
            try:
                with connection.begin():
                    # SET LOCAL: the pooled connection goes back without the short timeout.
                    connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
                    _create(connection, month)
            except DBAPIError as error:  # busy: its rows go to the DEFAULT partition for now
                log.info("partition %s not made now: %s", partition_name(month), error.orig)
                failed[month] = now + RETRY_AFTER
                continue
            made.add(month)


def _create(connection, month: date) -> None:
    """Create one month's partition; rows of that month in the DEFAULT partition move into it."""
    name, following = partition_name(month), add_months(month, 1)
    if connection.scalar(text("SELECT to_regclass(:name)"), {"name": name}) is not None:
        return
    has_default = connection.scalar(text("SELECT to_regclass(:name)"), {"name": DEFAULT}) is not None
    stray = has_default and connection.scalar(text(
        f"SELECT 1 FROM {DEFAULT} WHERE occurred_at >= :lo AND occurred_at < :hi LIMIT 1"),
        {"lo": month, "hi": following})
    if not stray:
        connection.execute(text(_create_sql(month)))
        return
    connection.execute(text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
    connection.execute(text(
        f"WITH moved AS (DELETE FROM {DEFAULT} WHERE occurred_at >= :lo AND occurred_at < :hi RETURNING *) "
        f"INSERT INTO {name} SELECT * FROM moved"), {"lo": month, "hi": following})
    connection.execute(text(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} "
                            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{following.isoformat()}')"))


def forget() -> None:
    """Forget the months known to have partitions (tests whose schema changes are rolled back)."""
    _made.clear()
    _failed.clear()
