"""Compare periods drawn on the current period's buckets: a property test of the period arithmetic
(filters.period with compare, buckets.spans) against an oracle written here from the calendar."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from hypothesis import example, given, settings
from hypothesis import strategies as st

from lti_tool.analytics.buckets import spans
from lti_tool.analytics.filters import Filters, period

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
ONE = timedelta(days=1)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def key(day: date, granularity: str) -> str:
    return day.isoformat() if granularity == "day" else day.isoformat()[:7]


def next_year(day: date) -> date:
    """Where a day of last year is drawn: the same date (28 February for 29 February)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


@settings(max_examples=300, deadline=None)
# A range ending on 29 February against last year, by day: the compare series still has a point for it.
@example(first=date(2003, 4, 1), length=335, kind="last_year", granularity="day", tz="UTC")
@given(first=st.dates(date(2001, 1, 1), date(2029, 12, 31)), length=st.integers(1, 800),
       kind=st.sampled_from(["previous", "last_year"]), granularity=st.sampled_from(["day", "month"]),
       tz=st.sampled_from(["UTC", "America/Chicago", "Australia/Lord_Howe", "Asia/Kathmandu"]))
def test_every_compare_day_is_drawn_once_at_its_position(first, length, kind, granularity, tz):
    last = first + timedelta(days=length - 1)
    current = period(Filters(preset="custom", start=first, end=last, compare=kind, granularity=granularity), tz, NOW)
    compare = current.compare
    # The compare period, as the calendar says.
    if kind == "previous":
        assert (compare.first_day, compare.last_day) == (first - length * ONE, first - ONE)
    else:
        wanted_first = first.replace(year=first.year - 1) if (first.month, first.day) != (2, 29) else date(
            first.year - 1, 2, 28)
        assert compare.first_day == wanted_first
        # The last day of last year drawn within the period.
        assert next_year(compare.last_day) <= last < next_year(compare.last_day + ONE)
    # The current buckets, and the compare series on exactly those buckets.
    current_spans = spans(current.first_day, current.last_day, granularity)
    compare_spans = spans(compare.first_day, compare.last_day, granularity, compare.shifts, compare.drawn_on)
    assert [k for k, _f, _l in compare_spans] == [k for k, _f, _l in current_spans]
    assert [k for k, _f, _l in current_spans] == list(dict.fromkeys(key(d, granularity) for d in days(first, last)))
    # Every compare day is in exactly one point, in order, and at the position of its current day.
    drawn = [d for _k, f, l in compare_spans if f is not None for d in days(f, l)]
    assert drawn == days(compare.first_day, compare.last_day)
    for bucket_key, f, l in compare_spans:
        for day in days(f, l) if f is not None else []:
            at = day + length * ONE if kind == "previous" else next_year(day)
            if day == compare.first_day:
                at = first    # a period starting on 29 February compares from 28 February
            assert key(at, granularity) == bucket_key, (day, at, bucket_key)
