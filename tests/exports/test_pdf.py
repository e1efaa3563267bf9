"""PDF summaries: the text of the generated file holds the hand-computed numbers of the room session
(tests/rooms/test_room_analytics.py) and of the gallery data set (tests/ingest/dataset.py)."""
from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime, timezone

import pytest
from flask import has_app_context, has_request_context
from sqlalchemy import select

from lti_tool.exports import pdf
from lti_tool.models import Category, CategoryEntry, Course, MediaEntry, Person, RoomSession

from ..ingest.dataset import EVENTS as GALLERY_EVENTS
from ..rooms.test_room_analytics import loaded  # noqa: F401  (the fixture)
from ..support.servers import LoopbackServer
from ..support.factories import ingest

LONG_NAME = ("Maria-Fernanda Alessandra de los Santos Villanueva-Oyelaran Kowalczyk-Nakamura "
             "Featherstonehaugh-Ridley Abernathy-Smythe")
assert len(LONG_NAME) == 120
# Where a developer wants to look at the PDFs: PDF_OUT=/tmp/pdfs pytest tests/exports/test_pdf.py
OUT = os.environ.get("PDF_OUT")


def text_of(data: bytes, tmp_path, name: str) -> str:
    """The PDF's text as pdftotext (poppler-utils) reads it, in the order it was laid out, whitespace folded."""
    assert data.startswith(b"%PDF-")
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(data)
    if OUT:
        os.makedirs(OUT, exist_ok=True)
        shutil.copy(path, os.path.join(OUT, f"{name}.pdf"))
    result = subprocess.run(["pdftotext", "-raw", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                            check=True, text=True)
    return " ".join(result.stdout.split())


def pages_of(data: bytes, tmp_path) -> int:
    path = tmp_path / "pages.pdf"
    path.write_bytes(data)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, check=True, text=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def test_room_session_summary_holds_the_session_numbers(app, db, loaded, tmp_path):  # noqa: F811
    assert has_app_context() and not has_request_context()  # as in a worker
    main = db.session.get(RoomSession, loaded.session_ids[0])
    data = pdf.room_summary_pdf(db.session, loaded.room_id, main.id, None, None, "UTC")
    text = text_of(data, tmp_path, "room-session")
    assert "Week 1" in text
    assert "Oct 5, 2026 · 10:00 – 10:10 (10 min)" in text
    # Overview (hand-computed in tests/rooms/test_room_analytics.py): 4 unique viewers, 30.5 / 4 min average,
    # engagement 2/3, reactions 1/3 (2), chat 1/2 (2 messages), polls 2/2, Q&A 1/2 (1 thread), downloads 1/3 (2),
    # 5 recording plays.
    assert "Unique viewers 4 + 1 stay by people not signed in" in text
    assert "Avg. minutes viewed 7.6 min 30.5 min in all" in text
    assert "Live engagement rate 66.7% Live unique viewers: 3" in text
    assert "Sent live reactions 33.3% 2 reactions" in text
    assert "Sent messages on group chat 50% 2 messages" in text
    assert "Participation in polls 100%" in text
    assert "Q&A threads created 50% 1 thread" in text
    assert "Attachments downloaded 33.3% 2 downloads" in text
    assert "Recording plays 5" in text
    # Attendees by minutes viewed (Dan 10, Ben 9, Ana 8.5, Cal 3) and the totals row.
    assert "Ben Ortiz State U 9 min 0 0 1 4 75%" in text
    assert "Ana Lima Learner · Acme 8.5 min 2 2 0 4 60%" in text
    assert "Total (4 people) 30.5 min 2 2 1 8 66.7%" in text
    # Every interaction with every answer's participants and rate.
    assert "1. Favourite topic? Poll · 3 options · 2 unique participants" in text
    assert "A 1 50% B 1 50% C 0 0%" in text
    assert "2. 2 + 2? Quiz question · 2 options · 1 unique participant" in text
    assert "3 0 0% 4 CORRECT 1 100%" in text
    assert "4. Anything unclear? Open question · 1 unique participant Slide 4 (1 participant)" in text
    assert ("5. Next topics? Crowd vote · 3 options · 2 unique participants "
            "Answers Unique participants Answer rate X 1 50% Y 2 100% Z 0 0% "
            "Several answers could be chosen: rates add up to more than 100 %.") in text
    # Recordings: 5 plays, 4 impressions; Dan's 10 minutes at 100 %.
    assert "Recording plays: 5 · 4 player impressions" in text
    assert "Unnamed user 2 1 10 min 100%" in text
    # Countries and devices with their "All" rows: 2 live, 4 from the recordings; Dan from the US on a desktop.
    assert "All countries 3 4" in text and "United States 0 1" in text
    assert "All devices 3 4" in text and "Desktop 0 1" in text
    assert "Page 1 of" in text


def test_room_range_summary_and_empty_range(app, db, loaded, tmp_path):  # noqa: F811
    start, end = datetime(2026, 10, 5, tzinfo=timezone.utc), datetime(2026, 10, 6, tzinfo=timezone.utc)
    text = text_of(pdf.room_summary_pdf(db.session, loaded.room_id, None, start, end, "America/Chicago"),
                   tmp_path, "room-range")
    # Oct 5 00:00-24:00 UTC is Oct 4 19:00 - Oct 5 19:00 in Chicago: local days Oct 4 - Oct 5.
    assert "Sessions that started Oct 4, 2026 – Oct 5, 2026" in text
    assert "Unique viewers 4" in text and "Total (4 people) 30.5 min" in text
    empty = text_of(pdf.room_summary_pdf(db.session, loaded.room_id, None, datetime(2025, 1, 1, tzinfo=timezone.utc),
                                         datetime(2025, 1, 2, tzinfo=timezone.utc), "UTC"), tmp_path, "room-empty")
    assert "Nobody joined a session in this selection." in empty
    assert "No interactions were launched in this selection." in empty
    assert "Nobody signed in attended in this selection." in empty


def test_room_summary_refuses_what_is_not_the_rooms(db, loaded):  # noqa: F811
    later = db.session.scalar(select(RoomSession).where(RoomSession.external_id == "br"))
    with pytest.raises(LookupError):
        pdf.room_summary(db.session, loaded.room_id, later.id, None, None, "UTC")  # a breakout, not a main session
    with pytest.raises(LookupError):
        pdf.room_summary(db.session, -1, None, None, None, "UTC")
    with pytest.raises(ValueError, match="time zone"):
        pdf.room_summary(db.session, loaded.room_id, None, None, None, "Mars/Olympus")


def test_long_names_wrap_and_many_attendees_break_across_pages(app, db, loaded, tmp_path):  # noqa: F811
    ana = db.session.scalar(select(Person).where(Person.subject == "ana"))
    ana.name = LONG_NAME
    db.session.commit()
    main = db.session.get(RoomSession, loaded.session_ids[0])
    data = pdf.room_summary_pdf(db.session, loaded.room_id, main.id, None, None, "UTC")
    text = text_of(data, tmp_path, "room-long-name")
    # Wrapped over several lines, never cut: every word of the name is there.
    for word in LONG_NAME.split():
        assert word in text


def test_gallery_summary_holds_the_gallery_numbers(app, db, registration, tmp_path):
    course = Course(registration_id=registration.id, context_id="course-a", title="Biology 101")
    db.session.add(course)
    db.session.flush()
    gallery = Category(registration_id=registration.id, external_id="gallery-a", kind="gallery", course_id=course.id)
    db.session.add(gallery)
    ingest(registration.id, GALLERY_EVENTS)
    entry = db.session.scalar(select(MediaEntry))
    entry.name = "Cell division, explained"
    db.session.add(CategoryEntry(category_id=gallery.id, entry_id=entry.id))
    db.session.commit()
    october = {"range": "custom", "from": "2026-10-01", "to": "2026-10-10", "metric": "plays"}
    text = text_of(pdf.gallery_summary_pdf(db.session, course.id, october, "UTC"), tmp_path, "gallery")
    assert "Biology 101" in text and "Oct 1, 2026 – Oct 10, 2026" in text
    # tests/ingest/dataset.py: 6 impressions, 4 plays of 1 entry, 2 known viewers (1 anonymous play of 4 = 25 %),
    # (50 + 60 + 20 + 25) s = 2.6 min, completion (51 + 61 + 22 + 26) / 4 = 40 %.
    assert "Player impressions 6" in text
    assert "Plays 4 Played entries: 1" in text
    assert "Unique viewers 2 + Unknown: 25% of plays" in text
    assert "Minutes viewed 2.6 min" in text
    assert "Avg. completion rate 40%" in text
    assert "Plays by day" in text
    assert "Cell division, explained 4" in text
    # Filters the page would parse are applied and named.
    desktop = text_of(pdf.gallery_summary_pdf(db.session, course.id, october | {"device": ["desktop"]}, "UTC"),
                      tmp_path, "gallery-desktop")
    assert "Device: desktop" in desktop and "Plays 0" in desktop and "Player impressions 1" in desktop
    # A compare period: its dates, and the change against it (nothing was played before October: no change).
    compared = text_of(pdf.gallery_summary_pdf(db.session, course.id, october | {"compare": "previous"}, "UTC"),
                       tmp_path, "gallery-compare")
    assert "Oct 1, 2026 – Oct 10, 2026, compared with Sep 21, 2026 – Sep 30, 2026" in compared
    assert "This period Compare period" in compared


def test_gallery_summary_refuses_bad_filters(db, registration):
    from lti_tool.analytics.filters import FilterError

    course = Course(registration_id=registration.id, context_id="course-b")
    db.session.add(course)
    db.session.commit()
    with pytest.raises(FilterError):
        pdf.gallery_summary(db.session, course.id, {"range": "custom", "from": "2026-13-01"}, "UTC")
    with pytest.raises(LookupError):
        pdf.gallery_summary(db.session, -1, {}, "UTC")


def test_rendering_needs_no_request_and_fetches_nothing(app, tmp_path):
    """Only an app context (as in a worker); a URL in the HTML is never fetched, http or file."""
    hits = []

    def wsgi(environ, start_response):
        hits.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "image/png")])
        return [b""]

    secret = tmp_path / "secret.css"
    secret.write_text("body { color: red }")
    with LoopbackServer(wsgi) as server, app.app_context():
        data = pdf.html_to_pdf(f'<link rel="stylesheet" href="{server.url}/style.css">'
                               f'<link rel="stylesheet" href="file://{secret}">'
                               f'<p>Hello</p><img src="{server.url}/logo.png" alt="logo">')
    assert data.startswith(b"%PDF-") and hits == []
    fetcher = pdf.url_fetcher()
    with pytest.raises(ValueError, match="disallowed protocol"):
        (getattr(fetcher, "fetch", fetcher))("https://example.org/font.woff2")


def test_a_room_range_pdf_charts_each_session_apart(db, loaded):  # noqa: F811
    """Oct 1-31 holds two main sessions: the PDF has a pair of charts per session, titled with its local
    start and dated per minute, as the room page has (issue 14: never one spliced minute axis)."""
    start, end = datetime(2026, 10, 1, tzinfo=timezone.utc), datetime(2026, 11, 1, tzinfo=timezone.utc)
    charts = pdf.room_summary(db.session, loaded.room_id, None, start, end, "UTC").timeline_charts
    assert [c.title.split(":")[0][:12] for c in charts] == ["Oct 05, 2026"] * 2 + ["Oct 12, 2026"] * 2
    assert all(row[0].startswith("Oct 05 ") for row in charts[0].rows)
    assert all(row[0].startswith("Oct 12 ") for row in charts[2].rows)
    one = pdf.room_summary(db.session, loaded.room_id, next(iter(loaded.session_ids)), None, None, "UTC")
    assert len(one.timeline_charts) == 2 and one.timeline_charts[0].rows[0][0] == "10:00"
