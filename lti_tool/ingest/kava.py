"""Kava beacons (Kaltura's player analytics, `kaltura/playkit-js-kava`) adapted to IncomingEvent.

A player sends one beacon per event, numbered by `eventIndex` within its Kava session
(`sessionId`). The player resets the session after 30 s without a VIEW (a long pause, the end of
the media): `eventIndex` restarts at 1 and the cumulative `playTimeSum` at 0. Kava sends no event
time and retries nothing, but beacons can still arrive twice (proxies, re-imported files, queues
handing an item over again after a crash) and out of order (a player's requests race each other).

So a beacon's identity is what the player sent (`beacon_key`: partner, entry, session, index,
type, playhead, playTimeSum, ...), never when it arrived, and a re-sent beacon is a duplicate. A
session's beacons about one media are a stream (ingest/streams.py): the pipeline assigns them to
plays and gives each VIEW its seconds from everything stored of the stream (`assign_stream`), so
neither repetition nor order changes a number.

Kava sends no event time (the server's time is used, or `eventTime`/`time` when sent and within a
day of it), no media duration and no user: the user comes from the verified player token only.

Live rooms: a known viewer's live or DVR VIEW of a room's live stream (`Room.live_entry_id`) while
one of the room's sessions runs is also that session's engagement sample: `live_engagement` is the
Kava format's `after_accept` (ingest/formats.py), which `pipeline.accept` runs in its transaction
after it gave the VIEWs their seconds, whoever stores them (the route, the queue's drain, an import).

A file of beacons (`flask ingest import --format kava`) holds one per line (`beacon_line`).
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl

from sqlalchemy import delete, or_, select, update

from lti_tool.extensions import db
from lti_tool.models import EngagementSample, MediaEntry, PlayerEvent, Registration, Room, RoomSession
from lti_tool.models.rooms import engagement_level

from . import people
from .caliper import bounded_key
from .pipeline import _insert
from .room_rollups import add_samples, remove_samples
from .schema import (
    PLAYBACK_TYPES, IncomingEvent, InvalidEvent, is_number, load_json, number, parse_time, text, user_ref,
)
from .streams import StreamEvent

SOURCE = "kava"
# Kava event ids we count; every other numeric id (90 %, fullscreen, captions, buffering,
# application events such as 10002/10003, ...) is ignored, not refused.
EVENT_TYPES: dict[int, str] = {
    1: "impression", 2: "play_request", 3: "play", 4: "resume",
    11: "quartile_25", 12: "quartile_50", 13: "quartile_75", 14: "quartile_100",
    21: "share", 22: "share", 23: "download",
    33: "pause", 34: "play", 35: "seek", 98: "error", 99: "view",
}
PLAY, REPLAY, VIEW, ERROR = 3, 34, 99, 98
PRECEDE_PLAY = ("impression", "play_request")
# VIEW engagement of live viewers (1 = off / not focused / normal, 2 = on / focused / fullscreen).
ENGAGEMENT_PARAMS = ("soundMode", "tabMode", "screenMode")
LIVE_TYPES = ("live", "dvr")
# Seconds of playback a VIEW stands for when its playTimeSum delta is not known (Kava's cadence).
VIEW_SECONDS = 10.0
# A player clock further than this from ours is not trusted: the server's time is used instead.
CLOCK_TOLERANCE = timedelta(days=1)
MAX_INDEX = 2**31 - 1
MAX_SECONDS = 10 * 24 * 3600
# The parameters read here (a feed must send them as strings or numbers); others are not looked at.
PARAMS_READ = ("eventType", "entryId", "sessionId", "eventIndex", "position", "playTimeSum", "targetPosition",
               "playbackType", "playbackContext", "referrer", "eventTime", "time", "errorCode",
               *ENGAGEMENT_PARAMS)

# Keys of a Kava file line (JSON or query string) that describe the request, not the beacon.
LINE_REQUEST_KEYS = ("received_at", "ip", "user_agent", "user")

_INTEGER = re.compile(r"[0-9]{1,10}")
# Plain decimals as players print them (JavaScript numbers carry up to 17 significant digits).
_DECIMAL = re.compile(r"-?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})(?:[eE][-+]?[0-9]{1,3})?")


@dataclass(frozen=True)
class Beacon:
    """One beacon's parameters, validated. Positions and times in seconds."""

    event_type: int             # Kava event id
    entry: str                  # Kaltura entry id
    session_id: str
    index: int                  # eventIndex, from 1
    position: float | None      # playhead; for live the offset from the live edge (<= 0)
    play_time_sum: float | None  # VIEW: seconds played in this Kava (sub-)session so far
    target_position: float | None  # SEEK: where the playhead went
    playback_type: str          # vod, live or dvr
    playback_context: str | None  # category id of the gallery/channel page the player was in
    referrer: str | None        # page URL: plain, URI-encoded or base64 (enrich.page_info reads all)
    sent_at: float | None       # eventTime/time: Unix seconds, when the player sends one
    engagement: dict            # live VIEW engagement: soundMode/tabMode/screenMode -> 1 or 2
    error_code: str | None


