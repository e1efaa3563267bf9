"""The block registry: a block registered on a page reaches that page, the report API, the CSV export and
the PDF summary without another edit; the single-media page's "Video performance over time" is the
gallery's timeline block on the entry's own Context."""
from __future__ import annotations

import pytest
from flask import g
from werkzeug.datastructures import MultiDict

from lti_tool.analytics import dashboard
from lti_tool.analytics.blocks import Block, Col, Sheet
from lti_tool.exports import pdf
from lti_tool.exports.csv_export import gallery_sections
from lti_tool.exports.selection import gallery_context, gallery_params
from lti_tool.models.types import utcnow
from lti_tool.views.api import reports as report_api

from ..ingest.dataset import EVENTS
from ..support.factories import add_to_gallery, bearer, ingest

OCT = {"range": "custom", "from": "2026-10-01", "to": "2026-10-10"}


@pytest.fixture
def world(launch_as, db, registration):
    teacher = launch_as("teacher")
    course = teacher.course
    ingest(registration.id, EVENTS)
    add_to_gallery(db.session, course, "1_e1")

    def page(path, args=None, target=None):
        """The course page at `path`; as htmx, the block whose id is `target`."""
        viewer = teacher.htmx(target) if target else teacher
        return viewer.get(f"/courses/{course.id}{path}", query_string={**OCT, **(args or {})})
    return {"course": course, "page": page, "client": teacher.client, "db": db, "registration": registration}


def test_the_single_media_page_shows_video_performance_over_time(world):
    html = world["page"]("/entries/1_e1/").text
    section = html[html.index('id="timeline"'):html.index('id="heatmap"')]
    assert "Video performance over time" in section and "<svg" in section
    assert "details=entries" not in section                      # one entry: no "by entry" details
    fragment = world["page"]("/entries/1_e1/", {"details": "dates"}, target="timeline").text
    # The swapped block alone, with the page's own filters (its days) and title.
    assert fragment.lstrip().startswith('<section id="timeline"') and "By date" in fragment
    assert "Video performance over time" in fragment and "2026-10-01" in fragment
    gallery = world["page"]("/gallery/").text
    assert "Category performance over time" in gallery


def _rows_block(ctx):
    return [{"value": "a", "plays": 2}, {"value": "b", "plays": 1}]


def _rows_sheets(ctx):
    return [Sheet("Worked example", (Col("value", label="Value"), Col.of("plays")),
                  lambda: (("a", 2), ("b", 1)))]


EXAMPLE = Block("example", _rows_block, ("plays",), sheets=_rows_sheets, report="worked-example",
                summary="A block registered in one place", in_pdf=True)


def test_a_registered_block_reaches_the_api_the_csv_and_the_pdf(world, monkeypatch):
    monkeypatch.setitem(dashboard.GALLERY_BLOCKS, "example", EXAMPLE)
    monkeypatch.setattr(report_api, "REPORTS", {**report_api.REPORTS, **report_api.block_reports()})
    course, db = world["course"], world["db"]
    auth = bearer(world["registration"].id)
    body = world["client"].get("/api/v1/reports/worked-example", query_string={**OCT, "course": course.id},
                               headers=auth).get_json()
    assert body["data"] == _rows_block(None) and list(body["metrics"]) == ["plays"]
    assert world["client"].get("/api/v1/reports/worked-example", query_string={"entry": "1_e1"},
                               headers=auth).status_code == 400  # course only
    for name in ("viewer", "course"):
        g.pop(name, None)
    params = gallery_params(db.session, course, MultiDict(OCT), "UTC", utcnow())
    sections = {s.title: s for s in gallery_sections(gallery_context(db.session, course, params))}
    example = sections["Worked example"]
    assert [c.header(True) for c in example.columns] == ["Value", "Plays"] and list(example.rows()) == [("a", 2), ("b", 1)]
    summary = pdf.gallery_summary(db.session, course.id, OCT, "UTC")
    table = next(t for t in summary.tables if t.title == "Worked example")
    assert table.headers == ("Value", "Plays") and table.rows == (("a", "2"), ("b", "1"))


def test_csv_sections_are_the_gallery_blocks_sheets_in_page_order(world):
    for name in ("viewer", "course"):
        g.pop(name, None)
    db, course = world["db"], world["course"]
    params = gallery_params(db.session, course, MultiDict(OCT), "UTC", utcnow())
    titles = [s.title for s in gallery_sections(gallery_context(db.session, course, params))]
    assert titles == ["Highlights", "Metrics over time", "Media engagement", "Countries", "Devices",
                      "Operating systems", "Browsers", "Domains", "User engagement"]
