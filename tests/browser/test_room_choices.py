"""Issue 14 on the room page, in headless Chromium: the room opens on its latest session and "Show"
switches between one session and a date range; a range charts each session apart; choosing a person
brings their engagement into view with focus; the attendee hover card opens on hover and keyboard focus.
axe-core checks the new controls (WCAG 2.1 A/AA)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import screenshot
from .test_accessibility import no_violations
from .test_demo_launch import launch
from .test_rooms import ROOM, post_room_events

pytestmark = pytest.mark.browser


@pytest.fixture
def room_url(browser_page, live_server) -> str:
    """The seminar room's page for a signed-in teacher (posting its events again changes nothing: ids)."""
    launch(browser_page, live_server, "teacher")
    course_id = int(re.search(r"/courses/(\d+)/", browser_page.url).group(1))
    post_room_events(live_server, course_id)
    return f"{live_server.url}/courses/{course_id}/rooms/{ROOM}/"


def test_show_one_session_or_a_range_and_each_session_charted_apart(browser_page, room_url):
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(room_url)
    filters = page.locator("#room-filters")
    expect(page.locator("#dashboard .period-note")).to_contain_text("Session Week 2 seminar")
    expect(filters.get_by_label("One session")).to_be_checked()
    expect(filters.locator("select[name=range]")).to_be_disabled()

    filters.get_by_label("Sessions in a date range").check()
    expect(page).to_have_url(re.compile(r"[?&]show=range"))
    assert "session=" not in page.url
    expect(filters.locator("select[name=session]")).to_be_disabled()
    expect(filters.locator("select[name=range]")).to_be_enabled()
    captions = page.locator("#timeline figcaption")
    expect(captions).to_have_count(4)
    expect(captions.nth(0)).to_contain_text("Week 1 seminar")
    expect(captions.nth(2)).to_contain_text("Week 2 seminar")
    first_minute = page.locator("#room-viewers-chart tbody th").first
    expect(first_minute).to_have_text(re.compile(r"^[A-Z][a-z]{2} \d\d \d\d:\d\d$"))
    no_violations(page)
    screenshot(page, "room-range-1280")
    page.set_viewport_size({"width": 768, "height": 900})
    screenshot(page, "room-range-768")


def test_choosing_a_person_brings_their_engagement_into_view(browser_page, room_url):
    page = browser_page
    page.set_viewport_size({"width": 1024, "height": 600})
    page.goto(room_url + "?session=seminar-2")
    link = page.locator("#attendees").get_by_role("link", name="Yuki Tanaka")
    link.scroll_into_view_if_needed()
    link.click()
    expect(page.locator("#attendee-title")).to_have_text("Yuki Tanaka: engagement by minute")
    expect(page.locator("#attendee-title")).to_be_in_viewport()
    expect(page.locator("#attendee-title")).to_be_focused()


def test_the_attendee_hover_card_opens_on_hover_and_focus(browser_page, room_url):
    page = browser_page
    page.goto(room_url + "?session=seminar-2")
    lena = page.locator("#attendees").get_by_role("link", name="Lena Marsh")
    card = page.locator("#" + lena.get_attribute("aria-describedby"))
    expect(card).to_have_attribute("role", "tooltip")
    expect(card).to_be_hidden()
    lena.focus()
    expect(card).to_be_visible()
    expect(card).to_contain_text("Company: Biology 101")
    no_violations(page)
    page.keyboard.press("Escape")
    expect(card).to_be_hidden()
    yuki = page.locator("#attendees").get_by_role("link", name="Yuki Tanaka")
    yuki.hover()
    expect(page.locator("#" + yuki.get_attribute("aria-describedby"))).to_be_visible()
    screenshot(page, "room-hover-card")


def test_choosing_a_viewer_of_one_video_brings_their_heatmap_into_view(browser_page, live_server):
    """The same on the single-media page: a name in People fills the heatmap block far above it."""
    page = browser_page
    page.set_viewport_size({"width": 1024, "height": 600})
    launch(page, live_server, "teacher")
    page.locator("#top ol.ranked a").first.click()
    page.wait_for_url(re.compile(r"/entries/"))
    name = page.locator("#people tbody th a").first
    name.scroll_into_view_if_needed()
    name.click()
    expect(page.locator("#heatmap")).to_contain_text("how often each part was watched")
    expect(page.locator("#heatmap-title")).to_be_in_viewport()
    expect(page.locator("#heatmap-title")).to_be_focused()
