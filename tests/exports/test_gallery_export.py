"""Export report to email (gallery page) over the hand-computed data set of tests/ingest/dataset.py."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from lti_tool.models import PlayerEvent

from ..views.test_gallery import OCTOBER, card, gallery  # noqa: F401  (the fixture)
from .conftest import export_id_of, polls, sections


def export(gallery, close=True, **form):  # noqa: F811
    data = {"kind": "gallery-csv", "range": "custom", "from": "2026-10-01", "to": "2026-10-10", **form}
    response = gallery.teacher.htmx().post(f"/courses/{gallery.course.id}/exports/", data=data)
    if close:
        response.close()
    return response


def test_gallery_page_export_is_emailed_with_the_page_numbers(gallery, mail_on, app, db):  # noqa: F811
    page = gallery(OCTOBER).text
    assert 'hx-include="#filters"' in page and ">Export</a>" in page
    dialog = gallery.teacher.htmx("export-dialog").get(
        f"/courses/{gallery.course.id}/exports/new?kind=gallery-csv&{OCTOBER}&device=desktop")
    assert "t*****@*****.e" in dialog.text and "Also every player event" in dialog.text
    assert '<input type="hidden" name="device" value="desktop">' in dialog.text
    response = export(gallery, delivery="email", headers="descriptive", events="1")
    assert response.status_code == 200, response.text
    mail_on.wait(1)
    report = sections(app.test_client().get(mail_on.link()).data)
    assert report["_preamble"][1] == ["Dates", "2026-10-01 to 2026-10-10"]
    header, current = report["Highlights"][0], dict(zip(report["Highlights"][0], report["Highlights"][1]))
    assert header[:5] == ["Period", "From", "To", "Player impressions", "Plays"]
    assert current["Player impressions"] == card(page, "Player impressions") == "6"
    assert current["Plays"] == card(page, "Plays") == "5"
    assert current["Unique viewers"] == card(page, "Unique viewers") == "2"
    assert f"{float(current['Minutes viewed']):.1f} min" == card(page, "Minutes viewed") == "3.6 min"
    assert f"{float(current['Avg. minutes per play']):.1f} min" == card(page, "Avg. minutes per play") == "0.7 min"
    assert f"{float(current['Avg. completion rate (%)']):.1f}%" == card(page, "Avg. completion rate") == "44.2%"
    days = report["Metrics over time"]
    # Local days of the page's zone: the late play (04:30 UTC on Oct 5) is Oct 4 in Chicago.
    assert len(days) == 1 + 10 and (days[4][:3], days[5][:3]) == (["2026-10-04", "0", "1"], ["2026-10-05", "6", "4"])
    people = report["User engagement"]
    assert people[0][:3] == ["Name", "Email", "Course role"]
    assert "Teacher Tester" in [r[0] for r in people[1:]]
    events = report["Player events"]
    assert events[0][:5] == ["Time", "Event", "Entry id", "Entry", "Viewer"]
    stored = db.session.scalar(select(func.count(PlayerEvent.id)))
    assert len(events) - 1 == stored                       # every event of the range, one row each
    assert events[1][0].startswith("2026-10-0") and events[1][2] == "1_e1"


def test_gallery_filters_narrow_the_file(gallery, exports_config, app):  # noqa: F811
    gallery(OCTOBER)
    response = export(gallery, delivery="download", headers="raw", device="desktop")
    status = gallery.teacher.htmx().get(
        f"/courses/{gallery.course.id}/exports/{export_id_of(response.text)}/status").text
    assert not polls(status)
    link = re.search(r'href="(http://[^"]+/exports/download/[^"]+)"', status).group(1)
    report = sections(app.test_client().get(link).data)
    row = dict(zip(report["Highlights"][0], report["Highlights"][1]))
    assert (row["impressions"], row["plays"]) == ("1", "0")   # as the page shows with device=desktop
    assert "Player events" not in report


def test_gallery_pdf_is_a_download_job(gallery, exports_config, rq_mode, app):  # noqa: F811
    gallery(OCTOBER)
    response = export(gallery, kind="gallery-pdf", delivery="download")
    rq_mode()
    status = gallery.teacher.htmx().get(
        f"/courses/{gallery.course.id}/exports/{export_id_of(response.text)}/status").text
    link = re.search(r'href="(http://[^"]+/exports/download/[^"]+)"', status).group(1)
    assert ".pdf" in status and app.test_client().get(link).data.startswith(b"%PDF-")
