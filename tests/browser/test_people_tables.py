"""The people table's sort control and the People page in headless Chromium, checked with axe-core
(WCAG 2.1 A and AA): the Name header sorts A to Z on its first click, by keyboard, and says so."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import screenshot
from .test_accessibility import course_url, focus_is_visible, no_violations
from .test_demo_launch import launch

pytestmark = pytest.mark.browser


def test_sorting_people_by_name_starts_a_to_z(browser_page, live_server):
    page = browser_page
    launch(page, live_server, "teacher")
    people = page.locator("#people")
    people.get_by_role("link", name="Name", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#people th[aria-sort='ascending']")).to_have_text("Name")
    names = [n.strip() for n in page.locator("#people tbody th[scope='row']").all_inner_texts()]
    names = [n.removesuffix("not viewed").strip() for n in names]
    assert len(names) > 2 and names == sorted(names, key=str.lower)
    no_violations(page)
    screenshot(page, "people-sorted-by-name")


def test_people_page_says_what_it_lists(browser_page, live_server):
    page = browser_page
    launch(page, live_server, "teacher")
    page.goto(f"{course_url(page)}/")
    expect(page.locator(".lede")).to_contain_text("roster")
    no_violations(page)
    focus_is_visible(page)
    for width in (1280, 768):
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(page, f"people-page-{width}")
