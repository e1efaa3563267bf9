"""CSV reports of the room page and the gallery page: the page's sections, computed by the same
analytics functions the page calls, written row by row to a file.

One file holds every section: a line with the section's title, a header line, its rows, an empty
line. Headers are descriptive (the metric labels of `analytics.definitions.METRICS`, "(%)" after a
share) or raw (the analytics field names). Values are identical under both headers: every share is a
percentage 0-100, whether its metric is kept as a percent or as a fraction 0-1 (a fraction is written
times 100), as in the custom room reports (exports/custom.py); minutes are minutes; times are ISO 8601
in the page's time zone.

Rows are produced lazily and written a batch at a time (BATCH rows), so memory stays flat however
many rows a section has (the player-events section streams from the database with a server-side
cursor, in batches of its own). A batch is formatted a column at a time: the types in a column
choose its formatting once for the batch, so a column of plain text, integers, floats or times costs
no Python call per cell, and each distinct text of a batch goes through the csv module once
(`Writer.text`); `Writer.cell` is the rule every way of formatting follows, and what any other mix
of types gets, written row by row by the csv module.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from itertools import islice, repeat
from operator import methodcaller
from pathlib import Path
from typing import Callable, Iterable, Iterator
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from lti_tool.analytics import reports, rooms
from lti_tool.analytics.blocks import Block, Sheet
from lti_tool.analytics.dashboard import GALLERY_BLOCKS
from lti_tool.analytics.definitions import METRICS, Unit

from .selection import RoomSelection

# Shares, written as percentages 0-100 in every CSV: a descriptive header says "(%)".
SHARES = (Unit.PERCENT, Unit.FRACTION)
# Spreadsheets run cells that start with these as formulas; such text is written with a leading '.
FORMULA_STARTS = frozenset("=+-@\t\r")
BATCH = 5_000  # rows formatted and written at a time
NONE = type(None)
DIALECT = csv.excel  # its lines end in \r\n and its fields are separated by commas (`Writer.text` joins them so)


@dataclass(frozen=True)
class Column:
    field: str                 # the raw header: the analytics field name
    label: str                 # the descriptive header
    unit: Unit | None = None   # a metric's unit; a share is named "(%)" in the descriptive header

    def header(self, descriptive: bool) -> str:
        if not descriptive:
            return self.field
        return f"{self.label} (%)" if self.unit in SHARES else self.label


def metric(field: str, name: str | None = None) -> Column:
    """A column of a metric's values (METRICS[name], by default the field's own name): its label and unit."""
    defined = METRICS[name or field]
    return Column(field, defined.label, defined.unit)


def plain(field: str, label: str) -> Column:
    return Column(field, label)


@dataclass(frozen=True)
class Section:
    title: str
    columns: tuple[Column, ...]
    rows: Callable[[], Iterable[tuple]]   # called when the section is written: nothing is computed before
    # Or the rows already in lists (a database's batches), called instead of `rows` when given.
    batches: Callable[[], Iterable[list[tuple]]] | None = None

    def row_batches(self, size: int) -> Iterator[list[tuple]]:
        if self.batches is not None:
            yield from self.batches()
            return
        rows = iter(self.rows())
        while batch := list(islice(rows, size)):
            yield batch


class Writer:
    """Cell formatting for one file: times in the page's zone, floats rounded, formulas neutralised."""

    def __init__(self, tz: str) -> None:
        self.zone = ZoneInfo(tz)
        self._local = methodcaller("astimezone", self.zone)
        self._iso = methodcaller("isoformat", timespec="seconds")
        self._buffer = io.StringIO()
        self._one = csv.writer(self._buffer, DIALECT)

    def cell(self, value) -> object:
        kind = type(value)  # exact types: a subclass of str or float is written as it is
        if kind is str:
            return "'" + value if value[:1] in FORMULA_STARTS else value
        if kind is int:
            return value
        if value is None:
            return ""
        if kind is float:
            return round(value, 4)
        if kind is bool:
            return "yes" if value else "no"
        if isinstance(value, datetime):
            return value.astimezone(self.zone).isoformat(timespec="seconds")
        return value

    def rows(self, batch: list[tuple]) -> Iterable[tuple]:
        """The batch's rows with every cell as `cell` gives it (None stays None: csv writes both as
        nothing), formatted a column at a time when its rows are alike in width."""
        widths = set(map(len, batch))
        if len(widths) == 1 and 0 not in widths:
            return zip(*map(self.column, zip(*batch)))
        return ([self.cell(v) for v in row] for row in batch)

    def text(self, batch: list[tuple]) -> str | None:
        """The batch as CSV lines, made a column at a time, when each of its columns holds one kind of
        value of those the csv module writes as `str()` does (text, integers, floats, times; None
        beside any): each distinct text is written once by the csv module, whatever its quoting. None
        for any other batch (then `rows`, through the csv module, row by row)."""
        widths = set(map(len, batch))
        if len(widths) != 1 or widths.pop() < 2:  # a line of one empty field is written '""'
            return None
        fields = []
        for values in zip(*batch):
            column = self.fields(values)
            if column is None:
                return None
            fields.append(column)
        return "\r\n".join(map(",".join, zip(*fields))) + "\r\n"

    def fields(self, values: tuple) -> Iterable[str] | None:
        """One column of a batch as the csv module writes its cells (`cell`'s values), or None."""
        kinds = set(map(type, values))
        blanks = NONE in kinds
        kinds.discard(NONE)
        if not kinds:
            return ("",) * len(values)
        if len(kinds) != 1:
            return None
        kind = kinds.pop()
        if kind is str:
            texts = {v: self._field(v) for v in set(values)}
            return map(texts.__getitem__, values)
        if kind is int:
            return ["" if v is None else str(v) for v in values] if blanks else map(str, values)
        if kind is float:
            if blanks:
                return ["" if v is None else repr(round(v, 4)) for v in values]
            return map(repr, map(round, values, repeat(4)))
        if kind is datetime:
            if blanks:
                return ["" if v is None else v.astimezone(self.zone).isoformat(timespec="seconds") for v in values]
            return map(self._iso, map(self._local, values))
        return None

    def _field(self, value: str | None) -> str:
        """A text cell as the csv module writes it (quoted when it must be), alone on a line."""
        if value is None:
            return ""
        self._buffer.seek(0)
        self._buffer.truncate()
        self._one.writerow((self.cell(value), ""))
        return self._buffer.getvalue()[:-3]  # without ",\r\n"

    def column(self, values: tuple) -> Iterable:
        """One column of a batch, formatted by the kind of its values, chosen once."""
        kinds = set(map(type, values))
        blanks = NONE in kinds
        kinds.discard(NONE)
        if len(kinds) != 1:
            return values if not kinds else map(self.cell, values)
        kind = kinds.pop()
        if kind is str:
            neutralised = {v: "'" + v for v in set(values) if v is not None and v[:1] in FORMULA_STARTS}
            return map(neutralised.get, values, values) if neutralised else values
        if kind is int:
            return values
        if kind is datetime:
            if not blanks:
                return map(self._iso, map(self._local, values))
            return [None if v is None else v.astimezone(self.zone).isoformat(timespec="seconds") for v in values]
        if kind is float:
            if not blanks:
                return map(round, values, repeat(4))
            return [None if v is None else round(v, 4) for v in values]
        return map(self.cell, values)


