"""Export report to email (room page): the dialog, the job in-process and through Redis with a real
worker, the email received by a real SMTP server, the signed link, and the CSV against the page."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from lti_tool.models import Export, Person

from ..rooms.test_room_page import card, names
from .conftest import export_id_of, polls, sections

OVERVIEW_DESCRIPTIVE = ["Unique viewers", "Stays by people not signed in", "Minutes viewed", "Avg. minutes viewed",
                        "Live engagement rate (%)", "Live unique viewers", "Signed-in live attendees", "Reactions",
                        "Sent live reactions (%)", "Group chat messages", "Sent messages on group chat (%)",
                        "Participation in polls (%)", "Q&A threads", "Q&A threads created (%)",
                        "Attachment downloads", "Attachments downloaded (%)", "Recording plays"]


def test_the_room_page_offers_export_and_the_dialog_masks_the_address(teacher, mail_on):
    page = teacher.room_page().text
    assert 'class="export-toolbar"' in page and ">Export</a>" in page
    assert 'hx-include="#room-filters"' in page          # the filters as they are when clicked
    dialog = teacher.dialog(kind="room-csv", room="room-1", session="main")
    assert dialog.status_code == 200, dialog.text
    html = dialog.text
    assert html.startswith('<dialog id="export-dialog"') and "data-modal" in html
    assert "You are about to export and email the report to <strong>t*****@*****.e</strong>" in html
    assert "teacher@test.edu" not in html
    assert "Descriptive headers" in html and "Cancel" in html and ">Export via email</button>" in html
    assert '<input type="hidden" name="session" value="main">' in html
    # Without htmx the Export link opens the same form as a page, with the filters the page was opened with.
    href = re.search(r'<a class="button" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert href == f"/courses/{teacher.course.id}/exports/new?kind=room-csv&room=room-1&session=main"
    full = teacher.get(href)
    assert full.status_code == 200 and "<title>Export report" in full.text and "t*****@*****.e" in full.text
    assert "export-dialog-cancel" not in full.text


def test_emailed_in_process_link_downloads_the_page_numbers(teacher, mail_on, app):
    page = teacher.room_page().text
    response = teacher.export(delivery="email", headers="descriptive")
    assert response.status_code == 200, response.text
    assert "The report will be emailed to you (t*****@*****.e) when it is ready." in response.text
    assert polls(response.text)                        # queued when the answer left
    export_id = export_id_of(response.text)
    [message] = mail_on.wait(1)
    assert mail_on.recipients == [["teacher@test.edu"]]
    assert "Your report is ready" in message["Subject"]
    done = teacher.status(export_id).text
    assert "Emailed to t*****@*****.e." in done and not polls(done)   # polling stops
    # The link is the capability: a browser without any session downloads the file.
    with app.test_client() as stranger:
        download = stranger.get(mail_on.link())
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment; filename=room-week-1-2026-10-05.csv")
    report = sections(download.data)
    assert report["_preamble"][0] == ["Room", "Week 1"]
    header, values = report["Overview"]
    assert header == OVERVIEW_DESCRIPTIVE
    row = dict(zip(header, values))
    # The page's cards and the file's numbers are one computation.
    assert row["Unique viewers"] == card(page, "Unique viewers") == "4"
    assert f"{float(row['Avg. minutes viewed']):.1f} min" == card(page, "Avg. minutes viewed") == "7.6 min"
    # Shares are percentages 0-100 in every CSV, as in the custom reports' engagementRate.
    assert f"{float(row['Live engagement rate (%)']):.1f}%" == card(page, "Live engagement rate")
    assert f"{float(row['Sent live reactions (%)']):.1f}%" == card(page, "Sent live reactions") == "33.3%"
    assert row["Recording plays"] == card(page, "Recording plays") == "5"
    attendees = report["Viewer engagement"]
    assert attendees[0][:7] == ["Name", "Title", "Role", "Company", "Industry", "Country", "Minutes viewed"]
    # Every attendee, in the page's order (most minutes first); the page shows them on one page here.
    assert [r[0] for r in attendees[1:-1]] == names(page)
    assert [float(r[6]) for r in attendees[1:-1]] == [10.0, 9.0, 8.5, 3.0]
    assert attendees[-1][0] == "Total (4 people)" and float(attendees[-1][6]) == pytest.approx(30.5)
    assert [r[1] for r in report["Interactions"][1:]] == ["Favourite topic?", "2 + 2?", "How clear was it?",
                                                          "Anything unclear?", "Next topics?"]
    answers = report["Interaction answers"]
    assert ["2 + 2?", "4", "1", "100.0", "yes"] in answers and ["Anything unclear?", "Slide 4", "1", "100.0", ""] in answers
    assert report["Top countries"][-1][0] == "All countries"
    assert report["Top devices"][0] == ["Device", "Device type", "Live unique viewers", "Recording unique viewers"]


def test_raw_headers_are_the_field_names(teacher, mail_on, app):
    response = teacher.export(delivery="download")        # the checkbox left unticked
    export = teacher.status(export_id_of(response.text)).text
    link = re.search(r'href="(http://[^"]+/exports/download/[^"]+)"', export).group(1)
    report = sections(app.test_client().get(link).data)
    assert report["Overview"][0][:4] == ["unique_viewers", "anonymous_stays", "minutes_viewed", "avg_minutes_viewed"]
    assert report["Viewer engagement"][0][-1] == "live_engagement_rate"


def test_emailed_through_redis_with_a_real_worker(teacher, mail_on, rq_mode, db):
    response = teacher.export(delivery="email", headers="descriptive")
    export_id = export_id_of(response.text)
    assert "Waiting to start" in teacher.status(export_id).text
    assert rq_mode() is True                             # the export job, then the email job it queued
    mail_on.wait(1)
    status = teacher.status(export_id).text
    assert "Emailed to t*****@*****.e." in status and not polls(status)
    export = db.session.get(Export, export_id)
    assert (export.state, export.active_key, export.emailed_to) == ("done", None, "t*****@*****.e")
    assert export.file_size > 0 and export.started_at and export.finished_at


def test_smtp_down_is_retried_with_backoff_then_fails_with_its_reason(teacher, exports_config, rq_mode, monkeypatch,
                                                                      app):
    from .conftest import free_port

    monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{free_port()}")   # nothing listens there
    monkeypatch.setitem(app.config, "JOB_RETRY_INTERVALS", (1, 1))
    export_id = export_id_of(teacher.export(delivery="email").text)
    rq_mode()
    waiting = teacher.status(export_id).text
    assert ("The mail server did not answer (connection refused); trying again in 1 s (attempt 1 of 3 failed)."
            in waiting)
    assert polls(waiting)
    from .conftest import until

    def finished():
        rq_mode()
        return not polls(teacher.status(export_id).text)
    until(finished, timeout=15, step=0.3)
    failed = teacher.status(export_id).text
    assert ("Failed: The report is ready, but the email could not be sent: the mail server did not answer "
            "(connection refused); we tried 3 times. Download it here instead." in failed)
    assert 'hx-trigger' not in failed
    assert "Download room-week-1-2026-10-05.csv" in failed       # the file is still there


def test_smtp_down_in_process_fails_with_its_reason(teacher, exports_config, monkeypatch, app):
    from .conftest import free_port

    monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{free_port()}")
    export_id = export_id_of(teacher.export(delivery="email").text)
    failed = teacher.status(export_id).text
    assert "we tried 3 times" in failed and "connection refused" in failed and not polls(failed)


def test_the_same_export_twice_is_already_in_progress(teacher, mail_on, rq_mode, db):
    first = teacher.export(delivery="email")
    second = teacher.export(delivery="email")
    assert "This report is already being made and will be emailed to t*****@*****.e" in second.text
    assert export_id_of(first.text) == export_id_of(second.text)
    other = teacher.export(delivery="email", session="", range="custom", **{"from": "2026-10-01", "to": "2026-10-31"})
    assert export_id_of(other.text) != export_id_of(first.text)    # other filters: another export
    assert db.session.scalar(select(func.count(Export.id))) == 2
    rq_mode()
    again = teacher.export(delivery="email")                        # once done, a new one may start
    assert "already" not in again.text and export_id_of(again.text) != export_id_of(first.text)


def test_without_an_email_address_the_dialog_offers_download(teacher, mail_on, db, app):
    person = db.session.scalar(select(Person).where(Person.email == "teacher@test.edu"))
    person.email = None
    db.session.commit()
    html = teacher.dialog(kind="room-csv", room="room-1", session="main").text
    assert "We have no email address for you (Canvas did not share it)." in html
    assert "Export via email" not in html and ">Download</button>" in html
    refused = teacher.export(delivery="email")
    assert refused.status_code == 422
    assert "we have no email address for you; download the report instead" in refused.text
    response = teacher.export(delivery="download", headers="descriptive")
    assert "its download link appears here when it is ready" in response.text
    status = teacher.status(export_id_of(response.text)).text
    link = re.search(r'href="(http://[^"]+/exports/download/[^"]+)"', status).group(1)
    assert sections(app.test_client().get(link).data)["Overview"][1][0] == "4"
    assert mail_on.messages == []


def test_without_smtp_the_dialog_says_so(teacher, exports_config):
    html = teacher.dialog(kind="room-csv", room="room-1").text
    assert "This server does not send email." in html and "Export via email" not in html


@pytest.mark.parametrize("form, message", [
    ({"room": "nope"}, "this course has no such room"),
    ({"session": "nope"}, "this room has no such session"),
    ({"range": "forever"}, "these filters cannot be used: range must be one of"),
    ({"range": "custom", "from": "2026-10-05"}, "a custom range needs from and to"),
    ({"headers": "descriptive", "delivery": "fax"}, "delivery must be download or email"),
])
def test_malformed_parameters_are_refused_and_change_nothing(teacher, mail_on, db, form, message):
    response = teacher.export(**form)
    assert response.status_code == 422
    assert message in response.text
    assert db.session.scalar(select(func.count(Export.id))) == 0


def test_unknown_kind_is_400(teacher, mail_on):
    response = teacher.export(kind="everything")
    assert response.status_code == 400
    assert teacher.dialog(kind="everything").status_code == 400


def test_a_job_that_fails_shows_its_reason_and_stops_polling(teacher, exports_config, monkeypatch, db):
    from dataclasses import replace

    from rq.timeouts import JobTimeoutException

    from lti_tool.exports import tasks

    def too_slow(*args):
        raise JobTimeoutException("stopped")

    monkeypatch.setitem(tasks.KINDS, "room-csv", replace(tasks.KINDS["room-csv"], build=too_slow))
    status = teacher.status(export_id_of(teacher.export().text)).text
    assert "Failed: This report took longer than 30 minutes and was stopped." in status and not polls(status)

    def broken(*args):
        raise RuntimeError("a bug")

    monkeypatch.setitem(tasks.KINDS, "room-csv", replace(tasks.KINDS["room-csv"], build=broken))
    status = teacher.status(export_id_of(teacher.export().text)).text
    assert "Something went wrong on our side while making this report." in status and not polls(status)
    assert all(e.state == "failed" and e.active_key is None for e in db.session.scalars(select(Export)))


def test_an_export_left_running_by_a_dead_worker_is_released(teacher, exports_config, rq_mode, db):
    from datetime import timedelta

    from lti_tool.models.types import utcnow

    export_id = export_id_of(teacher.export().text)
    export = db.session.get(Export, export_id)
    export.state, export.started_at = "running", utcnow() - timedelta(days=1)
    db.session.commit()
    status = teacher.status(export_id).text
    assert "stopped without finishing" in status and not polls(status)
    assert export_id_of(teacher.export().text) != export_id


def test_the_list_shows_the_persons_recent_exports(teacher, mail_on):
    teacher.export(delivery="email")
    listing = teacher.get(f"/courses/{teacher.course.id}/exports/")
    assert listing.status_code == 200
    assert "Email to t*****@*****.e" in listing.text and "Room report (CSV)" in listing.text
    assert "Emailed to t*****@*****.e." in listing.text


def test_room_pdf_is_a_download_job(teacher, exports_config, rq_mode, app):
    response = teacher.export(kind="room-pdf", delivery="download")
    assert response.status_code == 200, response.text
    rq_mode()
    status = teacher.status(export_id_of(response.text)).text
    link = re.search(r'href="(http://[^"]+/exports/download/[^"]+)"', status).group(1)
    assert "Download room-week-1-2026-10-05.pdf" in status
    assert app.test_client().get(link).data.startswith(b"%PDF-")


def test_a_status_is_only_its_owners(teacher, mail_on, launch_as, db):
    export_id = export_id_of(teacher.export(delivery="email").text)
    assert teacher.status("0" * 32).status_code == 404
    ta = launch_as("ta")     # same course, same rights, another person
    response = ta.htmx().get(f"/courses/{teacher.course.id}/exports/{export_id}/status")
    assert response.status_code == 404
    listing = ta.get(f"/courses/{teacher.course.id}/exports/")
    assert export_id not in listing.text and "No exports yet" in listing.text


def test_a_change_needs_the_session_header_not_only_the_cookie(teacher, mail_on, db):
    assert teacher.client.get(f"/courses/{teacher.course.id}/exports/").status_code == 200   # the cookie reads
    response = teacher.client.post(f"/courses/{teacher.course.id}/exports/",
                                   data={"kind": "room-csv", "room": "room-1", "delivery": "email"})
    assert response.status_code == 401
    assert db.session.scalar(select(func.count(Export.id))) == 0
