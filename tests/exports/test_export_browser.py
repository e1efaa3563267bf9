"""Export report to email in headless Chromium: the teacher clicks Export on the gallery page, the
dialog opens as a modal with the masked address, "Export via email" closes it, the status polls until
the email has gone, and the emailed link downloads the file.

The live server runs the dev platform on a database of its own (<test database>_exports_browser) and
its own Redis database, jobs in-process after the response, mail to an SMTP server on loopback."""
from __future__ import annotations

import re

import pytest
from flask_migrate import upgrade
from playwright.sync_api import expect

from lti_tool import MIGRATIONS_DIR, create_app
from lti_tool.extensions import db as _db

from ..browser.conftest import ARTIFACTS
from ..browser.test_demo_launch import launch
from ..conftest import REDIS_URL, TEST_SETTINGS, fresh_database
from ..support.servers import LoopbackServer
from .conftest import Inbox, free_port, sections

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def smtp():
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.url = f"smtp://127.0.0.1:{controller.port}"
    yield inbox
    controller.stop()


@pytest.fixture(scope="module")
def export_server(smtp, tmp_path_factory):
    database = fresh_database("exports_browser")
    base, index = REDIS_URL.rsplit("/", 1)
    app = create_app({**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": database, "REDIS_URL": f"{base}/{(int(index) + 7) % 16}",
                      "DEV_PLATFORM_ENABLED": True, "SMTP_URL": smtp.url, "JOB_RUNNER": "inline",
                      "EXPORT_DIR": str(tmp_path_factory.mktemp("exports"))})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
    with LoopbackServer(app) as server:
        runner = app.test_cli_runner()
        assert runner.invoke(args=["demo", "setup", "--base-url", server.url]).exit_code == 0
        result = runner.invoke(args=["demo", "seed", "--events", "3000"])
        assert result.exit_code == 0, result.output
        yield server
    with app.app_context():
        _db.engine.dispose()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1024, "height": 800}, accept_downloads=True)
    yield context.new_page()
    context.close()


def test_teacher_exports_the_gallery_report_to_email(page, export_server, smtp):
    launch(page, export_server, "teacher")
    expect(page.locator("h1")).to_have_text("Media Gallery analytics")
    page.get_by_role("link", name="Export", exact=True).click()
    dialog = page.locator("dialog#export-dialog")
    expect(dialog).to_be_visible()
    assert dialog.evaluate("d => d.open && d.matches(':modal')")
    expect(dialog).to_contain_text("You are about to export and email the report to a*****@*****.e.")
    dialog.get_by_label("Descriptive headers").check()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "export-dialog-1024.png"))
    dialog.get_by_role("button", name="Cancel").click()                 # closes, sends nothing
    expect(dialog).to_be_hidden()
    page.get_by_role("link", name="Export", exact=True).click()
    expect(dialog).to_be_visible()
    dialog.get_by_label("Descriptive headers").check()
    dialog.get_by_role("button", name="Export via email").click()
    expect(dialog).to_be_hidden()
    notice = page.locator("#export-status")
    expect(notice).to_contain_text("The report will be emailed to you (a*****@*****.e) when it is ready.")
    expect(notice.locator(".export-status")).to_contain_text("Emailed to a*****@*****.e.", timeout=15000)
    assert notice.locator("[hx-trigger]").count() == 0                 # polling stopped
    page.screenshot(path=str(ARTIFACTS / "export-notice-1024.png"))
    smtp.wait(1)
    assert smtp.recipients == [["ada.palmer@demo.example.edu"]]
    link = smtp.link()
    with page.expect_download() as download:
        page.evaluate("url => { const a = document.createElement('a'); a.href = url; a.click(); }", link)
    data = open(download.value.path(), "rb").read()
    report = sections(data)
    assert report["Highlights"][0][3] == "Player impressions"
    assert re.match(r"media-gallery-bio-101-\d{4}-\d\d-\d\d_\d{4}-\d\d-\d\d\.csv", download.value.suggested_filename)


