"""The benches' data: the demo's semester (`flask demo seed`'s own events, row for row) loaded fast.

    .venv/bin/python bench/seed.py --events 1000000      # DATABASE_URL names a database containing "bench"

What it writes is what `flask demo seed --events N` writes for the same seed and the same day,
minus the live rooms (bench/rooms.py seeds its own): the demo's world (courses, galleries, people,
enrollments, catalog: `seed.write_world`) and the demo's generator's events (`seed.generate`), stored
through the product's bulk pipeline (`pipeline.accept`: entries, people, dimensions, COPY into
player_event) in batches of BATCH events, each committed, with nothing derived on the way and
player_event's secondary indexes dropped (built again once the events are in, then `ANALYZE`). Then one
`flask analytics rebuild` derives plays, player loads and every rollup from the raw events: whatever
derived tables the product has, the pages show what its own derivation gives.

`flask demo seed` does the same work in one transaction with batches of 5 000 events and also seeds
the rooms; the gain here is the batch size, a commit per batch and no rooms. The time that is left is
the generator (Python, one object per event), the pipeline's parsing and row building, and the
rebuild (plays derived in Python from every event): each is printed.

A database is seeded once per size: the table bench_seed remembers the number of events asked for,
and a later run asking for the same number reuses the data (another number starts from an empty schema).
`VACUUM ANALYZE` follows every seeding.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import BASE, fresh_database  # noqa: E402  (after the path)

BATCH = 20_000
SEED = 1


def bench_app(url: str):
    from lti_tool import create_app

    return create_app({"APP_ENV": "dev", "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None, "JOB_RUNNER": "inline",
                       "SECRET_KEY": "bench", "KEY_ENCRYPTION_SECRET": "bench-keys"})


def seeded_size(url: str) -> int | None:
    """The number of events the database was seeded with (None: never seeded, or not finished)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
    admin.dispose()
    if not exists:
        return None
    engine = create_engine(url)
    with engine.connect() as conn:
        if not conn.scalar(text("SELECT to_regclass('public.bench_seed') IS NOT NULL")):
            engine.dispose()
            return None
        size = conn.scalar(text("SELECT events FROM bench_seed"))
    engine.dispose()
    return size


def seeded_counts(url: str) -> tuple[int, int]:
    """(player events, plays) of a seeded bench database, as counted when it was seeded."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        stored, plays = conn.execute(text("SELECT stored, plays FROM bench_seed")).one()
    engine.dispose()
    return stored, plays


def ensure_seeded(url: str, events: int, batch: int = BATCH, log=print) -> dict:
    """Seed `url` with about `events` events unless it already holds that size; the phases' seconds.
    Either way, the rollups of the zones the courses' pages read are built and analyzed (`read_zones`)."""
    if seeded_size(url) == events:
        log(f"reusing the bench database, already seeded with {events:,} events")
        read_zones(url, log)
        return {}
    fresh_database(url)  # refuses a database whose name lacks "bench"
    return seed(url, events, batch, log)


def read_zones(url: str, log=print) -> None:
    """Build the rollups of every zone the seeded courses' pages read (each course's zone, else the
    registration's), as a course's first page view would, then `ANALYZE`: the benches time the pages
    of a running installation, not the first view of a zone (done once per zone; a no-op after)."""
    from sqlalchemy import select, text

    from lti_tool.devplatform.platform import dev_registration
    from lti_tool.extensions import db
    from lti_tool.ingest.rollups import ensure_zone
    from lti_tool.models import Course

    app = bench_app(url)
    with app.app_context():
        registration = dev_registration()
        courses = db.session.scalars(select(Course.timezone).where(Course.registration_id == registration.id))
        wanted = {zone or registration.default_timezone or "UTC" for zone in courses}
        clock = time.perf_counter()
        for zone in sorted(wanted):
            ensure_zone(db.session, registration.id, zone)
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        db.engine.dispose()
    log(f"rollups of {', '.join(sorted(wanted))} ready and analyzed in {time.perf_counter() - clock:.0f} s")


