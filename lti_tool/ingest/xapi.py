"""xAPI Video Profile statements (and Open edX's, which omit played-segments) adapted to IncomingEvent.

Verbs: initialized -> impression, played -> play or resume, paused and terminated -> pause,
seeked -> seek (time-from -> position, time-to -> seek_to), completed -> ended; interacted and any
other verb, and statements about an activity that is not a video, are counted as ignored.

A session's statements about one video are a stream, `<session>:<activity id>`: the session is the
video session-id context extension (or Open edX's), else the statement's registration, else the
actor. Which `played` starts a play and which resumes, and which played-segments a statement
adds, are assigned from the whole stream as stored (`assign_stream`, called by the pipeline), so
statements sent one by one, in one list, twice or out of order give the same numbers.
Statements without played-segments (Open edX) carry no segments, and the play's watched intervals
are rebuilt from played -> paused/seeked/completed positions.

Statements come in an HTTP request (`statements_request`, all or nothing, answered as an LRS
answers: `statements_reply`) or as lines of a file (`statements_line`: a statement or a list each).
"""
from __future__ import annotations

import json
import re
import uuid

from .caliper import bounded_key
from .schema import (
    MAX_BATCH_EVENTS, IncomingEvent, InvalidEvent, all_or_nothing, load_json, number, parse_time, read_items,
    refuse_errors, text, user_ref,
)

SOURCE = "xapi"
# The xAPI version our statements resource answers as (X-Experience-API-Version).
XAPI_VERSION = "1.0.3"
VIDEO = "https://w3id.org/xapi/video"
ADL = "http://adlnet.gov/expapi/verbs"
VERBS = {
    f"{ADL}/initialized": "impression",
    f"{VIDEO}/verbs/played": "play",
    f"{VIDEO}/verbs/paused": "pause",
    f"{VIDEO}/verbs/seeked": "seek",
    f"{ADL}/completed": "ended",
    f"{ADL}/terminated": "pause",
}
VIDEO_ACTIVITY = f"{VIDEO}/activity-type/video"
EXT = f"{VIDEO}/extensions/"
SESSION_EXTENSIONS = (f"{EXT}session-id", "https://w3id.org/xapi/openedx/extensions/session-id")
CLOSING = ("pause", "seek", "ended")
SEGMENT_NUMBER = r"\d{1,9}(?:\.\d{1,6})?"
PLAYED_SEGMENTS = re.compile(rf"{SEGMENT_NUMBER}\[\.\]{SEGMENT_NUMBER}(?:\[,\]{SEGMENT_NUMBER}\[\.\]{SEGMENT_NUMBER})*")
# Ids derived for statements sent without one (uuid5 of the statement's canonical JSON).
STATEMENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://w3id.org/xapi/statements#media-analytics")
LANGUAGES = ("en-US", "en", "und")


def statement_id(statement) -> str:
    """The statement's id, or for a statement without one a UUID derived from its content (stable)."""
    if isinstance(statement, dict) and isinstance(statement.get("id"), str):
        try:
            return str(uuid.UUID(statement["id"]))
        except ValueError:
            pass
    canonical = json.dumps(statement, sort_keys=True, separators=(",", ":"), default=str)
    return str(uuid.uuid5(STATEMENT_NAMESPACE, canonical))


def as_statement_list(statements) -> tuple[list, list[dict]]:
    """(statements, errors): one statement or a list of them, as a list."""
    if isinstance(statements, dict):
        return [statements], []
    if not isinstance(statements, list) or not statements:
        return [], [{"index": None, "reason": "send a statement object or a non-empty list of statements"}]
    if len(statements) > MAX_BATCH_EVENTS:
        return [], [{"index": None, "reason": f"at most {MAX_BATCH_EVENTS} statements per request"}]
    return statements, []


def statements_to_events(registration_id: int, statements) -> tuple[list[IncomingEvent], int, list[dict]]:
    """(events, ignored, errors) for one statement or a list; errors hold {"index", "reason"}.

    `registration_id` is not needed to read statements (the pipeline scopes ids); it is taken so
    every feed adapter has the same signature.
    """
    statements, errors = as_statement_list(statements)
    facts, ignored, read_errors = read_items(statements, _read_statement)
    return _as_streams(facts), ignored, errors + read_errors