def test_teacher_downloads_custom_room_reports(page, export_server):
    launch(page, export_server, "teacher")
    page.get_by_role("navigation", name="Media analytics sections").get_by_role("link", name="Rooms").click()
    expect(page.locator("h1")).to_have_text("Rooms")
    page.locator("main h2 a").first.click()
    expect(page.locator("h1")).to_contain_text("Room analytics")
    page.get_by_role("link", name="Custom report").click()
    window = page.locator("#custom-report dialog")
    expect(window).to_be_visible()
    window.get_by_label("Timeframe").select_option("last365")
    window.get_by_role("checkbox", name="Room Data").check()
    window.get_by_role("checkbox", name="Attendees Data").check()
    page.screenshot(path=str(ARTIFACTS / "custom-report-window-1024.png"))
    window.get_by_role("button", name="Download").click()
    status = page.locator("#custom-report .export-status")
    expect(status).to_contain_text("Ready.", timeout=15000)
    with page.expect_download() as download:
        status.get_by_role("link", name=re.compile(r"Download custom-reports-.*\.zip")).click()
    assert download.value.suggested_filename.endswith(".zip")


def test_teacher_audits_embeds_drills_a_domain_and_exports(page, export_server, smtp):
    mails_before = len(smtp.messages)
    launch(page, export_server, "teacher")
    page.get_by_role("navigation", name="Media analytics sections").get_by_role("link", name="Embed audit").click()
    expect(page.locator("h1")).to_have_text("Embed audit")
    expect(page.get_by_label("Date range")).to_have_value("last12m")
    checklist = page.locator("#audit-filters")
    expect(checklist.locator("input[value='canvas.umn.edu']")).to_be_checked()       # needs action
    expect(checklist.locator("input[value='kaf.canvas.umn.edu']")).not_to_be_checked()  # managed
    expect(checklist.locator("input[value='mediaspace.umn.edu']")).not_to_be_checked()
    inventory = page.locator("#inventory")
    expect(inventory.locator(".audit-group").first).to_be_visible()
    assert inventory.locator("a[target=_blank]").count() > 0                          # pages open in a new tab
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "embed-audit-1024.png"), full_page=True)

    # Drill into the first domain: only the audit block is swapped, the URL follows.
    first = inventory.locator(".audit-group h3 a").first
    domain = first.inner_text()
    first.click()
    expect(page).to_have_url(re.compile(r"focus="))
    expect(page.locator("#inventory h2")).to_have_text(f"Embeds on {domain}")
    expect(page.locator("#inventory .audit-group")).to_have_count(1)
    page.get_by_role("link", name="All selected domains").click()
    expect(page.locator("#inventory h2")).to_have_text("Embeds to update")

    # Leave out one domain: the inventory follows the checklist.
    checklist.locator("input[value='canvas.umn.edu']").uncheck()
    expect(page).to_have_url(re.compile(r"domain="))
    expect(inventory.locator(".audit-group h3 a", has_text=re.compile(r"^canvas\.umn\.edu$"))).to_have_count(0)

    # Export the inventory by email, as the page shows it.
    page.get_by_role("link", name="Export", exact=True).click()
    dialog = page.locator("dialog#export-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Export via email").click()
    status = page.locator("#export-status .export-status")
    expect(status).to_contain_text("Emailed to a*****@*****.e.", timeout=15000)
    smtp.wait(mails_before + 1)
    with page.expect_download() as download:
        page.evaluate("url => { const a = document.createElement('a'); a.href = url; a.click(); }", smtp.link())
    report = sections(open(download.value.path(), "rb").read())
    header, *rows = report["Embed audit"]
    assert header[:5] == ["domain", "category", "needs_action", "guidance", "page_url"] or header[0] == "Domain"
    assert rows and "canvas.umn.edu" not in {r[0] for r in rows}
    assert "kaf.canvas.umn.edu" not in {r[0] for r in rows}
    assert re.match(r"embed-audit-bio-101-\d{4}-\d\d-\d\d_\d{4}-\d\d-\d\d\.csv", download.value.suggested_filename)
