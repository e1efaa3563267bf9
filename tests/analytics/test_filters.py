"""Filters from the URL, and the local dates / UTC spans they mean in the viewer's time zone."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from werkzeug.datastructures import MultiDict

from lti_tool.analytics.filters import FilterError, Filters, parse, period

NOW = datetime(2026, 11, 22, 3, 30, tzinfo=timezone.utc)  # still Nov 21 in Chicago


def test_defaults_are_the_last_30_days_ending_yesterday_in_the_viewers_zone():
    p = period(parse(MultiDict()), "America/Chicago", NOW)
    assert (p.first_day, p.last_day) == (date(2026, 10, 22), date(2026, 11, 20))
    assert p.start == datetime(2026, 10, 22, 5, tzinfo=timezone.utc)   # CDT, UTC-5
    assert p.end == datetime(2026, 11, 21, 6, tzinfo=timezone.utc)     # CST, UTC-6 after the switch
    assert p.granularity == "day" and p.compare is None


def test_same_instant_is_another_day_in_utc():
    p = period(parse(MultiDict({"range": "last7"})), "UTC", NOW)
    assert (p.first_day, p.last_day) == (date(2026, 11, 15), date(2026, 11, 21))


def test_include_today_and_presets():
    assert period(parse(MultiDict({"range": "last7", "today": "1"})), "America/Chicago", NOW).last_day == date(2026, 11, 21)
    three = period(parse(MultiDict({"range": "last3m"})), "America/Chicago", NOW)
    assert (three.first_day, three.last_day, three.granularity) == (date(2026, 8, 21), date(2026, 11, 20), "day")
    year = period(parse(MultiDict({"range": "last12m"})), "America/Chicago", NOW)
    assert (year.first_day, year.granularity) == (date(2025, 11, 21), "month")
    creation = period(parse(MultiDict({"range": "creation"})), "America/Chicago", NOW, since=datetime(2026, 1, 10, 12, tzinfo=timezone.utc))
    assert (creation.first_day, creation.last_day) == (date(2026, 1, 10), date(2026, 11, 21))


def test_custom_range_and_compare_periods():
    f = parse(MultiDict({"range": "custom", "from": "2026-03-01", "to": "2026-03-10", "compare": "previous"}))
    p = period(f, "UTC", NOW)
    assert (p.compare.first_day, p.compare.last_day) == (date(2026, 2, 19), date(2026, 2, 28))
    ly = period(parse(MultiDict({"range": "custom", "from": "2024-02-29", "to": "2024-03-01", "compare": "last_year"})), "UTC", NOW)
    assert (ly.compare.first_day, ly.compare.last_day) == (date(2023, 2, 28), date(2023, 3, 1))


def test_urls_round_trip_every_filter():
    args = MultiDict([("range", "custom"), ("from", "2026-03-01"), ("to", "2026-03-31"), ("today", "1"),
                      ("compare", "last_year"), ("granularity", "day"), ("context", "inside"),
                      ("media_type", "video"), ("media_type", "audio"), ("tag", "week1"), ("owner", "7"),
                      ("country", "US"), ("region", "Minnesota"), ("city", "Duluth"), ("domain", "canvas.umn.edu"),
                      ("domain", "mediaspace.umn.edu"), ("device", "tablet")])
    filters = parse(args)
    again = parse(MultiDict([(k, v) for k, vs in filters.query_args().items() for v in (vs if isinstance(vs, list) else [vs])]))
    assert again == filters
    assert Filters().query_args() == {}


@pytest.mark.parametrize("args, message", [
    ({"range": "forever"}, "range must be one of"),
    ({"range": "custom", "from": "2026-03-10"}, "from and to"),
    ({"range": "custom", "from": "2026-03-10", "to": "2026-03-01"}, "must end after it starts"),
    ({"compare": "yesterday"}, "compare must be"),
    ({"device": "toaster"}, "device must be"),
    ({"media_type": "hologram"}, "media_type must be"),
    ({"owner": "abc"}, "owner must be a person id"),
    ({"granularity": "hour"}, "granularity"),
    ({"context": "nowhere"}, "context must be"),
    ({"domain": "x" * 300}, "at most 50 domain values"),
])
def test_bad_filters_are_named(args, message):
    with pytest.raises(FilterError, match=message):
        parse(MultiDict(args))
