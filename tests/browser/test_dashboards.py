"""A teacher explores the Media Gallery analytics in headless Chromium, as the demo shows them."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import screenshot
from .test_demo_launch import launch

pytestmark = pytest.mark.browser


def number(text: str) -> float:
    return float(re.sub(r"[^0-9.]", "", text) or 0)


def card(page, label):
    return page.locator(".card", has=page.locator(".metric", has_text=re.compile(f"^{label}$"))).locator(".card-value")


def test_teacher_explores_the_gallery(browser_page, live_server):
    page = browser_page
    launch(page, live_server, "teacher")
    expect(page.locator("h1")).to_have_text("Media Gallery analytics")
    month_plays = number(card(page, "Plays").inner_text())
    assert month_plays > 0
    screenshot(page, "gallery-1024")
    page.set_viewport_size({"width": 768, "height": 900})
    screenshot(page, "gallery-768")
    page.set_viewport_size({"width": 1024, "height": 900})

    # A shorter preset: only the dashboard is swapped, the URL follows, numbers change.
    page.get_by_label("Date range").select_option("last7")
    expect(page).to_have_url(re.compile(r"range=last7"))
    expect(page.locator(".period-note")).not_to_contain_text(f"{month_plays}")
    week_plays = number(card(page, "Plays").inner_text())
    assert week_plays < month_plays

    # Back to the month, then one domain only.
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"range=last7"))
    expect(card(page, "Plays")).to_have_text(re.compile(f"^{int(month_plays):,}$"))
    page.locator("summary", has_text="More filters").click()
    page.locator("input[name=domain]").nth(1).check()
    expect(page).to_have_url(re.compile(r"domain="))
    domain_plays = number(card(page, "Plays").inner_text())
    assert domain_plays < month_plays

    # Drill into a country: the locations block alone is swapped.
    page.goto(page.url.split("?")[0])
    page.locator("#locations").get_by_role("link", name="United States").click()
    expect(page.locator("#locations h2")).to_have_text("Top regions")
    expect(page.locator("#locations")).to_contain_text("Minnesota")

    # Open the top video, then one viewer's heatmap.
    page.locator("#top ol.ranked a").first.click()
    page.wait_for_url(re.compile(r"/entries/"))
    expect(page.locator("h2#heatmap-title")).to_have_text("Where viewers watched")
    expect(page.locator("h1")).to_have_count(1)  # the entry's page replaced the gallery, not landed in a block
    page.locator("#people tbody th a").first.click()
    expect(page.locator("#heatmap")).to_contain_text("how often each part was watched")
    screenshot(page, "entry-1024")
    page.set_viewport_size({"width": 768, "height": 900})
    screenshot(page, "entry-768")
