"""Export benchmark on PostgreSQL: CSV files written in chunks, their time and peak memory, beside
PostgreSQL's own `COPY … TO` of the same rows in the same run.

    .venv/bin/python bench/export.py [--events 1000000] [--tracemalloc] [--no-pdf]

Cases (each measured in a fresh child process, so one case's memory does not hide another's):
- copy-to: the anchor. The player events' query of the raw case (the same columns, scope and
  order, compiled from the same SQLAlchemy conditions) as `COPY (…) TO STDOUT WITH (FORMAT csv)`,
  read by this process through psycopg and written to a file. It writes ids where the product
  writes names (the product looks the few names up once), so its file is a little smaller.
- raw-1m: every player event of the demo registration (about --events rows) through the report
  writer (`csv_export.write_csv` with the "Player events" section, `csv_export.player_events_section`:
  a server-side cursor read in batches, each batch formatted a column at a time and written).
  Targets: peak memory <= 300 MB for 1,000,000 rows, flat as rows grow
  (the growth column: the child's peak over its resident set before the export); rows/s >= 0.3 x
  copy-to's (issue 15), printed as the ratio.
- gallery-csv: the product path, the export job as the gallery page's Export asks for it
  (`start_export("gallery-csv", ...)`, run in-process): BIO-101's Media Gallery since creation,
  every section of the page plus every player event, descriptive headers.

DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/bench_export; its name must contain
"bench") is seeded by bench/seed.py once per size (later runs asking for the same size reuse it, so
bench/dashboard.py and this script can share one database), then `VACUUM ANALYZE`.
Peak memory is the child's maximum resident set (ru_maxrss), and its growth over the child's
resident set once the app is up and connected; --tracemalloc also reports the peak of Python
allocations (slower). Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_export"
CASES = ("copy-to", "raw-1m", "gallery-csv")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def child_app(url: str, export_dir: str):
    from lti_tool import create_app

    return create_app({"APP_ENV": "dev", "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None, "JOB_RUNNER": "inline",
                       "SECRET_KEY": "bench", "KEY_ENCRYPTION_SECRET": "bench-keys", "EXPORT_DIR": export_dir,
                       "PUBLIC_BASE_URL": "http://127.0.0.1:5000"})


def case_raw(app, directory: Path) -> dict:
    from lti_tool.analytics.metrics import Scope
    from lti_tool.devplatform.platform import dev_registration
    from lti_tool.exports.csv_export import player_events_section, write_csv
    from lti_tool.extensions import db

    scope = Scope(dev_registration().id)
    path = directory / "player-events.csv"
    started = time.perf_counter()
    rows = write_csv(path, [player_events_section(db.session, scope)], "America/Chicago", descriptive=True)
    return {"rows": rows, "seconds": time.perf_counter() - started, "bytes": path.stat().st_size}


def case_copy(app, directory: Path) -> dict:
    """PostgreSQL writes the CSV of the raw case's rows; this process only moves its bytes to a file."""
    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql

    from lti_tool.analytics.metrics import Scope
    from lti_tool.devplatform.platform import dev_registration
    from lti_tool.extensions import db
    from lti_tool.models import PlayerEvent

    scope = Scope(dev_registration().id)
    query = (select(PlayerEvent.occurred_at, PlayerEvent.event_type, PlayerEvent.entry_id, PlayerEvent.person_id,
                    PlayerEvent.position, PlayerEvent.seconds_viewed, PlayerEvent.playback_type,
                    PlayerEvent.device_type, PlayerEvent.os, PlayerEvent.browser, PlayerEvent.country,
                    PlayerEvent.region, PlayerEvent.city, PlayerEvent.domain)
             .where(*scope.where(PlayerEvent, PlayerEvent.occurred_at))
             .order_by(PlayerEvent.occurred_at, PlayerEvent.id))
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    path = directory / "player-events-copy.csv"
    raw = db.session.connection().connection.driver_connection
    started = time.perf_counter()
    with raw.cursor() as cursor, path.open("wb") as handle:
        with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
            for block in copy:
                handle.write(block)
    seconds = time.perf_counter() - started
    with path.open("rb") as handle:
        rows = sum(1 for _ in handle) - 1
    return {"rows": rows, "seconds": seconds, "bytes": path.stat().st_size}


