"""IMS Caliper 1.1 / 1.2 envelopes (Media Profile, Canvas Live Events) adapted to IncomingEvent.

An envelope may mix profiles and entity describes: MediaEvents become player events, a
NavigationEvent `NavigatedTo` or ViewEvent `Viewed` on a media object becomes an impression, and
everything else (other event types, describes, media actions that change no playback such as
`ChangedVolume`) is counted as ignored. Every item, whatever its profile, must first be what the
Caliper model allows (`caliper_model.check_item`: IRIs, types, values); one that is not refuses
its envelope.

A session's events about one media object are a stream, `<session>:<object>` (session.id, else
federatedSession.id, else actor + object): which play an event belongs to and where a jump starts
are assigned from the whole stream as stored (`assign_stream`, called by the pipeline), so events
sent in one envelope or many, twice or out of order give the same numbers.

An envelope comes in an HTTP request (`envelope_request`, all or nothing) or as a line of a file
(`envelope_line`: one bad event rejects the line).
"""
from __future__ import annotations

import hashlib
import re
import uuid

from .caliper_model import VOCABULARY, check_item
from .iri import is_iri
from .schema import (
    MAX_BATCH_EVENTS, IncomingEvent, InvalidEvent, RefusedRequest, all_or_nothing, load_json, number, parse_time,
    read_items, refuse_errors, text, user_ref,
)

SOURCE = "caliper"
CALIPER_V1P1 = "http://purl.imsglobal.org/ctx/caliper/v1p1"
CALIPER_V1P2 = "http://purl.imsglobal.org/ctx/caliper/v1p2"
SUPPORTED_VERSIONS = (CALIPER_V1P1, CALIPER_V1P2)
ENVELOPE_FIELDS = ("sensor", "sendTime", "dataVersion", "data")

MEDIA_ACTIONS = {
    "Started": "play", "Restarted": "play", "Resumed": "resume", "Paused": "pause", "Ended": "ended",
    "JumpedTo": "seek", "ForwardedTo": "seek",
}
IMPRESSIONS = {("NavigationEvent", "NavigatedTo"), ("ViewEvent", "Viewed")}
MEDIA_OBJECT_TYPES = {"VideoObject": "video", "AudioObject": "audio", "ImageObject": "image", "MediaObject": "video"}
CANVAS_EXTENSION = "com.instructure.canvas"
CANVAS_USER = re.compile(r"urn:instructure:canvas:user:(\d{1,30})")
# Canvas global ids are shard * 10**13 + local id; the local id survives shard moves.
CANVAS_SHARD_FACTOR = 10**13
# Plain days, hours, minutes, seconds: years and months have no fixed length in seconds.
ISO_DURATION = re.compile(r"P(?!$)(?:(\d{1,9})D)?"
                          r"(?:T(?=\d)(?:(\d{1,9})H)?(?:(\d{1,9})M)?(?:(\d{1,9}(?:\.\d{1,9})?)S)?)?")
MAX_KEY = 200


class UnsupportedDataVersion(ValueError):
    """The envelope's dataVersion is not one we read (HTTP 422)."""


