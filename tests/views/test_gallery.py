"""The course Media Gallery analytics page: exact numbers, filters, blocks, access."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lti_tool.ingest.pipeline import accept
from lti_tool.ingest.schema import native_event
from lti_tool.models import Category, CategoryEntry, Course, MediaEntry

from ..conftest import session_token
from ..ingest.dataset import EVENTS

OCTOBER = "range=custom&from=2026-10-01&to=2026-10-10"


@pytest.fixture
def gallery(lti, db, registration):
    """The teacher's session on a course whose gallery holds the hand-computed entry."""
    page = lti.open("teacher")
    course = db.session.scalar(select(Course))
    late = [{"id": "late-play", "type": "play", "time": "2026-10-05T04:30:00Z", "entry_id": "1_e1", "play_id": "L",
             "position": 0, "duration": 100},
            {"id": "late-pause", "type": "pause", "time": "2026-10-05T04:31:00Z", "entry_id": "1_e1", "play_id": "L",
             "position": 60}]
    accept(registration.id, [native_event(e) for e in EVENTS + late], "native")
    category = db.session.scalar(select(Category).where(Category.course_id == course.id))
    entry = db.session.scalar(select(MediaEntry))
    db.session.add(CategoryEntry(category_id=category.id, entry_id=entry.id))
    db.session.commit()
    token = session_token(page.text)

    def get(query="", **headers):
        return lti.client.get(f"/courses/{course.id}/gallery/?{query}", headers={"X-Session-Token": token, **headers})
    get.course = course
    return get


def card(html, label):
    match = re.search(rf">{re.escape(label)}</span></span><span class=\"card-value\">([^<]+)<", html)
    assert match, label
    return match.group(1)


def test_highlights_equal_hand_computed_values(gallery):
    html = gallery(OCTOBER + "&tz=ignored").text
    # The data set plus one late play (60 s, percentiles 0-60) by an anonymous viewer.
    assert card(html, "Player impressions") == "6"
    assert card(html, "Plays") == "5"
    assert card(html, "Unique viewers") == "2"
    assert card(html, "Minutes viewed") == "3.6 min"          # (50 + 60 + 20 + 25 + 60) s / 60
    assert card(html, "Avg. minutes per play") == "0.7 min"   # 215 s / 60 / 5 plays
    assert card(html, "Avg. completion rate") == "44.2%"      # (51 + 61 + 22 + 26 + 61) / 5
    assert "+ Unknown: 40% of plays" in html


def test_filters_change_the_numbers(gallery):
    desktop = gallery(OCTOBER + "&device=desktop").text
    assert card(desktop, "Player impressions") == "1" and card(desktop, "Plays") == "0"
    domain = gallery(OCTOBER + "&domain=canvas.umn.edu").text
    assert card(domain, "Player impressions") == "1"
    nothing = gallery("range=custom&from=2025-01-01&to=2025-01-31").text
    assert card(nothing, "Plays") == "0" and "No viewing in this period" in nothing


def test_time_zone_decides_the_day(gallery, db):
    # The late play is Oct 4 23:30 in Chicago (the teacher's zone) but Oct 5 in UTC.
    chicago_oct4 = gallery("range=custom&from=2026-10-04&to=2026-10-04").text
    assert card(chicago_oct4, "Plays") == "1"
    gallery.course.timezone = "UTC"  # a course setting switches every viewer to UTC
    db.session.commit()
    utc_oct4 = gallery("range=custom&from=2026-10-04&to=2026-10-04").text
    assert card(utc_oct4, "Plays") == "0"


def test_compare_period(gallery):
    html = gallery("range=custom&from=2026-10-05&to=2026-10-06&compare=previous").text
    assert "compared with Oct 3, 2026 – Oct 4, 2026" in html
    assert "+300%" in html  # plays: 4 on Oct 5-6 against 1 (the late play) on Oct 3-4


