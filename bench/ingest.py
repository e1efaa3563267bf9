"""Ingest benchmark on PostgreSQL: bulk accept, HTTP beacons and batches, time to visibility.

    .venv/bin/python bench/ingest.py [--events 200000] [--seconds 20] [--threads 8]

Prints figures; asserts nothing (DESIGN.md §7: performance is measured here, never in tests).
DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/bench) names a database of its
own: it is created when missing and its schema is dropped and migrated again on every run, so its
name must contain "bench". Redis: REDIS_URL (default redis://127.0.0.1:6379/10). The HTTP figures
come from gunicorn with 2 workers on 127.0.0.1, driven by a separate process; everything stops by
itself after the given seconds and the server is stopped at the end.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from multiprocessing import get_context
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fresh_database  # noqa: E402  (after the path)

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/10"
PARTNER_ID = "9900001"
BATCH = 5000
# Kava event ids of the player events we generate ("ended" has none: Kava reports reaching 100 %).
KAVA_IDS = {"impression": 1, "play_request": 2, "play": 3, "resume": 4, "quartile_25": 11, "quartile_50": 12,
            "quartile_75": 13, "quartile_100": 14, "share": 21, "download": 23, "pause": 33, "seek": 35,
            "error": 98, "view": 99}


# ── Environment ────────────────────────────────────────────────────────────────────────────────

def environment() -> dict[str, str]:
    """The settings the bench process and gunicorn share (APP_ENV=prod reads them from here)."""
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return {
        "APP_ENV": "prod",
        "DATABASE_URL": url,
        "REDIS_URL": os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-secret-not-for-production"),
        "KEY_ENCRYPTION_SECRET": os.environ.get("KEY_ENCRYPTION_SECRET", "bench-key-passphrase"),
    }


def make_app(env: dict[str, str]):
    os.environ.update(env)
    from lti_tool import create_app

    return create_app()


def prepare(app, seed: int):
    """Migrate, register a Canvas with a player partner id, write the seed's courses, people and entries."""
    from flask_migrate import upgrade

    from lti_tool import MIGRATIONS_DIR
    from lti_tool.devplatform.seed import plan_world, write_world
    from lti_tool.extensions import db
    from lti_tool.registrations import RegistrationInput, upsert

    upgrade(directory=str(MIGRATIONS_DIR))
    registration, _ = upsert(RegistrationInput(
        issuer="https://canvas.instructure.com", client_id="10000000000099",
        auth_token_url="https://canvas.bench.example.edu/login/oauth2/token", title="Bench Canvas"))
    registration.player_partner_id = PARTNER_ID
    db.session.commit()
    world = plan_world(seed, date.today())
    write_world(registration, world)
    return registration.id, world


def native(event) -> dict:
    """An IncomingEvent as an event of a native JSON batch (the inverse of schema.native_event)."""
    raw = {"id": event.key, "type": event.type, "time": event.occurred_at.isoformat(), "entry_id": event.entry,
           "seq": event.seq}
    for name, field in (("user", "user"), ("play_id", "play"), ("load_id", "load"), ("position", "position"),
                        ("seconds_viewed", "seconds_viewed"), ("seek_to", "seek_to"),
                        ("playback_context", "playback_context"), ("page_url", "page_url"),
                        ("user_agent", "user_agent")):
        value = getattr(event, field)
        if value is not None:
            raw[name] = value
    if event.location:
        raw["location"] = dict(zip(("country", "region", "city"), event.location))
    if event.extra:
        raw["extra"] = event.extra
    return raw


def viewings(world, first: int, tag: str):
    """The seed's viewings from number `first` on, as lists of native events with ids unique to `tag`."""
    from lti_tool.devplatform.seed import ViewingPlanner

    planner = ViewingPlanner(world)
    index = first
    while True:
        events = [native(e) for e in planner.events(index)]
        for raw in events:
            raw["id"] = f"{tag}:{raw['id']}"
            for name in ("play_id", "load_id"):
                if name in raw:
                    raw[name] = f"{tag}:{raw[name]}"
        index += 1
        yield events


# ── 1. Bulk accept, beside PostgreSQL's COPY ───────────────────────────────────────────────────

