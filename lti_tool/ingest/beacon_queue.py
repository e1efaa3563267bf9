"""Queued beacons: the web process checks a beacon and queues it in Redis; `flask ingest drain`
stores the queue in batches. A player gets its answer in well under a millisecond of our work, and
the database sees a few statements per batch instead of a dozen per beacon.

What is queued is already located: the viewer's IP is turned into country/region/city before the
beacon is queued, so the address never leaves the web process. Live VIEWs of a room's stream also
become its sessions' engagement samples (`kava.live_engagement`), in the same transaction.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from lti_tool.extensions import db
from lti_tool.store import get_store

from .enrich import locate
from .kava import SOURCE, UnknownRegistration, beacon_to_event, check_registration, live_engagement
from .pipeline import accept
from .schema import InvalidEvent

log = logging.getLogger(__name__)
QUEUE_KEY = "ma:kava-beacons"
FAILED_KEY = "ma:kava-beacons:failed"


def enabled() -> bool:
    return bool(current_app.config.get("BEACON_QUEUE")) and bool(current_app.config.get("REDIS_URL"))


def enqueue(registration_id: int, params: dict, *, received_at: datetime, ip: str | None,
            user_agent: str | None, user: str | None) -> None:
    where = locate(ip, current_app.config.get("GEOIP_CITY_DB"))
    item = {"registration_id": registration_id, "params": params, "received_at": received_at.isoformat(),
            "location": [where.country, where.region, where.city], "user_agent": user_agent, "user": user}
    get_store().client.rpush(QUEUE_KEY, json.dumps(item))


@dataclass
class DrainResult:
    taken: int = 0
    accepted: int = 0
    duplicates: int = 0
    ignored: int = 0
    rejected: int = 0


def drain(batch: int = 2000) -> DrainResult:
    """Store up to `batch` queued beacons, in the order they arrived; one accept per registration."""
    client = get_store().client
    raw_items = client.lpop(QUEUE_KEY, batch) or []
    result = DrainResult(taken=len(raw_items))
    by_registration: dict[int, list] = {}
    for raw in raw_items:
        item = json.loads(raw)
        by_registration.setdefault(item["registration_id"], []).append(item)
    for registration_id, items in by_registration.items():
        try:
            check_registration(registration_id)
            events, rejected, ignored = _events_of(registration_id, items)
            result.rejected += rejected
            result.ignored += ignored
            counts = accept(registration_id, events, SOURCE, commit=False)
            live_engagement(registration_id, events)
            db.session.commit()
            result.accepted += counts.accepted
            result.duplicates += counts.duplicates
        except UnknownRegistration:
            db.session.rollback()
            result.rejected += len(items)
        except Exception:
            db.session.rollback()
            # Keep what could not be stored, with the reason, for a person to look at.
            client.rpush(FAILED_KEY, *[json.dumps(item) for item in items])
            log.exception("storing %d queued beacons of registration %s failed", len(items), registration_id)
            result.rejected += len(items)
    return result


def _events_of(registration_id: int, items: list[dict]) -> tuple[list, int, int]:
    """IncomingEvents of queued beacons, in order; and how many were rejected and ignored."""
    events, rejected, ignored = [], 0, 0
    for item in items:
        try:
            event = beacon_to_event(registration_id, item["params"],
                                    received_at=datetime.fromisoformat(item["received_at"]), ip=None,
                                    user_agent=item["user_agent"], user=item["user"])
        except InvalidEvent as exc:  # checked before queueing; a state-dependent check can still fail
            rejected += 1
            log.warning("queued beacon rejected: %s", exc)
            continue
        if event is None:
            ignored += 1
            continue
        event.location = tuple(item["location"]) if any(item["location"]) else None
        events.append(event)
    return events, rejected, ignored


def run(batch: int, interval: float, once: bool, echo=print) -> None:
    """Drain until stopped (or once): a short sleep when the queue is empty."""
    while True:
        started = time.monotonic()
        result = drain(batch)
        if result.taken:
            echo(f"stored {result.accepted} beacons ({result.duplicates} duplicates, {result.ignored} ignored, "
                 f"{result.rejected} rejected) in {(time.monotonic() - started) * 1000:.0f} ms")
        if once:
            return
        if result.taken < batch:
            time.sleep(interval)
