"""Export report (single-media page) over the hand-computed data set of tests/ingest/dataset.py."""
from __future__ import annotations

import re

from ..ingest.dataset import EVENTS
from ..support.factories import ingest
from ..views.test_gallery import OCTOBER, card, gallery  # noqa: F401  (the fixture)
from .conftest import export_id_of, polls, sections


def entry_page(gallery, external_id="1_e1", query=OCTOBER):  # noqa: F811
    return gallery.teacher.get(f"/courses/{gallery.course.id}/entries/{external_id}/?{query}")


def export(gallery, close=True, **form):  # noqa: F811
    data = {"kind": "entry-csv", "entry": "1_e1", "range": "custom", "from": "2026-10-01", "to": "2026-10-10",
            "delivery": "download", **form}
    response = gallery.teacher.htmx().post(f"/courses/{gallery.course.id}/exports/", data=data)
    if close:
        response.close()
    return response


def downloaded(gallery, app, response):  # noqa: F811
    status = gallery.teacher.htmx().get(
        f"/courses/{gallery.course.id}/exports/{export_id_of(response.text)}/status").text
    assert not polls(status)
    link = re.search(r'href="(http://[^"]+/exports/download/[^"]+)"', status).group(1)
    return sections(app.test_client().get(link).data)


def _on_the_entry_page(gallery):  # noqa: F811
    gallery(OCTOBER)
    return entry_page(gallery).text


def test_the_entry_page_offers_its_report_for_its_entry(gallery, exports_config):  # noqa: F811
    page = _on_the_entry_page(gallery)
    assert 'hx-include="#filters"' in page and ">Export</a>" in page
    assert '"entry": "1_e1"' in page and '"kind": "entry-csv"' in page
    assert "Download Report" in page and '"kind": "entry-pdf"' in page     # its PDF (tests/exports/test_entry_pdf.py)
    assert "Custom report" not in page                                      # the room pages' own
    dialog = gallery.teacher.htmx("export-dialog").get(
        f"/courses/{gallery.course.id}/exports/new?kind=entry-csv&entry=1_e1&{OCTOBER}")
    assert dialog.status_code == 200
    assert '<input type="hidden" name="entry" value="1_e1">' in dialog.text
    assert "Also every player event" not in dialog.text


def test_the_entry_report_has_the_page_numbers(gallery, exports_config, app):  # noqa: F811
    page = _on_the_entry_page(gallery)
    report = downloaded(gallery, app, export(gallery, headers="descriptive"))
    assert report["_preamble"][0][0] == "Media" and report["_preamble"][1] == ["Entry id", "1_e1"]
    assert ["Dates", "2026-10-01 to 2026-10-10"] in report["_preamble"]
    assert [title for title in report if title != "_preamble"] == [
        "Highlights", "Metrics over time", "User engagement", "Countries", "Devices", "Operating systems", "Browsers",
        "Domains"]                                     # the page's blocks, in the page's order
    current = dict(zip(report["Highlights"][0], report["Highlights"][1]))
    assert current["Player impressions"] == card(page, "Player impressions")
    assert current["Plays"] == card(page, "Plays")
    assert current["Unique viewers"] == card(page, "Unique viewers")
    assert f"{float(current['Minutes viewed']):.1f} min" == card(page, "Minutes viewed")


def test_the_entry_report_follows_the_page_filters(gallery, exports_config, app):  # noqa: F811
    _on_the_entry_page(gallery)
    report = downloaded(gallery, app, export(gallery, device="desktop"))
    row = dict(zip(report["Highlights"][0], report["Highlights"][1]))
    desktop = entry_page(gallery, query=OCTOBER + "&device=desktop").text
    assert (row["impressions"], row["plays"]) == (card(desktop, "Player impressions"), card(desktop, "Plays"))


def test_media_the_viewer_may_not_see_is_not_exported(gallery, exports_config, registration):  # noqa: F811
    _on_the_entry_page(gallery)
    other = [dict(e, id="o-" + e["id"], entry_id="1_other") for e in EVENTS[:3]]
    ingest(registration.id, other)
    assert entry_page(gallery, "1_other").status_code == 403       # outside the course's gallery
    refused = export(gallery, close=False, entry="1_other")
    assert refused.status_code == 422 and "may not see this media" in refused.text
    unknown = export(gallery, close=False, entry="1_nothing")
    assert unknown.status_code == 422 and "no such media" in unknown.text
