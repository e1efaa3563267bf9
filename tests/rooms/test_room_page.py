"""The room analytics page and the room reports over the hand-computed session: same numbers, blocks, access."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lti_tool.ingest import tokens
from lti_tool.models import Interaction

from ..support.factories import give_room_to
from .test_room_analytics import BEN, CAL, OVERVIEW, answer, loaded  # noqa: F401  (the fixture: the hand-computed session)


@pytest.fixture
def room_page(launch_as, db, loaded):  # noqa: F811
    """The teacher's session on the course the room belongs to; get(path, query, target) opens a room
    page, as htmx the block whose id is `target`."""
    teacher = launch_as("teacher")
    give_room_to(db.session, teacher.course)

    def get(path="room-1/", query="session=main", target=None):
        return (teacher.htmx(target) if target else teacher).get(f"/courses/{teacher.course.id}/rooms/{path}?{query}")
    get.course = teacher.course
    get.client = teacher
    return get


def card(html: str, label: str) -> str:
    match = re.search(rf">{re.escape(label)}</span></span><span class=\"card-value\">([^<]+)<", html)
    assert match, label
    return match.group(1)


def names(html: str) -> list[str]:
    return re.findall(r'<tr data-person="\d+"><th scope="row"><span class="person hover-card"><a [^>]*>([^<]+)</a>',
                      html)


def test_overview_on_the_page_equals_the_hand_values(room_page):
    html = room_page().text
    # Hand values (test_room_analytics.OVERVIEW) as the page formats them.
    assert card(html, "Unique viewers") == "4"                       # Ana, Ben, Cal, Dan
    assert "+ 1 stay by people not signed in" in html
    assert card(html, "Avg. minutes viewed") == "7.6 min"            # 30.5 / 4
    assert card(html, "Live engagement rate") == "66.7%"             # 180 s of 270 s
    assert card(html, "Sent live reactions") == "33.3%" and "2 reactions" in html
    assert card(html, "Sent messages on group chat") == "50%" and "2 messages" in html
    assert card(html, "Participation in polls") == "100%"
    assert card(html, "Q&amp;A threads created") == "50%" and "1 thread<" in html
    assert card(html, "Attachments downloaded") == "33.3%" and "2 downloads" in html
    assert card(html, "Recording plays") == "5"
    assert 'data-definition="Distinct signed-in people who joined' in html  # definitions on hover
    # The date filter picks the same session (Oct 5 in Chicago) and its numbers.
    by_day = room_page(query="range=custom&from=2026-10-05&to=2026-10-05").text
    assert card(by_day, "Unique viewers") == "4" and card(by_day, "Sent live reactions") == "33.3%"


def test_overview_from_the_api_equals_the_hand_values(room_page, client, registration):
    _token, secret = tokens.create(registration.id, "reports")
    response = client.get("/api/v1/reports/room-overview?room=room-1&session=main",
                          headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["subject"] == {"type": "room", "id": "room-1", "name": "Week 1", "course": room_page.course.id,
                               "session": "main"}
    for name, value in OVERVIEW.items():
        assert body["data"][name] == pytest.approx(value), name
    points = client.get("/api/v1/reports/room-timeline?room=room-1&session=main",
                        headers={"Authorization": f"Bearer {secret}"}).get_json()["data"]["points"]
    assert [(p["live_viewers"], p["engagement_rate"]) for p in points][4:6] == [(1, None), (2, 0.5)]
    missing = client.get("/api/v1/reports/room-overview?room=room-1&session=nope",
                         headers={"Authorization": f"Bearer {secret}"})
    assert missing.status_code == 404


def test_every_room_report_answers_and_is_documented(room_page, client, registration):
    from lti_tool.views.api.reports import ROOM_REPORTS

    _token, secret = tokens.create(registration.id, "reports")
    doc = client.get("/api/v1/openapi.json").get_json()["paths"]["/reports/{id}"]
    for name, report in ROOM_REPORTS.items():
        assert name in doc["parameters"][0]["schema"]["enum"] and f"`{name}`" in doc["get"]["description"]
        body = client.get(f"/api/v1/reports/{name}?room=room-1", headers={"Authorization": f"Bearer {secret}"})
        assert body.status_code == 200, body.text
        assert body.get_json()["report"] == name and set(body.get_json()["metrics"]) == set(report.metrics)
    interactions = client.get("/api/v1/reports/room-interactions?room=room-1&session=main",
                              headers={"Authorization": f"Bearer {secret}"}).get_json()["data"]
    vote = interactions["details"][-1]
    assert [(o["option"], o["participants"], o["rate"]) for o in vote["options"]] == [
        ("X", 1, 0.5), ("Y", 2, 1.0), ("Z", 0, 0.0)]


def test_totals_recordings_countries_and_devices_on_the_page(room_page, client, registration):
    html = room_page().text
    totals = re.search(r'<tr class="totals"><th scope="row">Total <span class="muted">\(4 people\)</span></th>(.*?)</tr>',
                       html, re.S)
    assert totals, "totals row"
    assert re.findall(r'<td class="num">([^<]+)</td>', totals.group(1)) == ["30.5 min", "2", "2", "1", "8", "66.7%"]
    searched = room_page(query="session=main&q=ort", target="attendees").text
    assert "(1 person)</span>" in searched and "9 min" in searched
    recordings = room_page(target="recordings").text
    assert "<strong>5</strong> · 4 player impressions" in recordings
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td class="num">(\d+)</td><td class="num">(\d+)</td>'
                      r'<td class="num">([^<]+)</td><td class="num">([^<]+)</td></tr>', recordings)
    assert rows == [("Ana Lima", "0", "1", "1 min", "—"), ("Ben Ortiz", "1", "1", "2 min", "21%"),
                    ("Unnamed user", "0", "1", "3 min", "—"), ("Unnamed user", "2", "1", "10 min", "100%"),
                    ("Unknown", "1", "1", "1 min", "11%")]
    where = room_page(target="where").text
    cells = re.findall(r'<tr(?: class="totals")?><th scope="row">([^<]+)</th><td class="num">(\d+)</td>'
                       r'<td class="num">(\d+)</td></tr>', where)
    assert cells == [("All countries", "3", "4"), ("Unknown", "3", "3"), ("Brazil", "1", "0"), ("United States", "0", "1"),
                     ("All devices", "3", "4"), ("Other", "3", "3"), ("Mobile", "1", "0"), ("Desktop", "0", "1")]
    _token, secret = tokens.create(registration.id, "reports")
    api = client.get("/api/v1/reports/room-recordings?room=room-1&session=main",
                     headers={"Authorization": f"Bearer {secret}"}).get_json()["data"]
    assert (api["plays"], api["impressions"]) == (5, 4)
    assert [(v["name"], v["plays"], v["avg_completion_rate"]) for v in api["viewers"]][1] == ("Ben Ortiz", 1, 21.0)
    countries = client.get("/api/v1/reports/room-countries?room=room-1&session=main",
                           headers={"Authorization": f"Bearer {secret}"}).get_json()["data"]
    assert countries["all"]["recording_viewers"] == 4
    assert [(r["value"], r["live_viewers"], r["recording_viewers"]) for r in countries["rows"]] == [
        (None, 3, 3), ("BR", 1, 0), ("US", 0, 1)]
    attendees = client.get("/api/v1/reports/room-attendees?room=room-1&session=main",
                           headers={"Authorization": f"Bearer {secret}"}).get_json()["data"]
    assert attendees["totals"]["minutes_viewed"] == 30.5 and attendees["totals"]["polls_answered"] == 8


def test_a_block_request_returns_only_its_block(room_page):
    html = room_page(target="overview").text
    assert html.lstrip().startswith('<section id="overview"')
    assert "<html" not in html and "Viewer engagement" not in html and 'id="interactions"' not in html


def test_search_starts_at_three_letters(room_page):
    def search(q):
        return names(room_page(query=f"session=main&q={q}", target="attendees").text)

    everyone = ["Unnamed user", "Ben Ortiz", "Ana Lima", "Unnamed user"]  # by minutes viewed: 10, 9, 8.5, 3
    assert search("") == everyone
    assert search("Be") == everyone and search("Li") == everyone  # under three letters: nothing happens
    assert search("ben") == ["Ben Ortiz"]                          # first name
    assert search("Lim") == ["Ana Lima"]                           # last name
    assert search("ort") == ["Ben Ortiz"]
    assert search("xyz") == []


def test_api_search_and_sort_follow_the_page(room_page, client, registration):
    _token, secret = tokens.create(registration.id, "reports")

    def rows(query):
        response = client.get(f"/api/v1/reports/room-attendees?room=room-1&session=main&{query}",
                              headers={"Authorization": f"Bearer {secret}"})
        assert response.status_code == 200, response.text
        return [r["name"] for r in response.get_json()["data"]["rows"]]

    assert rows("q=li") == ["Unnamed user", "Ben Ortiz", "Ana Lima", "Unnamed user"]
    assert rows("q=lim") == ["Ana Lima"]
    assert rows("sort=raised_hands") == ["Ben Ortiz", "Ana Lima", "Unnamed user", "Unnamed user"]


def test_an_attendee_shows_their_minutes_and_activity(room_page):
    html = room_page(query="session=main", target="attendees").text
    ben = re.search(r'person=(\d+)"[^>]*>Ben Ortiz<', html).group(1)
    block = room_page(query=f"session=main&person={ben}", target="attendee").text
    assert block.lstrip().startswith('<section id="attendee"')
    # Ben: minute 2 high, minute 5 good, the other eight offline.
    assert re.findall(r'class="heat-cell heat-(\w+)"', block) == [
        "offline", "offline", "high", "offline", "offline", "good", "offline", "offline", "offline", "offline"]
    assert "Q&amp;A threads (1)" in block and "Downloads (2)" in block and "Raised hands (1)" in block
    assert "slides.pdf" in block


def test_an_interaction_shows_its_answers_rates(room_page, db):
    vote = db.session.scalar(select(Interaction.id).where(Interaction.external_id == "vote-1"))
    listing = room_page(target="interactions").text
    assert "5 launched interactions" in listing and f"interaction={vote}" in listing
    html = room_page(query=f"session=main&interaction={vote}", target="interactions").text
    assert "Crowd vote · 3 options · 2 unique participants" in html
    answers = re.findall(r'<tr><th scope="row">(\w+)</th><td class="num">(\d+)</td><td class="num">([^<]+)</td>', html)
    assert answers == [("X", "1", "50%"), ("Y", "2", "100%"), ("Z", "0", "0%")]


def test_a_crowd_vote_says_its_rates_add_up_past_100_percent(room_page, db):
    vote, poll = (db.session.scalar(select(Interaction.id).where(Interaction.external_id == key))
                  for key in ("vote-1", "poll-1"))
    html = room_page(query=f"session=main&interaction={vote}", target="interactions").text
    assert "Several answers could be chosen: rates add up to more than 100 %." in html
    single = room_page(query=f"session=main&interaction={poll}", target="interactions").text
    assert "Several answers could be chosen" not in single


def test_open_answers_are_grouped_whatever_their_case_with_counts(room_page, db, client, registration):
    _token, secret = tokens.create(registration.id, "more answers")
    more = [answer("a-10", "open-1", BEN, text="  slide 4 "), answer("a-11", "open-1", CAL, text="Nothing")]
    response = client.post("/api/v1/room-events", json={"version": 1, "events": more},
                           headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200, response.text
    question = db.session.scalar(select(Interaction.id).where(Interaction.external_id == "open-1"))
    html = room_page(query=f"session=main&interaction={question}", target="interactions").text
    assert "Open question · 3 unique participants" in html
    answers = re.findall(r'<tr><th scope="row">([^<]+)</th><td class="num">(\d+)</td><td class="num">([^<]+)</td>', html)
    assert answers == [("Slide 4", "2", "66.7%"), ("Nothing", "1", "33.3%")]


def test_rooms_list_links_each_session(room_page):
    html = room_page(path="", query="").text
    assert "Week 1" in html and "room-1/?session=main" in html and "room-1/?session=later" in html
    assert html.index("session=later") < html.index("session=main")  # newest first
    assert "session=br" not in html  # breakout rooms follow their session


def test_student_gets_403_and_no_data(room_page, launch_as):
    student = launch_as("student")
    for path in ("", "room-1/"):
        response = student.get(f"/courses/{room_page.course.id}/rooms/{path}")
        assert response.status_code == 403
        assert "Week 1" not in response.text and "Ana Lima" not in response.text


def test_staff_of_another_course_get_403_or_404(room_page, launch_as):
    elsewhere = launch_as("teacher", "course-b")
    other = elsewhere.course.id
    foreign = elsewhere.get(f"/courses/{room_page.course.id}/rooms/room-1/")
    assert foreign.status_code == 403 and "Ana Lima" not in foreign.text
    own = elsewhere.get(f"/courses/{other}/rooms/room-1/")
    assert own.status_code == 404 and "Ana Lima" not in own.text
    listing = elsewhere.get(f"/courses/{other}/rooms/")
    assert listing.status_code == 200 and "Week 1" not in listing.text and "room-events API" in listing.text


# -- issue 14: the session/range choice, per-session timelines, the hover card, the custom window ----------

def test_a_room_opens_on_its_latest_session(room_page):
    """No session and no range in the URL: the latest main session ("later", Oct 12), not an empty
    "last 30 days"; a range in the URL (or show=range) is every session in it."""
    opened = room_page(query="").text
    assert re.search(r'<p class="period-note">Session Oct 12, 2026', opened)
    assert re.search(r'<input type="radio" name="show" value="session" checked>', opened)
    assert re.search(r'<fieldset class="room-show-range" data-show="range" disabled>', opened)
    ranged = room_page(query="show=range&range=custom&from=2026-10-01&to=2026-10-31").text
    assert "Sessions that started Oct 1, 2026 – Oct 31, 2026" in ranged
    assert '<fieldset class="room-show-session" data-show="session" disabled>' in ranged
    assert re.search(r'<input type="radio" name="show" value="range" checked>', ranged)


def chart_rows(html: str, chart_id: str) -> list[str]:
    figure = re.search(rf'<figure class="chart" id="{chart_id}">(.*?)</figure>', html, re.S).group(1)
    return re.findall(r'<tr><th scope="row">([^<]+)</th>', figure)


def test_a_range_charts_each_session_apart_with_dates(room_page):
    """Oct 1-31 holds "main" (Oct 5, its breakout inside it) and "later" (Oct 12): one pair of charts each,
    titled with the session's local start, every minute dated; never both on one minute axis."""
    html = room_page(query="range=custom&from=2026-10-01&to=2026-10-31").text
    first, second = chart_rows(html, "room-viewers-chart"), chart_rows(html, "room-viewers-chart-2")
    assert first and all(label.startswith("Oct 05 ") for label in first)
    assert second and all(label.startswith("Oct 12 ") for label in second)
    assert 'id="room-engagement-chart-2"' in html and 'id="room-viewers-chart-3"' not in html
    assert re.search(r'<figcaption class="chart-caption">Oct 05, 2026 \d\d:\d\d: Live unique viewers per minute', html)
    # One session: one pair, its minutes undated (the period note names the session).
    one = room_page().text
    assert 'id="room-viewers-chart-2"' not in one
    assert re.fullmatch(r"\d\d:\d\d", chart_rows(one, "room-viewers-chart")[0])


