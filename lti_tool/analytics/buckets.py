"""Local calendar buckets (day or month) of UTC timestamps, computed in SQL on PostgreSQL and SQLite.

A bucket is the viewer's local date: the UTC offset changes at daylight-saving transitions, so the
span is cut into segments of constant offset and each segment shifts its rows by its own offset.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Float, case, cast, func, literal_column

FORMATS = {"day": ("YYYY-MM-DD", "%Y-%m-%d"), "month": ("YYYY-MM", "%Y-%m")}


def offset_segments(start: datetime, end: datetime, tz: str) -> list[tuple[datetime, int]]:
    """[(segment start UTC, offset minutes)] covering [start, end): offsets as ZoneInfo gives them."""
    zone = ZoneInfo(tz)

    def offset(at: datetime) -> int:
        return int(at.astimezone(zone).utcoffset().total_seconds() // 60)

    segments = [(start, offset(start))]
    day = start
    while day < end:
        following = min(day + timedelta(days=1), end)
        if offset(following) != offset(day):
            # Find the hour it changed (transitions happen on the hour or half hour).
            moment = day
            while offset(moment) == offset(day):
                moment += timedelta(minutes=30)
            segments.append((moment, offset(moment)))
        day = following
    return segments


def bucket(column, start: datetime, end: datetime, tz: str, granularity: str, dialect: str):
    """SQL expression: the local day ("YYYY-MM-DD") or month ("YYYY-MM") of a UTC timestamp column."""
    pg_format, sqlite_format = FORMATS[granularity]

    def shifted(minutes: int):
        if dialect == "postgresql":
            # minutes is an int we computed, never input: safe to write into the SQL.
            return func.to_char(column + literal_column(f"interval '{int(minutes)} minutes'"), pg_format)
        return func.strftime(sqlite_format, column, f"{minutes:+d} minutes")

    segments = offset_segments(start, end, tz)
    if len(segments) == 1:
        return shifted(segments[0][1])
    whens = [(column < segments[i + 1][0].astimezone(timezone.utc), shifted(minutes))
             for i, (_at, minutes) in enumerate(segments[:-1])]
    return case(*whens, else_=shifted(segments[-1][1]))


def labels(first_day, last_day, granularity: str) -> list[str]:
    """Every bucket key between two local dates, so days without data still show."""
    keys, day = [], first_day
    while day <= last_day:
        key = day.strftime(FORMATS[granularity][1])
        if not keys or keys[-1] != key:
            keys.append(key)
        day += timedelta(days=1)
    return keys


def epoch_minute(moment, seconds_before, dialect: str):
    """SQL expression: whole minutes since 1970-01-01 UTC of (moment - seconds_before seconds), an integer."""
    if dialect == "postgresql":
        return cast(func.floor((func.extract("epoch", moment) - seconds_before) / 60), BigInteger)
    # SQLite: CAST truncates towards zero, the same as floor for times after 1970.
    return cast((cast(func.strftime("%s", moment), Float) - seconds_before) / 60, BigInteger)
