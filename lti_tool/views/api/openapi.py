"""GET /api/v1/openapi.json: the API described for clients (OpenAPI 3.1).

The ingest routes are described from the format registry (ingest/formats.py: each format's `http`
names its path, summary, body schema, example and answers); the others are described here.
"""
from __future__ import annotations

from flask import current_app, jsonify

from lti_tool.analytics.dashboard import PEOPLE_SORTS
from lti_tool.analytics.definitions import Unit
from lti_tool.analytics.filters import COMPARES, CONTEXTS, DEVICES, MAX_VALUES, MEDIA_TYPES, PRESETS
from lti_tool.analytics.rooms import ATTENDEE_SORTS, ATTENDEES_PER_PAGE, MIN_SEARCH_LETTERS
from lti_tool.ingest.formats import Format, with_http
from lti_tool.ingest.schema import MAX_JSON_DEPTH, TIME_WINDOW

from . import bp
from .reports import MAX_LIMIT, MAX_PER_PAGE, REPORTS

ERROR = {"$ref": "#/components/schemas/Error"}
BEARER = [{"bearer": []}]


def _errors(*codes: int) -> dict:
    reasons = {400: f"Malformed input; nothing was stored. Also refused: JSON nested deeper than {MAX_JSON_DEPTH} "
                    f"levels, NaN or Infinity, text holding NUL, another control character (tab, line feed and "
                    f"carriage return are text) or a lone surrogate, times outside {TIME_WINDOW}",
               401: "Missing, unknown or revoked token",
               403: "Not allowed for this token or registration", 404: "Not found", 413: "Body too large",
               415: "Wrong content type", 422: "Unsupported version", 429: "Rate limit exceeded; see Retry-After",
               503: "Neither stored nor queued (the database or the queue cannot be reached); send it again "
                    "after Retry-After"}
    return {str(c): {"description": reasons[c], "content": {"application/json": {"schema": ERROR}}} for c in codes}


def _ingest_operation(fmt: Format) -> dict:
    """POST of one format's route, from its registry entry."""
    http = fmt.http
    operation = {"summary": http.summary, **({"description": http.description} if http.description else {}),
                 "security": BEARER}
    if http.body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": http.body, **({"example": http.example} if http.example is not None else {})}}}
    operation["responses"] = {"200": http.answer, **_errors(*http.errors)}
    return operation


def _ingest_paths() -> dict:
    return {fmt.http.path: {"post": _ingest_operation(fmt)} for fmt in with_http()}


def document() -> dict:
    """The whole description; the ingest paths come from the format registry."""
    counts = {"type": "object", "properties": {k: {"type": "integer"} for k in ("accepted", "duplicates", "ignored")}}
    described = {
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
                "Counts": counts,
                **{name: schema for fmt in with_http() for name, schema in fmt.http.schemas.items()},
            },
        },
        "paths": {
            "/kava": {"get": _kava("query string"), "post": _kava("form or JSON body (with the query string)")},
            # What a player appends to provider.env.analyticsServiceUrl (also answered at /api_v3/index.php).
            "/kava/api_v3/index.php": {"get": _kava("query string"),
                                       "post": _kava("form or JSON body (with the query string)")},
            "/player-tokens": {"post": {
                "summary": "Mint a signed player token (ks) that names the viewer in Kava beacons",
                "description": "A server sends its bearer token and {\"user\": \"sub:…\", \"ttl\": seconds}; a page "
                               "of the tool sends its X-Session-Token header and gets a ks for its own viewer.",
                "security": [{"bearer": []}, {}],
                "responses": {"200": {"description": "The ks and when it expires"}, **_errors(400, 401)}}},
            "/caliper": {
                "get": {"summary": "Caliper endpoint configuration", "security": BEARER,
                        "responses": {"200": {"description": "caliper_maximum_payload_size, caliper_supported_versions"}}}},
            "/entries/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "put": {"summary": "Describe a media entry (name, media_type, duration s, tags, created_at, owner, coeditors)",
                        "security": BEARER,
                        "responses": {"200": {"description": "Updated"}, "201": {"description": "Created"},
                                      **_errors(400, 401, 415, 429)}},
                "get": {"summary": "A media entry", "security": BEARER,
                        "responses": {"200": {"description": "The entry"}, **_errors(401, 404)}}},
            "/categories/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "put": {"summary": "Describe a gallery or channel and replace its members (entry ids)",
                        "security": BEARER,
                        "responses": {"200": {"description": "Updated"}, "201": {"description": "Created"},
                                      **_errors(400, 401, 403, 404, 415, 429)}},
                "get": {"summary": "A category with its members", "security": BEARER,
                        "responses": {"200": {"description": "The category"}, **_errors(401, 404)}}},
            "/reports/{id}": _reports(),
        },
    }
    for path, operations in _ingest_paths().items():
        described["paths"][path] = {**described["paths"].get(path, {}), **operations}
    return described


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
                       "viewer is anonymous. Deduplicated on (sessionId, eventIndex, eventType). The same beacon "
                       "is answered at /api/v1/kava, /api/v1/kava/api_v3/index.php and /api_v3/index.php (the path "
                       "a player appends to provider.env.analyticsServiceUrl); every answer, errors included, "
                       "allows any origin (CORS).",
        "responses": {"200": {"description": '{"time": <unix seconds>, "viewEventsEnabled": true}'},
                      **_errors(400, 401, 403, 404, 413, 415, 503)},
    }


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(document())
