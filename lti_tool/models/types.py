"""Column helpers shared by every model module."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import partial

from sqlalchemy import JSON, DateTime, TypeDecorator
from sqlalchemy.orm import mapped_column

from lti_tool.extensions import db  # noqa: F401  (re-exported for model modules)

# NOT NULL unless a column says otherwise.
Column = partial(mapped_column, nullable=False)

# The instants the tool keeps, [EARLIEST_TIME, LATEST_TIME): a feed's time outside is refused
# (ingest.schema.parse_time), and so is a filter's date; date arithmetic on what is kept (a day
# more, a year back, a time zone) stays far from the ends of Python's datetime (years 1 and 9999).
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST_TIME = datetime(2200, 1, 1, tzinfo=timezone.utc)
LAST_DAY = (LATEST_TIME - timedelta(days=1)).date()  # 2199-12-31, as messages say it
# The largest value an Integer column holds (PostgreSQL integer): every id is one.
MAX_INTEGER = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC on every backend (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use aware UTC datetimes")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


JSONType = JSON
