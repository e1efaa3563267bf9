"""The ingest formats: every way events come in, each defined once as a `Format`.

The importer (`flask ingest import`: its `--format` choices and the suffixes that name a file's
format), the API's ingest routes (views/api/events.py registers one POST route per format with
`http`) and /api/v1/openapi.json all read `FORMATS`; `pipeline.accept` runs the `after_accept` of
the format whose events it stored. Adding a format is its parser module and one line below.

A format reads one of two things: player events (`source` is the PlayerEvent.source its events
are stored under, by `pipeline.accept`) or live room events (`source` None, stored by
`rooms.accept_room_events`). Kava beacons are a format for files and for the step after accept;
players send them to their own route (views/api/kava.py: no bearer token, CORS, the beacon queue).
The catalog (PUT /api/v1/entries, /categories) describes media rather than sending events and is
not a format.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from . import caliper, kava, native, rooms, xapi

# (registration id, the line's text) -> (items, how many the feed ignored); InvalidEvent rejects the line.
LineParser = Callable[[int, str], tuple[list, int]]
# (registration id, the JSON body) -> (items, ignored); RefusedRequest refuses the request whole.
HttpParser = Callable[[int, object], tuple[list, int]]
# (registration id, items just stored) -> None, in the transaction that stored them.
AfterAccept = Callable[[int, list], object]


@dataclass(frozen=True)
class Line:
    """One line of an imported file."""

    number: int             # 1-based line number in the file
    text: str               # without the line break; a preview when the line is unreadable
    problem: str | None = None


# (line number, raw text, (items, ignored) or the reason it was rejected) for each item of a file.
LineItem = tuple[int, str, "tuple[list, int] | str"]
# (registration id, the file's lines) -> items; InvalidEvent when the file as a whole cannot be read.
FileParser = Callable[[int, Iterator[Line]], Iterator[LineItem]]


def counts_reply(body, result) -> tuple[dict, dict[str, str]]:
    """The usual answer to an accepted batch: its counts as JSON, no extra headers."""
    return result.as_dict(), {}


COUNTS = {"description": "Stored (or already stored)",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Counts"}}}}


@dataclass(frozen=True)
class Http:
    """A format's route, POST /api/v1<path> with a bearer token (all or nothing), and what
    /api/v1/openapi.json says of it."""

    path: str
    summary: str
    description: str = ""
    body: dict | None = None                             # JSON schema of the request body
    example: object = None                               # a request body that is accepted
    schemas: dict = field(default_factory=dict)          # components the body refers to ($ref)
    answer: dict = field(default_factory=lambda: COUNTS)  # the 200 response, as OpenAPI says it
    errors: tuple[int, ...] = (400, 401, 413, 415, 429)
    reply: Callable[[object, object], tuple[object, dict]] = counts_reply  # (body, result) -> JSON, headers


@dataclass(frozen=True)
class Format:
    """One ingest format. A file in it is read line by line with `parse_line`, or whole with
    `parse_file` when a line is not an item (a CSV row may span lines, after a header)."""

    name: str                            # the --format value
    source: str | None                   # PlayerEvent.source of its events; None: live room events
    suffixes: tuple[str, ...]            # suffixes naming it anywhere in a file name ("x.caliper.jsonl")
    parse_line: LineParser | None
    parse_http: HttpParser | None = None
    after_accept: AfterAccept | None = None
    parse_file: FileParser | None = None
    http: Http | None = None
    help: str = ""                       # what a file holds, one phrase (CLI help)
    extensions: tuple[str, ...] = ()     # file types naming it as the last suffix only ("x.jsonl")


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("jsonl", "native", (), native.event_line, native.batch_request,
           help="native event objects", extensions=("jsonl", "ndjson"),
           http=Http("/events", "Send a batch of player events (native format, version 1)",
                     body=native.BATCH_BODY, example=native.EXAMPLE_BATCH,
                     schemas={"NativeEvent": native.NATIVE_EVENT})),
    Format("csv", "native", (), None, parse_file=native.csv_rows, extensions=("csv",),
           help="native fields as columns (segments, extra as JSON)"),
    Format("kava", kava.SOURCE, ("kava",), kava.beacon_line, after_accept=kava.live_engagement,
           help="beacons as query strings or JSON objects"),
    Format("caliper", caliper.SOURCE, ("caliper",), caliper.envelope_line, caliper.envelope_request,
           help="envelopes",
           http=Http("/caliper", "Caliper 1.1 / 1.2 envelope; MediaEvents are stored, other events counted as "
                                 "ignored", answer={**COUNTS, "description": "Stored"},
                     errors=(400, 401, 413, 415, 422, 429))),
    Format("xapi", xapi.SOURCE, ("xapi",), xapi.statements_line, xapi.statements_request,
           help="statements or lists of statements",
           http=Http("/xapi/statements", "xAPI Video Profile statements (one or a list); segments rebuilt when "
                                         "played-segments is absent",
                     answer={"description": "Statement ids stored"}, reply=xapi.statements_reply)),
    Format("rooms", None, ("rooms",), rooms.room_line, rooms.room_request,
           help="room event objects as in POST /api/v1/room-events, in order (a line may name what "
                "earlier lines described)",
           http=Http("/room-events", "Send a batch of live room events (native format, version 1)",
                     description="Rooms, people and media entries are created when named; facts name a session "
                                 "described in the same batch or earlier. A join's ip is used to locate the "
                                 "attendee and never stored. Per person and session at most one reaction counts in "
                                 "REACTION_THROTTLE_SECONDS (default 3); the others are stored as throttled and "
                                 "counted in `throttled`. Errors name each bad event's index and reason.",
                     body=rooms.BATCH_BODY, example=rooms.EXAMPLE_BATCH, schemas=rooms.EVENT_SCHEMAS,
                     answer={"description": "Stored (or already stored)", "content": {"application/json": {
                         "schema": {"type": "object", "properties": {
                             k: {"type": "integer"} for k in ("accepted", "duplicates", "throttled")}}}}})),
)}


def named(name: str) -> Format | None:
    return FORMATS.get(name)


def guess(path: Path) -> Format | None:
    """The format a file's suffixes name: a format's suffix anywhere ("x.caliper.jsonl" -> caliper,
    "x.rooms.jsonl" -> rooms), else a file type as the last suffix ("x.jsonl" -> jsonl); None when
    neither does."""
    suffixes = [s.lstrip(".").lower() for s in path.suffixes]
    for suffix in suffixes:
        found = next((f for f in FORMATS.values() if suffix in f.suffixes), None)
        if found:
            return found
    return next((f for f in FORMATS.values() if suffixes and suffixes[-1] in f.extensions), None)


def with_http() -> list[Format]:
    """The formats that have a route of their own under /api/v1, in registry order."""
    return [f for f in FORMATS.values() if f.http]


def after_accept(source: str) -> AfterAccept | None:
    """The step after accept of the format whose events are stored under `source` (None for a source
    no format has, e.g. the demo seed's)."""
    return next((f.after_accept for f in FORMATS.values() if f.source == source and f.after_accept), None)
