"""A newcomer's path through the demo in headless Chromium: pick a person, land on their page."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import launch_chromium, screenshot

pytestmark = pytest.mark.browser


def launch(page, live_server, person: str, course: str = "bio101"):
    page.goto(f"{live_server.url}/dev/")
    page.get_by_test_id(f"launch-{person}-{course}").click()
    page.wait_for_url(re.compile(r"/courses/\d+/"))
    page.wait_for_load_state("networkidle")


def test_teacher_launches_into_the_gallery_and_sees_the_people(browser_page, live_server):
    page = browser_page
    launch(page, live_server, "teacher")
    assert page.locator("h1").inner_text() == "Media Gallery analytics"
    assert page.locator(".role-badge").inner_text() == "Teacher"
    assert page.locator(".course-title").inner_text() == "Introduction to Biology"
    nav = page.get_by_role("navigation", name="Media analytics sections")
    assert nav.get_by_role("link", name="Course settings").is_visible()
    assert nav.get_by_role("link", name="All courses").count() == 0
    assert "handoff=" not in page.url  # the single-use code is dropped from the address bar
    nav.get_by_role("link", name="People").click()
    expect(page.locator("h1")).to_have_text("People")
    assert page.get_by_role("row", name=re.compile("Ada Palmer")).is_visible()
    screenshot(page, "teacher-course-overview-1024")
    page.set_viewport_size({"width": 768, "height": 800})
    screenshot(page, "teacher-course-overview-768")


def test_teacher_changes_a_setting_through_htmx(browser_page, live_server):
    page = browser_page
    launch(page, live_server, "teacher", "hist210")
    page.get_by_role("link", name="Course settings").click()
    page.wait_for_url(re.compile(r"/settings$"))
    page.get_by_label("Time zone for this course's dates").fill("Mars/Olympus")
    page.get_by_role("button", name="Save").click()
    assert page.locator(".field-error").inner_text().startswith("'Mars/Olympus' is not a time zone name")
    page.get_by_label("Time zone for this course's dates").fill("Europe/Paris")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Settings saved.").wait_for()
    screenshot(page, "teacher-course-settings")


def test_student_sees_only_their_own_page(browser_page, live_server):
    page = browser_page
    launch(page, live_server, "student")
    assert page.locator("h1").inner_text() == "My viewing"
    assert page.locator(".role-badge").inner_text() == "Student"
    nav = page.get_by_role("navigation", name="Media analytics sections")
    assert nav.get_by_role("link").all_inner_texts() == ["My viewing"]
    screenshot(page, "student-my-viewing")
    overview = page.url.replace("/my/", "/")
    response = page.goto(overview)
    assert response.status == 403
    assert page.locator("h1").inner_text() == "You do not have access to this page"
    assert "Ada Palmer" not in page.content()


def test_admin_sees_every_course_and_tool_settings(browser_page, live_server):
    page = browser_page
    launch(page, live_server, "admin", "hist210")
    page.get_by_role("link", name="All courses").click()
    page.wait_for_url(re.compile(r"/admin/courses"))
    assert page.locator("h1").inner_text() == "All courses"
    page.get_by_role("link", name="Modern World History").wait_for()
    page.get_by_label("Search courses").fill("modern")
    rows = page.locator("#course-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Modern World History")
    assert "q=modern" in page.url  # the search is in the URL, so it can be bookmarked
    screenshot(page, "admin-all-courses")


@pytest.mark.parametrize("third_party_cookies", ["allowed", "phased-out"])
def test_tool_works_inside_a_cross_site_course_frame(live_server, playwright, third_party_cookies):
    """Canvas shows the tool in an iframe of another site; Partitioned cookies and the header
    token keep it working when the browser blocks unpartitioned third-party cookies."""
    flags = ["--test-third-party-cookie-phaseout"] if third_party_cookies == "phased-out" else []
    browser = launch_chromium(playwright, flags)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{live_server.url}/dev/")  # the 127.0.0.1 address the demo prints
        page.get_by_test_id("frame-teacher-bio101").click()
        tool = page.frame_locator("iframe[name=tool-frame]")
        expect(tool.locator("h1")).to_have_text("Media Gallery analytics")
        # The course page is on the other loopback name, another site than the tool it frames.
        assert page.url.startswith(live_server.url.replace("127.0.0.1", "localhost") + "/dev/")
        assert page.frames[1].url.startswith(live_server.url + "/")
        tool.get_by_role("link", name="Course settings").click()
        expect(tool.locator("h1")).to_have_text("Course settings")
        tool.get_by_label("Time zone for this course's dates").fill("America/Denver")
        tool.get_by_role("button", name="Save").click()
        expect(tool.get_by_text("Settings saved.")).to_be_visible()
        screenshot(page, f"teacher-in-course-frame-{third_party_cookies}")
    finally:
        browser.close()
