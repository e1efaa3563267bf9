"""A teacher explores a live room's analytics in headless Chromium: pick a session, search an attendee,
open their engagement by minute and an interaction's answers, every step swapped in by htmx."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from lti_tool.extensions import db
from lti_tool.ingest import tokens
from lti_tool.models import Course

from .conftest import screenshot
from .test_dashboards import card
from .test_demo_launch import launch

pytestmark = pytest.mark.browser

ROOM = "browser-test-seminar"
LENA, TOMAS, YUKI, DIEGO, NORA, OMAR = ("sub:lena", "sub:tomas", "sub:yuki", "sub:diego", "sub:nora", "sub:omar")
NAMES = {LENA: "Lena Marsh", TOMAS: "Tomas Marlow", YUKI: "Yuki Tanaka", DIEGO: "Diego Fuentes",
         NORA: "Nora Quist", OMAR: "Omar Haddad"}


def at(days_ago: int, minute: int, second: int = 0) -> str:
    """15:MM:SS UTC `days_ago` days before today: inside the default "last 30 days" in any course time zone."""
    day = datetime.now(timezone.utc).replace(hour=15, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)
    return (day + timedelta(minutes=minute, seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ")


def stay(session: str, days_ago: int, user: str, start: int, end: int) -> list[dict]:
    key = f"{session}-{user}"
    return [{"id": f"j-{key}", "type": "join", "time": at(days_ago, start), "session": session, "user": user},
            {"id": f"l-{key}", "type": "leave", "time": at(days_ago, end), "join": f"j-{key}"}]


def samples(session: str, days_ago: int, user: str, levels: dict[int, tuple[bool, bool, bool]]) -> list[dict]:
    """One 30 s sample ending at second 30 of each minute: (sound on, tab focused, full screen)."""
    return [{"id": f"e-{session}-{user}-{minute}", "type": "engagement", "time": at(days_ago, minute, 30),
             "session": session, "user": user, "seconds": 30, "sound_on": sound, "tab_focused": focus,
             "full_screen": full} for minute, (sound, focus, full) in levels.items()]


def answer(key: str, interaction: str, days_ago: int, user: str, option: str) -> dict:
    return {"id": key, "type": "answer", "time": at(days_ago, 15), "interaction": interaction, "user": user,
            "option": option}


HIGH, GOOD, FAIR = (True, True, True), (True, True, False), (True, False, False)


def seminar_events(course_id: int) -> list[dict]:
    """Week 1 (four days ago): Nora and Omar, one rating. Week 2 (two days ago): Lena, Tomas, Yuki and
    Diego for 20, 10, 15 and 5 minutes, a poll answered by three of them and a quiz question."""
    return [
        {"id": ROOM, "type": "room", "name": "Biology seminar", "course": course_id},
        {"id": "seminar-1", "type": "session", "room": ROOM, "name": "Week 1 seminar", "start": at(4, 0),
         "end": at(4, 20)},
        {"id": "seminar-2", "type": "session", "room": ROOM, "name": "Week 2 seminar", "start": at(2, 0),
         "end": at(2, 20)},
        *[{"id": f"rsvp-{user}", "type": "rsvp", "time": at(7, 0), "room": ROOM, "user": user, "name": name,
           "company": "Biology 101"} for user, name in NAMES.items()],
        *stay("seminar-1", 4, NORA, 0, 20), *stay("seminar-1", 4, OMAR, 5, 15),
        *stay("seminar-2", 2, LENA, 0, 20), *stay("seminar-2", 2, TOMAS, 2, 12),
        *stay("seminar-2", 2, YUKI, 5, 20), *stay("seminar-2", 2, DIEGO, 10, 15),
        *samples("seminar-2", 2, LENA, {0: HIGH, 1: HIGH, 2: GOOD, 6: FAIR, 12: GOOD}),
        *samples("seminar-2", 2, YUKI, {5: GOOD, 6: GOOD}),
        {"id": "chat-lena", "type": "chat", "time": at(2, 3), "session": "seminar-2", "user": LENA,
         "text": "Is catalase in every cell?"},
        {"id": "rate-week-1", "type": "interaction", "time": at(4, 10), "session": "seminar-1", "kind": "rating",
         "question": "How clear was week 1?", "options": ["1", "2", "3", "4", "5"]},
        answer("a-nora", "rate-week-1", 4, NORA, "4"), answer("a-omar", "rate-week-1", 4, OMAR, "5"),
        {"id": "poll-enzyme", "type": "interaction", "time": at(2, 8), "session": "seminar-2", "kind": "poll",
         "question": "Which enzyme breaks down hydrogen peroxide?", "options": ["Amylase", "Lipase", "Catalase"]},
        answer("a-lena", "poll-enzyme", 2, LENA, "Catalase"), answer("a-tomas", "poll-enzyme", 2, TOMAS, "Catalase"),
        answer("a-yuki", "poll-enzyme", 2, YUKI, "Lipase"),
        {"id": "quiz-protein", "type": "interaction", "time": at(2, 12), "session": "seminar-2", "kind": "quiz",
         "question": "Are enzymes proteins?", "options": ["Yes", "No"], "correct": "Yes"},
        answer("a-lena-quiz", "quiz-protein", 2, LENA, "Yes"), answer("a-diego-quiz", "quiz-protein", 2, DIEGO, "No"),
    ]


def post_room_events(live_server, course_id: int) -> None:
    """Load the seminar room into the live server's database through the room-events API."""
    app = live_server.server.app
    with app.app_context():
        _token, secret = tokens.create(db.session.get(Course, course_id).registration_id, "browser test")
    response = app.test_client().post("/api/v1/room-events", json={"version": 1, "events": seminar_events(course_id)},
                                      headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200, response.text


def attendee_names(page):
    """The names in the attendees table (its totals row apart; each name's hover card apart)."""
    return page.locator("#attendees tbody tr[data-person] th .person > a")


def test_teacher_picks_a_session_searches_and_opens_an_interaction(browser_page, live_server):
    page = browser_page
    launch(page, live_server, "teacher")
    course_id = int(re.search(r"/courses/(\d+)/", page.url).group(1))
    post_room_events(live_server, course_id)

    page.get_by_role("navigation", name="Media analytics sections").get_by_role("link", name="Rooms").click()
    expect(page.locator("h1")).to_have_text("Rooms")
    sessions = page.locator("ul.sessions", has=page.get_by_role("link", name=re.compile("Week 2 seminar")))
    expect(sessions.get_by_role("link")).to_have_count(2)
    screenshot(page, "rooms-list")
    page.get_by_role("heading", name="Biology seminar").get_by_role("link").click()
    expect(page.locator("h1")).to_have_text("Room analytics: Biology seminar")
    page.wait_for_load_state("networkidle")
    # A full page load would drop this; every step below must be an htmx swap.
    page.evaluate("window.roomPageMarker = 'still here'")

    # The room opens on its latest session; "Sessions in a date range" is every session in the last 30 days:
    # both seminars' six people.
    expect(page.locator("#dashboard .period-note")).to_contain_text("Session Week 2 seminar")
    page.get_by_label("Sessions in a date range").check()
    expect(page).to_have_url(re.compile(r"[?&]show=range"))
    expect(card(page, "Unique viewers")).to_have_text("6")
    expect(attendee_names(page)).to_have_count(6)

    # The second session: the dashboard follows, the URL says which session.
    page.get_by_label("One session").check()
    page.locator("#room-filters select[name=session]").select_option("seminar-2")
    expect(page).to_have_url(re.compile(r"[?&]session=seminar-2"))
    expect(page.locator("#dashboard .period-note")).to_contain_text("Session Week 2 seminar")
    expect(card(page, "Unique viewers")).to_have_text("4")
    expect(card(page, "Avg. minutes viewed")).to_have_text("12.5 min")  # (20 + 10 + 15 + 5) / 4
    everyone = ["Lena Marsh", "Yuki Tanaka", "Tomas Marlow", "Diego Fuentes"]  # most minutes first
    expect(attendee_names(page)).to_have_text(everyone)
    expect(page.locator("#interactions")).to_contain_text("2 launched interactions")
    expect(page.locator("#interactions")).not_to_contain_text("How clear was week 1?")
    screenshot(page, "room-session-2")

    # Two letters search nothing: everyone stays, and the page says why.
    search = page.locator("#attendee-search")
    search.fill("Ma")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]q=Ma(&|$)"))
    expect(page.locator("#attendees [role=status]")).to_have_text(
        "Type at least three letters to search; showing everyone.")
    expect(attendee_names(page)).to_have_text(everyone)

    # Three letters of a last name and Enter: only the Marsh and the Marlow.
    search = page.locator("#attendee-search")
    search.fill("mar")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]q=mar(&|$)"))
    expect(attendee_names(page)).to_have_text(["Lena Marsh", "Tomas Marlow"])
    expect(page.locator("#attendees [role=status]")).to_have_count(0)
    assert "session=seminar-2" in page.url  # the search keeps the chosen session
    screenshot(page, "room-search-last-name")

    # A first name with the search button.
    page.locator("#attendee-search").fill("Yuki")
    page.locator("#attendees").get_by_role("button", name="Search").click()
    expect(attendee_names(page)).to_have_text(["Yuki Tanaka"])

    # Yuki's heat strip: one cell per minute of the session, two engaged minutes, the rest offline.
    page.locator("#attendees").get_by_role("link", name="Yuki Tanaka").click()
    expect(page.locator("#attendee-title")).to_have_text("Yuki Tanaka: engagement by minute")
    cells = page.locator("#attendee .heat-strip .heat-cell")
    expect(cells).to_have_count(20)
    expect(page.locator("#attendee .heat-strip .heat-good")).to_have_count(2)
    expect(page.locator("#attendee .heat-strip .heat-offline")).to_have_count(18)
    assert re.search(r"[?&]person=\d+", page.url)
    screenshot(page, "room-attendee-heat")

    # The poll's answers: type, options, unique participants, each answer's participants and rate.
    interactions = page.locator("#interactions")
    interactions.get_by_role("link", name="Which enzyme breaks down hydrogen peroxide?").click()
    expect(page.locator("#interactions-title")).to_have_text(
        "Interactions / Which enzyme breaks down hydrogen peroxide?")
    expect(interactions).to_contain_text("Poll · 3 options · 3 unique participants")
    expect(interactions.locator("tbody th")).to_have_text(["Amylase", "Lipase", "Catalase"])
    expect(interactions.locator("tbody td")).to_have_text(["0", "0%", "1", "33.3%", "2", "66.7%"])  # of 3 people
    assert re.search(r"[?&]interaction=\d+", page.url) and "session=seminar-2" in page.url
    assert page.evaluate("window.roomPageMarker") == "still here"
    screenshot(page, "room-interaction-detail")
    page.set_viewport_size({"width": 768, "height": 900})
    screenshot(page, "room-interaction-detail-768")

    # Back to the list, then the quiz question: its right answer is marked.
    interactions.get_by_role("link", name="Interactions").click()
    expect(page.locator("#interactions-title")).to_have_text("Interactions")
    interactions.get_by_role("link", name="Are enzymes proteins?").click()
    expect(interactions).to_contain_text("Quiz question · 2 options · 2 unique participants")
    expect(interactions.locator("tbody th")).to_have_text(["Yes correct", "No"])
    expect(interactions.locator("tbody td")).to_have_text(["1", "50%", "1", "50%"])
    assert page.evaluate("window.roomPageMarker") == "still here"
