"""Queued beacons: the web process checks a beacon and queues it in Redis; `flask ingest drain`
stores the queue in batches. A player gets its answer in well under a millisecond of our work, and
the database sees a few statements per batch instead of a dozen per beacon.

What is queued is already located: the viewer's IP is turned into country/region/city before the
beacon is queued, so the address never leaves the web process. Live VIEWs of a room's stream also
become its sessions' engagement samples, in the same transaction (`pipeline.accept` runs the Kava
format's `after_accept`).

Nothing answered 200 is lost:
- A beacon leaves the queue only after the batch it is in was committed. The drain moves a batch
  atomically from the queue to a processing list (a Lua script), stores it, and then removes it
  from that list. A drain that starts (after a crash, a kill -9) stores what the processing list
  holds first. Storing is idempotent (a beacon's identity comes from its parameters), so a batch
  stored twice counts once.
- A database or Redis outage is waited out: the batch stays where it is, the drain retries with a
  growing pause and logs the outage once when it starts and once when it ends.
- A batch that fails for another reason is split in halves until the beacons that fail on their own
  are found; the others are stored. A beacon that cannot be read or whose registration no longer
  exists is parked (`FAILED_KEY`) with its reason and time; one whose storing raised an unexpected
  error is parked too and retried by the drain after 1 min, 5 min, 30 min and 2 h. Admins see the
  parked beacons (tool admin → Beacon queue, `flask ingest failed`) and can send them back.
- Several drains share the queue, but never a player session: the queue is `SHARDS` lists (shards), a
  beacon goes to the shard of its session id (a stable hash), so all of a session's beacons are in
  one shard, in order. Each shard has a lease in Redis; a drain holds its share of the shards (the
  running drains note a heartbeat and split the shards evenly between them), renews their leases as
  it goes and gives them up when it stops or when a drain joins and the share changes. The shards of
  a drain that died are taken over when their leases lapse (at once when it ran on this host and its
  process is gone); the new holder stores the shard's processing list first. Every step on a shard's
  lists checks the lease (the drain's token) atomically, and each transaction is committed only just
  after the lease was renewed, so a drain that lost a shard neither commits nor acknowledges its
  batch; storing is idempotent anyway. A batch is stored in parts of whole media (storing locks the
  rows of the media it touches until its commit), so drains playing the same media wait on each
  other for a part, not a batch.
- Shard 0 uses the keys of the single queue of earlier versions: what an earlier web process queued
  there is taken by shard 0's drain and sent on to its session's shard (atomically, unstored), and so
  are beacons sent back from the parked list.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import time
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

import redis
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from lti_tool.extensions import db
from lti_tool.outages import Outage, database_unavailable, reason, redis_unavailable
from lti_tool.store import get_store

from .enrich import locate
from .kava import SOURCE, UnknownRegistration, beacon_to_event, check_registration
from .pipeline import accept
from .schema import InvalidEvent

log = logging.getLogger(__name__)
QUEUE_KEY = "ma:kava-beacons"
PROCESSING_KEY = "ma:kava-beacons:processing"
FAILED_KEY = "ma:kava-beacons:failed"      # parked beacons, each {"raw", "registration_id", "kind", "reason", ...}
LEASE_KEY = "ma:kava-beacons:drain"
DRAINS_KEY = "ma:kava-beacons:drains"      # running drains: token -> when its heartbeat lapses (ms)
# Shards of the queue (fixed: a beacon's shard comes from its session id; one found in shard 0's list,
# the queue of earlier versions, is sent on to its own). Drains beyond SHARDS wait as standbys.
SHARDS = 16
# Seconds a drain's lease lasts without renewal; it is renewed at least every LEASE_SECONDS / 3.
LEASE_SECONDS = 15
# Beacons stored in one transaction, about: a batch's beacons are stored in parts of whole entries.
TRANSACTION_BEACONS = 250
# Seconds before the drain sends a beacon parked by an unexpected error back to the queue, per attempt;
# after the last, it stays parked for an admin.
RETRY_AFTER = (60, 300, 1800, 7200)
# Seconds between the drain's looks for parked beacons due for a retry.
RETRY_CHECK_SECONDS = 30
# Why a beacon is parked: it cannot be read, its registration is gone, or storing it failed unexpectedly.
KINDS = {"invalid": "cannot be read", "unknown-registration": "registration no longer exists",
         "error": "storing failed"}
# Parked beacons read at once (admin page, CLI, retries).
PAGE = 1000


@dataclass(frozen=True)
class Shard:
    """One shard's keys: its queue, its processing list and its lease (shard 0: the keys of the single
    queue of earlier versions)."""

    number: int
    queue: str
    processing: str
    lease: str


SHARD_LIST = tuple(Shard(0, QUEUE_KEY, PROCESSING_KEY, LEASE_KEY) if n == 0 else
                   Shard(n, f"{QUEUE_KEY}:{n}", f"{QUEUE_KEY}:{n}:processing", f"{LEASE_KEY}:{n}")
                   for n in range(SHARDS))
QUEUE_KEYS = tuple(shard.queue for shard in SHARD_LIST)


def shard_of(params: dict | None) -> int:
    """The shard of a beacon: a stable hash (CRC-32) of its player session id."""
    session = params.get("sessionId") if isinstance(params, dict) else None
    if not isinstance(session, str):
        session = "" if session is None else json.dumps(session, sort_keys=True)
    return zlib.crc32(session.encode(errors="replace")) % SHARDS


def keys() -> list[str]:
    """Every key the queue uses (tests clear them)."""
    return [key for shard in SHARD_LIST for key in (shard.queue, shard.processing, shard.lease)] + [
        FAILED_KEY, DRAINS_KEY]


def waiting(client: redis.Redis | None = None) -> int:
    """Beacons queued and not yet taken by a drain, in every shard."""
    client = client or get_store().client
    pipe = client.pipeline(transaction=False)
    for key in QUEUE_KEYS:
        pipe.llen(key)
    return sum(pipe.execute())


class QueueUnavailable(RuntimeError):
    """Redis cannot be reached: the beacon was not queued (answer 503, nothing acknowledged)."""


# The web process's view of Redis, so an outage is logged once per process, not once per beacon.
_enqueue_outage = Outage("Redis (beacon queue)", logger=log)


def enabled() -> bool:
    return bool(current_app.config.get("BEACON_QUEUE")) and bool(current_app.config.get("REDIS_URL"))


def enqueue(registration_id: int, params: dict, *, received_at: datetime, ip: str | None,
            user_agent: str | None, user: str | None) -> None:
    """Queue one checked beacon; QueueUnavailable when Redis cannot take it."""
    where = locate(ip, current_app.config.get("GEOIP_CITY_DB"))
    item = {"registration_id": registration_id, "params": params, "received_at": received_at.isoformat(),
            "location": [where.country, where.region, where.city], "user_agent": user_agent, "user": user}
    try:
        get_store().client.rpush(QUEUE_KEYS[shard_of(params)], json.dumps(item))
    except redis.RedisError as exc:
        if not redis_unavailable(exc):
            raise
        _enqueue_outage.failed(exc)
        raise QueueUnavailable(reason(exc)) from exc
    _enqueue_outage.ok()


@dataclass
class DrainResult:
    taken: int = 0
    accepted: int = 0
    duplicates: int = 0
    ignored: int = 0
    rejected: int = 0      # parked with their reason
    forwarded: int = 0     # found in another shard's list, sent on to their own


@dataclass
class Stored:
    """What storing one registration's queued beacons did."""

    accepted: int = 0
    duplicates: int = 0
    ignored: int = 0
    invalid: list = field(default_factory=list)   # (item, reason) of beacons that cannot be read


