"""xAPI Video Profile statements (and Open edX's, which omit played-segments) adapted to IncomingEvent.

Verbs: initialized -> impression, played -> play or resume, paused and terminated -> pause,
seeked -> seek (time-from -> position, time-to -> seek_to), completed -> ended; interacted and any
other verb, and statements about an activity that is not a video, are counted as ignored.

A play is `<session>:<activity id>`: the session is the video session-id context extension (or
Open edX's), else the statement's registration, else the actor. Whether a `played` opens a play
or resumes it is decided without state across requests: a `played` at time 0, or the first
`played` of its session in the request, is a play; any other is a resume. A second play event in
the same play is harmless: it opens playback like a resume.

played-segments is cumulative (every segment of the session so far), so each closing statement
(paused, seeked, completed, terminated) contributes only the segments its predecessors did not
report: those beyond the previous statement of its session in the same request, all of them when
the session's `initialized` is earlier in the request, else only its last segment (the one its own
pause, seek or end closed). Statements without played-segments (Open edX) carry no segments, and
the play's watched intervals are rebuilt from played -> paused/seeked/completed positions.
"""
from __future__ import annotations

import json
import re
import uuid

from .caliper import bounded_key
from .schema import MAX_BATCH_EVENTS, IncomingEvent, InvalidEvent, number, parse_time, read_items, text, user_ref

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
    return _assign_plays(facts), ignored, errors + read_errors


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
        duration=number(context.get(f"{EXT}length"), "length", minimum=0.001),
        entry_name=text(_language_value(definition.get("name")), "object.definition.name", limit=500),
        media_type="video",
        user_agent=text(context.get(f"{EXT}user-agent"), "user-agent", limit=1000),
    )
    session_key = bounded_key(f"{text(session, 'session-id', limit=255) or user}:{entry}")
    return event, session_key, played_segments(result.get(f"{EXT}played-segments"))


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


def _assign_plays(facts: list[tuple[int, IncomingEvent, str, list]]) -> list[IncomingEvent]:
    """Final play keys, play/resume and new segments, walking the request's statements in time order."""
    played: set[str] = set()              # sessions with a played statement earlier in this request
    reported: dict[str, list] = {}         # session -> played-segments already counted
    events = []
    for index, event, session_key, segments in sorted(facts, key=lambda f: (f[1].occurred_at, f[0])):
        event.seq = index
        events.append(event)
        if event.type == "impression":
            reported[session_key] = []  # the session starts here: nothing of it was reported yet
            continue
        event.play = session_key
        if event.type == "play":
            if event.play in played and event.position:
                event.type = "resume"
            played.add(event.play)
        if segments and event.type in CLOSING:
            event.segments = _new_segments(segments, reported.get(event.play))
        if segments:
            reported[event.play] = segments
    return events


def _new_segments(segments: list, already: list | None) -> list:
    """The segments of a cumulative played-segments list not reported before (see the module doc)."""
    if already is None:
        return segments[-1:]
    if segments[:len(already)] == already:
        return segments[len(already):]
    return segments[-1:]
