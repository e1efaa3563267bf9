"""Live room events: the native JSON batch of POST /api/v1/room-events (version 1).

A batch is accepted whole or rejected whole. Each event has a `type` and an `id`:

- `room`, `session` and `interaction` describe a thing, and their `id` is that thing's id. A room
  or session described again takes the fields given (nothing given is cleared); an interaction is
  described once (answers are counted against its options), so describing it again is a duplicate.
- every other type is a fact, stored once per `id` (ON CONFLICT DO NOTHING); a re-sent fact is a
  duplicate.

Rooms are created when a session or RSVP names them, people when any field names them (users are
"kind:value" references, see `people.resolve`), media entries (a room's live stream `entry`, a
session's `recording`) as the media pipeline creates them (`pipeline.resolve_entries`). Facts name
a session described in the same batch or earlier: a session needs a room and a start, which a fact
does not know. A breakout session's `participants` are added to those stored (never removed), so a
session event that adds nobody and changes nothing is a duplicate. A join's `ip` and `user_agent`
become the stay's device and location (each looked up once per batch); the IP is not stored.
Reactions are counted at most once per person and session in a window
(`REACTION_THROTTLE_SECONDS`): the excess is kept with throttled=True and reported.

A file of room events (`flask ingest import --format rooms`) holds one event object per line
(`room_line`); its JSON schema and example below are what /api/v1/openapi.json shows clients.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import select, update

from lti_tool.extensions import db
from lti_tool.models import (
    Attendance, AttachmentDownload, BreakoutParticipant, ChatConnection, ChatMessage, Course, EngagementSample,
    Interaction, InteractionAnswer, QaThread, RaisedHand, Reaction, Room, RoomMessage, RoomSession, Rsvp,
)
from lti_tool.models.rooms import (
    ATTENDANCE_MODES, INTERACTION_KINDS, MESSAGE_KINDS, QA_STATES, REACTION_KINDS, engagement_level,
)

from . import people
from .enrich import device_info, locate
from .pipeline import _chunks, _insert, resolve_entries
from .room_rollups import add_samples, rebuild_room_rollups  # noqa: F401  (rebuild: the CLI's)
from .schema import (
    MAX_BATCH_EVENTS, IncomingEvent, InvalidEvent, RefusedRequest, batch_items, load_json, number, parse_time,
    read_items, refuse_errors, text, user_ref,
)

MAX_MESSAGE = 10_000
MAX_OPTIONS = 50
MAX_PARTICIPANTS = 1000
MAX_LABELS = 20
MAX_LABEL = 64
REJECTED = "the batch was rejected; nothing was stored"

# Fields each type accepts besides "id" and "type"; the required ones come first in the docs.
FIELDS: dict[str, dict[str, str]] = {
    "room": {"name": "Display name.", "course": "The tool's course id the room belongs to.",
             "entry": "Media entry id of the room's live stream (created when unknown): live views of it "
                      "in Kava beacons become engagement samples."},
    "session": {"room": "Room id (created when unknown).", "start": "When it started.",
                "end": "When it ended.", "name": "Display name.", "host": "User who hosted it.",
                "parent": "Session id of the main session, for a breakout room.",
                "initiator": "User who opened the breakout room.",
                "recording": "Media entry id of the session's recording (created when unknown).",
                "participants": f"Users assigned to the breakout room (at most {MAX_PARTICIPANTS}; only with "
                                "parent); added to those already stored."},
    "join": {"time": "When the person joined.", "session": "Session id.",
             "user": "Who; omit for anonymous.", "mode": "live (default) or recording.",
             "ip": "The viewer's IP address: located (country, region, city), then dropped; never stored.",
             "user_agent": "The viewer's browser user agent: device type, OS and browser."},
    "leave": {"time": "When the person left.", "join": "The id of the join event this stay began with."},
    "engagement": {"time": "End of the sampled interval.", "session": "Session id.", "user": "Who.",
                   "seconds": "Length of the sampled interval in seconds.", "sound_on": "Player not muted.",
                   "tab_focused": "Browser tab in focus.", "full_screen": "Player in full screen."},
    "reaction": {"time": "When.", "session": "Session id.", "user": "Who.",
                 "kind": ", ".join(REACTION_KINDS) + "."},
    "chat": {"time": "When.", "session": "Session id.", "user": "Sender.", "text": "The message.",
             "reply_to": "Id of the chat event this answers.", "likes": "Likes it received.",
             "deleted": "Removed by a moderator or its sender.",
             "sub_context": "Where it was written, e.g. breakout or qa; omit for the group chat."},
    "qa": {"time": "When the thread was opened.", "session": "Session id.", "user": "Who opened it.",
           "state": ", ".join(QA_STATES) + ".", "owner": "Moderator who owns it."},
    "raised_hand": {"time": "When.", "session": "Session id.", "user": "Who."},
    "interaction": {"time": "When it was launched.", "session": "Session id.",
                    "kind": ", ".join(INTERACTION_KINDS) + ".", "question": "The question.",
                    "options": "Possible answers in order (not for open questions).",
                    "correct": "The right option of a quiz question."},
    "answer": {"time": "When.", "interaction": "Interaction id.", "user": "Who.",
               "option": "The option chosen (one answer event per option chosen).",
               "text": "The answer to an open question."},
    "download": {"time": "When.", "session": "Session id.", "user": "Who.", "name": "Attachment name."},
    "rsvp": {"time": "When.", "room": "Room id (created when unknown).", "name": "Name given.",
             "user": "Who, when known.", "title": "Job title.", "company": "Company.", "email": "Email.",
             "country": "ISO 3166 two-letter code.", "role": "Role.", "industry": "Industry."},
    "message": {"time": "When it was sent.", "session": "Session id.", "user": "Sender.",
                "kind": ", ".join(MESSAGE_KINDS) + ".", "text": "The message.", "recipient": "Who it was sent to.",
                "creator": "Who started the conversation.",
                "state": "As the feed words it, e.g. sent, read, answered (at most 32 characters).",
                "labels": f"Labels (at most {MAX_LABELS} strings of at most {MAX_LABEL} characters).",
                "external": "The other party is outside the organization or room (default false)."},
    "connection": {"time": "When the person connected to the session's chat.", "session": "Session id.",
                   "user": "Who."},
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "room": (), "session": ("room", "start"), "join": ("time", "session"), "leave": ("time", "join"),
    "engagement": ("time", "session", "user", "seconds", "sound_on", "tab_focused", "full_screen"),
    "reaction": ("time", "session", "user", "kind"), "chat": ("time", "session", "user", "text"),
    "qa": ("time", "session", "user", "state"), "raised_hand": ("time", "session", "user"),
    "interaction": ("time", "session", "kind", "question"), "answer": ("time", "interaction", "user"),
    "download": ("time", "session", "user", "name"), "rsvp": ("time", "room", "name"),
    "message": ("time", "session", "user", "kind", "text"), "connection": ("time", "session", "user"),
}
ROOM_EVENT_TYPES = tuple(FIELDS)
USER_FIELDS = ("user", "host", "initiator", "owner", "recipient", "creator")
KINDS = {"reaction": REACTION_KINDS, "interaction": INTERACTION_KINDS, "message": MESSAGE_KINDS}


@dataclass
class RoomEvent:
    """One validated room event: its type, id, and its fields as Python values (times aware UTC)."""

    type: str
    id: str
    values: dict


@dataclass
class RoomBatchResult:
    accepted: int = 0
    duplicates: int = 0
    throttled: int = 0

    def as_dict(self) -> dict:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "throttled": self.throttled}


class RejectedBatch(RefusedRequest):
    """Events that name what does not exist or contradict what is stored: [{index, reason}]."""

    def __init__(self, errors: list[dict]):
        super().__init__(400, REJECTED, errors)


# -- reading -------------------------------------------------------------------------------------

def _boolean(value, name: str) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidEvent(f"{name} must be true or false")
    return value


def _integer(value, name: str, minimum: int = 0) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value < 2**31:
        raise InvalidEvent(f"{name} must be an integer of at least {minimum}")
    return value


def _choice(value, name: str, choices: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if value not in choices:
        raise InvalidEvent(f"{name} must be one of {', '.join(choices)}")
    return value


def _user(value, name: str, required: bool = False) -> str | None:
    """A person reference "kind:value", the reason naming the field."""
    try:
        return user_ref(text(value, name, required=required, limit=300))
    except InvalidEvent as exc:
        reason = str(exc)
        raise InvalidEvent(name + reason[len("user"):] if reason.startswith("user ") else reason) from None


def _participants(value) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_PARTICIPANTS:
        raise InvalidEvent(f"participants must be a list of at most {MAX_PARTICIPANTS} users")
    return list(dict.fromkeys(_user(ref, f"participants[{i}]", required=True) for i, ref in enumerate(value)))


def _labels(value) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_LABELS:
        raise InvalidEvent(f"labels must be a list of at most {MAX_LABELS} strings")
    return list(dict.fromkeys(text(label, "a label", required=True, limit=MAX_LABEL) for label in value))


def _options(value) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_OPTIONS:
        raise InvalidEvent(f"options must be a list of at most {MAX_OPTIONS} strings")
    options = [text(option, "an option", required=True, limit=500) for option in value]
    if len(set(options)) != len(options):
        raise InvalidEvent("options must differ from each other")
    return options


READERS = {
    "name": lambda v, t: text(v, "name", limit=500 if t != "rsvp" else 255),
    "course": lambda v, t: _integer(v, "course", minimum=1),
    "room": lambda v, t: text(v, "room"),
    "session": lambda v, t: text(v, "session"),
    "parent": lambda v, t: text(v, "parent"),
    "join": lambda v, t: text(v, "join", limit=200),
    "interaction": lambda v, t: text(v, "interaction"),
    "reply_to": lambda v, t: text(v, "reply_to", limit=200),
    "time": lambda v, t: parse_time(v),
    "start": lambda v, t: parse_time(v) if v is not None else None,
    "end": lambda v, t: parse_time(v) if v is not None else None,
    "user": lambda v, t: _user(v, "user"),
    "host": lambda v, t: _user(v, "host"),
    "initiator": lambda v, t: _user(v, "initiator"),
    "owner": lambda v, t: _user(v, "owner"),
    "recipient": lambda v, t: _user(v, "recipient"),
    "creator": lambda v, t: _user(v, "creator"),
    "participants": lambda v, t: _participants(v),
    "entry": lambda v, t: text(v, "entry"),
    "recording": lambda v, t: text(v, "recording"),
    "ip": lambda v, t: text(v, "ip", limit=64),
    "user_agent": lambda v, t: text(v, "user_agent", limit=1000),
    "mode": lambda v, t: _choice(v, "mode", ATTENDANCE_MODES),
    "seconds": lambda v, t: number(v, "seconds", minimum=0.001, maximum=3600),
    "sound_on": lambda v, t: _boolean(v, "sound_on"),
    "tab_focused": lambda v, t: _boolean(v, "tab_focused"),
    "full_screen": lambda v, t: _boolean(v, "full_screen"),
    "kind": lambda v, t: _choice(v, "kind", KINDS[t]),
    "text": lambda v, t: text(v, "text", limit=MAX_MESSAGE),
    "likes": lambda v, t: _integer(v, "likes"),
    "deleted": lambda v, t: _boolean(v, "deleted"),
    "sub_context": lambda v, t: text(v, "sub_context", limit=64),
    "state": lambda v, t: _choice(v, "state", QA_STATES) if t == "qa" else text(v, "state", limit=32),
    "labels": lambda v, t: _labels(v),
    "external": lambda v, t: _boolean(v, "external"),
    "question": lambda v, t: text(v, "question", limit=MAX_MESSAGE),
    "options": lambda v, t: _options(v),
    "correct": lambda v, t: text(v, "correct", limit=500),
    "option": lambda v, t: text(v, "option", limit=500),
    "title": lambda v, t: text(v, "title"),
    "company": lambda v, t: text(v, "company"),
    "email": lambda v, t: text(v, "email"),
    "country": lambda v, t: _country(v),
    "role": lambda v, t: text(v, "role"),
    "industry": lambda v, t: text(v, "industry"),
}


def _country(value) -> str | None:
    country = text(value, "country", limit=2)
    if country is not None and not (len(country) == 2 and country.isalpha()):
        raise InvalidEvent("country must be an ISO 3166 two-letter code")
    return country.upper() if country else None


def room_event(raw) -> RoomEvent:
    """One event of a room batch, checked field by field."""
    if not isinstance(raw, dict):
        raise InvalidEvent("an event must be a JSON object")
    event_type = raw.get("type")
    if not isinstance(event_type, str) or event_type not in FIELDS:
        raise InvalidEvent(f"type must be one of {', '.join(ROOM_EVENT_TYPES)}")
    allowed = FIELDS[event_type]
    unknown = set(raw) - set(allowed) - {"id", "type"}
    if unknown:
        raise InvalidEvent(f"unknown field(s) for {event_type}: {', '.join(sorted(unknown))[:200]}")
    event_id = text(raw.get("id"), "id", required=True, limit=200)
    values = {name: READERS[name](raw.get(name), event_type) for name in allowed}
    for name in REQUIRED[event_type]:
        if values[name] is None:
            raise InvalidEvent(f"{name} is required for {event_type}")
    _check(event_type, values)
    return RoomEvent(event_type, event_id, values)


def _check(event_type: str, v: dict) -> None:
    """Rules across the fields of one event."""
    if event_type == "session":
        if v["end"] is not None and v["end"] < v["start"]:
            raise InvalidEvent("end is before start")
        if v["initiator"] and not v["parent"]:
            raise InvalidEvent("initiator is only for a breakout room (with parent)")
        if v["participants"] and not v["parent"]:
            raise InvalidEvent("participants is only for a breakout room (with parent)")
    elif event_type == "join":
        v["mode"] = v["mode"] or "live"
    elif event_type == "interaction":
        if v["kind"] == "open":
            if v["options"]:
                raise InvalidEvent("an open question has no options")
        elif len(v["options"]) < 2:
            raise InvalidEvent(f"a {v['kind']} needs at least two options")
        if v["correct"] is not None:
            if v["kind"] != "quiz":
                raise InvalidEvent("only a quiz question has a correct option")
            if v["correct"] not in v["options"]:
                raise InvalidEvent("correct must be one of the options")
    elif event_type == "answer":
        if (v["option"] is None) == (v["text"] is None):
            raise InvalidEvent("an answer has either option or text")


def parse_room_batch(body) -> tuple[list[tuple[int, RoomEvent]], list[dict]]:
    """(events with their index, errors): errors name each bad event's index and reason."""
    raw_events, errors = batch_items(body)
    if errors:
        return [], errors
    facts, _ignored, errors = read_items(raw_events, lambda raw: (room_event(raw),))
    return facts, errors