def case_gallery(app, directory: Path) -> dict:
    from sqlalchemy import select
    from werkzeug.datastructures import MultiDict

    from lti_tool.devplatform.platform import find_course, find_person
    from lti_tool.exports import start_export
    from lti_tool.exports.selection import gallery_params
    from lti_tool.extensions import db
    from lti_tool.models import Course, Export, Person
    from lti_tool.models.types import utcnow

    course = db.session.scalar(select(Course).where(Course.context_id == find_course("bio101").context_id))
    person = db.session.scalar(select(Person).where(Person.subject == find_person("teacher").sub))
    params = gallery_params(db.session, course, MultiDict({"range": "creation"}), "America/Chicago", utcnow())
    params.update(events=True, headers="descriptive")
    started = time.perf_counter()
    export = start_export("gallery-csv", course.id, person.id, params, "download")  # outside a request: runs now
    seconds = time.perf_counter() - started
    db.session.expire_all()
    export = db.session.get(Export, export.id)
    assert export.state == "done", export.reason
    with open(directory / export.file_path, "rb") as handle:
        lines = sum(1 for _ in handle)
    return {"rows": lines, "seconds": seconds, "bytes": export.file_size, "file": export.file_name}


def run_child(case: str, url: str, use_tracemalloc: bool) -> None:
    """One case in this process; prints a JSON line of figures."""
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        app = child_app(url, tmp)
        with app.app_context():
            from sqlalchemy import text

            from lti_tool.extensions import db

            db.session.execute(text("SELECT 1"))
            baseline = rss_mb()
            if use_tracemalloc:
                import tracemalloc

                tracemalloc.start()
            result = {"copy-to": case_copy, "raw-1m": case_raw, "gallery-csv": case_gallery}[case](app, Path(tmp))
            if use_tracemalloc:
                result["python_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
                tracemalloc.stop()
    result.update(case=case, baseline_mb=baseline, peak_mb=rss_mb())
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="player events to seed when the database is new")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slower)")
    parser.add_argument("--no-pdf", dest="pdf", action="store_false", help="skip the PDF summary (bench/export_pdf.py)")
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    if "bench" not in url.rsplit("/", 1)[-1]:
        sys.exit("DATABASE_URL must name a database whose name contains 'bench'")
    if args.case:
        run_child(args.case, url, args.tracemalloc)
        return
    from seed import ensure_seeded, seeded_counts  # bench/seed.py: seed once per size, then VACUUM ANALYZE

    ensure_seeded(url, args.events)
    events, _plays = seeded_counts(url)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"data: {events:,} player events in the database\n")
    print(f"{'case':12} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'MB written':>10} {'peak RSS MB':>11} "
          f"{'growth MB':>9}" + (f" {'py peak MB':>10}" if args.tracemalloc else ""))
    rates = {}
    for case in CASES:
        command = [sys.executable, __file__, "--case", case] + (["--tracemalloc"] if args.tracemalloc else [])
        output = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ).stdout
        r = json.loads(output.strip().splitlines()[-1])
        rates[case] = r["rows"] / r["seconds"]
        print(f"{r['case']:12} {r['rows']:>10,} {r['seconds']:8.1f} {r['rows'] / r['seconds']:9,.0f} "
              f"{r['bytes'] / 2**20:10.1f} {r['peak_mb']:11.1f} {r['peak_mb'] - r['baseline_mb']:9.1f}"
              + (f" {r['python_peak_mb']:10.1f}" if args.tracemalloc else ""))
    print(f"\nraw-1m rows/s = {rates['raw-1m'] / rates['copy-to']:.2f} x COPY TO's in this run (target >= 0.3)")
    # PDF summaries (issue 6, "the PDF time for a 1 000-attendee session"): the section below.
    if args.pdf:
        pdf_summaries()


# ── PDF summaries (issue 6, "Download Report"): the PDF time for a 1,000-attendee session ──────────
# The case lives in bench/export_pdf.py, in a process and a database of its own: the session is
# bench/rooms.py's, whose loader empties the database it loads into, so it cannot share bench_export.

PDF_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_export_pdf"


def pdf_summaries() -> None:
    """Run bench/export_pdf.py (DATABASE_URL from PDF_DATABASE_URL) and print its figures."""
    url = os.environ.get("PDF_DATABASE_URL", PDF_DATABASE_URL)
    print("\nPDF summary of one 90-minute session of about 1,000 attendees (bench/export_pdf.py):")
    output = subprocess.run([sys.executable, str(ROOT / "bench" / "export_pdf.py")], check=True, capture_output=True,
                            text=True, env={**os.environ, "DATABASE_URL": url}).stdout
    print(output.strip())


if __name__ == "__main__":
    main()