def write_csv(path: Path, sections: Iterable[Section], tz: str, descriptive: bool,
              preamble: Iterable[tuple] = (), batch: int = BATCH) -> int:
    """Write the sections to `path`; returns the number of data rows written."""
    writer_cells = Writer(tz)
    written = 0
    # The BOM lets Excel read UTF-8.
    with path.open("w", newline="", encoding="utf-8-sig", buffering=2**20) as handle:
        out = csv.writer(handle, DIALECT)
        for line in preamble:
            out.writerow([writer_cells.cell(v) for v in line])
        if preamble:
            out.writerow([])
        for section in sections:
            out.writerow([section.title])
            out.writerow([c.header(descriptive) for c in section.columns])
            fractions = [i for i, c in enumerate(section.columns) if c.unit is Unit.FRACTION]
            for rows in section.row_batches(batch):
                if fractions:
                    rows = [_as_percent(row, fractions) for row in rows]
                text = writer_cells.text(rows)
                if text is None:
                    out.writerows(writer_cells.rows(rows))
                else:
                    handle.write(text)
                written += len(rows)
            out.writerow([])
    return written


def _as_percent(row: tuple, fractions: list[int]) -> list:
    """The row with its fraction cells (0-1) as percentages (0-100)."""
    cells = list(row)
    for i in fractions:
        if cells[i] is not None:
            cells[i] = cells[i] * 100
    return cells