def _integer(params: dict[str, str], name: str, *, required: bool = False, minimum: int = 0,
             maximum: int = MAX_INDEX) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise InvalidEvent(f"{name} is required")
        return None
    if not _INTEGER.fullmatch(value):
        raise InvalidEvent(f"{name} must be a whole number")
    result = int(value)
    if not minimum <= result <= maximum:
        raise InvalidEvent(f"{name} must be between {minimum} and {maximum}")
    return result


def _decimal(params: dict[str, str], name: str, *, minimum: float = 0.0,
             maximum: float = MAX_SECONDS) -> float | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not _DECIMAL.fullmatch(value):
        raise InvalidEvent(f"{name} must be a number")
    return number(float(value), name, minimum=minimum, maximum=maximum)


def parse_beacon(params: dict[str, str]) -> Beacon:
    """Validate the parameters we read (all of them, whatever the event type); InvalidEvent says why."""
    event_type = params.get("eventType")
    if event_type is None or event_type == "":
        raise InvalidEvent("eventType is required")
    if not _INTEGER.fullmatch(event_type):
        raise InvalidEvent(f"eventType {event_type[:20]!r} is not a Kava event id")
    playback_type = (params.get("playbackType") or "vod").lower()
    if playback_type not in PLAYBACK_TYPES:
        raise InvalidEvent("playbackType must be vod, live or dvr")
    engagement = {}
    for name in ENGAGEMENT_PARAMS:
        mode = _integer(params, name, minimum=1, maximum=2)
        if mode is not None:
            engagement[name] = mode
    if int(event_type) == VIEW and not params.get("playTimeSum"):
        raise InvalidEvent("playTimeSum is required for a VIEW")
    sent_at = _decimal(params, "eventTime", minimum=-math.inf, maximum=math.inf)
    if sent_at is None:
        sent_at = _decimal(params, "time", minimum=-math.inf, maximum=math.inf)
    if sent_at is not None:
        parse_time(sent_at)  # within the years every feed's times keep
    return Beacon(
        event_type=int(event_type),
        entry=text(params.get("entryId"), "entryId", required=True, limit=255),
        session_id=text(params.get("sessionId"), "sessionId", required=True, limit=128),
        index=_integer(params, "eventIndex", required=True, minimum=1),
        position=_decimal(params, "position", minimum=-MAX_SECONDS),
        play_time_sum=_decimal(params, "playTimeSum"),
        target_position=_decimal(params, "targetPosition", minimum=-MAX_SECONDS),
        playback_type=playback_type,
        playback_context=text(params.get("playbackContext"), "playbackContext", limit=255),
        referrer=text(params.get("referrer"), "referrer", limit=8000),
        sent_at=sent_at,
        engagement=engagement,
        error_code=text(params.get("errorCode"), "errorCode", limit=64),
    )