def test_the_attendee_hover_card_is_described_to_screen_readers(room_page):
    html = room_page(target="attendees").text
    link = re.search(r'<a href="[^"]*person=(\d+)[^"]*"[^>]*aria-describedby="person-card-(\d+)">Ben Ortiz</a>', html)
    assert link and link.group(1) == link.group(2)
    card = re.search(rf'<span class="card" role="tooltip" id="person-card-{link.group(1)}">(.*?)</span></span>', html)
    assert card and "Ben Ortiz: " in card.group(1) and "Company: State U" in card.group(1)
    assert "Country: United States" in card.group(1) and "Role:" not in card.group(1)  # only what is known
    assert 'title="Ben Ortiz' not in html


def test_the_custom_report_window_opens_on_the_pages_session(room_page):
    """Opened from a session's page (the filter form's session), the window starts on that session's
    local day, its room and the session, not on the last 30 days of every room."""
    teacher_page = room_page().text
    assert re.search(r'href="[^"]*/exports/custom\?room=room-1&amp;session=main"[^>]*hx-include="#room-filters"',
                     teacher_page)
    html = room_page.client.get(f"/courses/{room_page.course.id}/exports/custom?room=room-1&session=main").text
    assert re.search(r'<option value="custom" selected>', html)
    assert 'name="from" value="2026-10-05"' in html and 'name="to" value="2026-10-05"' in html
    assert 'name="entry_ids" value="room-1"' in html and 'name="cue_point_ids" value="main"' in html
    everywhere = room_page.client.get(f"/courses/{room_page.course.id}/exports/custom").text
    assert re.search(r'<option value="last30" selected>', everywhere) and 'name="entry_ids" value=""' in everywhere
