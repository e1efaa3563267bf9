"""Dashboard benchmark on PostgreSQL: the course Media Gallery page, each of its HTMX blocks and the embed audit.

    .venv/bin/python bench/dashboard.py [--events 1000000] [--requests 30]

A course of the demo holds about --events player events (`flask demo seed`); the teacher launches
through the dev platform (a real LTI launch), then every request is timed warm, in-process through
the Flask test client (no network, no gunicorn): p50 and p95 per page and block, in milliseconds.
DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/bench_dashboard) names a database
of its own, created and migrated when missing and seeded once (later runs reuse the data).
Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import BASE, launch_teacher, percentile  # noqa: E402  (after the path)

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_dashboard"
BLOCKS = ("highlights", "context", "timeline", "top", "insights", "funnel", "locations", "devices", "domains", "people")


def ensure_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    engine = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}).first():
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    engine.dispose()


def build_app(url: str, events: int):
    from flask_migrate import upgrade

    from lti_tool import MIGRATIONS_DIR, create_app

    app = create_app({"APP_ENV": "dev", "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None,
                      "SECRET_KEY": "bench", "KEY_ENCRYPTION_SECRET": "bench-keys"})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
    runner = app.test_cli_runner()
    runner.invoke(args=["demo", "setup", "--base-url", BASE])
    started = time.monotonic()
    result = runner.invoke(args=["demo", "seed", "--events", str(events), "--if-empty"])
    print(result.output.strip())
    print(f"seeding took {time.monotonic() - started:.1f} s (0 when the data was already there)")
    return app


def timed(client, url: str, headers: dict, requests: int) -> list[float]:
    for _ in range(3):  # warm
        assert client.get(url, headers=headers).status_code == 200
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    if "bench" not in url.rsplit("/", 1)[-1]:
        sys.exit("DATABASE_URL must name a database whose name contains 'bench'")
    ensure_database(url)
    app = build_app(url, args.events)
    with app.app_context():
        from sqlalchemy import func, select

        from lti_tool.extensions import db
        from lti_tool.models import Play, PlayerEvent

        counts = (db.session.scalar(select(func.count(PlayerEvent.id))), db.session.scalar(select(func.count(Play.id))))
    client, token, gallery = launch_teacher(app)
    auth = {"X-Session-Token": token}
    rows = []
    for label, query in (("full page, last 30 days", ""), ("full page, last 12 months", "?range=last12m"),
                         ("full page, since creation", "?range=creation")):
        rows.append((label, timed(client, gallery + query, auth, args.requests)))
    for block in BLOCKS:
        headers = {**auth, "HX-Request": "true", "HX-Target": block}
        rows.append((f"block {block} (12 months)", timed(client, gallery + "?range=last12m", headers, args.requests)))
    audit = gallery.replace("/gallery/", "/embeds/audit")
    rows.append(("embed audit page (12 months)", timed(client, audit, auth, args.requests)))
    rows.append(("embed audit, one domain drilled", timed(client, audit + "?focus=canvas.umn.edu", {
        **auth, "HX-Request": "true", "HX-Target": "audit"}, args.requests)))
    rows.append(("domains block, page URLs of canvas.umn.edu", timed(
        client, gallery + "?range=last12m&drill_domain=canvas.umn.edu",
        {**auth, "HX-Request": "true", "HX-Target": "domains"}, args.requests)))
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"data: {counts[0]:,} player events, {counts[1]:,} plays in the demo registration\n")
    print(f"{'request':36} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for label, times in rows:
        print(f"{label:36} {percentile(times, 50):8.1f} {percentile(times, 95):8.1f} {statistics.mean(times):8.1f}")


if __name__ == "__main__":
    main()