def store(registration_id: int, items: list[dict], commit: bool = True) -> Stored:
    """Store queued beacons of one registration in one transaction, and commit (unless not `commit`).

    Beacons that cannot be read are left out and returned with their reason; anything else that
    goes wrong raises (UnknownRegistration when the registration is gone) and the caller rolls back.
    Every use of the Kava adapter and the pipeline by the queue is here.
    """
    check_registration(registration_id)
    events, invalid, ignored = _events_of(registration_id, items)
    counts = accept(registration_id, events, SOURCE, commit=commit)
    return Stored(accepted=counts.accepted, duplicates=counts.duplicates, ignored=ignored, invalid=invalid)


def _events_of(registration_id: int, items: list[dict]) -> tuple[list, list, int]:
    """IncomingEvents of queued beacons, in order; the (item, reason) of those that cannot be read, and
    how many were ignored (event types we do not count)."""
    events, invalid, ignored = [], [], 0
    for item in items:
        try:
            event = beacon_to_event(registration_id, item["params"],
                                    received_at=datetime.fromisoformat(item["received_at"]), ip=None,
                                    user_agent=item["user_agent"], user=item["user"])
        except InvalidEvent as exc:  # checked before queueing; a check that changed since can still fail
            invalid.append((item, str(exc)))
            continue
        if event is None:
            ignored += 1
            continue
        event.location = tuple(item["location"]) if any(item["location"]) else None
        events.append(event)
    return events, invalid, ignored


