"""PDF summary benchmark: the "Download Report" PDF of one session of about 1,000 attendees.

    .venv/bin/python bench/export_pdf.py [--attendees 1000] [--minutes 90] [--runs 5] [--out /tmp/room.pdf]

The session is bench/rooms.py's (the demo seed's lecture at webinar size, loaded through
`accept_room_events`; its planning and loading functions are reused). Then, in an app context only (as in a worker), each run times
`pdf.room_summary()` (every analytics query the PDF needs) and `pdf.render_pdf()` (Jinja + WeasyPrint)
apart, and the nine custom reports written as CSV once: p50 and max in seconds, the PDF's pages and
size. --out keeps the last PDF to look at.

DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/bench_export_pdf) is created when
missing and emptied on every run, so its name must contain "bench". Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fresh_database  # noqa: E402  (after the path)
from bench.rooms import build_app, load, plan_session  # noqa: E402  (after the path)

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_export_pdf"


def page_count(content: bytes) -> str:
    """Pages as pdfinfo (poppler-utils) counts them; "?" without it (WeasyPrint compresses its objects)."""
    if shutil.which("pdfinfo") is None:
        return "?"
    with tempfile.NamedTemporaryFile(suffix=".pdf") as file:
        file.write(content)
        file.flush()
        info = subprocess.run(["pdfinfo", file.name], capture_output=True, text=True, check=True).stdout
    return next((line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")), "?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attendees", type=int, default=1000, help="about this many join the session")
    parser.add_argument("--minutes", type=int, default=90)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", help="write the last PDF here")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    fresh_database(url)
    app = build_app(url)
    planned = plan_session(app, args.attendees, args.minutes)  # (registration id, ..., the raw events)
    registration_id, events = planned[0], planned[-1]
    loaded = load(app, registration_id, events)

    with app.app_context():
        from sqlalchemy import func, select

        from lti_tool.exports import custom, pdf
        from lti_tool.extensions import db
        from lti_tool.models import Attendance, Room, RoomSession

        # The bench's lecture: the session most people joined.
        main_id, present = db.session.execute(
            select(Attendance.session_id, func.count(func.distinct(Attendance.person_id)))
            .join(RoomSession, RoomSession.id == Attendance.session_id).where(RoomSession.parent_session_id.is_(None))
            .group_by(Attendance.session_id).order_by(func.count(func.distinct(Attendance.person_id)).desc())
            .limit(1)).one()
        main = db.session.get(RoomSession, main_id)
        room = db.session.get(Room, main.room_id)
        tz = "America/Chicago"
        data_seconds, render_seconds, content = [], [], b""
        for _ in range(args.runs):
            started = time.perf_counter()
            summary = pdf.room_summary(db.session, room.id, main.id, None, None, tz)
            db.session.rollback()  # as a job would: the session is done before the slow rendering
            middle = time.perf_counter()
            content = pdf.render_pdf("exports/pdf/room.html", summary=summary)
            data_seconds.append(middle - started)
            render_seconds.append(time.perf_counter() - middle)
        day = main.started_at.astimezone(ZoneInfo(tz)).date().isoformat()
        with tempfile.TemporaryDirectory() as directory:
            started = time.perf_counter()
            files = custom.write_reports(db.session, registration_id, room.course_id, list(custom.REPORTS),
                                         {"timeframe": "custom", "from": day, "to": day, "tz": tz}, Path(directory))
            custom_seconds = time.perf_counter() - started
            custom_rows = sum(sum(1 for _ in path.open(encoding="utf-8-sig")) - 1 for path in files)

    if args.out:
        Path(args.out).write_bytes(content)
    pages = page_count(content)
    total = [d + r for d, r in zip(data_seconds, render_seconds)]
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"data: 1 session of {args.minutes} min, {present:,} people present; {loaded['events']:,} room events "
          f"loaded in {loaded['seconds']:.1f} s")
    print(f"{'step':38} {'p50 s':>8} {'max s':>8}")
    for label, values in (("room_summary (analytics queries)", data_seconds),
                          ("render_pdf (Jinja + WeasyPrint)", render_seconds), ("room_summary_pdf, total", total)):
        print(f"{label:38} {statistics.median(values):8.2f} {max(values):8.2f}")
    print(f"PDF: {pages} pages, {len(content) / 1024:,.0f} KiB over {args.runs} runs")
    print(f"custom reports, all nine as CSV: {custom_seconds:.2f} s, {custom_rows:,} rows")


if __name__ == "__main__":
    main()
