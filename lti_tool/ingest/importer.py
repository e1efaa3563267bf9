"""Bulk import of media and live room events from a file (`flask ingest import`).

The formats, the suffixes that name them and how a line of each is read are the registry's
(ingest/formats.py): one item per line (`Format.parse_line`), or the whole file for a format whose
items are not lines (`Format.parse_file`: CSV, a header then rows).

Unlike an HTTP batch, a file is not all or nothing: a line that cannot be read is written to the
rejects file and the other lines are stored. A line is the unit: one bad event in a Caliper
envelope or an xAPI list rejects that line. The file is streamed and stored in batches (each
committed without deriving; `pipeline.accept` runs the format's step after accept, e.g. Kava's live
engagement, in the batch's transaction), then the plays and rollups touched are derived once.
Room events are stored in file order, a batch per transaction: a line may name a session, join or
interaction of any earlier line; one that names what neither the file nor the database has is
rejected with its reason and the rest of its batch is stored.

Importing a file again stores nothing twice: every event's identity comes from what its sender
sent (a Kava beacon's from its session, index, type, playhead and playTimeSum), and plays are
assigned from whole streams, so a file split, reordered or imported twice gives the same numbers.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator

from flask import current_app

from lti_tool.extensions import db
from lti_tool.models import Registration

from .formats import FORMATS, Format, Line, LineItem, guess, named
from .pipeline import accept, derive_touched
from .rooms import RejectedBatch, RoomEvent, accept_room_events
from .schema import IncomingEvent, InvalidEvent

DEFAULT_BATCH_SIZE = 2000


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


def guess_format(path: Path) -> str:
    """The name of the format the file's suffixes name (see `formats.guess`)."""
    found = guess(path)
    if found is None:
        raise ImportFailed(f"cannot tell the format of {path.name} from its name; pass --format "
                           f"({', '.join(FORMATS)})")
    return found.name


def run_import(path: Path, registration_id: int, fmt: str | None = None, *, rejects_path: Path | None = None,
               batch_size: int = DEFAULT_BATCH_SIZE, on_progress: Callable[[int], None] = lambda n: None
               ) -> ImportSummary:
    """Import a file into a registration; `on_progress` is called with the bytes read so far."""
    fmt = fmt or guess_format(path)
    format_ = named(fmt)
    if format_ is None:
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
        if format_.source is None:
            batches = _RoomBatches(registration_id, batch_size, rejects)
        else:
            batches = _Batches(registration_id, format_.source, batch_size)
        lines = _read_lines(stream, current_app.config["INGEST_MAX_BYTES"], on_progress)
        for number, text, parsed in _parse(format_, registration_id, lines):
            if isinstance(parsed, str):
                rejects.write(number, parsed, text)
            else:
                batches.add(Line(number, text), *parsed)
        summary = batches.finish()
        summary.rejected = rejects.count
        summary.rejects_path = rejects_path if rejects.count else None
    return summary


def _parse(format_: Format, registration_id: int, lines: Iterator[Line]) -> Iterator[LineItem]:
    """(line number, raw text, (items, ignored) or a rejection reason) for each item of the file."""
    try:
        if format_.parse_file:
            yield from format_.parse_file(registration_id, lines)
            return
        for line in lines:
            if line.problem:
                yield line.number, line.text, line.problem
            elif line.text.strip():
                try:
                    yield line.number, line.text, format_.parse_line(registration_id, line.text)
                except InvalidEvent as exc:
                    yield line.number, line.text, str(exc)
    except InvalidEvent as exc:  # the file as a whole, e.g. a CSV header
        raise ImportFailed(str(exc)) from exc


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

    def add(self, line: Line, events: list[IncomingEvent], ignored: int) -> None:
        self.events.extend(events)
        self.ignored += ignored
        if len(self.events) >= self.size:
            self._flush()

    def _flush(self) -> None:
        events, self.events = self.events, []
        try:
            result = accept(self.registration_id, events, self.source, ignored=self.ignored, derive=False)
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

    def add(self, line: Line, events: list[RoomEvent], ignored: int) -> None:
        """Room events keep their line: the batch may reject one when it is stored."""
        self.items.extend((line, event) for event in events)
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