def test_htmx_block_requests_return_only_their_block(gallery):
    block = gallery(OCTOBER + "&metric=plays", **{"HX-Request": "true", "HX-Target": "timeline"}).text
    assert block.lstrip().startswith('<section id="timeline"') and "<html" not in block
    assert 'aria-current="true">Plays</a>' in block
    people = gallery(OCTOBER + "&q=person", **{"HX-Request": "true", "HX-Target": "people"}).text
    assert people.lstrip().startswith('<section id="people"')
    dashboard = gallery(OCTOBER, **{"HX-Request": "true", "HX-Target": "dashboard"}).text
    assert dashboard.lstrip().startswith('<div id="dashboard"') and 'id="filters"' not in dashboard
    full = gallery(OCTOBER).text
    assert "<html" in full and 'id="filters"' in full


def test_drill_downs(gallery):
    countries = gallery(OCTOBER, **{"HX-Request": "true", "HX-Target": "locations"}).text
    assert "United States" in countries
    regions = gallery(OCTOBER + "&loc_country=US", **{"HX-Request": "true", "HX-Target": "locations"}).text
    assert "Top regions" in regions and "All countries" in regions
    urls = gallery(OCTOBER + "&drill_domain=canvas.umn.edu", **{"HX-Request": "true", "HX-Target": "domains"}).text
    assert 'href="https://canvas.umn.edu/courses/1/pages/week-1" target="_blank"' in urls


def test_links_keep_every_filter(gallery):
    html = gallery(OCTOBER + "&device=desktop&compare=previous").text
    tab = re.search(r'href="([^"]*metric=plays[^"]*)"', html).group(1).replace("&amp;", "&")
    for part in ("range=custom", "from=2026-10-01", "to=2026-10-10", "device=desktop", "compare=previous"):
        assert part in tab


def test_bad_filters_are_a_clear_400(gallery):
    response = gallery("range=forever")
    assert response.status_code == 400 and "range must be one of" in response.text


def test_people_table_search_sort_and_unknown_row(gallery):
    html = gallery(OCTOBER).text
    assert "Teacher Tester" in html and "not viewed" in html  # enrolled, no viewing
    assert ">Unknown<" in html
    found = gallery(OCTOBER + "&q=teach", **{"HX-Request": "true", "HX-Target": "people"}).text
    assert "Teacher Tester" in found and ">Unknown<" not in found


@pytest.mark.parametrize("person, status", [("ta", 200), ("designer", 200), ("student", 403), ("observer", 403)])
def test_access(lti, db, registration, gallery, person, status):
    token = session_token(lti.open(person).text)
    response = lti.client.get(f"/courses/{gallery.course.id}/gallery/?{OCTOBER}", headers={"X-Session-Token": token})
    assert response.status_code == status
    if status == 403:
        assert "Player impressions" not in response.text and "Unknown" not in response.text


def test_staff_of_another_course_see_nothing(lti, db, gallery):
    token = session_token(lti.open("teacher", "course-b").text)
    response = lti.client.get(f"/courses/{gallery.course.id}/gallery/", headers={"X-Session-Token": token})
    assert response.status_code == 403 and "Player impressions" not in response.text


def test_details_tables_sort_and_page(gallery):
    block = gallery(OCTOBER + "&details=entries", **{"HX-Request": "true", "HX-Target": "timeline"}).text
    assert "By entry" in block and "1_e1" in block
    dates = gallery(OCTOBER + "&details=dates&dsort=plays&ddir=desc", **{"HX-Request": "true", "HX-Target": "timeline"}).text
    rows = re.findall(r'<tr><th scope="row">(2026-10-\d\d)</th>', dates.split("<caption>By date</caption>")[1])
    assert rows[0] == "2026-10-05" and len(rows) == 10
    ascending = gallery(OCTOBER + "&details=dates&dsort=bucket&ddir=asc", **{"HX-Request": "true", "HX-Target": "timeline"}).text
    assert re.findall(r'<tr><th scope="row">(2026-10-\d\d)</th>', ascending.split("<caption>By date</caption>")[1])[0] == "2026-10-01"
    users = gallery(OCTOBER + "&details=users&dsort=name&ddir=asc", **{"HX-Request": "true", "HX-Target": "timeline"}).text
    assert "By user" in users