def seed(url: str, events: int, batch: int = BATCH, log=print) -> dict:
    from flask_migrate import upgrade
    from sqlalchemy import create_engine, func, select, text

    from lti_tool import MIGRATIONS_DIR
    from lti_tool.devplatform import seed as demo
    from lti_tool.devplatform.platform import dev_registration
    from lti_tool.extensions import db
    from lti_tool.ingest import pipeline
    from lti_tool.models import Play, PlayerEvent

    app = bench_app(url)
    seconds = {}
    started = time.perf_counter()
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        runner = app.test_cli_runner()
        runner.invoke(args=["demo", "setup", "--base-url", BASE])
        registration = dev_registration()
        world = demo.plan_world(SEED, date.today())
        demo.write_world(registration, world)
        seconds["world"] = time.perf_counter() - started

        secondary = _drop_secondary_indexes(db, "player_event")
        generating = storing = 0.0
        done, shown, pending = 0, 0, []
        clock = time.perf_counter()
        for viewing in demo.generate(world, events):
            pending.extend(viewing)
            if len(pending) >= batch:
                generating += time.perf_counter() - clock
                storing += _store(pipeline, db, registration.id, pending, demo.SOURCE)
                done += len(pending)
                pending = []
                if done - shown >= max(100_000, events // 10):
                    shown = done
                    log(f"  {done:,} of about {events:,} events stored ({time.perf_counter() - started:.0f} s)")
                clock = time.perf_counter()
        generating += time.perf_counter() - clock
        if pending:
            storing += _store(pipeline, db, registration.id, pending, demo.SOURCE)
            done += len(pending)
        seconds["generate"], seconds["store"] = generating, storing
        clock = time.perf_counter()
        for definition in secondary:
            db.session.execute(text(definition))
        db.session.commit()
        # Statistics before the rebuild reads the events back: planned without them (autovacuum may be
        # off, and is late after a bulk load anyway), each of its chunked reads walked the whole index.
        db.session.execute(text("ANALYZE player_event"))
        db.session.commit()
        seconds["indexes"] = time.perf_counter() - clock

        clock = time.perf_counter()
        result = runner.invoke(args=["analytics", "rebuild", "--registration", str(registration.id)])
        if result.exit_code != 0:
            raise RuntimeError(f"flask analytics rebuild failed: {result.output}") from result.exception
        seconds["rebuild"] = time.perf_counter() - clock
        stored = db.session.scalar(select(func.count(PlayerEvent.id)))
        plays = db.session.scalar(select(func.count(Play.id)))
        db.session.execute(text("CREATE TABLE bench_seed (events bigint NOT NULL, stored bigint NOT NULL, "
                                "plays bigint NOT NULL, seeded_on date NOT NULL, seconds double precision NOT NULL)"))
        db.session.execute(text("INSERT INTO bench_seed VALUES (:e, :s, :p, :d, :t)"),
                           {"e": events, "s": stored, "p": plays, "d": date.today(),
                            "t": time.perf_counter() - started})
        db.session.commit()
        db.engine.dispose()
    clock = time.perf_counter()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    seconds["vacuum analyze"] = time.perf_counter() - clock
    clock = time.perf_counter()
    read_zones(url, log)
    seconds["zones"] = time.perf_counter() - clock
    seconds["total"] = time.perf_counter() - started
    log(f"seeded {stored:,} events ({plays:,} plays) in {seconds['total']:.0f} s: "
        + ", ".join(f"{name} {value:.0f} s" for name, value in seconds.items() if name != "total")
        + f" ({stored / seconds['total']:,.0f} events/s overall)")
    return seconds


def _drop_secondary_indexes(db, table: str) -> list[str]:
    """Drop the table's indexes that no constraint needs (kept: unique ones, which ON CONFLICT uses);
    returns their definitions, to build each once after the load instead of row by row during it."""
    from sqlalchemy import text

    rows = db.session.execute(text(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname "
        "JOIN pg_index x ON x.indexrelid = c.oid WHERE i.schemaname = 'public' AND i.tablename = :t "
        "AND NOT x.indisunique"), {"t": table}).all()
    for name, _definition in rows:
        db.session.execute(text(f'DROP INDEX "{name}"'))
    db.session.commit()
    # A partitioned table's definition says ON ONLY (the parent alone); built again, it spans the partitions.
    return [definition.replace(" ON ONLY ", " ON ") for _name, definition in rows]


def _store(pipeline, db, registration_id: int, events: list, source: str) -> float:
    clock = time.perf_counter()
    pipeline.accept(registration_id, events, source, derive=False, commit=False)
    db.session.commit()
    return time.perf_counter() - clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=BATCH, help="events per pipeline batch (one commit each)")
    parser.add_argument("--force", action="store_true", help="seed again even when the size is already there")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if "bench" not in url.rsplit("/", 1)[-1]:
        sys.exit("DATABASE_URL must name a database whose name contains 'bench'")
    if args.force:
        fresh_database(url)
        seed(url, args.events, args.batch)
    else:
        ensure_seeded(url, args.events, args.batch)


if __name__ == "__main__":
    main()