def room_request(registration_id: int, body) -> tuple[list[tuple[int, RoomEvent]], int]:
    """The events of POST /api/v1/room-events with their index; RefusedRequest (400) naming each bad one."""
    events, errors = parse_room_batch(body)
    return refuse_errors((events, 0, errors), REJECTED)


def room_line(registration_id: int, text: str) -> tuple[list[RoomEvent], int]:
    """A file line: one room event object."""
    return [room_event(load_json(text))], 0


# -- storing -------------------------------------------------------------------------------------

@dataclass
class _Known:
    """What the batch refers to, from the batch itself and from the database."""

    sessions: set[str] = field(default_factory=set)
    interactions: dict[str, tuple[str, list]] = field(default_factory=dict)  # id -> (kind, options)
    joins: dict[str, datetime] = field(default_factory=dict)                 # join id -> joined at


def _stored(registration_id: int, events: list[tuple[int, RoomEvent]]) -> _Known:
    known = _Known()
    wanted = defaultdict(set)
    for _, event in events:
        for name in ("session", "parent"):
            if event.values.get(name):
                wanted["session"].add(event.values[name])
        if event.type == "answer":
            wanted["interaction"].add(event.values["interaction"])
        if event.type == "leave":
            wanted["join"].add(event.values["join"])
    if wanted["session"]:
        known.sessions |= set(db.session.scalars(select(RoomSession.external_id).where(
            RoomSession.registration_id == registration_id, RoomSession.external_id.in_(wanted["session"]))))
    if wanted["interaction"]:
        for external_id, kind, options in db.session.execute(select(
                Interaction.external_id, Interaction.kind, Interaction.options).where(
                Interaction.registration_id == registration_id, Interaction.external_id.in_(wanted["interaction"]))):
            known.interactions[external_id] = (kind, options)
    if wanted["join"]:
        known.joins.update(db.session.execute(select(Attendance.event_key, Attendance.joined_at).where(
            Attendance.registration_id == registration_id, Attendance.event_key.in_(wanted["join"]))).all())
    return known


