"""Local calendar buckets (day or month) of UTC timestamps, computed in SQL on PostgreSQL and SQLite.

A bucket is the viewer's local date: the UTC offset changes at daylight-saving transitions, so the
span is cut into segments of constant offset and each segment shifts its rows by its own offset.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone
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


def shifted_segments(start: datetime, end: datetime, tz: str,
                     shifts: Sequence[tuple[date, int]] = ()) -> list[tuple[datetime, int]]:
    """offset_segments, each offset also moving the local time `days` later from each (local day, days)
    of `shifts` on (a compare period drawn on the current period's buckets); both in minutes."""
    if not shifts:
        return offset_segments(start, end, tz)
    zone = ZoneInfo(tz)
    offsets = offset_segments(start, end, tz)
    moves = [(max(start, datetime.combine(day, time.min, zone).astimezone(timezone.utc)), days) for day, days in shifts]
    cuts = sorted({at for at, _minutes in offsets} | {at for at, _days in moves})
    segments: list[tuple[datetime, int]] = []
    for at in cuts:
        offset = [minutes for moment, minutes in offsets if moment <= at][-1]
        days = [days for moment, days in moves if moment <= at][-1]
        minutes = offset + days * 24 * 60
        if not segments or segments[-1][1] != minutes:
            segments.append((at, minutes))
    return segments


def bucket(column, start: datetime, end: datetime, tz: str, granularity: str, dialect: str,
           shifts: Sequence[tuple[date, int]] = ()):
    """SQL expression: the local day ("YYYY-MM-DD") or month ("YYYY-MM") of a UTC timestamp column;
    with `shifts` (a compare period's), the day or month it is drawn at in the current period."""
    pg_format, sqlite_format = FORMATS[granularity]

    def shifted(minutes: int):
        if dialect == "postgresql":
            # minutes is an int we computed, never input: safe to write into the SQL.
            return func.to_char(column + literal_column(f"interval '{int(minutes)} minutes'"), pg_format)
        return func.strftime(sqlite_format, column, f"{minutes:+d} minutes")

    segments = shifted_segments(start, end, tz, shifts)
    if len(segments) == 1:
        return shifted(segments[0][1])
    whens = [(column < segments[i + 1][0].astimezone(timezone.utc), shifted(minutes))
             for i, (_at, minutes) in enumerate(segments[:-1])]
    return case(*whens, else_=shifted(segments[-1][1]))


def labels(first_day, last_day, granularity: str) -> list[str]:
    """Every bucket key between two local dates, so days without data still show."""
    return [key for key, _first, _last in spans(first_day, last_day, granularity)]


def spans(first_day: date, last_day: date, granularity: str, shifts: Sequence[tuple[date, int]] = (),
          drawn_on: tuple[date, date] | None = None) -> list[tuple[str, date | None, date | None]]:
    """(bucket key, first local day, last local day) of every bucket between two local dates. With
    `shifts` and `drawn_on` (a compare period's), the current period's buckets (drawn_on: its first and
    last day), each with the compare days drawn at it (None, None when there are none, as at
    29 February against a year without one)."""
    days: dict[str, list[date]] = {}
    day, index = first_day, 0
    while day <= last_day:
        while index + 1 < len(shifts) and shifts[index + 1][0] <= day:
            index += 1
        at = day + timedelta(days=shifts[index][1]) if shifts else day
        days.setdefault(at.strftime(FORMATS[granularity][1]), []).append(day)
        day += timedelta(days=1)
    if not shifts:
        return [(key, found[0], found[-1]) for key, found in days.items()]
    current_first, current_last = drawn_on or (first_day + timedelta(days=shifts[0][1]),
                                               last_day + timedelta(days=shifts[-1][1]))
    return [(key, *((days[key][0], days[key][-1]) if key in days else (None, None)))
            for key, _first, _last in spans(current_first, current_last, granularity)]


def epoch_minute(moment, seconds_before, dialect: str):
    """SQL expression: whole minutes since 1970-01-01 UTC of (moment - seconds_before seconds), an integer."""
    if dialect == "postgresql":
        return cast(func.floor((func.extract("epoch", moment) - seconds_before) / 60), BigInteger)
    # SQLite: CAST truncates towards zero, the same as floor for times after 1970.
    return cast((cast(func.strftime("%s", moment), Float) - seconds_before) / 60, BigInteger)
