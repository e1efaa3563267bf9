"""Kava beacons (Kaltura's player analytics, `kaltura/playkit-js-kava`) adapted to IncomingEvent.

A player sends one beacon per event, numbered by `eventIndex` within its Kava session
(`sessionId`). The player resets the session after 30 s without a VIEW (a long pause, the end of
the media): `eventIndex` restarts at 1 and the cumulative `playTimeSum` at 0. So a falling
`eventIndex`, or a VIEW whose `playTimeSum` falls, starts a new sub-session, and an event's key is
(session, sub-session, index, type): a re-send of the session's latest event gets the same key and
is a duplicate.

Plays: each PLAY or REPLAY starts play "<sessionId>:<sub-session>:<n>", numbered through the
whole session. Every later event joins the session's current play, also after a reset (a pause
longer than 30 s does not end a play): when the play started in an earlier sub-session, its stored
PLAY beacon is looked up (one indexed query per request, only in sessions that were reset).
Impressions and play requests precede a play and never belong to one.

Kava sends no event time (the server's time is used, or `eventTime`/`time` when sent and within a
day of it), no media duration and no user: the user comes from the verified player token only.

Live rooms: a known viewer's live or DVR VIEW of a room's live stream (`Room.live_entry_id`) while
one of the room's sessions runs is also that session's engagement sample: whoever stores Kava events
calls `live_engagement` with them before committing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import or_, select

from lti_tool.extensions import db
from lti_tool.models import EngagementSample, KavaSession, MediaEntry, PlayerEvent, Registration, Room, RoomSession
from lti_tool.models.rooms import engagement_level

from . import people
from .pipeline import _insert
from .schema import PLAYBACK_TYPES, IncomingEvent, InvalidEvent, number, text

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
# Sub-sessions searched backwards for the play a reset session continues.
PLAY_LOOKBACK = 100
# The parameters read here (a feed must send them as strings or numbers); others are not looked at.
PARAMS_READ = ("eventType", "entryId", "sessionId", "eventIndex", "position", "playTimeSum", "targetPosition",
               "playbackType", "playbackContext", "referrer", "eventTime", "time", "errorCode",
               *ENGAGEMENT_PARAMS)

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
    sent_at = _decimal(params, "eventTime", maximum=32503680000)
    if sent_at is None:
        sent_at = _decimal(params, "time", maximum=32503680000)
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
    """The IncomingEvent of one beacon, or None for an event type we ignore.

    Locks and advances the KavaSession row of (registration, sessionId); the caller commits (or
    rolls back) together with the event. InvalidEvent for bad parameters, UnknownRegistration when
    the registration does not exist. `user` is the person of the verified player token, None
    for an anonymous viewer: a `userId` parameter is never trusted. `received_at` is aware UTC.
    """
    beacon = parse_beacon(params)
    kind = EVENT_TYPES.get(beacon.event_type)
    if kind is None:
        return None
    state = _session_state(registration_id, beacon.session_id, received_at)
    occurred_at = _occurred_at(beacon.sent_at, received_at)
    if beacon.index < state.last_event_index:
        # A falling index: a Kava reset, or this beacon again (a client retry, a re-imported file).
        stored = _stored_copy(registration_id, beacon, state.subsession, occurred_at)
        if stored is not None:
            return IncomingEvent(key=stored, type=kind, occurred_at=occurred_at, entry=beacon.entry, user=user,
                                 seq=beacon.index, position=beacon.position)
    starts_play, seconds = advance(state, beacon, received_at)
    play = None
    if kind not in PRECEDE_PLAY:
        play = _current_play(registration_id, state, beacon, starts_play)
    extra = {}
    if kind == "view" and beacon.playback_type in LIVE_TYPES:
        extra.update(beacon.engagement)
    if beacon.event_type == REPLAY:
        extra["replay"] = True
    if beacon.event_type == ERROR and beacon.error_code:
        extra["error_code"] = beacon.error_code
    return IncomingEvent(
        key=_key(beacon, state.subsession),
        type=kind,
        occurred_at=occurred_at,
        entry=beacon.entry,
        user=user,
        play=play,
        load=f"{beacon.session_id}:{state.subsession}",
        seq=beacon.index,
        position=beacon.position,
        seconds_viewed=seconds,
        seek_to=beacon.target_position if kind == "seek" else None,
        playback_type=beacon.playback_type,
        playback_context=beacon.playback_context,
        page_url=beacon.referrer,
        user_agent=user_agent,
        ip=ip,
        extra=extra,
    )


def _key(beacon: Beacon, subsession: int) -> str:
    return f"{SOURCE}:{beacon.session_id}:{subsession}:{beacon.index}:{beacon.event_type}"


def _stored_copy(registration_id: int, beacon: Beacon, subsession: int, occurred_at: datetime) -> str | None:
    """The key under which this very beacon (same index, type, position and time) was stored in
    one of the session's recent sub-sessions, so that it counts as a duplicate; else None."""
    first = max(0, subsession - PLAY_LOOKBACK + 1)
    candidates = [_key(beacon, sub) for sub in range(first, subsession + 1)]
    for key, position, stored_at in db.session.execute(
            select(PlayerEvent.event_key, PlayerEvent.position, PlayerEvent.occurred_at)
            .where(PlayerEvent.registration_id == registration_id, PlayerEvent.event_key.in_(candidates))):
        same_position = (position is None and beacon.position is None) or (
            position is not None and beacon.position is not None and abs(position - beacon.position) < 1e-6)
        if same_position and stored_at == occurred_at:
            return key
    return None


def _occurred_at(sent_at: float | None, received_at: datetime) -> datetime:
    """The player's time when it sent one within a day of ours, else the time we received it."""
    if sent_at is not None:
        sent = datetime.fromtimestamp(sent_at, timezone.utc)
        if abs(sent - received_at) <= CLOCK_TOLERANCE:
            return sent
    return received_at


