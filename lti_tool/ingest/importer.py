"""Bulk import of media and live room events from a file (`flask ingest import`).

Formats, one item per line unless said otherwise:
  jsonl    a native event object (the fields of POST /api/v1/events, validated the same way)
  csv      native fields as columns, a header line first; segments and extra as JSON text
  kava     a Kava beacon as a query string or a JSON object (see `kava_params`)
  caliper  a Caliper envelope
  xapi     an xAPI statement or a list of statements
  rooms    a live room event object (an item of POST /api/v1/room-events, validated the same way)

Unlike an HTTP batch, a file is not all or nothing: a line that cannot be read is written to the
rejects file and the other lines are stored. A line is the unit: one bad event in a Caliper
envelope or an xAPI list rejects that line. The file is streamed and stored in batches (each
committed without deriving), then the plays and rollups touched are derived once.
Room events are stored in file order, a batch per transaction: a line may name a session, join or
interaction of any earlier line; one that names what neither the file nor the database has is
rejected with its reason and the rest of its batch is stored.

Importing a file again stores nothing twice: every event's identity comes from what its sender
sent (a Kava beacon's from its session, index, type, playhead and playTimeSum), and plays are
assigned from whole streams, so a file split, reordered or imported twice gives the same numbers.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Callable, Iterator
from urllib.parse import parse_qsl

from flask import current_app

from lti_tool.extensions import db
from lti_tool.models import Registration

from . import caliper, kava, xapi
from .pipeline import accept, derive_touched
from .rooms import RejectedBatch, RoomEvent, accept_room_events, room_event
from .schema import NATIVE_FIELDS, IncomingEvent, InvalidEvent, load_json, native_event, parse_time, user_ref

FORMATS = ("jsonl", "csv", "kava", "caliper", "xapi", "rooms")
SOURCES = {"jsonl": "native", "csv": "native", "kava": kava.SOURCE, "caliper": "caliper", "xapi": "xapi"}
EXTENSIONS = {"jsonl": "jsonl", "ndjson": "jsonl", "csv": "csv", "kava": "kava", "caliper": "caliper", "xapi": "xapi"}
DEFAULT_BATCH_SIZE = 2000
CSV_REQUIRED = ("id", "type", "time", "entry_id")
CSV_NUMBERS = ("position", "seconds_viewed", "seek_to", "duration")
CSV_JSON = ("segments", "extra")
# Keys of a Kava JSON line (or query string) that describe the request, not the beacon.
KAVA_REQUEST_KEYS = ("received_at", "ip", "user_agent", "user")


class ImportFailed(Exception):
    """The import cannot start or cannot go on; the message says why."""


@dataclass
class ImportSummary:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    ignored: int = 0
    throttled: int | None = None       # room events: reactions stored as throttled (also in accepted)
    rejects_path: Path | None = None   # set when at least one line was rejected

    def line(self) -> str:
        throttled = f", throttled {self.throttled}" if self.throttled is not None else ""
        return (f"accepted {self.accepted}, duplicates {self.duplicates}, rejected {self.rejected}, "
                f"ignored {self.ignored}{throttled}")


@dataclass
class Line:
    number: int             # 1-based line number in the file
    text: str               # without the line break; a preview when the line is unreadable
    problem: str | None = None


def guess_format(path: Path) -> str:
    """The format named by the file's suffixes: "x.caliper.jsonl" -> caliper, "x.rooms.jsonl" -> rooms,
    "x.jsonl" -> jsonl."""
    suffixes = [s.lstrip(".").lower() for s in path.suffixes]
    for suffix in suffixes:
        if suffix in ("kava", "caliper", "xapi", "rooms"):
            return suffix
    if suffixes and suffixes[-1] in EXTENSIONS:
        return EXTENSIONS[suffixes[-1]]
    raise ImportFailed(f"cannot tell the format of {path.name} from its name; pass --format "
                       f"({', '.join(FORMATS)})")


def run_import(path: Path, registration_id: int, fmt: str | None = None, *, rejects_path: Path | None = None,
               batch_size: int = DEFAULT_BATCH_SIZE, on_progress: Callable[[int], None] = lambda n: None
               ) -> ImportSummary:
    """Import a file into a registration; `on_progress` is called with the bytes read so far."""
    fmt = fmt or guess_format(path)
    if fmt not in FORMATS:
        raise ImportFailed(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if batch_size < 1:
        raise ImportFailed("the batch size must be at least 1")
    if db.session.get(Registration, registration_id) is None:
        raise ImportFailed(f"no registration with id {registration_id}; see `flask lti list`")
    rejects_path = rejects_path or path.with_name(path.name + ".rejects.jsonl")
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise ImportFailed(f"cannot read {path}: {exc.strerror or exc}") from exc
    with stream, _Rejects(rejects_path) as rejects:
        if fmt == "rooms":
            batches = _RoomBatches(registration_id, batch_size, rejects)
        else:
            batches = _Batches(registration_id, SOURCES[fmt], batch_size)
        lines = _read_lines(stream, current_app.config["INGEST_MAX_BYTES"], on_progress)
        for number, text, parsed in _parse(fmt, registration_id, lines):
            if isinstance(parsed, str):
                rejects.write(number, parsed, text)
            else:
                batches.add(*parsed)
        summary = batches.finish()
        summary.rejected = rejects.count
        summary.rejects_path = rejects_path if rejects.count else None
    return summary


def _parse(fmt: str, registration_id: int, lines: Iterator[Line]):
    """(line number, raw text, (events, ignored) or a rejection reason) for each item of the file."""
    if fmt == "csv":
        yield from _csv_items(lines)
        return
    parse_line = {
        "jsonl": lambda line: ([native_event(_json(line.text))], 0),
        "kava": lambda line: _kava_line(registration_id, line.text),
        "caliper": lambda line: _feed_line(caliper.envelope_to_events(registration_id, _json(line.text))),
        "xapi": lambda line: _feed_line(xapi.statements_to_events(registration_id, _json(line.text))),
        # Room events keep their line: the batch may reject one when it is stored.
        "rooms": lambda line: ([(line, room_event(_json(line.text)))], 0),
    }[fmt]
    for line in lines:
        if line.problem:
            yield line.number, line.text, line.problem
        elif line.text.strip():
            try:
                yield line.number, line.text, parse_line(line)
            except (InvalidEvent, caliper.UnsupportedDataVersion) as exc:
                yield line.number, line.text, str(exc)


def _json(text: str):
    return load_json(text)


def _feed_line(parsed: tuple[list, int, list[dict]]) -> tuple[list[IncomingEvent], int]:
    """A Caliper or xAPI line's (events, ignored); any error rejects the whole line."""
    events, ignored, errors = parsed
    if errors:
        raise InvalidEvent("; ".join(
            e["reason"] if e["index"] is None else f"item {e['index']}: {e['reason']}" for e in errors[:10]))
    return events, ignored