def iso_duration(value, name: str) -> float | None:
    """An ISO 8601 duration such as "PT05M21S" or "PT1.5S" in seconds; None when absent."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64 or not ISO_DURATION.fullmatch(value):
        raise InvalidEvent(f"{name} {str(value)[:64]!r} is not an ISO 8601 duration like PT5M21S")
    days, hours, minutes, seconds = ISO_DURATION.fullmatch(value).groups()
    total = (int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0))
    return number(total, name)


def bounded_key(key: str) -> str:
    """A play or session key short enough to store: long ones become a SHA-256 digest."""
    if len(key) <= MAX_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def envelope_to_events(registration_id: int, envelope) -> tuple[list[IncomingEvent], int, list[dict]]:
    """(events, ignored, errors) for one Caliper envelope; errors hold {"index", "reason"}.

    `registration_id` is not needed to read an envelope (the pipeline scopes ids); it is taken so
    every feed adapter has the same signature. Raises UnsupportedDataVersion for an unknown version.
    """
    errors = _envelope_errors(envelope)
    if errors:
        return [], 0, errors
    facts, ignored, errors = read_items(envelope["data"], _read_item)
    return _as_streams(facts), ignored, errors


def envelope_request(registration_id: int, body) -> tuple[list[IncomingEvent], int]:
    """(events, ignored) of the envelope of POST /api/v1/caliper; RefusedRequest: 422 for a version we
    do not read, 400 naming each bad item."""
    try:
        parsed = envelope_to_events(registration_id, body)
    except UnsupportedDataVersion as exc:
        raise RefusedRequest(422, str(exc)) from exc
    return refuse_errors(parsed, "the envelope was rejected; nothing was stored")


def envelope_line(registration_id: int, text: str) -> tuple[list[IncomingEvent], int]:
    """(events, ignored) of a file line holding one envelope; InvalidEvent rejects the line."""
    try:
        return all_or_nothing(envelope_to_events(registration_id, load_json(text)))
    except UnsupportedDataVersion as exc:
        raise InvalidEvent(str(exc)) from exc


def _envelope_errors(envelope) -> list[dict]:
    """Envelope-level problems (index None); raises UnsupportedDataVersion for a well-formed envelope."""
    def error(reason: str) -> list[dict]:
        return [{"index": None, "reason": reason}]

    if not isinstance(envelope, dict):
        return error("the body must be a Caliper envelope {sensor, sendTime, dataVersion, data}")
    missing = [f for f in ENVELOPE_FIELDS if f not in envelope]
    if missing:
        return error(f"the envelope is missing {', '.join(missing)}")
    unknown = sorted(set(envelope) - set(ENVELOPE_FIELDS))
    if unknown:
        return error(f"the envelope allows no other fields: {', '.join(unknown)[:200]}")
    if not is_iri(envelope["sensor"]):
        return error("sensor must be the sensor's IRI")
    if not isinstance(envelope["sendTime"], str):
        return error("sendTime must be an ISO 8601 date and time")
    try:
        parse_time(envelope["sendTime"])
    except InvalidEvent as exc:
        return error(str(exc))
    data = envelope["data"]
    if not isinstance(data, list) or not data:
        return error("data must be a non-empty list of events and entities")
    if len(data) > MAX_BATCH_EVENTS:
        return error(f"at most {MAX_BATCH_EVENTS} items per envelope")
    if envelope["dataVersion"] not in SUPPORTED_VERSIONS:
        raise UnsupportedDataVersion(f"dataVersion must be one of {', '.join(SUPPORTED_VERSIONS)}")
    return []


def _read_item(item) -> tuple[str, IncomingEvent] | None:
    """(Caliper action, event) for a media event or impression; None for what is ignored."""
    if not isinstance(item, dict):
        raise InvalidEvent("each item of data must be a JSON object")
    kind = item.get("type")
    if not isinstance(kind, str) or not kind:
        raise InvalidEvent("type is required")
    check_item(item)  # whatever its profile, an item must be what the Caliper model allows
    if not kind.endswith("Event"):
        return None  # an entity describe
    key = _event_key(item["id"])
    occurred_at = parse_time(item["eventTime"])
    action = item["action"]
    media_object = _entity(item["object"], "object")
    object_type = media_object.get("type")
    if kind == "MediaEvent":
        event_type = MEDIA_ACTIONS.get(action)
        if event_type is None:
            return None  # volume, speed, captions, full screen...: no change of playback
    elif (kind, action) in IMPRESSIONS and object_type in MEDIA_OBJECT_TYPES:
        event_type = "impression"
    else:
        return None
    return action, _media_event(item, key, event_type, occurred_at, media_object)


def _event_key(value) -> str:
    """"caliper:urn:uuid:<uuid>" from the event id, which must be a urn:uuid."""
    if not isinstance(value, str) or not value.lower().startswith("urn:uuid:"):
        raise InvalidEvent("id must be a urn:uuid: identifier")
    try:
        return "caliper:urn:uuid:" + str(uuid.UUID(value[9:]))
    except ValueError as exc:
        raise InvalidEvent(f"id {value[:80]!r} is not a urn:uuid: identifier") from exc


def _entity(value, name: str) -> dict:
    """An entity as a dict: Caliper may send an entity as its IRI alone."""
    if isinstance(value, str):
        if not is_iri(value):
            raise InvalidEvent(f"{name} {value[:60]!r} is neither an object nor an IRI")
        return {"id": value}
    if not isinstance(value, dict):
        raise InvalidEvent(f"{name} must be an object or an IRI")
    return value


def _media_event(item: dict, key: str, event_type: str, occurred_at, media_object: dict) -> IncomingEvent:
    """The IncomingEvent of a media event or impression (play key without its restart suffix)."""
    entry = text(media_object.get("id"), "object.id", required=True)
    actor = _entity(item["actor"], "actor")
    target = _entity(item["target"], "target") if item.get("target") is not None else {}
    position = iso_duration(target.get("currentTime"), "target.currentTime")
    canvas_request = _canvas(item)
    client = _entity(item["session"], "session").get("client") if item.get("session") else None
    client = client if isinstance(client, dict) else {}
    page_url = _entity(item["referrer"], "referrer").get("id") if item.get("referrer") else None
    return IncomingEvent(
        key=key,
        type=event_type,
        occurred_at=occurred_at,
        entry=entry,
        user=_user(actor),
        play=None if event_type == "impression" else _session(item, actor, entry),
        position=position,
        seek_to=position if event_type == "seek" else None,
        duration=iso_duration(media_object.get("duration"), "object.duration"),
        entry_name=text(media_object.get("name"), "object.name", limit=500),
        media_type=MEDIA_OBJECT_TYPES.get(media_object.get("type")),
        page_url=text(page_url or canvas_request.get("request_url"), "referrer", limit=4000),
        user_agent=text(client.get("userAgent") or canvas_request.get("user_agent"), "user agent", limit=1000),
        ip=text(client.get("ipAddress") or canvas_request.get("client_ip"), "ip address", limit=64),
    )


def _canvas(entity: dict) -> dict:
    """The Canvas extension of an event or entity ({} when absent)."""
    extensions = entity.get("extensions")
    canvas = extensions.get(CANVAS_EXTENSION) if isinstance(extensions, dict) else None
    return canvas if isinstance(canvas, dict) else {}


def _user(actor: dict) -> str | None:
    """login:<Canvas login> when Canvas names it, canvas:<local id> for a Canvas URN, else player:<actor id>;
    None for an anonymous actor (Caliper's convention: the id is the IRI of the actor's type)."""
    actor_id = text(actor.get("id"), "actor.id", required=True, limit=290)
    if actor_id == VOCABULARY + str(actor.get("type") or "Person"):
        return None
    canvas = _canvas(actor)
    login = canvas.get("user_login")
    if isinstance(login, str) and login.strip():
        return user_ref(f"login:{login.strip()}")
    match = CANVAS_USER.fullmatch(actor_id)
    if match:
        return f"canvas:{int(match.group(1)) % CANVAS_SHARD_FACTOR}"
    return user_ref(f"player:{actor_id}")


def _session(item: dict, actor: dict, entry: str) -> str:
    """The play key before restarts: "<session>:<object>"."""
    for field in ("session", "federatedSession"):
        if item.get(field):
            session_id = _entity(item[field], field).get("id")
            if isinstance(session_id, str) and session_id:
                return f"{session_id}:{entry}"
    return f"{actor['id']}:{entry}"


def _as_streams(facts: list[tuple[int, str, IncomingEvent]]) -> list[IncomingEvent]:
    """The envelope's events; media events in their stream "<session>:<object>" with what assigning reads."""
    events = []
    for _index, action, event in facts:
        if event.play is not None:
            event.stream, event.play = f"{SOURCE}:{bounded_key(event.play)}", None
            event.reported = {"action": action, "position": event.position}
        events.append(event)
    return events