class UnknownRegistration(LookupError):
    """The registration a beacon counts for does not exist (any more)."""


def _session_state(registration_id: int, session_id: str, now: datetime) -> KavaSession:
    """The session's state row, created when new, locked until the transaction ends (PostgreSQL).

    Only a session's first beacon checks that the registration exists: its state row proves it
    for the others (it is deleted with the registration). Inside one drained batch (see
    `batch_states`) a session's row is read and locked once for all its beacons.
    """
    batch = db.session.info.get(BATCH_STATES)
    if batch is not None and (registration_id, session_id) in batch:
        return batch[(registration_id, session_id)]
    query = (select(KavaSession)
             .where(KavaSession.registration_id == registration_id, KavaSession.session_id == session_id)
             .with_for_update()
             .execution_options(populate_existing=True))
    state = db.session.scalar(query)
    if state is None:
        if db.session.scalar(select(Registration.id).where(Registration.id == registration_id)) is None:
            raise UnknownRegistration(f"no registration with id {registration_id}")
        # Concurrent first beacons of a session: one inserts, the others wait and find its row.
        db.session.execute(_insert(KavaSession).values(
            registration_id=registration_id, session_id=session_id, subsession=0, last_event_index=0,
            last_play_time_sum=0.0, play_number=0, updated_at=now,
        ).on_conflict_do_nothing(index_elements=["registration_id", "session_id"]))
        state = db.session.scalar(query)
    if batch is not None:
        batch[(registration_id, session_id)] = state
    return state


BATCH_STATES = "kava_batch_states"


class batch_states:
    """Within this block (one transaction storing many beacons), each session's state row is looked
    up and locked once; the rows stay locked until the transaction ends."""

    def __enter__(self):
        db.session.info[BATCH_STATES] = {}
        return self

    def __exit__(self, *exc):
        db.session.info.pop(BATCH_STATES, None)


def advance(state: KavaSession, beacon: Beacon, received_at: datetime) -> tuple[bool, float | None]:
    """Move a session's state past one counted beacon; return (starts a play, VIEW seconds played).

    Falling eventIndex or VIEW playTimeSum: a new sub-session. A Kava reset restarts both
    eventIndex (at 1) and playTimeSum, so an index of 1 also restarts the playTimeSum baseline;
    any other falling index is a late or re-sent beacon, and the player's playTimeSum goes on from
    where it was. An event with the latest index of the sub-session is a re-send: it starts no play.
    """
    is_view = beacon.event_type == VIEW
    index_falls = beacon.index < state.last_event_index
    time_falls = is_view and beacon.play_time_sum < state.last_play_time_sum
    repeat = beacon.index == state.last_event_index
    if index_falls or time_falls:
        state.subsession += 1
        repeat = False
        if beacon.index == 1 or time_falls:
            state.last_play_time_sum = 0.0
    starts_play = beacon.event_type in (PLAY, REPLAY) and not repeat
    if starts_play:
        state.play_number += 1
    seconds = None
    if is_view:
        seconds = max(0.0, beacon.play_time_sum - state.last_play_time_sum)
        state.last_play_time_sum = beacon.play_time_sum
    state.last_event_index = beacon.index
    if beacon.position is not None:
        state.last_position = beacon.position
    state.updated_at = received_at
    return starts_play, seconds


def _current_play(registration_id: int, state: KavaSession, beacon: Beacon, starts_play: bool) -> str | None:
    """The key (without the "kava:" prefix) of the play an event belongs to; None before any play."""
    if state.play_number == 0:
        return None
    started = _plays_started()
    current = (registration_id, beacon.session_id, state.play_number)
    if starts_play:
        started[current] = (state.subsession, beacon.entry)
    if starts_play or state.subsession == 0:
        return f"{beacon.session_id}:{state.subsession}:{state.play_number}"
    # The session was reset: the play may have started in an earlier sub-session. It continues
    # only for the same entry (a player that loads another media restarts at eventIndex 1).
    if current not in started:
        started[current] = _find_play_start(registration_id, beacon.session_id, state.subsession, state.play_number)
    if started[current] is None:
        return None
    subsession, entry = started[current]
    return f"{beacon.session_id}:{subsession}:{state.play_number}" if entry == beacon.entry else None


def _plays_started() -> dict:
    """(registration id, sessionId, play number) -> (sub-session, entry id) of plays this database
    session has seen start, so a bulk import finds plays it has not stored yet."""
    return db.session.info.setdefault("kava_plays_started", {})


def _find_play_start(registration_id: int, session_id: str, subsession: int, play_number: int):
    """(sub-session, entry id) of the stored PLAY of a session's play `play_number`, or None."""
    first = max(0, subsession - PLAY_LOOKBACK + 1)
    candidates = {f"{SOURCE}:{session_id}:{sub}:{play_number}": sub for sub in range(first, subsession + 1)}
    found = db.session.execute(
        select(PlayerEvent.play_key, MediaEntry.external_id)
        .join(MediaEntry, MediaEntry.id == PlayerEvent.entry_id)
        .where(PlayerEvent.registration_id == registration_id, PlayerEvent.play_key.in_(list(candidates)),
               PlayerEvent.event_type == "play")
    ).all()
    if not found:
        return None
    play_key, entry = max(found, key=lambda row: candidates[row.play_key])
    return candidates[play_key], entry


def live_engagement(registration_id: int, events: list[IncomingEvent]) -> int:
    """Call after `pipeline.accept` of Kava events, in its transaction (accept(..., commit=False)).

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
        index_elements=["registration_id", "event_key"]).returning(EngagementSample.event_key)
    return len(set(db.session.scalars(statement, list(rows.values()))))