# Redis scripts: each step that moves beacons between lists is atomic, and done only by the holder of
# the shard's lease (KEYS[1] is the lease, ARGV[1] the drain's token: the fencing check).
_TAKE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local pending = redis.call('LRANGE', KEYS[3], 0, -1)
if #pending > 0 then return pending end
local items = redis.call('LRANGE', KEYS[2], 0, tonumber(ARGV[2]) - 1)
for i = 1, #items, 500 do
  redis.call('RPUSH', KEYS[3], unpack(items, i, math.min(i + 499, #items)))
end
if #items > 0 then redis.call('LTRIM', KEYS[2], #items, -1) end
return items
"""
# The batch leaves the processing list (KEYS[2]); its parked beacons join the parked list (KEYS[3]);
# beacons of another shard (queued by an earlier version, or sent back from the parked list) join
# their own shard's queue (KEYS[4 + shard]). ARGV: token, beacons taken, how many parked, the parked
# entries, then (shard, beacon) pairs.
_FINISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('LTRIM', KEYS[2], tonumber(ARGV[2]), -1)
local last = 3 + tonumber(ARGV[3])
for i = 4, last, 500 do
  redis.call('RPUSH', KEYS[3], unpack(ARGV, i, math.min(i + 499, last)))
end
for i = last + 1, #ARGV, 2 do
  redis.call('RPUSH', KEYS[4 + tonumber(ARGV[i])], ARGV[i + 1])
end
return 1
"""
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
# Renew every lease of KEYS this drain still holds; the (1-based) positions of those it holds.
_RENEW_ALL = """
local held = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    table.insert(held, i)
  end
end
return held
"""
_REPLACE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""
# The running drains (KEYS[1]: token -> when its heartbeat lapses, in ms of Redis's clock): forget the
# lapsed ones, note this one's heartbeat (ARGV[1], none when empty) and list them all.
_HEARTBEAT = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[1] ~= '' then redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) end
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
# Parked entries (ARGV, in pairs: the parked entry, the queue item to send instead) leave the parked
# list and join the queue; an entry no longer parked (sent back meanwhile) is skipped. (They join
# shard 0's queue; its drain sends each on to its own shard.)
_REQUEUE = """
local wanted = {}
for i = 1, #ARGV, 2 do wanted[ARGV[i]] = (wanted[ARGV[i]] or 0) + 1 end
local kept, moved = {}, {}
for _, entry in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if (wanted[entry] or 0) > 0 then wanted[entry] = wanted[entry] - 1; moved[entry] = (moved[entry] or 0) + 1
  else table.insert(kept, entry) end
end
local count = 0
for i = 1, #ARGV, 2 do
  if (moved[ARGV[i]] or 0) > 0 then
    moved[ARGV[i]] = moved[ARGV[i]] - 1
    redis.call('RPUSH', KEYS[2], ARGV[i + 1])
    count = count + 1
  end
end
redis.call('DEL', KEYS[1])
for i = 1, #kept, 500 do
  redis.call('RPUSH', KEYS[1], unpack(kept, i, math.min(i + 499, #kept)))
end
return count
"""


class LeaseLost(RuntimeError):
    """Another drain holds the shard now: stop working on its batch (the new holder stores it again)."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _text(raw) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else raw


class Drainer:
    """Stores its share of the shards batch by batch, holding their leases (see the module's docstring).

    `acquire()` joins the running drains and takes this drain's share; `step()` stores one batch of
    every shard it holds; `run()` does both until stopped. With `everything`, a drain takes every free
    shard and does not join (a one-off `--once`)."""

    def __init__(self, batch: int = 2000, *, client: redis.Redis | None = None, echo=None,
                 everything: bool = False) -> None:
        self.batch = batch
        self.client = client or get_store().client
        self.echo = echo
        self.everything = everything
        self.host = socket.gethostname()
        self.token = f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.redis = Outage("Redis", logger=log)
        self.database = Outage("database", logger=log)
        self.stopping = False
        self.standby_since: float | None = None
        self.renewed_at = 0.0
        self.retries_checked_at = 0.0
        self.held: dict[int, Shard] = {}      # shards whose lease this drain holds
        self.current: Shard | None = None     # the shard whose batch is being stored
        self.busy = False                     # the last step found a full batch in some shard
        self._scripts = {name: self.client.register_script(body) for name, body in (
            ("take", _TAKE), ("finish", _FINISH), ("renew", _RENEW), ("renew_all", _RENEW_ALL),
            ("replace", _REPLACE), ("release", _RELEASE), ("heartbeat", _HEARTBEAT), ("requeue", _REQUEUE))}

    # -- the shards this drain holds ---------------------------------------------------------------

    def share(self, drains: list[str]) -> set[int]:
        """The shards this drain should hold when `drains` run: every len(drains)-th one, by its rank."""
        if self.everything:
            return set(range(SHARDS))
        drains = sorted(set(drains) | {self.token})
        rank, count = drains.index(self.token), len(drains)
        return {number for number in range(SHARDS) if number % count == rank}

    def drains(self) -> list[str]:
        """The running drains (this one's heartbeat noted); a drain of this host whose process is gone
        is forgotten at once."""
        ttl = LEASE_SECONDS * 1000
        running = [_text(token) for token in self._scripts["heartbeat"](
            keys=[DRAINS_KEY], args=["" if self.everything else self.token, ttl])]
        gone = [token for token in running if token != self.token and self._gone(token)]
        if gone:
            self.client.zrem(DRAINS_KEY, *gone)
        return [token for token in running if token not in gone]

    def _gone(self, holder: str) -> bool:
        """A drain of this host whose process is gone (its lease need not lapse first)."""
        host, _, rest = holder.partition(":")
        pid = rest.partition(":")[0]
        return host == self.host and pid.isdigit() and int(pid) != os.getpid() and not _process_alive(int(pid))

    def acquire(self) -> bool:
        """Join the running drains and hold this drain's share of the shards: give up those another
        drain should hold now, take the free ones of its share. False when it holds none (the others
        hold them all: it waits as a standby)."""
        wanted = self.share(self.drains())
        for number in sorted(set(self.held) - wanted):
            self._release(self.held.pop(number))
        if time.monotonic() - self.renewed_at >= LEASE_SECONDS / 3:
            self._renew_leases()
        taken_over = [number for number in sorted(wanted - set(self.held)) if self._take_lease(SHARD_LIST[number])]
        if taken_over:
            log.warning("took over shards %s of the beacon queue from a drain whose process is gone",
                        ", ".join(map(str, taken_over)))
        if self.held:
            self._holding()
            return True
        if self.standby_since is None:
            self.standby_since = time.monotonic()
            log.warning("other drains hold every shard of the beacon queue; waiting as a standby")
        return False

    def _take_lease(self, shard: Shard) -> bool:
        """Hold the shard when its lease is free (or its holder's process on this host is gone); True
        when it was taken over from such a holder."""
        ttl = LEASE_SECONDS * 1000
        if self.client.set(shard.lease, self.token, nx=True, px=ttl):
            self.held[shard.number] = shard
            return False
        holder = _text(self.client.get(shard.lease) or b"")
        if holder == self.token:
            self.held[shard.number] = shard
        elif self._gone(holder) and self._scripts["replace"](keys=[shard.lease], args=[holder, self.token, ttl]):
            self.held[shard.number] = shard
            return True
        return False

    def _holding(self) -> None:
        if self.standby_since is not None:
            log.warning("this drain now stores shards %s of the beacon queue",
                        ", ".join(str(n) for n in sorted(self.held)))
            self.standby_since = None

    def renew(self) -> bool:
        """Renew every lease held (and the heartbeat); shards whose lease lapsed are let go. False when none is held."""
        if not self.everything:
            self.drains()
        return self._renew_leases()

    def _renew_leases(self) -> bool:
        shards = list(self.held.values())
        if shards:
            kept = {int(i) for i in self._scripts["renew_all"](keys=[s.lease for s in shards],
                                                               args=[self.token, LEASE_SECONDS * 1000])}
            for position, shard in enumerate(shards, start=1):
                if position not in kept:
                    log.info("the drain's lease on shard %d of the beacon queue lapsed", shard.number)
                    del self.held[shard.number]
        self.renewed_at = time.monotonic()
        return bool(self.held)

    def keep_lease(self) -> None:
        """Renew the leases when due; LeaseLost when the shard being stored is held by another drain now."""
        if time.monotonic() - self.renewed_at >= LEASE_SECONDS / 3:
            self.renew()
        if self.current is not None and self.current.number not in self.held:
            raise LeaseLost()

    def fence(self, shard: Shard) -> None:
        """Just before a commit: renew the shard's lease, LeaseLost when another drain holds it now."""
        if not self._scripts["renew"](keys=[shard.lease], args=[self.token, LEASE_SECONDS * 1000]):
            self.held.pop(shard.number, None)
            raise LeaseLost()

    def _release(self, shard: Shard) -> None:
        self._scripts["release"](keys=[shard.lease], args=[self.token])

    def release(self) -> None:
        """Give up every shard and leave the running drains (the others take the shards over at once)."""
        for shard in list(self.held.values()):
            self._release(shard)
        self.held.clear()
        if not self.everything:
            self.client.zrem(DRAINS_KEY, self.token)

    def pause(self, seconds: float) -> None:
        """Sleep, keeping the leases; returns early when asked to stop."""
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.5))
            self.keep_lease()

    # -- one batch ---------------------------------------------------------------------------------

    def step(self, wait_out_database: bool = True) -> DrainResult:
        """Store one batch of every shard held (see step_shard); their sum. A shard whose lease was lost
        meanwhile is let go (its new holder stores the batch)."""
        total, self.busy = DrainResult(), False
        for shard in sorted(self.held.values(), key=lambda s: s.number):
            if self.stopping:
                break
            self.keep_lease()  # the leases of the shards still to come, on a slow round
            if shard.number not in self.held:
                continue
            started = time.monotonic()
            try:
                result = self.step_shard(shard, wait_out_database)
            except LeaseLost:
                log.info("the drain's lease on shard %d of the beacon queue lapsed", shard.number)
                self.held.pop(shard.number, None)
                continue
            self.busy |= result.taken >= self.batch
            if result.taken and self.echo:
                self.echo(f"shard {shard.number}: " + _summary(result, time.monotonic() - started))
            for name in ("taken", "accepted", "duplicates", "ignored", "rejected", "forwarded"):
                setattr(total, name, getattr(total, name) + getattr(result, name))
        return total

    def step_shard(self, shard: Shard, wait_out_database: bool = True) -> DrainResult:
        """Store one batch of a shard: what a previous drain left in its processing list, else the next
        `batch` beacons of its queue. A database outage is waited out (or raised when not
        `wait_out_database`). LeaseLost when another drain holds the shard (nothing is acknowledged)."""
        raws = self._scripts["take"](keys=[shard.lease, shard.queue, shard.processing], args=[self.token, self.batch])
        if raws is None:
            raise LeaseLost()
        self.current = shard
        try:
            return self._store_batch(shard, raws, wait_out_database)
        finally:
            self.current = None

    def _store_batch(self, shard: Shard, raws: list, wait_out_database: bool) -> DrainResult:
        result = DrainResult(taken=len(raws))
        parked: list[str] = []
        forwarded: list = []   # shard, queued text: beacons of another shard, sent on to it
        by_registration: dict[int, list] = {}
        for raw in raws:
            raw = _text(raw)
            try:
                item = json.loads(raw)
                registration_id = int(item["registration_id"])
                belongs = shard_of(item.get("params"))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                parked.append(_parked_entry(raw, None, "invalid", f"not a queued beacon: {reason(exc, 100)}"))
                continue
            if shard.number == 0 and belongs != 0:  # only from shard 0: a beacon is sent on once at most
                forwarded += [belongs, raw]
                continue
            item["_raw"] = raw  # what is parked if it fails: the queued text itself
            by_registration.setdefault(registration_id, []).append(item)
        for registration_id, items in ((r, part) for r, items in by_registration.items()
                                       for part in _by_entries(items)):
            before, parked_before = replace(result), len(parked)
            while True:
                try:
                    self._store_or_split(shard, registration_id, items, result, parked)
                    self.database.ok()
                    break
                except SQLAlchemyError as exc:
                    if not (database_unavailable(exc) and wait_out_database):
                        raise
                    # The whole group again once the database is back (what was committed counts once).
                    result = replace(before)
                    del parked[parked_before:]
                    self.pause(self.database.failed(exc))
                    if self.stopping:
                        return DrainResult()  # the batch stays in the processing list for the next drain
        result.rejected = len(parked)
        result.forwarded = len(forwarded) // 2
        if not self._scripts["finish"](keys=[shard.lease, shard.processing, FAILED_KEY, *QUEUE_KEYS],
                                       args=[self.token, len(raws), len(parked), *parked, *forwarded]):
            raise LeaseLost()
        return result

    def _store_or_split(self, shard: Shard, registration_id: int, items: list[dict], result: DrainResult,
                        parked: list) -> None:
        """Store items (of a few media) in one transaction, committed only while this drain holds the shard; when that
        fails for a reason other than an outage, store each half on its own, down to single beacons,
        which are parked with the reason they failed."""
        try:
            stored = store(registration_id, items, commit=False)
            self.fence(shard)
            db.session.commit()
        except Exception as exc:
            _rollback()
            if isinstance(exc, LeaseLost) or (isinstance(exc, SQLAlchemyError) and database_unavailable(exc)):
                raise
            if isinstance(exc, UnknownRegistration):
                parked.extend(_parked_entry(item["_raw"], registration_id, "unknown-registration", str(exc),
                                            item.get("attempts", 0)) for item in items)
                return
            if len(items) == 1:
                log.exception("a queued beacon of registration %s could not be stored; parked", registration_id)
                parked.append(_parked_entry(items[0]["_raw"], registration_id, "error",
                                            f"{type(exc).__name__}: {reason(exc)}", items[0].get("attempts", 0)))
                return
            self.keep_lease()
            middle = len(items) // 2
            self._store_or_split(shard, registration_id, items[:middle], result, parked)
            self._store_or_split(shard, registration_id, items[middle:], result, parked)
            return
        result.accepted += stored.accepted
        result.duplicates += stored.duplicates
        result.ignored += stored.ignored
        for item, why in stored.invalid:
            log.warning("a queued beacon of registration %s cannot be read (%s); parked", registration_id, why)
            parked.append(_parked_entry(item["_raw"], registration_id, "invalid", why, item.get("attempts", 0)))

    # -- the loop ----------------------------------------------------------------------------------

    def run(self, interval: float) -> None:
        """Drain until SIGTERM or SIGINT (the batch being stored is finished first), then give the
        shards up so the other drains take them over at once."""
        def stop(signum, frame):
            self.stopping = True
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not self.stopping:
                try:
                    if not self.acquire():
                        self.redis.ok()
                        self._sleep(max(interval, 0.5))
                        continue
                    if 0 in self.held:
                        self._retry_due()
                    self.step()
                    self.redis.ok()
                    if not self.busy:
                        self.pause(interval)
                except LeaseLost:  # Redis lost it (a restart) or another drain took over: take it again if free
                    log.info("the drain's lease on the beacon queue lapsed")
                except redis.RedisError as exc:
                    if not redis_unavailable(exc):
                        raise
                    _rollback()
                    self.held.clear()  # what is still ours is taken again by acquire()
                    self._sleep(self.redis.failed(exc))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            try:
                self.release()
            except redis.RedisError:
                pass  # the leases lapse by themselves

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    def _retry_due(self) -> None:
        """Now and then, send beacons parked by an unexpected error back to the queue when their retry is due."""
        if time.monotonic() - self.retries_checked_at < RETRY_CHECK_SECONDS:
            return
        self.retries_checked_at = time.monotonic()
        moved = requeue(due_before=_now(), client=self.client)
        if moved:
            log.warning("sent %d parked beacons back to the queue for another try", moved)


def _by_entries(items: list[dict]) -> list[list[dict]]:
    """A registration's beacons of a batch in parts of about TRANSACTION_BEACONS, each holding all the
    beacons of its entries (in their order). Storing a part locks the rows of its entries until its
    commit, so drains whose batches play the same entries wait on each other for one part, not for a
    whole batch."""
    by_entry: dict = {}
    for item in items:
        params = item.get("params")
        by_entry.setdefault(str(params.get("entryId")) if isinstance(params, dict) else "", []).append(item)
    parts, part = [], []
    for group in by_entry.values():
        part += group
        if len(part) >= TRANSACTION_BEACONS:
            parts.append(part)
            part = []
    return parts + [part] if part else parts


def _rollback() -> None:
    try:
        db.session.rollback()
    except SQLAlchemyError:  # the connection is gone; the session starts afresh either way
        db.session.remove()


def _parked_entry(raw: str, registration_id: int | None, kind: str, why: str, attempts: int = 0) -> str:
    """The parked form of a queued beacon: the queued text itself, whose it is, why and when; for
    an unexpected error, when the drain will try it again (none after the last retry)."""
    now = _now()
    retry_at = None
    if kind == "error" and attempts < len(RETRY_AFTER):
        retry_at = (now + timedelta(seconds=RETRY_AFTER[attempts])).isoformat()
    return json.dumps({"raw": raw, "registration_id": registration_id, "kind": kind, "reason": why[:500],
                       "parked_at": now.isoformat(), "attempts": attempts + (kind == "error"),
                       "retry_at": retry_at})


def _summary(result: DrainResult, seconds: float) -> str:
    forwarded = f", {result.forwarded} sent on to their shard" if result.forwarded else ""
    return (f"stored {result.accepted} beacons ({result.duplicates} duplicates, {result.ignored} ignored, "
            f"{result.rejected} parked{forwarded}) in {seconds * 1000:.0f} ms")


# -- parked beacons: what admins see and send back ---------------------------------------------------

@dataclass(frozen=True)
class ParkedBeacon:
    registration_id: int | None
    kind: str             # a key of KINDS
    reason: str
    parked_at: datetime   # aware UTC
    attempts: int         # tries that failed with an unexpected error
    retry_at: datetime | None   # when the drain tries it again by itself; None: only when an admin asks
    params: dict          # the beacon as the player sent it ({} when unreadable)
    entry: str            # the parked list's own text of it


@dataclass(frozen=True)
class ReasonCount:
    kind: str
    reason: str
    count: int
    oldest: datetime


@dataclass(frozen=True)
class QueueState:
    """The queue for an admin: beacons waiting (whole server), parked ones (of the registration asked about)."""

    waiting: int
    in_progress: int
    drain: str | None      # a running drain ("host:pid:…"), None when none runs
    parked: int
    oldest_parked: datetime | None
    reasons: list[ReasonCount]
    drains: tuple[str, ...] = ()   # every running drain ("host:pid:…")


def parked(client: redis.Redis | None = None, registration_id: int | None = None, kind: str | None = None):
    """Parked beacons, oldest first (all registrations unless one is named)."""
    client = client or get_store().client
    start = 0
    while True:
        page = client.lrange(FAILED_KEY, start, start + PAGE - 1)
        for entry in page:
            beacon = _read_parked(entry.decode() if isinstance(entry, bytes) else entry)
            if (registration_id is None or beacon.registration_id == registration_id) and kind in (None, beacon.kind):
                yield beacon
        if len(page) < PAGE:
            return
        start += PAGE


def _read_parked(entry: str) -> ParkedBeacon:
    try:
        data = json.loads(entry)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {}
    try:
        item = json.loads(data["raw"])
    except (ValueError, TypeError, KeyError):
        item = None
    params = item.get("params") if isinstance(item, dict) else None

    def when(value):
        try:
            return datetime.fromisoformat(value)
        except (TypeError, ValueError):
            return None
    return ParkedBeacon(registration_id=data.get("registration_id"), kind=data.get("kind", "invalid"),
                        reason=str(data.get("reason", "not a parked beacon")),
                        parked_at=when(data.get("parked_at")) or datetime.min.replace(tzinfo=timezone.utc),
                        attempts=int(data.get("attempts") or 0), retry_at=when(data.get("retry_at")),
                        params=params if isinstance(params, dict) else {}, entry=entry)


def state(registration_id: int | None = None, client: redis.Redis | None = None) -> QueueState:
    """The queue as an admin sees it; the parked beacons of `registration_id` (all when None)."""
    client = client or get_store().client
    pipe = client.pipeline(transaction=False)
    for shard in SHARD_LIST:
        pipe.llen(shard.queue)
        pipe.llen(shard.processing)
    pipe.time()
    *lengths, (seconds, micros) = pipe.execute()
    waiting, in_progress = sum(lengths[0::2]), sum(lengths[1::2])
    now_ms = seconds * 1000 + micros // 1000
    drains = tuple(_text(token) for token in client.zrangebyscore(DRAINS_KEY, now_ms, "+inf"))
    if not drains:  # a drain of an earlier version holds the single lease
        holder = client.get(LEASE_KEY)
        drains = (_text(holder),) if holder else ()
    counts: Counter = Counter()
    oldest: dict[tuple[str, str], datetime] = {}
    for beacon in parked(client, registration_id):
        key = (beacon.kind, beacon.reason)
        counts[key] += 1
        oldest[key] = min(oldest.get(key, beacon.parked_at), beacon.parked_at)
    reasons = sorted((ReasonCount(kind, why, count, oldest[(kind, why)]) for (kind, why), count in counts.items()),
                     key=lambda r: (-r.count, r.oldest))
    return QueueState(waiting=waiting, in_progress=in_progress, drain=drains[0] if drains else None,
                      parked=sum(counts.values()), oldest_parked=min(oldest.values()) if oldest else None,
                      reasons=reasons, drains=drains)


def requeue(*, registration_id: int | None = None, kind: str | None = None, due_before: datetime | None = None,
            client: redis.Redis | None = None) -> int:
    """Send parked beacons back to the queue (of one registration, of one kind, or those whose automatic
    retry is due before `due_before`); how many were sent. An admin's retry starts the count of
    automatic retries afresh."""
    client = client or get_store().client
    pairs: list[str] = []
    for beacon in parked(client, registration_id, kind):
        if due_before is not None and (beacon.retry_at is None or beacon.retry_at > due_before):
            continue
        try:
            item = json.loads(json.loads(beacon.entry)["raw"])
        except (ValueError, TypeError, KeyError):
            continue  # unreadable: it stays parked
        if not isinstance(item, dict):
            continue
        item["attempts"] = beacon.attempts if due_before is not None else 0
        pairs += [beacon.entry, json.dumps(item)]
    if not pairs:
        return 0
    script = client.register_script(_REQUEUE)
    return int(script(keys=[FAILED_KEY, QUEUE_KEY], args=pairs))


def discard(*, registration_id: int | None = None, kind: str | None = None, client: redis.Redis | None = None) -> int:
    """Drop parked beacons for good (of one registration, of one kind); how many."""
    client = client or get_store().client
    entries = [beacon.entry for beacon in parked(client, registration_id, kind)]
    removed = 0
    for entry in entries:
        removed += client.lrem(FAILED_KEY, 1, entry)
    return removed


# -- entry points ------------------------------------------------------------------------------------

def drain(batch: int = 2000) -> DrainResult:
    """Store one batch of every shard no drain holds now (tests, `flask ingest drain --once`); an outage
    raises, the batch stays queued. LeaseLost when running drains hold every shard."""
    drainer = Drainer(batch, everything=True)
    if not drainer.acquire():
        raise LeaseLost("other drains are storing the beacon queue now")
    try:
        return drainer.step(wait_out_database=False)
    finally:
        drainer.release()


def run(batch: int, interval: float, once: bool, echo=print) -> None:
    """Drain until stopped (or one batch of every shard): a short pause when the queue is empty."""
    if once:
        started = time.monotonic()
        echo(_summary(drain(batch), time.monotonic() - started))
        return
    Drainer(batch, echo=echo).run(interval)
