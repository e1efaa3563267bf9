"""The room page's Custom report window through the export plumbing: one report is a CSV, several a zip,
a refusal shows the window again with its reason (the reports themselves: test_custom_reports.py)."""
from __future__ import annotations

import io
import re
import zipfile

from sqlalchemy import func, select

from lti_tool.models import Export

from .conftest import export_id_of, polls

OCTOBER_5 = {"timeframe": "custom", "from": "2026-10-05", "to": "2026-10-05"}


def post(teacher, **form):
    data = {"kind": "custom", "delivery": "download", **form}
    response = teacher.htmx("custom-report").post(f"/courses/{teacher.course.id}/exports/", data=data)
    response.close()
    return response


def link_of(teacher, response) -> tuple[str, str]:
    status = teacher.status(export_id_of(response.text)).text
    assert not polls(status)
    return status, re.search(r'href="(http://[^"]+/exports/download/[^"]+)"', status).group(1)


def test_the_room_page_opens_the_custom_report_window(teacher, exports_config):
    page = teacher.room_page().text
    assert ">Custom report</a>" in page and '<div id="custom-report" class="custom-report"></div>' in page
    window = teacher.htmx("custom-report").get(f"/courses/{teacher.course.id}/exports/custom")
    assert window.status_code == 200
    assert window.text.startswith('<div id="custom-report"') and "Group Chat Transcripts" in window.text
    assert '<input type="hidden" name="kind" value="custom">' in window.text


def test_one_report_is_a_csv_and_several_a_zip(teacher, exports_config, app):
    one = post(teacher, report="room_data", **OCTOBER_5)
    assert one.status_code == 200 and one.text.startswith('<div id="custom-report"')
    status, link = link_of(teacher, one)
    assert "Download room_data.csv" in status
    data = app.test_client().get(link).data.decode("utf-8-sig")
    assert data.splitlines()[0].startswith("roomId,roomName,sessionStartTime")
    assert "room-1,Week 1," in data
    several = post(teacher, report=["room_data", "attendees_data"], **OCTOBER_5)
    status, link = link_of(teacher, several)
    assert re.search(r"Download custom-reports-[a-z0-9-]+\.zip", status)
    archive = zipfile.ZipFile(io.BytesIO(app.test_client().get(link).data))
    assert archive.namelist() == ["room_data.csv", "attendees_data.csv"]


def test_a_refused_custom_report_shows_the_window_with_its_reason(teacher, exports_config, db):
    response = post(teacher, **OCTOBER_5)
    assert response.status_code == 422
    assert response.text.startswith('<div id="custom-report"') and "choose at least one report" in response.text
    bad = post(teacher, report="room_data", timeframe="custom", **{"from": "2026-10-09", "to": "2026-10-01"})
    assert "the custom timeframe ends before it starts" in bad.text
    assert db.session.scalar(select(func.count(Export.id))) == 0
