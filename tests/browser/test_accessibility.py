"""Pages this release changed, checked with axe-core (WCAG 2.1 A and AA) in headless Chromium, with
keyboard focus visible: the gallery with a compare period, the beacon queue's admin page, a room, the
single-media page with its performance over time.

axe-core comes with axe-playwright-python (installed with the tests); nothing is loaded from a CDN.
"""
from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from .conftest import screenshot
from .test_demo_launch import launch

pytestmark = pytest.mark.browser
WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def no_violations(page) -> None:
    results = Axe().run(page, options=WCAG_21_AA)
    assert results.violations_count == 0, results.generate_report()


def focus_is_visible(page, presses: int = 12) -> None:
    """Move through the page with Tab: every control reached shows an outline or a ring."""
    page.locator("body").click(position={"x": 1, "y": 1})  # start from the top, as a keyboard user would
    reached = 0
    for _ in range(presses):
        page.keyboard.press("Tab")
        style = page.evaluate("""() => { const e = document.activeElement; const s = getComputedStyle(e);
            return {tag: e.tagName, name: e.name || e.id || '', type: e.type || '', text: (e.innerText || e.value || '').slice(0, 40), outline: s.outlineStyle,
                    width: parseFloat(s.outlineWidth), shadow: s.boxShadow}; }""")
        if style["tag"] == "BODY":
            break
        reached += 1
        assert (style["outline"] != "none" and style["width"] > 0) or style["shadow"] != "none", style
    assert reached, "no control takes keyboard focus"


def course_url(page) -> str:
    return re.match(r"(.*/courses/\d+)/", page.url).group(1)


def test_gallery_with_a_compare_period_since_creation(browser_page, live_server):
    page = browser_page
    launch(page, live_server, "teacher")
    page.goto(f"{course_url(page)}/gallery/?range=creation&compare=previous")
    expect(page.locator("h1")).to_have_text("Media Gallery analytics")
    expect(page.locator("body")).to_contain_text("Compare period")
    no_violations(page)
    focus_is_visible(page)
    screenshot(page, "gallery-compare-since-creation")


def test_beacon_queue_admin_page(browser_page, live_server):
    page = browser_page
    launch(page, live_server, "admin")
    page.get_by_role("navigation", name="Media analytics sections").get_by_role("link", name="Beacon queue").click()
    expect(page.locator("h1")).to_contain_text("Beacon queue")
    no_violations(page)
    focus_is_visible(page)
    screenshot(page, "admin-beacon-queue")


def test_room_page_with_its_breakdowns(browser_page, live_server):
    page = browser_page
    launch(page, live_server, "teacher")
    page.get_by_role("navigation", name="Media analytics sections").get_by_role("link", name="Rooms").click()
    page.locator("main a[href*='/rooms/']").first.click()
    page.wait_for_load_state("networkidle")
    no_violations(page)
    focus_is_visible(page)


def test_single_media_page_with_its_performance_over_time_and_export(browser_page, live_server):
    """The single-media page this release extended: Video performance over time, its details by date
    (swapped by htmx), and the page's Export toolbar."""
    page = browser_page
    launch(page, live_server, "teacher")
    page.locator("#top a[href*='/entries/']").first.click()
    expect(page.locator("#timeline h2")).to_have_text("Video performance over time")
    page.locator("#timeline").get_by_role("link", name="Dates").click()
    expect(page.locator("#timeline caption", has_text="By date")).to_have_count(1)
    expect(page.locator("h1")).to_have_count(1)
    no_violations(page)
    focus_is_visible(page, presses=20)
    screenshot(page, "entry-performance-over-time")