def _reference_errors(registration_id: int, events: list[tuple[int, RoomEvent]]) -> list[dict]:
    """Events naming a session, interaction, join or course that neither the batch nor the database has."""
    known = _stored(registration_id, events)
    for _, event in events:
        v = event.values
        if event.type == "session":
            known.sessions.add(event.id)
        elif event.type == "interaction":
            known.interactions.setdefault(event.id, (v["kind"], v["options"]))
        elif event.type == "join":
            known.joins.setdefault(event.id, v["time"])
    courses = {e.values["course"] for _, e in events if e.type == "room" and e.values["course"]}
    owned = set(db.session.scalars(select(Course.id).where(
        Course.registration_id == registration_id, Course.id.in_(courses)))) if courses else set()
    errors = []
    for index, event in events:
        v = event.values
        reason = None
        if v.get("session") and v["session"] not in known.sessions:
            reason = f"session {v['session']!r} is unknown; send its session event first or in this batch"
        elif v.get("parent") and v["parent"] not in known.sessions:
            reason = f"parent session {v['parent']!r} is unknown"
        elif event.type == "session" and v["parent"] == event.id:
            reason = "a session cannot be its own parent"
        elif event.type == "room" and v["course"] and v["course"] not in owned:
            reason = f"course {v['course']} is not a course of this registration"
        elif event.type == "leave":
            joined = known.joins.get(v["join"])
            if joined is None:
                reason = f"join {v['join']!r} is unknown"
            elif v["time"] < joined:
                reason = "leaves before it joined"
        elif event.type == "answer":
            if v["interaction"] not in known.interactions:
                reason = f"interaction {v['interaction']!r} is unknown"
            else:
                kind, options = known.interactions[v["interaction"]]
                if kind == "open" and v["option"] is not None:
                    reason = "an open question is answered with text"
                elif kind != "open" and v["option"] not in options:
                    reason = "option is not one of the interaction's options"
        if reason:
            errors.append({"index": index, "reason": reason})
    return errors