def bulk(app, registration_id: int, world, total: int) -> dict:
    """The product's bulk figure and its anchor, batch by batch in turn so both see the same load.

    Product: parse native events (`schema.native_event`) and `pipeline.accept(..., derive=False)`,
    one transaction per BATCH events. Anchor: the rows that batch stored are copied out (untimed,
    every column but the id, under a second registration so the unique key lets them in) and
    COPY'd back into the same tables the product writes, with all their indexes, unique keys and
    foreign keys: the keys into player_event_key, the rows into player_event (monthly partitions),
    one committed transaction per batch. The anchor's rows are deleted afterwards and the database
    is vacuumed and analyzed before the rebuild and the HTTP figures.
    """
    from lti_tool.extensions import db
    from lti_tool.ingest import pipeline
    from lti_tool.ingest.schema import native_event

    anchor_id = second_registration()
    columns = [f'"{c}"' for c in event_columns()]
    selected = ", ".join(f"{anchor_id} AS registration_id" if c == '"registration_id"' else c for c in columns)
    accept_seconds = copy_seconds = 0.0
    stored = copied = 0
    last_id = 0
    batch: list[dict] = []
    source = viewings(world, 0, "bulk")
    raw = db.engine.raw_connection()
    conn = raw.driver_connection

    def flush(raws):
        nonlocal accept_seconds, copy_seconds, stored, copied, last_id
        started = time.perf_counter()
        events = [native_event(raw) for raw in raws]
        result = pipeline.accept(registration_id, events, "native", derive=False)
        accept_seconds += time.perf_counter() - started
        stored += result.accepted
        with conn.cursor() as cursor:
            data = bytearray()
            with cursor.copy(f"COPY (SELECT {selected} FROM player_event WHERE registration_id = {registration_id}"
                             f" AND id > {last_id} ORDER BY id) TO STDOUT") as copy:
                for chunk in copy:
                    data += chunk
            keys = bytearray()
            with cursor.copy(f"COPY (SELECT {anchor_id}, event_key FROM player_event WHERE registration_id = "
                             f"{registration_id} AND id > {last_id} ORDER BY id) TO STDOUT") as copy:
                for chunk in copy:
                    keys += chunk
            last_id = cursor.execute("SELECT max(id) FROM player_event").fetchone()[0]
            conn.commit()
            started = time.perf_counter()
            # The same tables the product writes: the accepted keys (unique) and the events.
            with cursor.copy("COPY player_event_key (registration_id, event_key) FROM STDIN") as copy:
                copy.write(keys)
            with cursor.copy(f"COPY player_event ({', '.join(columns)}) FROM STDIN") as copy:
                copy.write(data)
            copied += cursor.rowcount
            conn.commit()
            copy_seconds += time.perf_counter() - started

    try:
        while stored + len(batch) < total:
            batch.extend(next(source))
            while len(batch) >= BATCH:
                flush(batch[:BATCH])
                del batch[:BATCH]
                print(f"  bulk: {stored:,} events stored", file=sys.stderr, flush=True)
        if batch:
            flush(batch)
        conn.execute("DELETE FROM player_event WHERE registration_id = %s", (anchor_id,))
        conn.execute("DELETE FROM player_event_key WHERE registration_id = %s", (anchor_id,))
        conn.commit()
    finally:
        raw.close()
    analyze()
    started = time.perf_counter()
    counts = pipeline.rebuild(registration_id)
    rebuild_seconds = time.perf_counter() - started
    analyze()
    return {"events": stored, "accept_seconds": accept_seconds, "rebuild_seconds": rebuild_seconds,
            "plays": counts["plays"], "copy_rows": copied, "copy_seconds": copy_seconds}


def event_columns() -> list[str]:
    from lti_tool.models import PlayerEvent

    return [c.name for c in PlayerEvent.__table__.columns if c.name != "id"]


def second_registration() -> int:
    """A registration whose only use is to hold the anchor's copy of the bulk's rows."""
    from lti_tool.extensions import db
    from lti_tool.registrations import RegistrationInput, upsert

    registration, _ = upsert(RegistrationInput(
        issuer="https://canvas.instructure.com", client_id="10000000000098",
        auth_token_url="https://canvas.bench.example.edu/login/oauth2/token", title="Bench COPY anchor"))
    db.session.commit()
    return registration.id


