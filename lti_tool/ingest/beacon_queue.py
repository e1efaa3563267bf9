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
- One drain works at a time: it holds a lease in Redis, renewed as it goes; another drain waits as
  a standby and takes over when the lease lapses (at once when the holder ran on the same host and
  its process is gone).
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import time
import uuid
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
# Seconds a drain's lease lasts without renewal; it is renewed at least every LEASE_SECONDS / 3.
LEASE_SECONDS = 15
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
        get_store().client.rpush(QUEUE_KEY, json.dumps(item))
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


@dataclass
class Stored:
    """What storing one registration's queued beacons did."""

    accepted: int = 0
    duplicates: int = 0
    ignored: int = 0
    invalid: list = field(default_factory=list)   # (item, reason) of beacons that cannot be read


def store(registration_id: int, items: list[dict]) -> Stored:
    """Store queued beacons of one registration in one transaction, and commit.

    Beacons that cannot be read are left out and returned with their reason; anything else that
    goes wrong raises (UnknownRegistration when the registration is gone) and the caller rolls back.
    Every use of the Kava adapter and the pipeline by the queue is here.
    """
    check_registration(registration_id)
    events, invalid, ignored = _events_of(registration_id, items)
    counts = accept(registration_id, events, SOURCE)
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


# Redis scripts: each step that moves beacons between lists is atomic, and done only by the lease holder.
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
_FINISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('LTRIM', KEYS[2], tonumber(ARGV[2]), -1)
for i = 3, #ARGV, 500 do
  redis.call('RPUSH', KEYS[3], unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
return 1
"""
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
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
# Parked entries (ARGV, in pairs: the parked entry, the queue item to send instead) leave the parked
# list and join the queue; an entry no longer parked (sent back meanwhile) is skipped.
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
    """Another drain holds the queue now: stop working on the batch (it will store it again)."""


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


class Drainer:
    """Stores the queue batch by batch, holding the lease (see the module's docstring)."""

    def __init__(self, batch: int = 2000, *, client: redis.Redis | None = None, echo=None) -> None:
        self.batch = batch
        self.client = client or get_store().client
        self.echo = echo
        self.host = socket.gethostname()
        self.token = f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.redis = Outage("Redis", logger=log)
        self.database = Outage("database", logger=log)
        self.stopping = False
        self.standby_since: float | None = None
        self.renewed_at = 0.0
        self.retries_checked_at = 0.0
        self._scripts = {name: self.client.register_script(body) for name, body in (
            ("take", _TAKE), ("finish", _FINISH), ("renew", _RENEW), ("replace", _REPLACE),
            ("release", _RELEASE), ("requeue", _REQUEUE))}

    # -- the lease ---------------------------------------------------------------------------------

    def acquire(self) -> bool:
        """Hold the lease (take it when free, or when its holder on this host is gone); False when
        another drain holds it."""
        ttl = LEASE_SECONDS * 1000
        if self.client.set(LEASE_KEY, self.token, nx=True, px=ttl):
            self._holding()
            return True
        holder = self.client.get(LEASE_KEY)
        holder = holder.decode() if holder else ""
        if holder == self.token:
            return self.renew()
        host, _, rest = holder.partition(":")
        pid = rest.partition(":")[0]
        gone = host == self.host and pid.isdigit() and (int(pid) == os.getpid() or not _process_alive(int(pid)))
        if gone and self._scripts["replace"](keys=[LEASE_KEY], args=[holder, self.token, ttl]):
            log.warning("took over the beacon queue from drain %s, whose process is gone", holder)
            self._holding()
            return True
        if self.standby_since is None:
            self.standby_since = time.monotonic()
            log.warning("another drain (%s) is storing the beacon queue; waiting as a standby", holder)
        return False

    def _holding(self) -> None:
        self.renewed_at = time.monotonic()
        if self.standby_since is not None:
            log.warning("this drain now stores the beacon queue")
            self.standby_since = None

    def renew(self) -> bool:
        ok = bool(self._scripts["renew"](keys=[LEASE_KEY], args=[self.token, LEASE_SECONDS * 1000]))
        if ok:
            self.renewed_at = time.monotonic()
        return ok

    def keep_lease(self) -> None:
        """Renew the lease when due; LeaseLost when another drain holds it now."""
        if time.monotonic() - self.renewed_at >= LEASE_SECONDS / 3 and not self.renew():
            raise LeaseLost()

    def release(self) -> None:
        self._scripts["release"](keys=[LEASE_KEY], args=[self.token])

    def pause(self, seconds: float) -> None:
        """Sleep, keeping the lease; returns early when asked to stop."""
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.5))
            self.keep_lease()

    # -- one batch ---------------------------------------------------------------------------------

    def step(self, wait_out_database: bool = True) -> DrainResult:
        """Store one batch: what a previous drain left in the processing list, else the next `batch`
        beacons of the queue. A database outage is waited out (or raised when not `wait_out_database`)."""
        raws = self._scripts["take"](keys=[LEASE_KEY, QUEUE_KEY, PROCESSING_KEY], args=[self.token, self.batch])
        if raws is None:
            raise LeaseLost()
        self.renewed_at = time.monotonic()  # the script checked the lease: it is ours for a while
        result = DrainResult(taken=len(raws))
        parked: list[str] = []
        by_registration: dict[int, list] = {}
        for raw in raws:
            raw = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
            try:
                item = json.loads(raw)
                registration_id = int(item["registration_id"])
            except (ValueError, TypeError, KeyError) as exc:
                parked.append(_parked_entry(raw, None, "invalid", f"not a queued beacon: {reason(exc, 100)}"))
                continue
            item["_raw"] = raw  # what is parked if it fails: the queued text itself
            by_registration.setdefault(registration_id, []).append(item)
        for registration_id, items in by_registration.items():
            before, parked_before = replace(result), len(parked)
            while True:
                try:
                    self._store_or_split(registration_id, items, result, parked)
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
        if not self._scripts["finish"](keys=[LEASE_KEY, PROCESSING_KEY, FAILED_KEY], args=[self.token, len(raws), *parked]):
            raise LeaseLost()
        return result

    def _store_or_split(self, registration_id: int, items: list[dict], result: DrainResult, parked: list) -> None:
        """Store items in one transaction; when that fails for a reason other than an outage, store each
        half on its own, down to single beacons, which are parked with the reason they failed."""
        try:
            stored = store(registration_id, items)
        except Exception as exc:
            _rollback()
            if isinstance(exc, SQLAlchemyError) and database_unavailable(exc):
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
            self._store_or_split(registration_id, items[:middle], result, parked)
            self._store_or_split(registration_id, items[middle:], result, parked)
            return
        result.accepted += stored.accepted
        result.duplicates += stored.duplicates
        result.ignored += stored.ignored
        for item, why in stored.invalid:
            log.warning("a queued beacon of registration %s cannot be read (%s); parked", registration_id, why)
            parked.append(_parked_entry(item["_raw"], registration_id, "invalid", why, item.get("attempts", 0)))

    # -- the loop ----------------------------------------------------------------------------------

    def run(self, interval: float) -> None:
        """Drain until SIGTERM or SIGINT (the batch being stored is finished first)."""
        def stop(signum, frame):
            self.stopping = True
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not self.stopping:
                try:
                    if not self.acquire():
                        self.redis.ok()
                        self._sleep(LEASE_SECONDS / 3)
                        continue
                    self._retry_due()
                    started = time.monotonic()
                    result = self.step()
                    self.redis.ok()
                    if result.taken and self.echo:
                        self.echo(_summary(result, time.monotonic() - started))
                    if result.taken < self.batch:
                        self.pause(interval)
                except LeaseLost:  # Redis lost it (a restart) or another drain took over: take it again if free
                    log.info("the drain's lease on the beacon queue lapsed")
                except redis.RedisError as exc:
                    if not redis_unavailable(exc):
                        raise
                    _rollback()
                    self._sleep(self.redis.failed(exc))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            try:
                self.release()
            except redis.RedisError:
                pass  # the lease lapses by itself

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
    return (f"stored {result.accepted} beacons ({result.duplicates} duplicates, {result.ignored} ignored, "
            f"{result.rejected} parked) in {seconds * 1000:.0f} ms")


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
    drain: str | None      # the drain holding the lease ("host:pid:…"), None when none runs
    parked: int
    oldest_parked: datetime | None
    reasons: list[ReasonCount]


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
    pipe.llen(QUEUE_KEY)
    pipe.llen(PROCESSING_KEY)
    pipe.get(LEASE_KEY)
    waiting, in_progress, holder = pipe.execute()
    counts: Counter = Counter()
    oldest: dict[tuple[str, str], datetime] = {}
    for beacon in parked(client, registration_id):
        key = (beacon.kind, beacon.reason)
        counts[key] += 1
        oldest[key] = min(oldest.get(key, beacon.parked_at), beacon.parked_at)
    reasons = sorted((ReasonCount(kind, why, count, oldest[(kind, why)]) for (kind, why), count in counts.items()),
                     key=lambda r: (-r.count, r.oldest))
    return QueueState(waiting=waiting, in_progress=in_progress, drain=holder.decode() if holder else None,
                      parked=sum(counts.values()), oldest_parked=min(oldest.values()) if oldest else None,
                      reasons=reasons)


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
    """Store one batch now (tests, `flask ingest drain --once`); an outage raises, the batch stays queued."""
    drainer = Drainer(batch)
    if not drainer.acquire():
        raise LeaseLost("another drain is storing the beacon queue now")
    try:
        return drainer.step(wait_out_database=False)
    finally:
        drainer.release()


def run(batch: int, interval: float, once: bool, echo=print) -> None:
    """Drain until stopped (or one batch): a short pause when the queue is empty."""
    if once:
        started = time.monotonic()
        echo(_summary(drain(batch), time.monotonic() - started))
        return
    Drainer(batch, echo=echo).run(interval)
