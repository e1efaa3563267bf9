"""Our native player events, read three ways: a JSON line (`jsonl`), a CSV row (`csv`) and the
HTTP batch of POST /api/v1/events ({"version": 1, "events": [...]}, all or nothing).

Every way validates an event with `schema.native_event`, so a field means the same in each; the
batch's JSON schema and example below are what /api/v1/openapi.json shows clients.
"""
from __future__ import annotations

import csv
from typing import TYPE_CHECKING, Iterator

from lti_tool.models.media import MEDIA_TYPES

from .schema import (
    EVENT_TYPES, MAX_BATCH_EVENTS, NATIVE_FIELDS, PLAYBACK_TYPES, TIME_WINDOW, USER_KINDS, IncomingEvent,
    InvalidEvent, batch_items, is_number, load_json, native_event, refuse_errors,
)

if TYPE_CHECKING:
    from .formats import Line, LineItem

CSV_REQUIRED = ("id", "type", "time", "entry_id")
CSV_NUMBERS = ("position", "seconds_viewed", "seek_to", "duration")
CSV_JSON = ("segments", "extra")
REJECTED = "the batch was rejected; nothing was stored"


def event_line(registration_id: int, text: str) -> tuple[list[IncomingEvent], int]:
    """A `jsonl` line: one native event object."""
    return [native_event(load_json(text))], 0


def batch_request(registration_id: int, body) -> tuple[list[IncomingEvent], int]:
    """The events of a native HTTP batch; RefusedRequest (400) naming each bad event's index and reason."""
    return refuse_errors(parse_batch(body), REJECTED)


def parse_batch(body) -> tuple[list[IncomingEvent], int, list[dict]]:
    """(events, ignored, errors) of a native batch: errors name each bad event's index and reason."""
    raw_events, errors = batch_items(body)
    if errors:
        return [], 0, errors
    events = []
    for index, raw in enumerate(raw_events):
        try:
            events.append(native_event(raw))
        except InvalidEvent as exc:
            errors.append({"index": index, "reason": str(exc)})
    return events, 0, errors


def csv_rows(registration_id: int, lines: Iterator[Line]) -> Iterator[LineItem]:
    """A `csv` file of native events: native fields as columns, a header line first (a row may span
    lines: quoted cells hold line breaks). InvalidEvent when the header cannot be used."""
    consumed: list[Line] = []

    def texts():
        for line in lines:
            consumed.append(line)
            yield line.text + "\n"

    reader = csv.DictReader(texts())
    try:
        columns = reader.fieldnames or []
    except csv.Error as exc:
        raise InvalidEvent(f"the CSV header cannot be read: {exc}") from exc
    unknown = sorted(set(columns) - NATIVE_FIELDS)
    missing = [c for c in CSV_REQUIRED if c not in columns]
    if unknown or missing:
        raise InvalidEvent("the CSV header " + "; ".join(filter(None, [
            unknown and f"names unknown column(s) {', '.join(unknown)[:200]}",
            missing and f"lacks {', '.join(missing)}"])))
    consumed.clear()
    rows = iter(reader)
    while True:
        try:
            row, problem = next(rows), None
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a cell longer than the csv module reads; the next row is read
            row, problem = None, f"the row cannot be read as CSV: {exc}"
        record, consumed[:] = list(consumed), []
        raw = "\n".join(line.text for line in record if line.text.strip())
        problem = next((line.problem for line in record if line.problem), problem)
        if problem:
            yield record[-1].number, raw, problem
            continue
        try:
            yield record[-1].number, raw, ([_csv_event(row)], 0)
        except InvalidEvent as exc:
            yield record[-1].number, raw, str(exc)


def _csv_event(row: dict) -> IncomingEvent:
    """A native event from a CSV row: empty cells are absent, numbers and JSON columns are read."""
    if None in row:
        raise InvalidEvent("the row has more cells than the header has columns")
    raw: dict = {}
    for column, value in row.items():
        if value is None or value == "":
            continue
        if column in CSV_NUMBERS or (column == "time" and is_number(value)):
            raw[column] = _csv_number(value, column, float)
        elif column == "seq":
            raw[column] = _csv_number(value, column, int)
        elif column in CSV_JSON:
            raw[column] = load_json(value)
        else:
            raw[column] = value
    return native_event(raw)


def _csv_number(value: str, column: str, kind: type):
    try:
        return kind(value)
    except ValueError as exc:
        raise InvalidEvent(f"{column} must be a number") from exc


# -- the HTTP batch as /api/v1/openapi.json describes it --------------------------------------------

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
        "media_type": {"enum": list(MEDIA_TYPES)},
        "extra": {"type": "object"},
    },
}

BATCH_BODY = {"type": "object", "required": ["version", "events"], "properties": {
    "version": {"const": 1},
    "events": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH_EVENTS,
               "items": {"$ref": "#/components/schemas/NativeEvent"}}}}

EXAMPLE_BATCH = {"version": 1, "events": [
    {"id": "evt-1", "type": "impression", "time": "2026-10-05T10:00:00Z", "entry_id": "1_abc123",
     "user": "sub:8c1f5e2a-…", "load_id": "load-1", "page_url": "https://canvas.example.edu/courses/7/pages/week-1"},
    {"id": "evt-2", "type": "play", "time": "2026-10-05T10:00:04Z", "entry_id": "1_abc123", "user": "sub:8c1f5e2a-…",
     "play_id": "play-1", "load_id": "load-1", "position": 0, "duration": 600},
    {"id": "evt-3", "type": "pause", "time": "2026-10-05T10:05:04Z", "entry_id": "1_abc123", "user": "sub:8c1f5e2a-…",
     "play_id": "play-1", "position": 300},
]}
