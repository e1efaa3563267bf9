"""GET /api/v1/openapi.json: the API described for clients (OpenAPI 3.1)."""
from __future__ import annotations

from flask import current_app, jsonify

from lti_tool.analytics.definitions import Unit
from lti_tool.analytics.filters import COMPARES, CONTEXTS, DEVICES, MAX_VALUES, MEDIA_TYPES, PRESETS
from lti_tool.ingest.rooms import FIELDS as ROOM_FIELDS
from lti_tool.ingest.rooms import MAX_LABEL, MAX_LABELS, MAX_PARTICIPANTS
from lti_tool.ingest.rooms import REQUIRED as ROOM_REQUIRED
from lti_tool.ingest.schema import EVENT_TYPES, MAX_BATCH_EVENTS, MAX_JSON_DEPTH, PLAYBACK_TYPES, USER_KINDS
from lti_tool.models.types import EARLIEST_TIME, LAST_DAY

from . import bp
from lti_tool.analytics.rooms import ATTENDEE_SORTS, ATTENDEES_PER_PAGE, MIN_SEARCH_LETTERS
from .reports import MAX_LIMIT, MAX_PER_PAGE, PEOPLE_SORTS, REPORTS

ERROR = {"$ref": "#/components/schemas/Error"}
TIME_WINDOW = f"{EARLIEST_TIME:%Y-%m-%d} to {LAST_DAY} (UTC)"


def _errors(*codes: int) -> dict:
    reasons = {400: f"Malformed input; nothing was stored. Also refused: JSON nested deeper than {MAX_JSON_DEPTH} "
                    f"levels, NaN or Infinity, text holding NUL, another control character (tab, line feed and "
                    f"carriage return are text) or a lone surrogate, times outside {TIME_WINDOW}",
               401: "Missing, unknown or revoked token",
               403: "Not allowed for this token or registration", 404: "Not found", 413: "Body too large",
               415: "Wrong content type", 422: "Unsupported version", 429: "Rate limit exceeded; see Retry-After"}
    return {str(c): {"description": reasons[c], "content": {"application/json": {"schema": ERROR}}} for c in codes}


NATIVE_EVENT = {
    "type": "object",
    "required": ["id", "type", "time", "entry_id"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "maxLength": 200, "description": "Your unique id; a re-sent id is a duplicate."},
        "type": {"enum": list(EVENT_TYPES)},
        "time": {"type": ["string", "number"], "description": f"ISO 8601 with a zone, or Unix seconds, {TIME_WINDOW}."},
        "entry_id": {"type": "string", "maxLength": 255, "description": "External media id, e.g. 1_abc123."},
        "user": {"type": "string", "description": f"kind:value with kind one of {', '.join(USER_KINDS)}; omit for anonymous."},
        "play_id": {"type": "string", "description": "Events of one play share it."},
        "load_id": {"type": "string", "description": "The player load (impression) the event belongs to."},
        "seq": {"type": "integer", "minimum": 0},
        "position": {"type": "number", "minimum": 0, "description": "Seconds into the media."},
        "seconds_viewed": {"type": "number", "minimum": 0, "description": "Playback seconds since the previous event of the play."},
        "segments": {"type": "array", "items": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
                     "description": "Watched intervals [start, end] in seconds."},
        "seek_to": {"type": "number", "minimum": 0},
        "playback_type": {"enum": list(PLAYBACK_TYPES)},
        "playback_context": {"type": "string", "description": "Category id of the gallery/channel page the player was in."},
        "page_url": {"type": "string"},
        "user_agent": {"type": "string"},
        "ip": {"type": "string", "description": "Used to locate the viewer, then dropped; never stored."},
        "location": {"type": "object", "properties": {"country": {"type": "string", "maxLength": 2},
                                                      "region": {"type": "string"}, "city": {"type": "string"}}},
        "duration": {"type": "number", "exclusiveMinimum": 0, "description": "Media duration in seconds."},
        "entry_name": {"type": "string"},
        "media_type": {"enum": ["video", "audio", "image", "quiz", "youtube"]},
        "extra": {"type": "object"},
    },
}

EXAMPLE_BATCH = {"version": 1, "events": [
    {"id": "evt-1", "type": "impression", "time": "2026-10-05T10:00:00Z", "entry_id": "1_abc123",
     "user": "sub:8c1f5e2a-…", "load_id": "load-1", "page_url": "https://canvas.example.edu/courses/7/pages/week-1"},
    {"id": "evt-2", "type": "play", "time": "2026-10-05T10:00:04Z", "entry_id": "1_abc123", "user": "sub:8c1f5e2a-…",
     "play_id": "play-1", "load_id": "load-1", "position": 0, "duration": 600},
    {"id": "evt-3", "type": "pause", "time": "2026-10-05T10:05:04Z", "entry_id": "1_abc123", "user": "sub:8c1f5e2a-…",
     "play_id": "play-1", "position": 300},
]}


