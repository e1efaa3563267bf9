"""Column helpers shared by every model module."""
from __future__ import annotations

from datetime import datetime, timezone
from functools import partial

from sqlalchemy import JSON, DateTime, TypeDecorator
from sqlalchemy.orm import mapped_column

from lti_tool.extensions import db  # noqa: F401  (re-exported for model modules)

# NOT NULL unless a column says otherwise.
Column = partial(mapped_column, nullable=False)


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
