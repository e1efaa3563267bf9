"""The course Media Gallery analytics page: exact numbers, filters, blocks, access."""
from __future__ import annotations

import re

import pytest

from ..ingest.dataset import EVENTS, LATE_PAUSE, LATE_PLAY
from ..support.factories import add_to_gallery, ingest

OCTOBER = "range=custom&from=2026-10-01&to=2026-10-10"


@pytest.fixture
def gallery(launch_as, db, registration):
    """The teacher's session on a course whose gallery holds the hand-computed entry; get(query, target)
    opens the page, or as htmx the block whose id is `target`."""
    teacher = launch_as("teacher")
    ingest(registration.id, EVENTS + [LATE_PLAY, LATE_PAUSE])
    add_to_gallery(db.session, teacher.course, "1_e1")

    def get(query="", target=None):
        return (teacher.htmx(target) if target else teacher).get(f"/courses/{teacher.course.id}/gallery/?{query}")
    get.course, get.teacher = teacher.course, teacher
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
    block = gallery(OCTOBER + "&metric=plays", target="timeline").text
    assert block.lstrip().startswith('<section id="timeline"') and "<html" not in block
    assert 'aria-current="true">Plays</a>' in block
    people = gallery(OCTOBER + "&q=person", target="people").text
    assert people.lstrip().startswith('<section id="people"')
    dashboard = gallery(OCTOBER, target="dashboard").text
    assert dashboard.lstrip().startswith('<div id="dashboard"') and 'id="filters"' not in dashboard
    full = gallery(OCTOBER).text
    assert "<html" in full and 'id="filters"' in full


def test_drill_downs(gallery):
    countries = gallery(OCTOBER, target="locations").text
    assert "United States" in countries
    regions = gallery(OCTOBER + "&loc_country=US", target="locations").text
    assert "Top regions" in regions and "All countries" in regions
    urls = gallery(OCTOBER + "&drill_domain=canvas.umn.edu", target="domains").text
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
    found = gallery(OCTOBER + "&q=teach", target="people").text
    assert "Teacher Tester" in found and ">Unknown<" not in found


def header_link(html: str, label: str) -> str:
    """The href of the sort link in the column header named `label` (entities unescaped)."""
    match = re.search(rf'<th scope="col"[^>]*>\s*<a href="([^"]+)"[^>]*>{re.escape(label)}</a>', html)
    assert match, label
    return match.group(1).replace("&amp;", "&")


def test_people_sort_by_name_starts_a_to_z_and_the_unknown_row_sits_by_its_numbers(gallery):
    block = gallery(OCTOBER, target="people").text
    assert "sort=name" in header_link(block, "Name") and "dir=asc" in header_link(block, "Name")
    assert "dir=desc" in header_link(block, "Player impressions")   # numbers: largest first
    by_name = gallery(OCTOBER + "&sort=name&dir=asc", target="people").text
    assert "dir=desc" in header_link(by_name, "Name")             # the second click reverses
    names = row_names(by_name)
    assert names == sorted(names, key=str.lower) and "Unknown" in names
    # By plays the anonymous "Unknown" row (2 plays) comes before the teacher (none), not after everyone.
    by_plays = gallery(OCTOBER + "&sort=plays&dir=desc", target="people").text
    assert row_names(by_plays) == ["Viewers outside this course", "Unknown", "Teacher Tester"]


def row_names(html: str) -> list[str]:
    """The names in the row headers of a people table, top to bottom."""
    return re.findall(r'<th scope="row">(?:<[^>]+>)?([^<]+)<', html)


@pytest.mark.parametrize("person, status", [("ta", 200), ("designer", 200), ("student", 403), ("observer", 403)])
def test_access(launch_as, gallery, person, status):
    response = launch_as(person).get(f"/courses/{gallery.course.id}/gallery/?{OCTOBER}")
    assert response.status_code == status
    if status == 403:
        assert "Player impressions" not in response.text and "Unknown" not in response.text


def test_staff_of_another_course_see_nothing(launch_as, gallery):
    response = launch_as("teacher", "course-b").get(f"/courses/{gallery.course.id}/gallery/")
    assert response.status_code == 403 and "Player impressions" not in response.text


def test_details_tables_sort_and_page(gallery):
    block = gallery(OCTOBER + "&details=entries", target="timeline").text
    assert "By entry" in block and "1_e1" in block
    dates = gallery(OCTOBER + "&details=dates&dsort=plays&ddir=desc", target="timeline").text
    rows = re.findall(r'<tr><th scope="row">(2026-10-\d\d)</th>', dates.split("<caption>By date</caption>")[1])
    assert rows[0] == "2026-10-05" and len(rows) == 10
    ascending = gallery(OCTOBER + "&details=dates&dsort=bucket&ddir=asc", target="timeline").text
    assert re.findall(r'<tr><th scope="row">(2026-10-\d\d)</th>', ascending.split("<caption>By date</caption>")[1])[0] == "2026-10-01"
    users = gallery(OCTOBER + "&details=users&dsort=name&ddir=asc", target="timeline").text
    assert "By user" in users


def test_counts_and_empty_states_read_as_sentences(gallery):
    empty = gallery("range=custom&from=2025-01-01&to=2025-01-31", target="highlights").text
    assert "none of plays" not in empty and "Data as of —" not in empty
    assert "No plays, so no anonymous viewing." in empty
    # One day holding exactly one play (the late one): "1 play", never "1 plays".
    top = gallery("range=custom&from=2026-10-04&to=2026-10-04", target="top").text
    assert "1 plays" not in top and '<span class="muted">1 play · ' in top
    insights = gallery("range=custom&from=2026-10-04&to=2026-10-04", target="insights").text
    assert "(1 plays)" not in insights and "(1 play)" in insights
    cards = gallery("range=custom&from=2026-10-04&to=2026-10-04", target="highlights").text
    assert "out of 1 " not in cards and "Data as of" in cards
