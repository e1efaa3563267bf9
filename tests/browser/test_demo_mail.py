"""The demo's email: Export → Email on the gallery page, then the message in the dev platform's outbox."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import screenshot
from .test_accessibility import no_violations
from .test_demo_launch import launch

pytestmark = pytest.mark.browser


def test_an_emailed_report_can_be_read_in_the_demo_outbox(browser_page, live_server):
    page = browser_page
    launch(page, live_server, "teacher")
    page.get_by_role("link", name="Export", exact=True).click()
    dialog = page.locator("dialog#export-dialog")
    expect(dialog).to_contain_text("email the report to a*****@*****.e")
    dialog.get_by_role("button", name="Export via email").click()
    expect(page.locator("#export-status .export-status")).to_contain_text("Emailed to a*****@*****.e.", timeout=15000)

    page.goto(f"{live_server.url}/dev/mail")
    expect(page.locator("h1")).to_have_text("Demo outbox")
    newest = page.locator("#outbox tbody tr").first
    expect(newest).to_contain_text("ada.palmer@demo.example.edu")
    no_violations(page)
    screenshot(page, "demo-outbox-1024")
    newest.get_by_role("link").click()
    expect(page.locator("dl.mail-headers")).to_contain_text("Date")
    expect(page.locator(".mail-body")).to_contain_text("/exports/download/")
    no_violations(page)
    for width in (1280, 768):
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(page, f"demo-outbox-message-{width}")
    assert re.search(r"\d{2} \w{3} \d{4} \d\d:\d\d:\d\d", page.locator("dl.mail-headers").inner_text())