def _values(obj, columns: tuple[Column, ...]) -> tuple:
    return tuple(getattr(obj, c.field) for c in columns)


# -- the room page ------------------------------------------------------------------------------------

ROOM_OVERVIEW = (
    metric("unique_viewers", "room_unique_viewers"), plain("anonymous_stays", "Stays by people not signed in"),
    metric("minutes_viewed"), metric("avg_minutes_viewed", "room_avg_minutes_viewed"),
    metric("avg_live_engagement_rate", "live_engagement_rate"),
    metric("unique_live_viewers", "live_unique_viewers"), plain("logged_in_attendees", "Signed-in live attendees"),
    plain("reactions", "Reactions"), metric("reactions_rate"),
    plain("chat_messages", "Group chat messages"), metric("chat_rate"),
    metric("polls_rate"), plain("qa_threads", "Q&A threads"), metric("qa_rate"),
    plain("downloads", "Attachment downloads"), metric("downloads_rate", "attachments_rate"),
    metric("recording_plays"),
)
ROOM_TIMELINE = (plain("at", "Minute"), metric("live_viewers", "live_unique_viewers"),
                 metric("engagement_rate", "live_engagement_rate"))
ATTENDEES = (
    plain("name", "Name"), plain("title", "Title"), plain("role", "Role"), plain("company", "Company"),
    plain("industry", "Industry"), plain("country", "Country"), plain("minutes_viewed", "Minutes viewed"),
    plain("reactions", "Reactions"), plain("chat_messages", "Sent chat messages"),
    plain("raised_hands", "Raised hands"), plain("polls_answered", "Polls answered"),
    metric("live_engagement_rate"),
)
INTERACTIONS = (plain("launched_at", "Launched at"), plain("question", "Question"), plain("kind", "Type"),
                plain("unique_participants", "Unique participants"))
ANSWERS = (plain("question", "Question"), plain("answer", "Answer"), plain("participants", "Participants"),
           metric("rate", "interaction_answer_rate"), plain("correct", "Correct answer"))
RECORDING_VIEWERS = (plain("name", "Name"), metric("impressions"), metric("plays", "recording_plays"),
                     metric("minutes_viewed"), metric("avg_completion_rate"))
WHERE = (metric("live_viewers", "live_unique_viewers"), metric("recording_viewers", "recording_unique_viewers"))


def room_sections(session: Session, selection: RoomSelection) -> list[Section]:
    scope = selection.scope

    def overview():
        yield _values(rooms.overview(session, scope), ROOM_OVERVIEW)

    def timeline():
        for point in rooms.timeline(session, scope):
            yield _values(point, ROOM_TIMELINE)

    def attendees():
        everyone = rooms.attendees(session, scope)
        # The page's order (minutes viewed, most first) and its totals row, over every row.
        table = rooms.attendee_table(everyone, per_page=max(len(everyone), 1))
        for row in table.rows:
            yield _values(row, ATTENDEES)
        if table.total:
            t = table.totals
            yield (f"Total ({t.people} {'person' if t.people == 1 else 'people'})", None, None, None, None, None,
                   t.minutes_viewed, t.reactions, t.chat_messages, t.raised_hands, t.polls_answered,
                   t.live_engagement_rate)

    launched = []

    def interactions():
        launched.extend(rooms.interactions(session, scope))
        for row in launched:
            yield _values(row, INTERACTIONS)

    def answers():
        for row in launched or rooms.interactions(session, scope):
            detail = rooms.interaction_detail(session, row.interaction_id)
            for option in detail.options:
                yield detail.question, option.option, option.participants, option.rate, option.correct
            for answer in detail.text_answers:
                yield detail.question, answer.option, answer.participants, answer.rate, None

    def recordings():
        result = rooms.recordings(session, scope)
        for viewer in result.viewers:
            yield _values(viewer, RECORDING_VIEWERS)
        if result.viewers:
            yield ("Total", result.impressions, result.plays,
                   sum(v.minutes_viewed for v in result.viewers), None)

    def where(dimension: str, everyone: str):
        def rows():
            from lti_tool.render.formatting import country_name

            for row in rooms.where_viewers(session, scope, dimension):
                name = country_name(row.value) if dimension == "country" else (row.value or "Unknown")
                yield (name, row.value, row.live_viewers, row.recording_viewers)
            total = rooms.where_totals(session, scope)
            yield (everyone, None, total.live_viewers, total.recording_viewers)
        return rows

    return [
        Section("Overview", ROOM_OVERVIEW, overview),
        Section("Live unique viewers and live engagement rate per minute", ROOM_TIMELINE, timeline),
        Section("Viewer engagement", ATTENDEES, attendees),
        Section("Interactions", INTERACTIONS, interactions),
        Section("Interaction answers", ANSWERS, answers),
        Section("Recordings", RECORDING_VIEWERS, recordings),
        Section("Top countries", (plain("name", "Country"), plain("value", "Country code"), *WHERE),
                where("country", "All countries")),
        Section("Top devices", (plain("name", "Device"), plain("value", "Device type"), *WHERE),
                where("device", "All devices")),
    ]