def kava_params(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """(beacon parameters, request facts) of a Kava line: a query string or a flat JSON object.

    Besides the beacon's own parameters a line may carry what the original request said:
    `received_at` (ISO 8601 or Unix seconds; when the beacon arrived; default: now), `ip`,
    `user_agent`, `user` ("kind:value").
    """
    text = text.strip()
    if text.startswith("{"):
        raw = _json(text)
        if any(isinstance(v, dict | list) for v in raw.values()):
            raise InvalidEvent("a Kava JSON line must be a flat object of parameters")
        params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items() if v is not None}
    else:
        params = dict(parse_qsl(text.lstrip("?"), keep_blank_values=True))
    request = {k: params.pop(k) for k in KAVA_REQUEST_KEYS if k in params}
    return params, request


def _kava_line(registration_id: int, text: str) -> tuple[list[IncomingEvent], int]:
    """A Kava line's (events, ignored): a beacon the Kava adapter does not keep counts as ignored."""
    params, request = kava_params(text)
    received = request.get("received_at")
    if received:
        received_at = parse_time(float(received) if _is_number(received) else received)
    else:
        received_at = datetime.now(timezone.utc)
    event = kava.beacon_to_event(registration_id, params, received_at=received_at, ip=request.get("ip"),
                                 user_agent=request.get("user_agent"), user=user_ref(request.get("user")))
    return ([event], 0) if event is not None else ([], 1)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _csv_items(lines: Iterator[Line]):
    """Rows of a CSV file of native events, as _parse yields them."""
    consumed: list[Line] = []

    def texts():
        for line in lines:
            consumed.append(line)
            yield line.text + "\n"

    reader = csv.DictReader(texts())
    try:
        columns = reader.fieldnames or []
    except csv.Error as exc:
        raise ImportFailed(f"the CSV header cannot be read: {exc}") from exc
    unknown = sorted(set(columns) - NATIVE_FIELDS)
    missing = [c for c in CSV_REQUIRED if c not in columns]
    if unknown or missing:
        raise ImportFailed("the CSV header " + "; ".join(filter(None, [
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
        if column in CSV_NUMBERS or (column == "time" and _is_number(value)):
            raw[column] = _csv_number(value, column, float)
        elif column == "seq":
            raw[column] = _csv_number(value, column, int)
        elif column in CSV_JSON:
            raw[column] = _json(value)
        else:
            raw[column] = value
    return native_event(raw)


def _csv_number(value: str, column: str, kind: type):
    try:
        return kind(value)
    except ValueError as exc:
        raise InvalidEvent(f"{column} must be a number") from exc


def _read_lines(stream: IO[bytes], max_bytes: int, on_progress: Callable[[int], None]) -> Iterator[Line]:
    """The file's lines, decoded as UTF-8; a longer or undecodable line comes with its problem."""
    done = 0
    number = 0
    while True:
        chunk = stream.readline(max_bytes + 1)
        if not chunk:
            return
        number += 1
        done += len(chunk)
        problem = None
        if len(chunk) > max_bytes and not chunk.endswith(b"\n"):
            while (rest := stream.readline(max_bytes)) and not rest.endswith(b"\n"):
                done += len(rest)
            done += len(rest)
            problem, chunk = f"the line is longer than {max_bytes} bytes", chunk[:200]
        if number == 1 and chunk.startswith(b"\xef\xbb\xbf"):
            chunk = chunk[3:]  # a byte order mark (spreadsheet exports)
        try:
            text = chunk.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            text = chunk.decode("utf-8", "replace").rstrip("\r\n")
            problem = problem or "the line is not UTF-8"
        on_progress(done)
        yield Line(number, text, problem)


class _Rejects:
    """The rejects file, created at the first rejected line: one JSON object per line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._file: IO[str] | None = None

    def __enter__(self) -> "_Rejects":
        return self

    def __exit__(self, *exc) -> None:
        if self._file:
            self._file.close()

    def write(self, number: int, reason: str, raw: str) -> None:
        if self._file is None:
            try:
                self._file = self.path.open("w", encoding="utf-8")
            except OSError as exc:
                raise ImportFailed(f"cannot write the rejects file {self.path}: {exc.strerror or exc}") from exc
        self._file.write(json.dumps({"line": number, "reason": reason, "raw": raw}, ensure_ascii=False) + "\n")
        self.count += 1


class _Batches:
    """Accepts events in batches (committed, not derived) and derives what they touched once at the end."""

    def __init__(self, registration_id: int, source: str, size: int) -> None:
        self.registration_id = registration_id
        self.source = source
        self.size = size
        self.events: list[IncomingEvent] = []
        self.ignored = 0
        self.summary = ImportSummary()
        self.play_keys: set[str] = set()
        self.impression_days: set = set()

    def add(self, events: list[IncomingEvent], ignored: int) -> None:
        self.events.extend(events)
        self.ignored += ignored
        if len(self.events) >= self.size:
            self._flush()

    def _flush(self) -> None:
        events, self.events = self.events, []
        try:
            result = accept(self.registration_id, events, self.source, ignored=self.ignored,
                            derive=False, commit=False)
            if self.source == kava.SOURCE:
                kava.live_engagement(self.registration_id, events)
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            self._derive()  # what earlier batches stored is complete: derive it before giving up
            raise ImportFailed(f"storing a batch failed ({exc.__class__.__name__}: {str(exc)[:200]}); "
                               f"the batches before it were stored ({self.summary.line()})") from exc
        self.ignored = 0
        self.summary.accepted += result.accepted
        self.summary.duplicates += result.duplicates
        self.summary.ignored += result.ignored
        self.play_keys |= result.play_keys
        self.impression_days |= result.impression_days

    def finish(self) -> ImportSummary:
        """Store the last batch, then derive the plays and rollups the file touched, once."""
        if self.events or self.ignored:
            self._flush()
        self._derive()
        return self.summary

    def _derive(self) -> None:
        if self.play_keys or self.impression_days:
            derive_touched(self.registration_id, self.play_keys, self.impression_days)
            db.session.commit()


class _RoomBatches:
    """Stores room events in batches, in file order, one transaction each. A batch the database
    refuses for some of its events (a session, join or interaction nobody described) loses those
    lines to the rejects file and is stored without them."""

    def __init__(self, registration_id: int, size: int, rejects: _Rejects) -> None:
        self.registration_id = registration_id
        self.size = size
        self.rejects = rejects
        self.items: list[tuple[Line, RoomEvent]] = []
        self.summary = ImportSummary(throttled=0)

    def add(self, items: list[tuple[Line, RoomEvent]], ignored: int) -> None:
        self.items.extend(items)
        if len(self.items) >= self.size:
            self._flush()

    def _flush(self) -> None:
        items, self.items = self.items, []
        while items:
            try:
                result = accept_room_events(self.registration_id, [(i, event) for i, (_, event) in enumerate(items)])
            except RejectedBatch as rejected:
                db.session.rollback()  # nothing was written: references are checked first
                reasons = {error["index"]: error["reason"] for error in rejected.errors}
                for index, reason in sorted(reasons.items()):
                    self.rejects.write(items[index][0].number, reason, items[index][0].text)
                # Without them, lines that named them may now fail in turn: go again.
                items = [item for i, item in enumerate(items) if i not in reasons]
                continue
            except Exception as exc:
                db.session.rollback()
                raise ImportFailed(f"storing a batch failed ({exc.__class__.__name__}: {str(exc)[:200]}); "
                                   f"the batches before it were stored ({self.summary.line()})") from exc
            self.summary.accepted += result.accepted
            self.summary.duplicates += result.duplicates
            self.summary.throttled += result.throttled
            return

    def finish(self) -> ImportSummary:
        self._flush()
        return self.summary