def accept_room_events(registration_id: int, events: list[tuple[int, RoomEvent]], *, commit: bool = True
                       ) -> RoomBatchResult:
    """Store a validated batch in one transaction; raises RejectedBatch (nothing written) when an
    event names what does not exist."""
    errors = _reference_errors(registration_id, events)
    if errors:
        raise RejectedBatch(errors)
    result = RoomBatchResult()
    unique: list[RoomEvent] = []
    seen: set[tuple[str, str]] = set()
    for _, event in events:
        if (event.type, event.id) in seen:
            result.duplicates += 1
            continue
        seen.add((event.type, event.id))
        unique.append(event)
    by_type: dict[str, list[RoomEvent]] = defaultdict(list)
    for event in unique:
        by_type[event.type].append(event)

    refs = {e.values[n] for e in unique for n in USER_FIELDS if e.values.get(n)}
    refs |= {ref for e in by_type["session"] for ref in e.values["participants"] or ()}
    persons = people.resolve(registration_id, refs)
    entries = _entries(registration_id, by_type)
    rooms = _rooms(registration_id, by_type, entries, result)
    sessions = _sessions(registration_id, by_type, rooms, persons, entries, result)
    interactions = _interactions(registration_id, by_type, sessions, result)
    whereabouts = _whereabouts(by_type["join"])

    def person(ref):
        return persons[ref] if ref else None

    def fact(event: RoomEvent, **columns) -> dict:
        return {"registration_id": registration_id, "event_key": event.id, **columns}

    def in_session(event: RoomEvent, **columns) -> dict:
        return fact(event, session_id=sessions[event.values["session"]], person_id=person(event.values["user"]),
                    at=event.values["time"], **columns)

    rows = {
        Attendance: [fact(e, session_id=sessions[e.values["session"]], person_id=person(e.values["user"]),
                          joined_at=e.values["time"], left_at=None, mode=e.values["mode"], **whereabouts[e.id])
                     for e in by_type["join"]],
        EngagementSample: [in_session(e, interval_seconds=e.values["seconds"], sound_on=e.values["sound_on"],
                                      tab_focused=e.values["tab_focused"], full_screen=e.values["full_screen"],
                                      level=engagement_level(e.values["sound_on"], e.values["tab_focused"],
                                                             e.values["full_screen"]))
                           for e in by_type["engagement"]],
        Reaction: [in_session(e, kind=e.values["kind"], throttled=False) for e in by_type["reaction"]],
        ChatMessage: [in_session(e, text=e.values["text"], reply_to=e.values["reply_to"],
                                 likes=e.values["likes"] or 0, deleted=bool(e.values["deleted"]),
                                 sub_context=e.values["sub_context"]) for e in by_type["chat"]],
        QaThread: [in_session(e, state=e.values["state"], owner_person_id=person(e.values["owner"]))
                   for e in by_type["qa"]],
        RaisedHand: [in_session(e) for e in by_type["raised_hand"]],
        InteractionAnswer: [fact(e, interaction_id=interactions[e.values["interaction"]],
                                 person_id=person(e.values["user"]), at=e.values["time"],
                                 option=e.values["option"], text=e.values["text"]) for e in by_type["answer"]],
        AttachmentDownload: [in_session(e, name=e.values["name"]) for e in by_type["download"]],
        Rsvp: [fact(e, room_id=rooms[e.values["room"]], person_id=person(e.values["user"]), at=e.values["time"],
                    **{n: e.values[n] for n in ("name", "title", "company", "email", "country", "role", "industry")})
               for e in by_type["rsvp"]],
        RoomMessage: [in_session(e, kind=e.values["kind"], recipient_person_id=person(e.values["recipient"]),
                                 creator_person_id=person(e.values["creator"]), text=e.values["text"],
                                 state=e.values["state"], labels=e.values["labels"],
                                 external=bool(e.values["external"])) for e in by_type["message"]],
        ChatConnection: [in_session(e) for e in by_type["connection"]],
    }
    new_reactions: set[str] = set()
    for model, model_rows in rows.items():
        if not model_rows:
            continue
        statement = _insert(model).on_conflict_do_nothing(
            index_elements=["registration_id", "event_key"]).returning(model.id, model.event_key)
        new_ids = dict(db.session.execute(statement, model_rows).all())
        inserted = set(new_ids.values())
        result.accepted += len(inserted)
        result.duplicates += len(model_rows) - len(inserted)
        if model is Reaction:
            new_reactions = inserted
        if model is EngagementSample:
            add_samples(db.session, new_ids)   # only the new ones: a re-sent sample is counted once
    _leaves(registration_id, by_type["leave"], result)
    if new_reactions:
        pairs = {(r["session_id"], r["person_id"]) for r in rows[Reaction] if r["event_key"] in new_reactions}
        throttled = throttle(pairs, current_app.config["REACTION_THROTTLE_SECONDS"])
        result.throttled = len(throttled & new_reactions)
    if commit:
        db.session.commit()
    return result