# -- the gallery page ---------------------------------------------------------------------------------

PLAYER_EVENTS = (
    plain("occurred_at", "Time"), plain("event_type", "Event"), plain("entry_external_id", "Entry id"),
    plain("entry_name", "Entry"), plain("person", "Viewer"), plain("position", "Position (seconds)"),
    plain("seconds_viewed", "Seconds viewed"), plain("playback_type", "Playback type"),
    plain("device_type", "Device"), plain("os", "Operating system"), plain("browser", "Browser"),
    plain("country", "Country"), plain("region", "Region"), plain("city", "City"), plain("domain", "Domain"),
)


def sheet_section(sheet: Sheet) -> Section:
    """A block's sheet as a CSV section: metric columns labelled by their metric."""
    columns = tuple(metric(c.field, c.metric) if c.metric else plain(c.field, c.label) for c in sheet.columns)
    return Section(sheet.title, columns, sheet.rows)


def page_sections(blocks: dict[str, Block], ctx) -> list[Section]:
    """The sheets of a page's blocks (its registry), in the page's order, as CSV sections."""
    return [sheet_section(sheet) for block in blocks.values() if block.sheets for sheet in block.sheets(ctx)]


def gallery_sections(ctx, include_events: bool = False) -> list[Section]:
    """The gallery page's sections: the sheets of its blocks, in the page's order (`dashboard.GALLERY_BLOCKS`),
    and the raw player events when asked for."""
    sections = page_sections(GALLERY_BLOCKS, ctx)
    if include_events:
        sections.append(player_events_section(ctx.session, ctx.scope, ctx.course_id))
    return sections


def player_events_section(session: Session, scope, course_id: int | None = None) -> Section:
    """Every player event in scope, one row each, read from the database in batches."""
    return Section("Player events", PLAYER_EVENTS,
                   lambda: reports.player_event_rows(session, scope, course_id),
                   batches=lambda: reports.player_event_batches(session, scope, course_id))


# -- the embed audit ----------------------------------------------------------------------------------

AUDIT = (plain("domain", "Domain"), plain("category", "Category"), plain("needs_action", "Needs action"),
         plain("guidance", "What to do"), plain("page_url", "Page URL"),
         plain("page_identifiable", "Page identifiable"), plain("note", "Note"), plain("entry_id", "Entry ID"),
         plain("entry_name", "Entry"), metric("plays"), metric("impressions"), plain("last_seen_at", "Last seen"))


def audit_sections(audit) -> list[Section]:
    """The audit inventory (`analytics.embeds.Audit`): one row per page URL x entry, grouped by domain."""
    def rows():
        for group in audit.groups:
            guidance = group.domain.classification.guidance
            for r in group.rows:
                yield (r.domain or "Unknown", r.category, r.needs_action, guidance, r.page_url or "", r.page_identifiable,
                       r.note, r.entry_id, r.entry_name, r.plays, r.impressions, r.last_seen_at)
    return [Section("Embed audit", AUDIT, rows)]