def beacon_to_event(registration_id: int, params: dict[str, str], *, received_at: datetime, ip: str | None,
                    user_agent: str | None, user: str | None) -> IncomingEvent | None:
    """The IncomingEvent of one beacon, or None for an event type we ignore. InvalidEvent says why
    a beacon cannot be read.

    The beacon's identity comes from what the player sent (see `beacon_key`), never from when it
    arrived; which play it belongs to and the seconds a VIEW adds are assigned by the pipeline from
    the whole stream (`assign_stream`). `user` is the person of the verified player token, None for
    an anonymous viewer: a `userId` parameter is never trusted. `received_at` is aware UTC.
    `registration_id` is not needed to read a beacon (the pipeline scopes keys); it is taken so
    every feed adapter has the same signature.
    """
    beacon = parse_beacon(params)
    kind = EVENT_TYPES.get(beacon.event_type)
    if kind is None:
        return None
    extra = {}
    if kind == "view" and beacon.playback_type in LIVE_TYPES:
        extra.update(beacon.engagement)
    if beacon.event_type == REPLAY:
        extra["replay"] = True
    if beacon.event_type == ERROR and beacon.error_code:
        extra["error_code"] = beacon.error_code
    reported = {"event": beacon.event_type, "index": beacon.index}
    if beacon.play_time_sum is not None:
        reported["play_time_sum"] = beacon.play_time_sum
    return IncomingEvent(
        key=beacon_key(params, beacon),
        type=kind,
        occurred_at=_occurred_at(beacon.sent_at, received_at),
        entry=beacon.entry,
        user=user,
        seq=beacon.index,
        position=beacon.position,
        seek_to=beacon.target_position if kind == "seek" else None,
        playback_type=beacon.playback_type,
        playback_context=beacon.playback_context,
        page_url=beacon.referrer,
        user_agent=user_agent,
        ip=ip,
        extra=extra,
        stream=stream_key(beacon),
        reported=reported,
    )


# What a player sends that tells one beacon from another. A player's session id changes with
# each media it loads; the entry id keeps apart the media of players that keep it. A Kava reset
# (30 s without a VIEW) restarts eventIndex in the same session: the playhead, playTimeSum and
# sessionStartTime (which our answers set) tell those beacons apart.
IDENTITY_PARAMS = ("partnerId", "sessionStartTime", "eventTime", "time")


def line_params(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """(beacon parameters, request facts) of a Kava file line: a query string or a flat JSON object.

    Besides the beacon's own parameters a line may carry what the original request said:
    `received_at` (ISO 8601 or Unix seconds; when the beacon arrived; default: now), `ip`,
    `user_agent`, `user` ("kind:value").
    """
    text = text.strip()
    if text.startswith("{"):
        raw = load_json(text)
        if any(isinstance(v, dict | list) for v in raw.values()):
            raise InvalidEvent("a Kava JSON line must be a flat object of parameters")
        params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items() if v is not None}
    else:
        params = dict(parse_qsl(text.lstrip("?"), keep_blank_values=True))
    request = {k: params.pop(k) for k in LINE_REQUEST_KEYS if k in params}
    return params, request


def beacon_line(registration_id: int, text: str) -> tuple[list[IncomingEvent], int]:
    """A Kava file line's (events, ignored): a beacon the Kava adapter does not keep counts as ignored."""
    params, request = line_params(text)
    received = request.get("received_at")
    if received:
        received_at = parse_time(float(received) if is_number(received) else received)
    else:
        received_at = datetime.now(timezone.utc)
    event = beacon_to_event(registration_id, params, received_at=received_at, ip=request.get("ip"),
                            user_agent=request.get("user_agent"), user=user_ref(request.get("user")))
    return ([event], 0) if event is not None else ([], 1)