def statements_request(registration_id: int, body) -> tuple[list[IncomingEvent], int]:
    """(events, ignored) of POST /api/v1/xapi/statements (a statement or a list); RefusedRequest (400)
    naming each bad statement."""
    return refuse_errors(statements_to_events(registration_id, body),
                         "the statements were rejected; nothing was stored")


def statements_reply(body, result) -> tuple[list[str], dict[str, str]]:
    """What an LRS answers: the statement ids (one derived from its content for a statement sent
    without one, so sending it again is a duplicate), the counts in X-Ingest-* headers."""
    statements, _errors = as_statement_list(body)
    return [statement_id(s) for s in statements], {
        "X-Experience-API-Version": XAPI_VERSION,
        "X-Ingest-Accepted": str(result.accepted),
        "X-Ingest-Duplicates": str(result.duplicates),
        "X-Ingest-Ignored": str(result.ignored),
    }


def statements_line(registration_id: int, text: str) -> tuple[list[IncomingEvent], int]:
    """(events, ignored) of a file line holding a statement or a list; InvalidEvent rejects the line."""
    return all_or_nothing(statements_to_events(registration_id, load_json(text)))


def _read_statement(statement) -> tuple[IncomingEvent, str, list] | None:
    """(event, "<session>:<activity>", played-segments) for a video statement; None when ignored."""
    if not isinstance(statement, dict):
        raise InvalidEvent("a statement must be a JSON object")
    if "id" in statement and not _is_uuid(statement["id"]):
        raise InvalidEvent("id must be a UUID")
    user = _user(statement.get("actor"))
    verb = statement.get("verb")
    if not isinstance(verb, dict) or not isinstance(verb.get("id"), str):
        raise InvalidEvent("verb.id is required")
    activity = statement.get("object")
    if not isinstance(activity, dict):
        raise InvalidEvent("object is required")
    occurred_at = parse_time(statement.get("timestamp"))
    definition = activity.get("definition") if isinstance(activity.get("definition"), dict) else {}
    event_type = VERBS.get(verb["id"])
    if (event_type is None or activity.get("objectType", "Activity") != "Activity"
            or definition.get("type", VIDEO_ACTIVITY) != VIDEO_ACTIVITY):
        return None
    entry = text(activity.get("id"), "object.id", required=True)
    result = _extensions(statement.get("result"), "result")
    context_value = statement.get("context")
    context = _extensions(context_value, "context")
    position = number(result.get(f"{EXT}time"), "time")
    seek_to = None
    if event_type == "seek":
        position = number(result.get(f"{EXT}time-from"), "time-from")
        seek_to = number(result.get(f"{EXT}time-to"), "time-to")
        if position is None or seek_to is None:
            raise InvalidEvent("a seeked statement needs time-from and time-to")
    session = next((context[k] for k in SESSION_EXTENSIONS if context.get(k)), None)
    if session is None and isinstance(context_value, dict):
        session = context_value.get("registration")
    event = IncomingEvent(
        key="xapi:" + statement_id(statement),
        type=event_type,
        occurred_at=occurred_at,
        entry=entry,
        user=user,
        position=position,
        seek_to=seek_to,
        duration=_length(context.get(f"{EXT}length")),
        entry_name=text(_language_value(definition.get("name")), "object.definition.name", limit=500),
        media_type="video",
        user_agent=text(context.get(f"{EXT}user-agent"), "user-agent", limit=1000),
    )
    session_key = bounded_key(f"{text(session, 'session-id', limit=255) or user}:{entry}")
    return event, session_key, played_segments(result.get(f"{EXT}played-segments"))