def _entries(registration_id: int, by_type: dict) -> dict[str, int]:
    """Media entry ids by external id of the live streams and recordings the batch names; unknown
    entries are created as the media pipeline creates them (not described by the catalog)."""
    named = ({e.values["entry"] for e in by_type["room"] if e.values["entry"]}
             | {e.values["recording"] for e in by_type["session"] if e.values["recording"]})
    if not named:
        return {}
    # resolve_entries takes events; only their entry ids matter here.
    refs = [IncomingEvent(key="", type="impression", occurred_at=None, entry=external_id)
            for external_id in sorted(named)]
    return {external_id: entry.id for external_id, entry in resolve_entries(registration_id, refs).items()}


def _whereabouts(joins: list[RoomEvent]) -> dict[str, dict]:
    """Attendance device and location columns by join id, from the join's user agent and IP, each
    looked up once per batch (an attendee sends the same ones with every join). The IP goes no further."""
    city_db = current_app.config.get("GEOIP_CITY_DB")
    devices, places, columns = {}, {}, {}
    for event in joins:
        user_agent, ip = event.values["user_agent"], event.values["ip"]
        if user_agent not in devices:
            devices[user_agent] = device_info(user_agent)
        if ip not in places:
            places[ip] = locate(ip, city_db)
        device, where = devices[user_agent], places[ip]
        columns[event.id] = {"device_type": device.device_type, "os": device.os, "browser": device.browser,
                             "country": where.country, "region": where.region, "city": where.city}
    return columns