def beacon_key(params: dict[str, str], beacon: Beacon) -> str:
    """"kava:<session>:<index>:<type>:<digest of the rest of the beacon's identity>"."""
    def number(value: float | None) -> str:
        return "" if value is None else repr(round(value, 6))

    identity = [beacon.entry, beacon.session_id, str(beacon.index), str(beacon.event_type),
                number(beacon.position), number(beacon.play_time_sum), number(beacon.target_position),
                *[str(params.get(name) or "").strip() for name in IDENTITY_PARAMS]]
    digest = hashlib.sha256("\x1f".join(identity).encode()).hexdigest()[:20]
    return f"{SOURCE}:{beacon.session_id}:{beacon.index}:{beacon.event_type}:{digest}"


def stream_key(beacon: Beacon) -> str:
    """One player session's beacons about one media."""
    return bounded_key(f"{SOURCE}:{beacon.session_id}:{beacon.entry}")


def assign_stream(stream: str, events: list[StreamEvent]) -> dict[str, dict]:
    """Plays and VIEW seconds of one Kava stream, from all its beacons, in whatever order they came.

    The stream falls into sub-sessions (Kava restarts eventIndex and playTimeSum after 30 s without
    a VIEW): in time order, a beacon whose index its sub-session already has starts the next one.
    Within a sub-session beacons follow eventIndex, so a VIEW adds what its playTimeSum has beyond
    the highest earlier VIEW's, whichever arrived first. Each PLAY or REPLAY starts the stream's
    next play; every later beacon joins it (a reset does not end a play); impressions and play
    requests precede plays and join none.
    """
    assignment: dict[str, dict] = {}
    plays = 0
    for subsession in _subsessions(events):
        played = 0.0
        for event in subsession:
            kind = event.reported["event"]
            seconds = None
            if kind == VIEW:
                seconds = max(0.0, event.reported["play_time_sum"] - played)
                played = max(played, event.reported["play_time_sum"])
            if kind in (PLAY, REPLAY):
                plays += 1
            joins = plays and EVENT_TYPES[kind] not in PRECEDE_PLAY
            assignment[event.key] = {"play_key": bounded_key(f"{stream}:{plays}") if joins else None,
                                     "seconds_viewed": seconds}
    return assignment


def _subsessions(events: list[StreamEvent]) -> list[list[StreamEvent]]:
    """A stream's sub-sessions in time order, each in eventIndex order."""
    subsessions: list[list[StreamEvent]] = []
    indexes: set[int] = set()
    for event in sorted(events, key=lambda e: (e.occurred_at, e.reported["index"], e.reported["event"], e.key)):
        if not subsessions or event.reported["index"] in indexes:
            subsessions.append([])
            indexes = set()
        subsessions[-1].append(event)
        indexes.add(event.reported["index"])
    return [sorted(sub, key=lambda e: (e.reported["index"], e.reported["event"], e.key)) for sub in subsessions]


def after_reassign(registration_id: int, changed: list[dict]) -> None:
    """A stored VIEW's seconds changed (a late beacon of its stream arrived): so does the interval
    of the live engagement sample it became."""
    for change in changed:
        if change.get("seconds_viewed") is None:
            continue
        sample = (select(EngagementSample.id).join(PlayerEvent, PlayerEvent.event_key == EngagementSample.event_key)
                  .where(PlayerEvent.id == change["id"], EngagementSample.registration_id == registration_id,
                         PlayerEvent.registration_id == registration_id))
        ids = list(db.session.scalars(sample))
        if not ids:
            continue
        remove_samples(db.session, ids)   # out of the room rollups with the old interval, back with the new
        if change["seconds_viewed"] == 0:
            db.session.execute(delete(EngagementSample).where(EngagementSample.id.in_(ids)))
        else:
            db.session.execute(update(EngagementSample).where(EngagementSample.id.in_(ids))
                               .values(interval_seconds=change["seconds_viewed"]))
            add_samples(db.session, ids)


def _occurred_at(sent_at: float | None, received_at: datetime) -> datetime:
    """The player's time when it sent one within a day of ours, else the time we received it."""
    if sent_at is not None:
        sent = datetime.fromtimestamp(sent_at, timezone.utc)
        if abs(sent - received_at) <= CLOCK_TOLERANCE:
            return sent
    return received_at


