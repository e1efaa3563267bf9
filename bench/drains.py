"""Queued Kava beacons stored by 1, 2 and 3 drain processes, beside a PostgreSQL COPY of as many rows.

    .venv/bin/python bench/drains.py [--beacons 60000] [--drains 1,2,3] [--batch 2000]

For each count of drains: that many `flask ingest drain` processes are started and left to share the
queue's shards (each holds its share), then the queue is filled at once (one Redis transaction) with
`--beacons` beacons of player sessions made from the seed's viewings (fresh sessions every round),
as the web process queues them; the clock runs from then until every shard's queue and processing
list are empty (a batch leaves Redis only after its commit). The anchor: `COPY … FROM STDIN` of the
same number of rows into player_event (the rows just stored, with new keys), in the same run.

Prints figures; asserts nothing (DESIGN.md §7). DATABASE_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/bench_drains) is created when missing and its schema
dropped and migrated again on every run, so its name must contain "bench". REDIS_URL (default
redis://127.0.0.1:6379/7): the queue's keys in that database are deleted first.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fresh_database  # noqa: E402  (after the path)
from bench.ingest import KAVA_IDS, make_app, prepare, viewings  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_drains"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"


def environment() -> dict[str, str]:
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return {"APP_ENV": "prod", "FLASK_APP": "wsgi.py", "DATABASE_URL": url,
            "REDIS_URL": os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
            "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-secret-not-for-production"),
            "KEY_ENCRYPTION_SECRET": os.environ.get("KEY_ENCRYPTION_SECRET", "bench-key-passphrase")}


def queued_beacons(world, registration_id: int, count: int, tag: str, spread: int) -> list[tuple[int, str]]:
    """(shard, queued text) of about `count` beacons: the seed's viewings as Kava sessions, in order;
    with `spread`, session n plays copy n % spread of its entry (more entries, as at an institution)."""
    from lti_tool.ingest import beacon_queue

    now = datetime.now(timezone.utc).isoformat()
    out: list[tuple[int, str]] = []
    for index, events in enumerate(viewings(world, 2_000_000, tag)):
        session, play_time = f"{tag}-{index}", 0.0
        for number, raw in enumerate(e for e in events if e["type"] in KAVA_IDS):
            params = {"service": "analytics", "action": "trackEvent", "eventType": str(KAVA_IDS[raw["type"]]),
                      "partnerId": "bench", "sessionId": session,
                      "entryId": f"{raw['entry_id']}_{index % spread}" if spread else raw["entry_id"],
                      "eventIndex": str(number + 1), "playbackType": "vod", "referrer": raw.get("page_url") or ""}
            if raw.get("position") is not None:
                params["position"] = str(raw["position"])
            if raw["type"] == "view":
                play_time += raw.get("seconds_viewed") or 0.0
                params["playTimeSum"] = str(round(play_time, 3))
            if raw["type"] == "seek":
                params["targetPosition"] = str(raw["seek_to"])
            item = {"registration_id": registration_id, "params": params, "received_at": now,
                    "location": list((raw.get("location") or {}).values()) or [None, None, None],
                    "user_agent": raw.get("user_agent"), "user": raw.get("user")}
            out.append((beacon_queue.shard_of(params), json.dumps(item)))
        if len(out) >= count:
            return out
    return out


def start_drains(env: dict[str, str], count: int, batch: int) -> list[subprocess.Popen]:
    log = open(os.devnull, "wb")
    return [subprocess.Popen([sys.executable, "-m", "flask", "ingest", "drain", "--batch", str(batch),
                              "--interval", "0.05"], cwd=ROOT, env={**os.environ, **env}, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True) for _ in range(count)]


def wait_until(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            sys.exit(f"gave up waiting for {what}")
        time.sleep(0.02)


def round_of(env, client, beacons: list[tuple[int, str]], drains: int, batch: int, count_events) -> dict:
    """Start `drains` drains, let them share the shards, fill the queue at once, time until it is empty."""
    from lti_tool.ingest import beacon_queue

    client.delete(*beacon_queue.keys())
    processes = start_drains(env, drains, batch)
    try:
        def shared() -> bool:
            holders = {client.get(shard.lease) for shard in beacon_queue.SHARD_LIST}
            return None not in holders and len(holders) == drains and client.zcard(beacon_queue.DRAINS_KEY) == drains
        wait_until(shared, 120, f"{drains} drains to share the shards")
        before = count_events()
        pipe = client.pipeline(transaction=True)
        for shard, text in beacons:
            pipe.rpush(beacon_queue.QUEUE_KEYS[shard], text)
        pipe.execute()
        started = time.monotonic()
        keys = [key for shard in beacon_queue.SHARD_LIST for key in (shard.queue, shard.processing)]

        def empty() -> bool:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.llen(key)
            return not any(pipe.execute())
        wait_until(empty, 3600, "the queue to be stored")
        seconds = time.monotonic() - started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
    parked = client.llen(beacon_queue.FAILED_KEY)
    return {"drains": drains, "beacons": len(beacons), "seconds": seconds, "events": count_events() - before,
            "parked": parked}


def copy_anchor(dsn: str, rows: int) -> dict:
    """COPY `rows` rows of player_event (the latest stored, with new keys) into player_event; timed, then removed."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        columns = [name for (name,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'player_event' "
            "AND table_schema = 'public' AND column_name <> 'id' ORDER BY ordinal_position")]
        chosen = ", ".join("'anchor:' || event_key" if c == "event_key" else c for c in columns)
        data = io.BytesIO()
        with conn.cursor().copy(f"COPY (SELECT {chosen} FROM player_event ORDER BY id DESC LIMIT {int(rows)}) "
                                "TO STDOUT") as copy:
            for chunk in copy:
                data.write(chunk)
        conn.commit()
        started = time.monotonic()
        with conn.cursor().copy(f"COPY player_event ({', '.join(columns)}) FROM STDIN") as copy:
            copy.write(data.getvalue())
        conn.commit()
        seconds = time.monotonic() - started
        conn.execute("DELETE FROM player_event WHERE event_key LIKE 'anchor:%'")
        conn.commit()
    return {"rows": rows, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beacons", type=int, default=60_000, help="beacons queued for each count of drains")
    parser.add_argument("--drains", default="1,2,3", help="counts of drain processes, comma-separated")
    parser.add_argument("--batch", type=int, default=2000, help="beacons per batch (flask ingest drain --batch)")
    parser.add_argument("--spread", type=int, default=0,
                        help="play each seed entry as this many entries (0: the seed's entries as they are)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    counts = [int(n) for n in args.drains.split(",")]

    env = environment()
    fresh_database(env["DATABASE_URL"])
    app = make_app(env)
    dsn = "postgresql://" + env["DATABASE_URL"].split("://", 1)[1]
    with app.app_context():
        from sqlalchemy import text

        from lti_tool.extensions import db
        from lti_tool.ingest import beacon_queue
        from lti_tool.store import get_store

        registration_id, world = prepare(app, args.seed)
        server_version = db.session.scalar(text("SHOW server_version"))
        rounds = {n: queued_beacons(world, registration_id, args.beacons, f"drains{n}-{os.getpid()}", args.spread)
                  for n in counts}
        db.session.remove()
        client = get_store().client

        def count_events() -> int:
            with db.engine.connect() as conn:
                return conn.scalar(text("SELECT count(*) FROM player_event"))
        results = []
        for n in counts:
            print(f"{n} drain(s): {len(rounds[n]):,} beacons", file=sys.stderr)
            results.append(round_of(env, client, rounds[n], n, args.batch, count_events))
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
        client.delete(*beacon_queue.keys())
        entries = db.session.scalar(text("SELECT count(DISTINCT entry_id) FROM player_event"))
        db.session.remove()
        anchor = copy_anchor(dsn, max(r["events"] for r in results))
        db.engine.dispose()

    print()
    print(f"Drains benchmark — {os.cpu_count()} cores, {platform.machine()} {platform.system()}, "
          f"PostgreSQL {server_version}, Python {platform.python_version()}, {beacon_queue.SHARDS} shards, "
          f"batches of {args.batch}, beacons of {entries} entries")
    copy_rate = anchor["rows"] / anchor["seconds"]
    for r in results:
        rate = r["beacons"] / r["seconds"]
        print(f"{r['drains']} drain(s): {rate:>9,.0f} beacons/s = {rate / copy_rate:.2f} × COPY  "
              f"({r['beacons']:,} beacons, {r['events']:,} events stored, {r['parked']} parked, {r['seconds']:.1f} s)")
    print(f"anchor: COPY into player_event {copy_rate:>9,.0f} rows/s  ({anchor['rows']:,} rows in {anchor['seconds']:.2f} s)")


if __name__ == "__main__":
    main()
