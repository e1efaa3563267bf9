"""The filter bar in headless Chromium: a custom range is checked beside its fields before anything is
sent, the server's refusal is shown there once, and places and domains are searchable checkbox choices;
axe-core finds no WCAG 2.1 A/AA violation and keyboard focus stays visible."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import ARTIFACTS, screenshot
from .test_accessibility import course_url, focus_is_visible, no_violations
from .test_dashboards import card, number
from .test_demo_launch import launch

pytestmark = pytest.mark.browser


def test_a_custom_range_is_checked_beside_its_fields(browser_page, live_server):
    page = browser_page
    launch(page, live_server, "teacher")
    message = page.locator("#range-message")
    start, end = page.locator("#filters input[name=from]"), page.locator("#filters input[name=to]")

    page.get_by_label("Date range").select_option("custom")
    expect(message).to_have_text("Choose the From and To days of the custom range.")
    expect(page).not_to_have_url(re.compile(r"range=custom"))   # nothing was sent
    start.fill("2026-09-10")
    expect(message).to_have_text("Choose the To day of the custom range.")
    end.fill("2026-09-01")
    expect(message).to_have_text("The To day must be on or after the From day.")
    expect(end).to_have_attribute("aria-invalid", "true")

    # Days the browser accepts but the server refuses (more than ten years): its own reason, once.
    start.fill("2001-01-01")
    end.fill("2020-01-01")
    expect(message).to_contain_text("The custom range must end after it starts, span at most ten years")
    end.fill("2021-01-01")
    expect(message).to_contain_text("span at most ten years")
    expect(page.locator("[data-range-message]")).to_have_count(1)
    expect(page.locator(".flash-error")).to_have_count(0)         # no generic "That did not work" notes
    no_violations(page)
    page.locator("#filters").screenshot(path=str(ARTIFACTS / "filter-bar-refused-range.png"))

    start.fill("2020-02-01")
    expect(page).to_have_url(re.compile(r"range=custom&from=2020-02-01&to=2021-01-01"))
    expect(message).to_have_text("")
    expect(end).not_to_have_attribute("aria-invalid", "true")


def test_places_and_domains_are_searchable_choices(browser_page, live_server):
    page = browser_page
    launch(page, live_server, "teacher")
    page.goto(f"{course_url(page)}/gallery/?range=last12m")
    every_play = number(card(page, "Plays").inner_text())
    page.locator("summary", has_text="More filters").click()
    cities = page.get_by_role("group", name="Cities")
    cities.get_by_label("Find cities").fill("DUL")
    expect(cities.get_by_label("Duluth")).to_be_visible()
    expect(cities.get_by_label("Minneapolis")).to_be_hidden()
    expect(page).not_to_have_url(re.compile(r"city="))            # finding is not filtering
    cities.get_by_label("Duluth").check()
    expect(page).to_have_url(re.compile(r"city=Duluth"))
    expect(card(page, "Plays")).not_to_have_text(re.compile(f"^{int(every_play):,}$"))
    assert 0 < number(card(page, "Plays").inner_text()) < every_play
    cities.get_by_label("Find cities").fill("nowhere at all")
    expect(cities.get_by_text("No cities match.")).to_be_visible()
    cities.get_by_label("Find cities").fill("")
    expect(page.get_by_role("group", name="Countries").get_by_label("United States (US)")).to_be_visible()

    no_violations(page)
    focus_is_visible(page, presses=40)
    for width in (1280, 768):
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(page, f"filter-bar-{width}")
        page.locator("#filters").screenshot(path=str(ARTIFACTS / f"filter-bar-{width}-form.png"))