class UnknownRegistration(LookupError):
    """The registration a beacon counts for does not exist (any more)."""


def check_registration(registration_id: int) -> None:
    """UnknownRegistration when the registration (of a player token) no longer exists."""
    if db.session.scalar(select(Registration.id).where(Registration.id == registration_id)) is None:
        raise UnknownRegistration(f"no registration with id {registration_id}")


def partner_registration(partner_id: str):
    """(registration id, whether it takes beacons without a player token) of the registration whose Kaltura
    partner id this is, or None."""
    return db.session.execute(select(Registration.id, Registration.allow_anonymous_beacons)
                              .where(Registration.player_partner_id == partner_id)).first()


def live_engagement(registration_id: int, events: list[IncomingEvent]) -> int:
    """The Kava format's step after accept: `pipeline.accept` runs it in its transaction, after the
    stream assignment gave the VIEWs their seconds.

    Insert an EngagementSample for each known viewer's live or DVR VIEW that carries soundMode and
    tabMode (screenMode: full screen when 2, else not) of an entry that is a room's live stream,
    while a session of that room runs (started_at <= time <= ended_at, or not ended). A running
    main session is preferred to a breakout room; among several, the latest started.

    The sample's key is the VIEW's event key, so a re-sent VIEW adds nothing; its interval is the
    VIEW's playTimeSum delta (VIEW_SECONDS when unknown; none for a VIEW with no playback). One
    query maps the batch's live entries to running sessions. Returns how many samples were new.
    """
    views = [e for e in events if e.type == "view" and e.playback_type in LIVE_TYPES and e.user
             and {"soundMode", "tabMode"} <= e.extra.keys() and e.seconds_viewed != 0]
    if not views:
        return 0
    first, last = min(e.occurred_at for e in views), max(e.occurred_at for e in views)
    running: dict[str, list] = {}
    for entry, *session in db.session.execute(
            select(MediaEntry.external_id, RoomSession.id, RoomSession.started_at, RoomSession.ended_at,
                   RoomSession.parent_session_id)
            .join(Room, Room.live_entry_id == MediaEntry.id)
            .join(RoomSession, RoomSession.room_id == Room.id)
            .where(MediaEntry.registration_id == registration_id, Room.registration_id == registration_id,
                   MediaEntry.external_id.in_(sorted({e.entry for e in views})), RoomSession.started_at <= last,
                   or_(RoomSession.ended_at.is_(None), RoomSession.ended_at >= first))):
        running.setdefault(entry, []).append(session)
    matched = []
    for event in views:
        candidates = [(parent is None, started, session_id)
                      for session_id, started, ended, parent in running.get(event.entry, ())
                      if started <= event.occurred_at and (ended is None or event.occurred_at <= ended)]
        if candidates:
            matched.append((event, max(candidates)[2]))
    if not matched:
        return 0
    persons = people.resolve(registration_id, {event.user for event, _ in matched})
    rows: dict[str, dict] = {}  # by key: a beacon sent twice in one batch is one sample
    for event, session_id in matched:
        sound_on, tab_focused = event.extra["soundMode"] == 2, event.extra["tabMode"] == 2
        full_screen = event.extra.get("screenMode") == 2
        rows[event.key[:255]] = {
            "registration_id": registration_id, "event_key": event.key[:255], "session_id": session_id,
            "person_id": persons[event.user], "at": event.occurred_at,
            "interval_seconds": event.seconds_viewed or VIEW_SECONDS, "sound_on": sound_on,
            "tab_focused": tab_focused, "full_screen": full_screen,
            "level": engagement_level(sound_on, tab_focused, full_screen)}
    statement = _insert(EngagementSample).on_conflict_do_nothing(
        index_elements=["registration_id", "event_key"]).returning(EngagementSample.id)
    new_ids = list(db.session.scalars(statement, list(rows.values())))
    add_samples(db.session, new_ids)
    return len(new_ids)