def _length(value) -> float | None:
    """The video's length in seconds; None when unknown. A player that has not loaded the video's
    metadata yet reports 0 (Open edX's `initialized` does): that is "not known", not a zero-second video."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
        return None
    return number(value, "length", minimum=0.001)


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


def _user(actor) -> str:
    """email:<address> for an mbox, player:<homePage>|<name> for an account, else player:<other IFI>."""
    if not isinstance(actor, dict):
        raise InvalidEvent("actor is required")
    mbox, account = actor.get("mbox"), actor.get("account")
    if isinstance(mbox, str) and mbox.lower().startswith("mailto:") and len(mbox) > 7:
        return user_ref(f"email:{mbox[7:]}")
    if isinstance(account, dict) and isinstance(account.get("homePage"), str) and isinstance(account.get("name"), str):
        return user_ref(f"player:{account['homePage']}|{account['name']}")
    if isinstance(actor.get("mbox_sha1sum"), str):
        return user_ref(f"player:sha1:{actor['mbox_sha1sum']}")
    if isinstance(actor.get("openid"), str):
        return user_ref(f"player:{actor['openid']}")
    raise InvalidEvent("actor must be identified by mbox, account, mbox_sha1sum or openid")


def _extensions(part, name: str) -> dict:
    """The extensions map of a statement's result or context ({} when absent)."""
    if part is None:
        return {}
    if not isinstance(part, dict):
        raise InvalidEvent(f"{name} must be an object")
    extensions = part.get("extensions") or {}
    if not isinstance(extensions, dict):
        raise InvalidEvent(f"{name}.extensions must be an object")
    return extensions


def _language_value(language_map) -> str | None:
    """One string from an xAPI language map, English first."""
    if not isinstance(language_map, dict) or not language_map:
        return None
    for language in LANGUAGES:
        if isinstance(language_map.get(language), str):
            return language_map[language]
    first = next(iter(language_map.values()))
    return first if isinstance(first, str) else None


def played_segments(value) -> list[tuple[float, float]]:
    """"0.000[.]12.000[,]14.000[.]21.000" -> [(0.0, 12.0), (14.0, 21.0)] in seconds; [] when absent."""
    if value is None or value == "":
        return []
    if not isinstance(value, str) or len(value) > 20000 or not PLAYED_SEGMENTS.fullmatch(value):
        raise InvalidEvent('played-segments must look like "0.000[.]12.000[,]14.000[.]21.000"')
    segments = []
    for pair in value.split("[,]"):
        start, end = (number(float(v), "played-segments") for v in pair.split("[.]"))
        if end < start:
            raise InvalidEvent("a played segment ends before it starts")
        segments.append((start, end))
    return segments


def _as_streams(facts: list[tuple[int, IncomingEvent, str, list]]) -> list[IncomingEvent]:
    """The statements' events, each in its stream "<session>:<activity>" with what assigning reads."""
    events = []
    for _index, event, session_key, segments in facts:
        event.stream = f"{SOURCE}:{session_key}"
        event.reported = {"verb": event.type, "segments": [list(s) for s in segments]}
        events.append(event)
    return events


# Statements of one instant in the order a player makes them.
VERB_ORDER = {"impression": 0, "play": 1, "seek": 2, "pause": 3, "ended": 4}


def assign_stream(stream: str, events: list) -> dict[str, dict]:
    """Plays, play or resume, and new played-segments of one xAPI stream, from all its statements
    in time order (whatever order they arrived in).

    The stream's first `played` starts its play, keyed by the stream; a `played` from the start
    (time 0) after that starts the next play (`<stream>:<n>`); any other `played` resumes. Every
    other statement joins the current play (the first, before any `played`); an `initialized`
    joins none. played-segments is cumulative over the session, so a closing statement adds the
    segments beyond the previous statement's list (all of them when it is the first to report,
    its last one when the list does not extend the previous one).
    """
    assignment: dict[str, dict] = {}
    plays = 0
    reported: list | None = None
    ordered = sorted(events, key=lambda e: (e.occurred_at, VERB_ORDER.get(e.reported["verb"], 9), e.key))
    for rank, event in enumerate(ordered):
        verb = event.reported["verb"]
        if verb == "impression":
            assignment[event.key] = {"event_type": verb, "play_key": None, "segments": None, "seq": rank}
            continue
        event_type = verb
        if verb == "play":
            if plays == 0 or not event.position:
                plays += 1
            else:
                event_type = "resume"
        segments = event.reported.get("segments") or []
        new = _new_segments(segments, reported) if segments and event_type in CLOSING else None
        if segments:
            reported = segments
        assignment[event.key] = {
            "event_type": event_type, "seq": rank, "segments": new or None,
            "play_key": stream if plays <= 1 else bounded_key(f"{stream}:{plays}")}
    return assignment


def _new_segments(segments: list, already: list | None) -> list:
    """The segments of a cumulative played-segments list not reported before (see assign_stream)."""
    if already is None:
        return segments
    if segments[:len(already)] == already:
        return segments[len(already):]
    return segments[-1:]