def _rooms(registration_id: int, by_type: dict, entries: dict[str, int], result: RoomBatchResult) -> dict[str, int]:
    """Room ids by external id: every room named in the batch, created when unknown."""
    named = {e.id for e in by_type["room"]} | {e.values["room"] for e in by_type["session"] + by_type["rsvp"]}
    if not named:
        return {}
    created = set(db.session.scalars(_insert(Room).values([
        {"registration_id": registration_id, "external_id": external_id, "name": "",
         "created_at": datetime.now(timezone.utc)} for external_id in sorted(named)
    ]).on_conflict_do_nothing(index_elements=["registration_id", "external_id"]).returning(Room.external_id)))
    stored = {room.external_id: room for room in db.session.scalars(
        select(Room).where(Room.registration_id == registration_id, Room.external_id.in_(named))
        .with_for_update().execution_options(populate_existing=True))}
    for event in by_type["room"]:
        room = stored[event.id]
        changed = event.id in created
        for column, value in (("name", event.values["name"]), ("course_id", event.values["course"]),
                              ("live_entry_id", entries.get(event.values["entry"]))):
            if value is not None and getattr(room, column) != value:
                setattr(room, column, value)
                changed = True
        _count(result, changed)
    db.session.flush()
    return {external_id: room.id for external_id, room in stored.items()}