ROOM_FIELD_TYPES = {
    "time": {"type": ["string", "number"]}, "start": {"type": ["string", "number"]},
    "end": {"type": ["string", "number"]}, "course": {"type": "integer", "minimum": 1},
    "seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600}, "likes": {"type": "integer", "minimum": 0},
    "sound_on": {"type": "boolean"}, "tab_focused": {"type": "boolean"}, "full_screen": {"type": "boolean"},
    "deleted": {"type": "boolean"}, "options": {"type": "array", "items": {"type": "string"}},
    "participants": {"type": "array", "maxItems": MAX_PARTICIPANTS, "items": {"type": "string"}},
    "labels": {"type": "array", "maxItems": MAX_LABELS, "items": {"type": "string", "maxLength": MAX_LABEL}},
    "external": {"type": "boolean"}, "state": {"type": "string", "maxLength": 32},
}


def _room_event(event_type: str) -> dict:
    """One room event type: its fields (times as ISO 8601 with a zone or Unix seconds; users kind:value)."""
    properties = {"id": {"type": "string", "maxLength": 200,
                         "description": "Your unique id (for room, session and interaction: its id); "
                                        "a re-sent fact is a duplicate."},
                  "type": {"const": event_type}}
    for name, description in ROOM_FIELDS[event_type].items():
        properties[name] = {**ROOM_FIELD_TYPES.get(name, {"type": "string"}), "description": description}
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": ["id", "type", *ROOM_REQUIRED[event_type]]}


EXAMPLE_ROOM_BATCH = {"version": 1, "events": [
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


def document() -> dict:
    bearer = [{"bearer": []}]
    counts = {"type": "object", "properties": {k: {"type": "integer"} for k in ("accepted", "duplicates", "ignored")}}
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{current_app.config['TOOL_TITLE']} API", "version": "1",
                 "description": "Send media events and catalog data; read reports. Authenticate with a registration's "
                                "token (`flask ingest token create`) as `Authorization: Bearer <token>`. A batch is "
                                "accepted whole or rejected whole; re-sending it changes nothing."},
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {
                    "error": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object", "properties": {
                        "index": {"type": ["integer", "null"]}, "reason": {"type": "string"}}}},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}}}},
                "NativeEvent": NATIVE_EVENT,
                "Counts": counts,
                **{f"Room{t.title().replace('_', '')}Event": _room_event(t) for t in ROOM_FIELDS},
            },
        },
        "paths": {
            "/events": {"post": {
                "summary": "Send a batch of player events (native format, version 1)",
                "security": bearer,
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"type": "object", "required": ["version", "events"], "properties": {
                        "version": {"const": 1},
                        "events": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH_EVENTS,
                                   "items": {"$ref": "#/components/schemas/NativeEvent"}}}},
                    "example": EXAMPLE_BATCH}}},
                "responses": {"200": {"description": "Stored (or already stored)", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Counts"}}}},
                    **_errors(400, 401, 413, 415, 429)}}},
            "/room-events": {"post": {
                "summary": "Send a batch of live room events (native format, version 1)",
                "description": "Rooms, people and media entries are created when named; facts name a session "
                               "described in the same batch or earlier. A join's ip is used to locate the "
                               "attendee and never stored. Per person and session at most one reaction counts in "
                               "REACTION_THROTTLE_SECONDS (default 3); the others are stored as throttled and "
                               "counted in `throttled`. Errors name each bad event's index and reason.",
                "security": bearer,
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"type": "object", "required": ["version", "events"], "additionalProperties": False,
                               "properties": {
                                   "version": {"const": 1},
                                   "events": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH_EVENTS,
                                              "items": {"oneOf": [
                                                  {"$ref": f"#/components/schemas/Room{t.title().replace('_', '')}Event"}
                                                  for t in ROOM_FIELDS]}}}},
                    "example": EXAMPLE_ROOM_BATCH}}},
                "responses": {"200": {"description": "Stored (or already stored)", "content": {"application/json": {
                    "schema": {"type": "object", "properties": {
                        k: {"type": "integer"} for k in ("accepted", "duplicates", "throttled")}}}}},
                    **_errors(400, 401, 413, 415, 429)}}},
            "/kava": {"get": _kava("query string"), "post": _kava("form or JSON body (with the query string)")},
            "/player-tokens": {"post": {
                "summary": "Mint a signed player token (ks) that names the viewer in Kava beacons",
                "description": "A server sends its bearer token and {\"user\": \"sub:…\", \"ttl\": seconds}; a page "
                               "of the tool sends its X-Session-Token header and gets a ks for its own viewer.",
                "security": [{"bearer": []}, {}],
                "responses": {"200": {"description": "The ks and when it expires"}, **_errors(400, 401)}}},
            "/caliper": {
                "post": {"summary": "Caliper 1.1 / 1.2 envelope; MediaEvents are stored, other events counted as ignored",
                         "security": bearer,
                         "responses": {"200": {"description": "Stored", "content": {"application/json": {
                             "schema": {"$ref": "#/components/schemas/Counts"}}}}, **_errors(400, 401, 413, 415, 422, 429)}},
                "get": {"summary": "Caliper endpoint configuration", "security": bearer,
                        "responses": {"200": {"description": "caliper_maximum_payload_size, caliper_supported_versions"}}}},
            "/xapi/statements": {"post": {
                "summary": "xAPI Video Profile statements (one or a list); segments rebuilt when played-segments is absent",
                "security": bearer,
                "responses": {"200": {"description": "Statement ids stored"}, **_errors(400, 401, 413, 415, 429)}}},
            "/entries/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "put": {"summary": "Describe a media entry (name, media_type, duration s, tags, created_at, owner, coeditors)",
                        "security": bearer,
                        "responses": {"200": {"description": "Updated"}, "201": {"description": "Created"},
                                      **_errors(400, 401, 415, 429)}},
                "get": {"summary": "A media entry", "security": bearer,
                        "responses": {"200": {"description": "The entry"}, **_errors(401, 404)}}},
            "/categories/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "put": {"summary": "Describe a gallery or channel and replace its members (entry ids)",
                        "security": bearer,
                        "responses": {"200": {"description": "Updated"}, "201": {"description": "Created"},
                                      **_errors(400, 401, 403, 404, 415, 429)}},
                "get": {"summary": "A category with its members", "security": bearer,
                        "responses": {"200": {"description": "The category"}, **_errors(401, 404)}}},
            "/reports/{id}": _reports(),
        },
    }


