"""Funnel milestones (seed 003) in the browser: choosing a milestone swaps the funnel block (htmx) with
the media and people who reached it; the new links pass axe-core (WCAG 2.1 A/AA) and show keyboard focus."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import screenshot
from .test_accessibility import course_url, no_violations
from .test_demo_launch import launch

pytestmark = pytest.mark.browser


def test_choosing_a_milestone_lists_who_reached_it(browser_page, live_server):
    page = browser_page
    launch(page, live_server, "teacher")
    page.goto(f"{course_url(page)}/gallery/?range=last12m")
    funnel = page.locator("#funnel")
    expect(funnel.locator(".milestone-reach")).to_have_count(0)
    choice = funnel.get_by_role("navigation", name="Who reached a milestone").get_by_role("link", name="Who reached 50 %")
    choice.focus()
    style = page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
        return {outline: s.outlineStyle, width: parseFloat(s.outlineWidth), shadow: s.boxShadow}; }""")
    assert (style["outline"] != "none" and style["width"] > 0) or style["shadow"] != "none", style
    page.keyboard.press("Enter")
    expect(funnel.locator("caption", has_text="Media whose plays reached 50 %")).to_have_count(1)
    expect(funnel.locator("caption", has_text="People whose plays reached 50 %")).to_have_count(1)
    expect(funnel.get_by_role("link", name="Who reached 50 %")).to_have_attribute("aria-current", "true")
    assert "milestone=50" in page.url                          # the URL keeps the choice
    expect(page.locator("h1")).to_have_count(1)                # the block was swapped, not the page nested
    rows = funnel.locator(".milestone-reach tbody tr")
    assert rows.count() > 0
    no_violations(page)
    funnel.scroll_into_view_if_needed()
    screenshot(page, "gallery-funnel-milestone-50")
    page.set_viewport_size({"width": 768, "height": 1000})
    screenshot(page, "gallery-funnel-milestone-50-768")
