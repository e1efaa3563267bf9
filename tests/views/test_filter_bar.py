"""The filter bar offers the places and domains present in the data as choices, matches places whatever
their case, and the timeline says when the compare period starts before the course existed."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from ..support.factories import add_to_gallery, ingest

OCTOBER = "range=custom&from=2026-10-01&to=2026-10-10"
PLACES = [("US", "Minnesota", "Minneapolis"), ("US", "Minnesota", "Duluth"), ("US", "Texas", "Austin"),
          ("FR", "Île-de-France", "Paris")]


@pytest.fixture
def gallery(launch_as, db, registration):
    """A teacher's gallery with one player load from each place of PLACES on Oct 5, 2026 (the first
    on a page of canvas.umn.edu); get(query) opens the page."""
    teacher = launch_as("teacher")
    ingest(registration.id, [
        {"id": f"x{i}", "type": "impression", "time": "2026-10-05T16:00:00Z", "entry_id": "1_e1",
         "location": {"country": country, "region": region, "city": city},
         **({"page_url": "https://canvas.umn.edu/courses/1/pages/week-1"} if i == 0 else {})}
        for i, (country, region, city) in enumerate(PLACES)])
    add_to_gallery(db.session, teacher.course, "1_e1")

    def get(query=""):
        response = teacher.get(f"/courses/{teacher.course.id}/gallery/?{query}")
        assert response.status_code == 200, response.text
        return response.text
    get.course = teacher.course
    return get


def impressions(html: str) -> str:
    match = re.search(r'>Player impressions</span></span><span class="card-value">([^<]+)<', html)
    assert match, "no Player impressions card"
    return match.group(1)


@pytest.mark.parametrize("typed, expected", [
    ("country=us", "3"), ("country=Us", "3"), ("region=minnesota", "2"), ("region=TEXAS", "1"),
    ("city=duluth", "1"), ("city=PARIS", "1"), ("region=île-de-france", "1"),
])
def test_places_match_whatever_their_case(gallery, typed, expected):
    assert impressions(gallery(f"{OCTOBER}&{typed}")) == expected


def checkboxes(html: str, name: str) -> dict[str, bool]:
    """The choices a filter offers: value -> checked."""
    return {value: bool(checked) for value, checked in
            re.findall(rf'<input type="checkbox" name="{name}" value="([^"]*)"( checked)?>', html)}


def test_the_values_present_are_offered_as_choices(gallery):
    html = gallery(OCTOBER)
    assert checkboxes(html, "country") == {"US": False, "FR": False}
    assert checkboxes(html, "region") == {"Minnesota": False, "Texas": False, "Île-de-France": False}
    assert set(checkboxes(html, "city")) == {"Minneapolis", "Duluth", "Austin", "Paris"}
    assert "canvas.umn.edu" in checkboxes(html, "domain")
    assert 'name="country" value="US"> United States (US)' in html
    assert "<select name=\"domain\" multiple" not in html   # no Ctrl-click lists


def test_a_choice_stays_checked_whatever_case_the_url_gives(gallery):
    assert checkboxes(gallery(f"{OCTOBER}&country=us"), "country") == {"US": True, "FR": False}  # not narrowed by itself
    html = gallery(f"{OCTOBER}&country=us&region=minnesota")
    assert checkboxes(html, "region") == {"Minnesota": True, "Texas": False}   # regions of the US only
    assert set(checkboxes(html, "city")) == {"Minneapolis", "Duluth"}


def test_a_chosen_value_without_data_can_still_be_unchosen(gallery):
    cities = checkboxes(gallery(f"{OCTOBER}&city=Oslo"), "city")
    assert cities["Oslo"] and not cities["Paris"]


NOTE = "The compare period starts before this course was created (Oct 3, 2026): there is no data before then."


@pytest.mark.parametrize("query, shown", [
    (f"{OCTOBER}&compare=previous", True),                            # Sep 21 - Sep 30: before Oct 3
    ("range=custom&from=2026-10-10&to=2026-10-12&compare=previous", False),  # Oct 7 - Oct 9
    (OCTOBER, False),                                                 # no compare period
])
def test_the_timeline_says_when_the_compare_period_precedes_the_course(gallery, db, query, shown):
    gallery.course.created_at = datetime(2026, 10, 3, 17, tzinfo=timezone.utc)   # Oct 3 in Chicago
    db.session.commit()
    assert (NOTE in gallery(query)) is shown


def test_media_types_and_devices_are_offered(gallery):
    html = gallery(OCTOBER)
    assert set(checkboxes(html, "media_type")) >= {"video", "audio"}
    assert set(checkboxes(html, "device")) == {"desktop", "mobile", "tablet", "other"}