def _query(name: str, description: str, schema: dict, many: bool = False) -> dict:
    if many:
        schema = {"type": "array", "items": schema}
    return {"name": name, "in": "query", "description": description, "schema": schema,
            **({"style": "form", "explode": True} if many else {})}


REPORT_PARAMETERS = {
    "limit": _query("limit", "Rows per list (top-entries, breakdowns, embed-domains and embed-pages).",
                    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}),
    "q": _query("q", "Search people by name or email (case-insensitive); room-attendees matches the start of the "
                     f"name or of any of its words and ignores fewer than {MIN_SEARCH_LETTERS} letters.",
                {"type": "string", "maxLength": 100}),
    "sort": _query("sort", "Column to sort people by; rows without a value come last (user-engagement: default "
                           "plays; room-attendees: default minutes_viewed).",
                   {"enum": list(dict.fromkeys(PEOPLE_SORTS + ATTENDEE_SORTS))}),
    "dir": _query("dir", "Sort direction (default desc, asc for name).", {"enum": ["asc", "desc"]}),
    "page": _query("page", "Page of people, from 1.", {"type": "integer", "minimum": 1, "default": 1}),
    "per_page": _query("per_page", f"People per page; more than {MAX_PER_PAGE} is a 400, not clamped.",
                       {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": 50}),
    "session": _query("session", "Room reports: one main session's id in the room (its breakout rooms follow it); "
                                 "without it, every session that started in the date range.",
                      {"type": "string", "maxLength": 255}),
    "person": _query("person", "A person id: adds that person's level per percentile (0 not viewed, 1, 2, 3+).",
                     {"type": "integer", "minimum": 1}),
}


def _reports() -> dict:
    """GET /reports/{id}: one path, the report named by id; each report's subject and arguments listed."""
    listing = "\n".join(
        f"- `{name}` ({' or '.join(r.subjects)}): {r.summary}. Metrics: {', '.join(r.metrics)}."
        + (f" Arguments: {', '.join(r.parameters)}." if r.parameters else "")
        + (f" Defaults when absent: {', '.join(f'{k}={v}' for k, v in r.defaults)}." if r.defaults else "")
        for name, r in REPORTS.items())
    filters = [
        _query("range", "Date range preset (local dates in tz); presets end yesterday unless today=1. "
                        "Default last30 (embed-audit: last12m).",
               {"enum": list(PRESETS), "default": "last30"}),
        _query("from", "First day of range=custom.", {"type": "string", "format": "date"}),
        _query("to", "Last day of range=custom (at most ten years after from).", {"type": "string", "format": "date"}),
        _query("today", "1 to include today.", {"enum": ["1"]}),
        _query("compare", "A compare period.", {"enum": list(COMPARES), "default": "none"}),
        _query("granularity", "Timeline points per day or month (auto: days up to 92 days).",
               {"enum": ["auto", "day", "month"], "default": "auto"}),
        _query("context", "Plays inside the course gallery page or embedded elsewhere (course reports).",
               {"enum": list(CONTEXTS), "default": "all"}),
        _query("media_type", "Media types.", {"enum": list(MEDIA_TYPES)}, many=True),
        _query("tag", "Entry tags (any of them).", {"type": "string"}, many=True),
        _query("owner", "Entry owners (person ids).", {"type": "integer"}, many=True),
        _query("country", "ISO country codes; one country drills the countries report to regions.",
               {"type": "string"}, many=True),
        _query("region", "Regions; with one country, one region drills the countries report to cities.",
               {"type": "string"}, many=True),
        _query("city", "Cities.", {"type": "string"}, many=True),
        _query("domain", "Page domains, (unknown) for plays without a page URL (page-urls and embed-pages need "
                         "exactly one; embed-audit audits these domains instead of its default selection).",
               {"type": "string"}, many=True),
        _query("device", "Device types.", {"enum": list(DEVICES)}, many=True),
    ]
    return {
        "parameters": [{"name": "id", "in": "path", "required": True, "description": "The report's name.",
                        "schema": {"enum": list(REPORTS)}}],
        "get": {
            "summary": "A dashboard report as JSON, for a course's gallery (course=), one entry (entry=) or a room "
                       "(room=)",
            "description": "Exactly one subject: `course` (the tool's course id), `entry` (an external entry id) or "
                           "`room` (an external room id, for the room-* reports) of this token's registration. "
                           f"room-attendees pages by {ATTENDEES_PER_PAGE} unless per_page says otherwise. Filters are the dashboards' URL arguments (repeat an "
                           f"argument for several values, at most {MAX_VALUES}); unknown arguments are ignored. "
                           "Percents are 0-100 (completion rates), fractions 0-1 (drop-off, ratios, changes).\n\n"
                           + listing,
            "security": [{"bearer": []}],
            "parameters": [
                _query("course", "The tool's course id: the course gallery's reports.", {"type": "integer"}),
                _query("entry", "An external entry id, e.g. 1_abc123: the entry's reports.",
                       {"type": "string", "maxLength": 255}),
                _query("room", "An external room id: the room-* reports.", {"type": "string", "maxLength": 255}),
                _query("tz", "IANA time zone of the local days (default: the course's, else the registration's).",
                       {"type": "string", "examples": ["America/Chicago"]}),
                *filters, *REPORT_PARAMETERS.values(),
            ],
            "responses": {
                "200": {"description": "The report", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["report", "subject", "filters", "period", "metrics", "data"],
                    "properties": {
                        "report": {"enum": list(REPORTS)},
                        "subject": {"type": "object", "description": "type course (id, title, label, timezone), "
                                                                     "entry (id, name, media_type, duration) or room "
                                                                     "(id, name, course, session)"},
                        "filters": {"type": "object",
                                    "description": "The filters as URL arguments, defaults left out."},
                        "period": {"type": ["object", "null"], "description": "null for one room session",
                                   "properties": {
                                       "first_day": {"type": "string", "format": "date"},
                                       "last_day": {"type": "string", "format": "date"},
                                       "timezone": {"type": "string"}, "granularity": {"enum": ["day", "month"]},
                                       "compare": {"type": ["object", "null"]}}},
                        "metrics": {"type": "object",
                                    "description": "label, definition and unit of each metric in data (percent "
                                                   "is 0-100, fraction 0-1)",
                                    "additionalProperties": {"type": "object", "properties": {
                                        "label": {"type": "string"}, "definition": {"type": "string"},
                                        "unit": {"enum": [unit.value for unit in Unit]}}}},
                        "data": {"description": "The report's data (see the list above)."}}}}}},
                # 404 also for another registration's ids: they are answered as ids that do not exist.
                **_errors(400, 401, 404, 429),
            },
        },
    }


def _kava(how: str) -> dict:
    return {
        "summary": f"A Kava beacon as a Kaltura player sends it ({how})",
        "description": "service=analytics&action=trackEvent, eventType, partnerId, entryId, sessionId, eventIndex and "
                       "the Kava parameters. The viewer comes from a ks minted by /player-tokens; without one the "
                       "viewer is anonymous. Deduplicated on (sessionId, eventIndex, eventType).",
        "responses": {"200": {"description": '{"time": <unix seconds>, "viewEventsEnabled": true}'},
                      **_errors(400, 401, 403, 404)},
    }


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(document())