# Events of one instant in the order a player makes them.
ACTION_ORDER = {"Started": 0, "Restarted": 0, "Resumed": 1, "JumpedTo": 2, "ForwardedTo": 2, "Paused": 3, "Ended": 4}


def assign_stream(stream: str, events: list) -> dict[str, dict]:
    """Plays and jump positions of one Caliper stream, from all its events in time order (whatever
    order they arrived in).

    The first `Started` starts the stream's play, keyed by the stream; a `Restarted`, or another
    `Started`, starts the next (`<stream>:<n>`). Every other event joins the current play (the
    first, before any start). A jump (`JumpedTo`, `ForwardedTo`) carries only its target: its
    position is the play's playhead after the previous event, else the target itself; playback
    between that event and the jump is not counted.
    """
    assignment: dict[str, dict] = {}
    plays = 0
    playhead: float | None = None
    ordered = sorted(events, key=lambda e: (e.occurred_at, ACTION_ORDER.get(e.reported["action"], 9), e.key))
    for rank, event in enumerate(ordered):
        action = event.reported["action"]
        if action in ("Started", "Restarted"):
            plays += 1
            playhead = None
        position = event.position
        if event.seek_to is not None and MEDIA_ACTIONS.get(action) == "seek":
            position = playhead if playhead is not None else event.seek_to
            playhead = event.seek_to
        elif position is not None:
            playhead = position
        assignment[event.key] = {"play_key": stream if plays <= 1 else bounded_key(f"{stream}:{plays}"),
                                 "position": position, "seq": rank}
    return assignment