def _sessions(registration_id: int, by_type: dict, rooms: dict[str, int], persons: dict[str, int],
              entries: dict[str, int], result: RoomBatchResult) -> dict[str, int]:
    """Session ids by external id for every session the batch names; session events create or update
    theirs (the fields given replace the stored ones, participants are added)."""
    events = by_type["session"]
    named = {e.id for e in events}
    for event in (e for typed in by_type.values() for e in typed):
        for name in ("session", "parent"):
            if event.values.get(name):
                named.add(event.values[name])
    if not named:
        return {}
    created: set[str] = set()
    if events:
        # Parents may be created by this same statement, so they are set afterwards.
        created = set(db.session.scalars(_insert(RoomSession).values([
            {"registration_id": registration_id, "external_id": e.id, "room_id": rooms[e.values["room"]],
             "name": "", "started_at": e.values["start"]} for e in events
        ]).on_conflict_do_nothing(index_elements=["registration_id", "external_id"])
            .returning(RoomSession.external_id)))
    query = select(RoomSession).where(RoomSession.registration_id == registration_id,
                                      RoomSession.external_id.in_(named))
    if events:
        query = query.with_for_update()
    stored = {s.external_id: s for s in db.session.scalars(query.execution_options(populate_existing=True))}
    added = _add_participants(events, stored, persons)
    for event in events:
        session, v = stored[event.id], event.values
        changed = event.id in created or event.id in added
        for column, value in (("room_id", rooms[v["room"]]), ("started_at", v["start"]), ("ended_at", v["end"]),
                              ("name", v["name"]), ("host_person_id", persons.get(v["host"])),
                              ("parent_session_id", stored[v["parent"]].id if v["parent"] else None),
                              ("initiator_person_id", persons.get(v["initiator"])),
                              ("recording_entry_id", entries.get(v["recording"]))):
            if value is not None and getattr(session, column) != value:
                setattr(session, column, value)
                changed = True
        _count(result, changed)
    db.session.flush()
    return {external_id: session.id for external_id, session in stored.items()}


def _add_participants(events: list[RoomEvent], stored: dict[str, RoomSession], persons: dict[str, int]) -> set[str]:
    """Add the participants session events list to their breakout rooms; return the ids of the
    events that added someone (the others may still be duplicates)."""
    wanted = {(stored[e.id].id, persons[ref]) for e in events for ref in e.values["participants"] or ()}
    inserted: set[tuple[int, int]] = set()
    for chunk in _chunks(sorted(wanted)):
        inserted |= {(session_id, person_id) for session_id, person_id in db.session.execute(
            _insert(BreakoutParticipant).values([{"session_id": s, "person_id": p} for s, p in chunk])
            .on_conflict_do_nothing(index_elements=["session_id", "person_id"])
            .returning(BreakoutParticipant.session_id, BreakoutParticipant.person_id))}
    return {e.id for e in events if any((stored[e.id].id, persons[ref]) in inserted
                                        for ref in e.values["participants"] or ())}


def _interactions(registration_id: int, by_type: dict, sessions: dict[str, int],
                  result: RoomBatchResult) -> dict[str, int]:
    """Interaction ids by external id for every interaction the batch names; described once."""
    events = by_type["interaction"]
    if events:
        inserted = set(db.session.scalars(_insert(Interaction).values([
            {"registration_id": registration_id, "external_id": e.id, "session_id": sessions[e.values["session"]],
             "launched_at": e.values["time"], "kind": e.values["kind"], "question": e.values["question"],
             "options": e.values["options"], "correct_option": e.values["correct"]} for e in events
        ]).on_conflict_do_nothing(index_elements=["registration_id", "external_id"])
            .returning(Interaction.external_id)))
        result.accepted += len(inserted)
        result.duplicates += len(events) - len(inserted)
    named = {e.id for e in events} | {e.values["interaction"] for e in by_type["answer"]}
    if not named:
        return {}
    return dict(db.session.execute(select(Interaction.external_id, Interaction.id).where(
        Interaction.registration_id == registration_id, Interaction.external_id.in_(named))).all())


def _leaves(registration_id: int, events: list[RoomEvent], result: RoomBatchResult) -> None:
    """A leave closes its stay; the first leave of a stay wins, later ones are duplicates."""
    for event in events:
        closed = db.session.execute(update(Attendance).where(
            Attendance.registration_id == registration_id, Attendance.event_key == event.values["join"],
            Attendance.left_at.is_(None)).values(left_at=event.values["time"]))
        _count(result, closed.rowcount > 0)


