"""The gallery's insights rotate (seed 003: "a rotating display") accessibly: one at a time, with a
Pause/Play button, announced only when the person pauses or steps; nothing moves for someone who
prefers reduced motion."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import screenshot
from .test_accessibility import course_url, no_violations
from .test_demo_launch import launch

pytestmark = pytest.mark.browser


def open_gallery(page, live_server):
    launch(page, live_server, "teacher")
    page.goto(f"{course_url(page)}/gallery/")
    expect(page.locator("h1")).to_have_text("Media Gallery analytics")
    return page.locator("#insights")


def test_insights_rotate_pause_and_step(browser_page, live_server):
    page = browser_page
    insights = open_gallery(page, live_server)
    items, position = insights.locator(".insight"), insights.locator("[data-rotate-position]")
    toggle = insights.get_by_role("button", name="Pause rotating insights")
    expect(toggle).to_be_visible()
    expect(position).to_have_text("1 of 3")
    expect(items.nth(0)).to_be_visible()
    expect(items.nth(1)).to_be_hidden()
    expect(insights.locator("dl")).to_have_attribute("aria-live", "off")  # rotation is not announced

    expect(position).to_have_text("2 of 3", timeout=15_000)  # it moves on by itself
    expect(items.nth(1)).to_be_visible()
    expect(items.nth(0)).to_be_hidden()

    toggle.click()
    play = insights.get_by_role("button", name="Play rotating insights")
    expect(play).to_have_attribute("aria-pressed", "true")
    expect(insights.locator("dl")).to_have_attribute("aria-live", "polite")
    shown = position.inner_text()
    page.wait_for_timeout(8_000)  # longer than the rotation's six seconds
    expect(position).to_have_text(shown)

    insights.get_by_role("button", name="Next insight").click()
    expect(position).not_to_have_text(shown)
    expect(play).to_be_visible()  # stepping keeps it paused

    play.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # reach Play by keyboard, so its focus ring is the one keyboard users see
    ring = page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
        return {text: document.activeElement.innerText, outline: s.outlineStyle, width: parseFloat(s.outlineWidth)}; }""")
    assert ring["text"].startswith("Play") and ring["outline"] != "none" and ring["width"] > 0, ring
    no_violations(page)
    for width in (1280, 768):
        page.set_viewport_size({"width": width, "height": 900})
        insights.scroll_into_view_if_needed()
        screenshot(page, f"gallery-insights-paused-{width}")

    play.click()
    expect(insights.get_by_role("button", name="Pause rotating insights")).to_be_visible()
    expect(insights.locator("dl")).to_have_attribute("aria-live", "off")


def test_insights_do_not_move_for_reduced_motion(chromium, live_server):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, reduced_motion="reduce")
    try:
        page = context.new_page()
        insights = open_gallery(page, live_server)
        for index in range(3):
            expect(insights.locator(".insight").nth(index)).to_be_visible()
        expect(insights.locator("[data-rotate-controls]")).to_be_hidden()
        expect(insights.locator("dl")).to_have_attribute("aria-live", "polite")
        no_violations(page)
        insights.scroll_into_view_if_needed()
        screenshot(page, "gallery-insights-reduced-motion")
    finally:
        context.close()