def analyze() -> None:
    """VACUUM ANALYZE the bench database (outside a transaction), so every figure after it reads
    planned statistics and no dead rows, as a deployment's autovacuum would leave them."""
    from lti_tool.extensions import db

    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


# ── 2. HTTP ────────────────────────────────────────────────────────────────────────────────────

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn -w 2 on loopback for the duration of a `with` block."""

    def __init__(self, env: dict[str, str], workers: int = 2) -> None:
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.process = subprocess.Popen(
            [str(gunicorn), "-w", str(workers), "-b", f"127.0.0.1:{self.port}", "--log-level", "warning",
             "wsgi:app"], cwd=ROOT, env={**os.environ, **env}, stdout=self.log, stderr=self.log,
            start_new_session=True)

    def __enter__(self) -> "Gunicorn":
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log.name}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/api/v1/kava")
                conn.getresponse().read()
                conn.close()
                return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("gunicorn did not answer within 30 s")

    def __exit__(self, *_exc) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def drive(port: int, work: list[list[dict]], threads: int, seconds: float) -> dict:
    """Send requests from `threads` threads until `seconds` pass or the work runs out.

    `work` is a list of request sequences; a sequence (one player session, say) is sent in order
    by one thread. A request is {"method", "path", "body" (bytes or None), "headers", "events"}.
    Runs in its own process so the client does not share an interpreter with the measurements.
    """
    lock = threading.Lock()
    queue = list(reversed(work))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    events = [0]
    stop_at = time.monotonic() + seconds

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        codes: dict[int, int] = {}
        sent_events = 0
        while time.monotonic() < stop_at:
            with lock:
                if not queue:
                    break
                sequence = queue.pop()
            for request in sequence:
                if time.monotonic() >= stop_at:
                    break
                started = time.perf_counter()
                try:
                    conn.request(request["method"], request["path"], body=request["body"], headers=request["headers"])
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                except (OSError, http.client.HTTPException):
                    conn.close()
                    status = 0
                mine.append(time.perf_counter() - started)
                codes[status] = codes.get(status, 0) + 1
                if status == 200:
                    sent_events += request["events"]
        conn.close()
        with lock:
            latencies.extend(mine)
            for code, n in codes.items():
                statuses[code] = statuses.get(code, 0) + n
            events[0] += sent_events

    started = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "requests": len(latencies), "seconds": elapsed, "statuses": statuses, "events": events[0],
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "p95_ms": 1000 * latencies[int(len(latencies) * 0.95)] if latencies else None,
    }


def run_driver(port: int, work: list, threads: int, seconds: float) -> dict:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(drive, port, work, threads, seconds).result()


def beacon_work(world, registration_id: int, count: int, tag: str) -> list[list[dict]]:
    """Kava beacons (GET) for about `count` requests: one sequence per player session, in order."""
    from lti_tool.ingest import player_tokens

    tokens: dict[str, str] = {}
    work: list[list[dict]] = []
    total = 0
    for index, events in enumerate(viewings(world, 1_000_000, tag)):
        session = f"{tag}-{index}"
        play_time = 0.0
        sequence = []
        for number, raw in enumerate(e for e in events if e["type"] in KAVA_IDS):
            params = {"service": "analytics", "action": "trackEvent", "eventType": KAVA_IDS[raw["type"]],
                      "partnerId": PARTNER_ID, "entryId": raw["entry_id"], "sessionId": session,
                      "eventIndex": number + 1, "playbackType": "vod", "clientVer": "3.17.0",
                      "referrer": raw.get("page_url") or ""}
            if raw.get("position") is not None:
                params["position"] = raw["position"]
            if raw["type"] == "view":
                play_time += raw.get("seconds_viewed") or 0.0
                params["playTimeSum"] = round(play_time, 3)
            if raw["type"] == "seek":
                params["targetPosition"] = raw["seek_to"]
            if raw.get("playback_context"):
                params["playbackContext"] = raw["playback_context"]
            user = raw.get("user")
            if user:
                if user not in tokens:
                    tokens[user] = player_tokens.mint(registration_id, user, 6 * 3600)[0]
                params["ks"] = tokens[user]
            sequence.append({"method": "GET", "path": "/api/v1/kava?" + urlencode(params), "body": None,
                             "headers": {"User-Agent": raw.get("user_agent") or "bench"}, "events": 1})
        work.append(sequence)
        total += len(sequence)
        if total >= count:
            return work
    return work


def batch_work(world, secrets: list[str], count: int, size: int, tag: str) -> list[list[dict]]:
    """POST /api/v1/events with up to `size` events each, tokens taken in turn (each has its own rate
    limit). A viewing's batches are one sequence, sent in order by one client, as a player or a feed
    relaying it would send them (concurrent batches of one play are another matter: see README)."""
    work: list[list[dict]] = []
    requests = 0
    for events in viewings(world, 2_000_000, tag):
        sequence = []
        for start in range(0, len(events), size):
            chunk = events[start:start + size]
            secret = secrets[requests % len(secrets)]
            requests += 1
            sequence.append({"method": "POST", "path": "/api/v1/events", "events": len(chunk),
                             "body": json.dumps({"version": 1, "events": chunk}).encode(),
                             "headers": {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}})
        work.append(sequence)
        if requests >= count:
            return work
    return work


# ── 3. Visibility ──────────────────────────────────────────────────────────────────────────────

def visibility(port: int, secret: str, database_url: str, registration_id: int, tries: int) -> dict:
    """Seconds from a 200 on POST /api/v1/events (one play) until another connection reads the play."""
    import psycopg

    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    waits = []
    with psycopg.connect(dsn, autocommit=True) as reader:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for attempt in range(tries):
            play = f"visible-{os.getpid()}-{attempt}"
            now = time.time()
            events = [
                {"id": f"{play}-0", "type": "impression", "time": now - 40, "entry_id": "1_visible", "load_id": play},
                {"id": f"{play}-1", "type": "play", "time": now - 35, "entry_id": "1_visible", "play_id": play,
                 "position": 0, "load_id": play},
                *({"id": f"{play}-{2 + n}", "type": "view", "time": now - 35 + 10 * (n + 1), "entry_id": "1_visible",
                   "play_id": play, "position": 10 * (n + 1), "seconds_viewed": 10} for n in range(3)),
                {"id": f"{play}-9", "type": "pause", "time": now - 4, "entry_id": "1_visible", "play_id": play,
                 "position": 31},
            ]
            conn.request("POST", "/api/v1/events", body=json.dumps({"version": 1, "events": events}),
                         headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            answered = time.perf_counter()
            if response.status != 200:
                raise RuntimeError(f"POST /api/v1/events answered {response.status}")
            while not reader.execute("SELECT 1 FROM play WHERE registration_id = %s AND play_key = %s",
                                     (registration_id, f"native:{play}")).fetchone():
                if time.perf_counter() - answered > 30:
                    raise RuntimeError("a play was not visible after 30 s")
                time.sleep(0.001)
            waits.append(time.perf_counter() - answered)
        conn.close()
    waits.sort()
    return {"tries": tries, "p50_ms": 1000 * statistics.median(waits),
            "p95_ms": 1000 * waits[max(0, int(len(waits) * 0.95) - 1)]}


# ── Report ─────────────────────────────────────────────────────────────────────────────────────

def http_row(name: str, result: dict) -> str:
    rate = result["requests"] / result["seconds"]
    errors = {code: n for code, n in result["statuses"].items() if code != 200}
    failed = f"  non-200: {errors}" if errors else ""
    return (f"{name:<38} {rate:>9,.0f} req/s {result['events'] / result['seconds']:>9,.0f} events/s"
            f"   p50 {result['p50_ms']:6.1f} ms  p95 {result['p95_ms']:6.1f} ms{failed}")


def drain_queue(app) -> dict:
    """Store the beacons the HTTP load queued, as `flask ingest drain` does, and time it."""
    with app.app_context():
        from lti_tool.ingest import beacon_queue

        stored, started = 0, time.monotonic()
        while True:
            result = beacon_queue.drain(2000)
            if not result.taken:
                break
            stored += result.taken
        return {"stored": stored, "seconds": max(time.monotonic() - started, 1e-9)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="events for the bulk figure")
    parser.add_argument("--seconds", type=float, default=20, help="seconds of each HTTP load")
    parser.add_argument("--threads", type=int, default=8, help="client threads of each HTTP load")
    parser.add_argument("--batch-size", type=int, default=10, help="events per POST /api/v1/events")
    parser.add_argument("--tokens", type=int, default=100, help="ingest tokens the batches rotate through")
    parser.add_argument("--tries", type=int, default=50, help="plays posted for the visibility figure")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bulk-only", action="store_true", help="the bulk figures and their anchor, no HTTP")
    args = parser.parse_args()

    env = environment()
    fresh_database(env["DATABASE_URL"])
    app = make_app(env)
    with app.app_context():
        from sqlalchemy import text

        from lti_tool.extensions import db
        from lti_tool.ingest import tokens

        registration_id, world = prepare(app, args.seed)
        print(f"bulk: {args.events:,} native events in batches of {BATCH}", file=sys.stderr)
        bulk_result = bulk(app, registration_id, world, args.events)
        server_version = db.session.scalar(text("SHOW server_version"))
        if args.bulk_only:
            report_bulk(bulk_result, server_version)
            return
        secrets = [tokens.create(registration_id, f"bench {n}")[1] for n in range(args.tokens)]
        expected = int(args.seconds * 4000)  # more work than the server can take in the time given
        beacons = beacon_work(world, registration_id, expected, f"kava{os.getpid()}")
        batches = batch_work(world, secrets, expected // args.batch_size + 1000, args.batch_size, f"post{os.getpid()}")
        db.session.remove()

    with Gunicorn(env) as server:
        print(f"http: gunicorn -w 2 on port {server.port}", file=sys.stderr)
        beacon_result = run_driver(server.port, beacons, args.threads, args.seconds)
        batch_result = run_driver(server.port, batches, args.threads, args.seconds)
        visible = visibility(server.port, secrets[0], env["DATABASE_URL"], registration_id, args.tries)
    drained = drain_queue(app) if app.config.get("BEACON_QUEUE") else None

    report_bulk(bulk_result, server_version)
    print(http_row(f"HTTP Kava beacons, GET ({args.threads} clients)", beacon_result))
    if drained:
        print(f"{'queued beacons stored (flask ingest drain)':<38} {drained['stored'] / drained['seconds']:>9,.0f} beacons/s"
              f"  ({drained['stored']:,} beacons in {drained['seconds']:.1f} s, batches of 2000)")
    print(http_row(f"HTTP batches of {args.batch_size}, POST ({args.threads} clients)", batch_result))
    print(f"{'visible after a 200 (one play)':<38} p50 {visible['p50_ms']:.1f} ms  p95 {visible['p95_ms']:.1f} ms"
          f"  ({visible['tries']} tries)")


def report_bulk(bulk_result: dict, server_version: str) -> None:
    accept_rate = bulk_result["events"] / bulk_result["accept_seconds"]
    total_rate = bulk_result["events"] / (bulk_result["accept_seconds"] + bulk_result["rebuild_seconds"])
    print()
    print(f"Ingest benchmark — {os.cpu_count()} cores, {platform.machine()} {platform.system()}, "
          f"PostgreSQL {server_version}, Python {platform.python_version()}")
    copy_rate = bulk_result["copy_rows"] / bulk_result["copy_seconds"]
    print(f"{'bulk accept, insert only':<38} {accept_rate:>9,.0f} events/s  "
          f"({bulk_result['events']:,} events in {bulk_result['accept_seconds']:.1f} s, batches of {BATCH})"
          f"  = {accept_rate / copy_rate:.2f} x COPY")
    print(f"{'  anchor: PostgreSQL COPY, same rows':<38} {copy_rate:>9,.0f} events/s  "
          f"({bulk_result['copy_rows']:,} rows into the same indexed player_event, batches of {BATCH})")
    print(f"{'bulk accept + one rebuild':<38} {total_rate:>9,.0f} events/s  "
          f"(rebuild {bulk_result['rebuild_seconds']:.1f} s, {bulk_result['plays']:,} plays)")


if __name__ == "__main__":
    main()