def throttle(pairs: set[tuple[int, int]], window_seconds: float) -> set[str]:
    """Mark the reactions of these (session id, person id) pairs: in time order, a reaction counts
    when the person's last counted reaction in the session is at least `window_seconds` older;
    the others are throttled. Derived from all their reactions, so the order events arrive in does
    not matter. Returns the event keys now throttled."""
    window = timedelta(seconds=window_seconds)
    throttled: set[str] = set()
    changes = []
    for session_id in sorted({s for s, _ in pairs}):
        person_ids = {p for s, p in pairs if s == session_id}
        last_counted: dict[int, datetime] = {}
        for reaction_id, key, person_id, at, was_throttled in db.session.execute(
                select(Reaction.id, Reaction.event_key, Reaction.person_id, Reaction.at, Reaction.throttled)
                .where(Reaction.session_id == session_id, Reaction.person_id.in_(person_ids))
                .order_by(Reaction.person_id, Reaction.at, Reaction.event_key)):
            previous = last_counted.get(person_id)
            is_throttled = previous is not None and at - previous < window
            if is_throttled:
                throttled.add(key)
            else:
                last_counted[person_id] = at
            if is_throttled != was_throttled:
                changes.append({"id": reaction_id, "throttled": is_throttled})
    if changes:
        db.session.execute(update(Reaction), changes)
    return throttled


def _count(result: RoomBatchResult, changed: bool) -> None:
    if changed:
        result.accepted += 1
    else:
        result.duplicates += 1


# -- the HTTP batch as /api/v1/openapi.json describes it --------------------------------------------

FIELD_SCHEMAS = {
    "time": {"type": ["string", "number"]}, "start": {"type": ["string", "number"]},
    "end": {"type": ["string", "number"]}, "course": {"type": "integer", "minimum": 1},
    "seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600}, "likes": {"type": "integer", "minimum": 0},
    "sound_on": {"type": "boolean"}, "tab_focused": {"type": "boolean"}, "full_screen": {"type": "boolean"},
    "deleted": {"type": "boolean"}, "options": {"type": "array", "items": {"type": "string"}},
    "participants": {"type": "array", "maxItems": MAX_PARTICIPANTS, "items": {"type": "string"}},
    "labels": {"type": "array", "maxItems": MAX_LABELS, "items": {"type": "string", "maxLength": MAX_LABEL}},
    "external": {"type": "boolean"}, "state": {"type": "string", "maxLength": 32},
}


def _schema_name(event_type: str) -> str:
    return f"Room{event_type.title().replace('_', '')}Event"


def _event_schema(event_type: str) -> dict:
    """One room event type: its fields (times as ISO 8601 with a zone or Unix seconds; users kind:value)."""
    properties = {"id": {"type": "string", "maxLength": 200,
                         "description": "Your unique id (for room, session and interaction: its id); "
                                        "a re-sent fact is a duplicate."},
                  "type": {"const": event_type}}
    for name, description in FIELDS[event_type].items():
        properties[name] = {**FIELD_SCHEMAS.get(name, {"type": "string"}), "description": description}
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": ["id", "type", *REQUIRED[event_type]]}


EVENT_SCHEMAS = {_schema_name(t): _event_schema(t) for t in FIELDS}

BATCH_BODY = {"type": "object", "required": ["version", "events"], "additionalProperties": False,
              "properties": {
                  "version": {"const": 1},
                  "events": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH_EVENTS,
                             "items": {"oneOf": [{"$ref": f"#/components/schemas/{name}"} for name in EVENT_SCHEMAS]}}}}

EXAMPLE_BATCH = {"version": 1, "events": [
    {"id": "room-1", "type": "room", "name": "Week 1 live class", "entry": "1_live0001"},
    {"id": "session-1", "type": "session", "room": "room-1", "start": "2026-10-05T10:00:00Z",
     "end": "2026-10-05T11:00:00Z", "host": "sub:teacher-1"},
    {"id": "j-1", "type": "join", "time": "2026-10-05T10:01:00Z", "session": "session-1", "user": "sub:8c1f5e2a"},
    {"id": "e-1", "type": "engagement", "time": "2026-10-05T10:01:30Z", "session": "session-1",
     "user": "sub:8c1f5e2a", "seconds": 30, "sound_on": True, "tab_focused": True, "full_screen": False},
    {"id": "r-1", "type": "reaction", "time": "2026-10-05T10:02:00Z", "session": "session-1",
     "user": "sub:8c1f5e2a", "kind": "clap"},
    {"id": "m-1", "type": "message", "time": "2026-10-05T10:03:00Z", "session": "session-1",
     "user": "sub:8c1f5e2a", "recipient": "sub:teacher-1", "kind": "moderator", "text": "Is slide 3 correct?"},
    {"id": "l-1", "type": "leave", "time": "2026-10-05T10:50:00Z", "join": "j-1"},
]}
