"""The single-media page's Download Report (PDF): offered by its toolbar, made by a job from the page's
own blocks, holding the page's numbers over the hand-computed data set (tests/ingest/dataset.py plus one
late anonymous play, as tests/views/test_gallery.py shows it), and refused for media outside the gallery."""
from __future__ import annotations

import re

from ..ingest.dataset import EVENTS
from ..support.factories import ingest
from ..views.test_gallery import OCTOBER, card, gallery  # noqa: F401  (the fixture)
from .conftest import export_id_of, polls
from .test_entry_export import entry_page, export
from .test_pdf import text_of


def downloaded_pdf(gallery, app, response) -> bytes:  # noqa: F811
    assert response.status_code == 200, response.text
    response.close()                                  # the in-process job runs once the response is done
    status = gallery.teacher.htmx().get(
        f"/courses/{gallery.course.id}/exports/{export_id_of(response.text)}/status").text
    assert not polls(status) and ".pdf" in status
    link = re.search(r'href="(http://[^"]+/exports/download/[^"]+)"', status).group(1)
    return app.test_client().get(link).data


def test_the_entry_pdf_holds_the_page_numbers(gallery, exports_config, app, tmp_path):  # noqa: F811
    gallery(OCTOBER)
    page = entry_page(gallery).text
    assert "Download Report" in page and '"kind": "entry-pdf"' in page and '"entry": "1_e1"' in page
    text = text_of(downloaded_pdf(gallery, app, export(gallery, close=False, kind="entry-pdf")),
                   tmp_path, "entry")
    assert "Single media analytics" in text and "Oct 1, 2026 – Oct 10, 2026" in text
    assert "Video · 1:40 · id 1_e1" in text                      # the entry's type, duration (100 s) and id
    for label in ("Player impressions", "Plays", "Unique viewers", "Minutes viewed", "Avg. minutes per play",
                  "Avg. completion rate"):
        assert f"{label} {card(page, label)}" in text, label     # the page's highlight cards, as the page writes them
    assert "Video performance over time" in text and "Player impressions by day" in text   # the page's default
    assert "Where viewers watched" in text
    # Plays reaching each milestone: A, B, C, D and the late play to 25 %; A, B, C and the late play to 50 %;
    # B and C to 75 %; B alone to the end.
    funnel = text[text.index("How impressions lead to engagement"):]
    for step, count in (("Player impressions", 6), ("Plays", 5), ("Reached 25 %", 5), ("Reached 50 %", 4),
                        ("Reached 75 %", 2), ("Reached 100 %", 1)):
        assert re.search(rf"{re.escape(step)} {count}\b", funnel), step
    for section in ("Countries", "Devices", "Operating systems", "Browsers", "Domains"):
        assert section in text
    assert "canvas.umn.edu" in text


def test_the_entry_pdf_follows_the_page_filters(gallery, exports_config, app, tmp_path):  # noqa: F811
    gallery(OCTOBER)
    desktop = entry_page(gallery, query=OCTOBER + "&device=desktop").text
    text = text_of(downloaded_pdf(gallery, app, export(gallery, close=False, kind="entry-pdf", device="desktop")),
                   tmp_path, "entry-desktop")
    assert "Device: desktop" in text
    assert f"Player impressions {card(desktop, 'Player impressions')}" in text and "Plays 0" in text


def test_media_outside_the_gallery_has_no_pdf(gallery, exports_config, registration):  # noqa: F811
    gallery(OCTOBER)
    ingest(registration.id, [dict(e, id="o-" + e["id"], entry_id="1_other") for e in EVENTS[:3]])
    refused = export(gallery, close=False, kind="entry-pdf", entry="1_other")
    assert refused.status_code == 422 and "may not see this media" in refused.text
