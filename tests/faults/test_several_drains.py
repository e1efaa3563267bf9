"""Several `flask ingest drain` processes share the beacon queue (real processes: gunicorn, drains,
a private PostgreSQL and redis-server). While beacons of hundreds of player sessions arrive over
HTTP, one drain is killed -9, one is started, one is stopped with SIGTERM. The oracle:

- every beacon answered 2xx is stored exactly once, and each session's play has the seconds and
  quartiles its beacons say (derived here from the session's plan, not by the product);
- no two drains ever stored one shard (so one session) at the same time: each drain journals when
  each of its batches began and ended (tests/support/journaled_drain.py), a killed drain's last batch
  lasting until it was killed, and the batches of one shard by different drains never overlap;
- the shards were shared: several drains stored beacons, the drain started late among them.
"""
from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

import redis
from sqlalchemy import create_engine, text

from lti_tool.ingest import beacon_queue

from ..support.processes import AppProcess, wait_for
from .test_beacon_queue_faults import SESSION_PLAN, BeaconFeed, assert_exactly_once, player, settle  # noqa: F401

VIEW, QUARTILES = 99, {11, 12, 13, 14}


def journaled_drain(services, journal: Path, name: str) -> AppProcess:
    process = AppProcess([sys.executable, "-m", "tests.support.journaled_drain", str(journal), "ingest", "drain",
                          "--batch", "40", "--interval", "0.05"], services.env(), name)
    services.processes.append(process)
    return process


def read_journal(journal: Path, killed: dict[str, float]) -> dict[int, list[tuple[float, float, str, int]]]:
    """Shard -> its batches (begin, end, drain token, beacons taken); a batch left open by a drain
    killed meanwhile ends when it was killed (`killed`: pid -> time of the kill); lost leases left out."""
    open_batches: dict[tuple[str, int], float] = {}
    batches: dict[int, list] = defaultdict(list)
    for line in journal.read_text().splitlines():
        what, token, shard, when, *rest = line.split()
        shard, when = int(shard), float(when)
        if what == "begin":
            open_batches[(token, shard)] = when
        elif what == "end":
            batches[shard].append((open_batches.pop((token, shard)), when, token, int(rest[0])))
        else:
            open_batches.pop((token, shard))
    for (token, shard), began in open_batches.items():
        pid = token.split(":")[1]
        assert pid in killed, f"drain {token} left a batch open and was not killed"
        batches[shard].append((began, killed[pid], token, -1))
    return batches


def overlaps(batches: list[tuple[float, float, str, int]]) -> list[tuple]:
    """Pairs of batches of different drains whose times overlap."""
    found, latest = [], None   # latest: the batch ending last among those begun so far
    for batch in sorted(batches):
        if latest is not None and batch[0] < latest[1] and batch[2] != latest[2]:
            found.append((latest, batch))
        if latest is None or batch[1] > latest[1]:
            latest = batch
    return found


def plays_by_entry(database_url: str, prefix: str) -> dict[str, list[tuple[float, int]]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT m.external_id, p.seconds_viewed, p.quartile_events FROM play p "
                "JOIN media_entry m ON m.id = p.entry_id WHERE m.external_id LIKE :prefix"),
                {"prefix": prefix + "%"}).all()
    finally:
        engine.dispose()
    plays = defaultdict(list)
    for entry, seconds, quartiles in rows:
        plays[entry].append((float(seconds), quartiles))
    return plays


def test_several_drains_one_killed_one_started_one_stopped(services, player, tmp_path):  # noqa: F811
    journal = tmp_path / "journal"
    web = services.web(BEACON_QUEUE="on").start()
    drains = [journaled_drain(services, journal, f"drain-{n}").start() for n in range(3)]
    client = redis.Redis.from_url(services.redis.url(), socket_timeout=5)
    try:
        wait_for(lambda: client.zcard(beacon_queue.DRAINS_KEY) == 3, 60, "three drains to join")
        feed = BeaconFeed(web.url, player, sessions=400, lanes=8, prefix="1_many")
        threads = feed.start()
        killed: dict[str, float] = {}
        wait_for(lambda: feed.answered() >= feed.total // 4, 120, "a quarter of the beacons answered")
        victim = drains[0]
        pid = str(victim.pid)
        victim.kill()                                   # -9: its shards are taken over, its batch stored again
        killed[pid] = time.time()
        late = journaled_drain(services, journal, "drain-late").start()
        wait_for(lambda: feed.answered() >= feed.total // 2, 120, "half of the beacons answered")
        assert drains[1].stop() == 0                    # SIGTERM: it finishes its batch and gives its shards up
        for thread in threads:
            thread.join(timeout=300)
        outcome = settle(services, feed, timeout=180)
        print(outcome.line("3 drains sharing 4,000 beacons of 400 sessions; one killed -9, one started, one stopped"))
        assert_exactly_once(outcome, services)
        assert outcome.acknowledged == feed.total, outcome.refused
    finally:
        client.close()
    # Each session's play, as its beacons say: one play, the highest playTimeSum, its quartile beacons.
    seconds = max(extra["playTimeSum"] for kind, extra in SESSION_PLAN if kind == VIEW)
    quartiles = sum(kind in QUARTILES for kind, _ in SESSION_PLAN)
    plays = plays_by_entry(services.database_url, feed.prefix)
    assert plays == {feed.entry(n): [(float(seconds), quartiles)] for n in range(feed.sessions)}
    # No two drains on one shard at a time (the journal read once every drain has stopped).
    assert drains[2].stop() == 0 and late.stop() == 0
    batches = read_journal(journal, killed)
    for shard, shard_batches in batches.items():
        assert not overlaps(shard_batches), (shard, overlaps(shard_batches)[:3])
    stored_by = defaultdict(int)
    for shard_batches in batches.values():
        for _, _, token, taken in shard_batches:
            stored_by[token.split(":")[1]] += max(taken, 0)
    working = {pid for pid, taken in stored_by.items() if taken}
    print(f"[several drains] beacons taken per drain (by pid): {dict(stored_by)}; "
          f"batches: {sum(len(b) for b in batches.values())}")
    assert len(working) >= 3 and str(late.pid) in working, stored_by
