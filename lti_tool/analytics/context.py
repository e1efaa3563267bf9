"""One path from a request to numbers: what is looked at (a `Subject`), in which time zone, with which
filters, over which local period and compare period: a `Context`.

`build_context` is the only place that resolves these. Pages, the report API, CSV files and PDF
summaries all call it, so a number, a date range and "since creation" read the same everywhere.
Blocks (`analytics.blocks`) are functions of one Context.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from lti_tool.embed_rules import Rules, current_rules
from lti_tool.models import Course, MediaEntry, Registration, Room, RoomSession, find_entry

from . import filters as filter_rules
from . import reports, rooms
from .filters import FilterError, Filters, Period
from .metrics import Scope
from .scopes import course_scope, entry_scope, in_course_gallery, owner_scope, owns_or_coedits

PERIOD_ARGS = ("range", "from", "to", "today")


@dataclass(frozen=True)
class Subject:
    """What a dashboard, report or export looks at.

    kind: "course" (its Media Gallery), "entry" (one media), "owner" (the media a person owns or
    co-edits: My Analytics), "viewer" (a person's own viewing of a course's gallery: My viewing) or
    "room" (a live room: one main session, or every session that started in the period).
    `every_viewer`: the person looking owns or co-edits the media, so every viewer is named
    (`people.named_people`); otherwise viewers from outside the course are folded into one row.
    """

    kind: str
    registration_id: int
    course: Course | None = None
    entry: MediaEntry | None = None
    person_id: int | None = None
    room: Room | None = None
    room_session: RoomSession | None = None
    every_viewer: bool = False

    @classmethod
    def of_course(cls, course: Course) -> Subject:
        return cls("course", course.registration_id, course=course)

    @classmethod
    def of_entry(cls, entry: MediaEntry, course: Course | None = None, every_viewer: bool = False) -> Subject:
        return cls("entry", entry.registration_id, course=course, entry=entry, every_viewer=every_viewer)

    @classmethod
    def of_owner(cls, registration_id: int, person_id: int) -> Subject:
        return cls("owner", registration_id, person_id=person_id)

    @classmethod
    def of_viewer(cls, course: Course, person_id: int) -> Subject:
        return cls("viewer", course.registration_id, course=course, person_id=person_id)

    @classmethod
    def of_room(cls, room: Room, chosen: RoomSession | None = None, course: Course | None = None) -> Subject:
        return cls("room", room.registration_id, course=course, room=room, room_session=chosen)

    @property
    def course_id(self) -> int | None:
        """The course whose people are named (None: My Analytics, across courses)."""
        if self.kind == "owner":
            return None
        if self.course is not None:
            return self.course.id
        return self.room.course_id if self.room is not None else None

    @property
    def since(self) -> datetime | None:
        """When the subject was created: where "since creation" starts."""
        if self.kind == "entry":
            return self.entry.entry_created_at or self.entry.created_at
        if self.kind == "room":
            return self.room.created_at
        return self.course.created_at if self.course is not None else None

    def scope(self, session: Session, filters: Filters, period: Period, compare: bool = False):
        """The rows this subject covers over the period (or its compare period): a media `Scope`, or a
        `rooms.RoomScope` for a room."""
        if self.kind == "room":
            return rooms.room_scope(self.room, self.room_session, period.start, period.end)
        if self.kind == "entry":
            return entry_scope(self.entry, filters, period, compare)
        if self.kind == "owner":
            return owner_scope(session, self.registration_id, self.person_id, filters, period, compare)
        scope = course_scope(session, self.course, filters, period, compare)
        return replace(scope, person_ids=(self.person_id,)) if self.kind == "viewer" else scope


@dataclass(frozen=True)
class Context:
    """Everything a block reads, resolved once per request (or export job)."""

    session: Session
    subject: Subject
    scope: Scope | rooms.RoomScope
    compare_scope: Scope | None
    period: Period
    timezone: str
    filters: Filters
    options: dict = field(default_factory=dict)   # block options from the URL (tab, drill-down, paging)
    cache: dict = field(default_factory=dict, compare=False)  # results the blocks of one request share
    rules: Rules = field(default_factory=lambda: Rules(()), compare=False)  # the embed-domain rules in force
    # When `session` reads a streaming replica: the time up to which it had replayed the primary's
    # writes. "Data as of" never says later (`as_of`). None: the data is the primary's own.
    replayed_at: datetime | None = field(default=None, compare=False)

    def as_of(self, newest: datetime | None) -> datetime | None:
        """The time a page may call its data's: the newest fact it read, but never after the replay time
        of the replica it read (a fact stamped later than that replay came from a client's clock)."""
        if newest is None or self.replayed_at is None:
            return newest
        return min(newest, self.replayed_at)

    @property
    def course_id(self) -> int | None:
        return self.subject.course_id

    @property
    def every_viewer(self) -> bool:
        return self.subject.every_viewer

    @property
    def compare_starts_before_creation(self) -> date | None:
        """The subject's local creation date when the compare period starts before it (so the compare
        line has no data before that day), else None."""
        since, compare = self.subject.since, self.period.compare
        if since is None or compare is None:
            return None
        created = since.astimezone(ZoneInfo(self.timezone)).date()
        return created if compare.first_day < created else None

    def cached(self, key, compute):
        """compute() once per request for the same key (blocks of one page share their results)."""
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    def breakdown(self, scope: Scope, dimension: str):
        """reports.breakdown, computed once per request for the same scope and dimension."""
        return self.cached(("breakdown", scope, dimension), lambda: reports.breakdown(self.session, scope, dimension))


def find_subject(session: Session, registration_id: int, kind: str, subject_id: int | str,
                 room_session: str | None = None) -> Subject:
    """The course (its tool id), entry or room (their external ids, a room with one of its main sessions
    when `room_session` is given) of this registration only, so another tenant's id reads exactly as one
    that does not exist. LookupError names what is missing."""
    if kind == "course":
        course = session.scalar(select(Course).where(Course.registration_id == registration_id,
                                                     Course.id == subject_id))
        if course is None:
            raise LookupError("no such course")
        return Subject.of_course(course)
    if kind == "entry":
        entry = find_entry(session, registration_id, subject_id)
        if entry is None:
            raise LookupError("no such entry")
        return Subject.of_entry(entry)
    room = session.scalar(select(Room).where(Room.registration_id == registration_id, Room.external_id == subject_id))
    if room is None:
        raise LookupError("no such room")
    chosen = rooms.main_session(session, room, room_session) if room_session else None
    if room_session and chosen is None:
        raise LookupError("no such session in that room")
    return Subject.of_room(room, chosen, session.get(Course, room.course_id) if room.course_id else None)


def registration_timezone(session: Session, registration_id: int) -> str | None:
    """The registration's default zone (the report API's zone when neither tz= nor the course names one)."""
    return session.scalar(select(Registration.default_timezone).where(Registration.id == registration_id))


def entry_subject(session: Session, course: Course, external_id: str, viewer) -> Subject:
    """The single-media subject of `external_id`, when this viewer may see its analytics: its owner and
    co-editors (who see every viewer named), admins, and staff of a course whose gallery holds it.
    LookupError when there is no such media, PermissionError when the viewer may not see it."""
    entry = find_entry(session, course.registration_id, external_id[:255])
    if entry is None:
        raise LookupError("there is no such media")
    every_viewer = owns_or_coedits(session, entry, viewer.session.person_id)
    if not (every_viewer or viewer.level == "admin" or
            (viewer.can("entry") and in_course_gallery(session, entry, course))):
        raise PermissionError("you may not see this media's analytics")
    return Subject.of_entry(entry, course, every_viewer)


def timezone_of(asked: str | None = None, course: Course | None = None, person: str | None = None,
                registration_default: str | None = None) -> str:
    """The zone a viewer sees: the one asked for (the report API's tz=), else the course's own setting,
    else the person's Canvas zone, else the registration's default, else UTC. FilterError when the
    zone asked for is not a zone name."""
    zone = asked or (course.timezone if course is not None else None) or person or registration_default or "UTC"
    return check_timezone(zone)


def check_timezone(tz: str) -> str:
    """`tz` when it is an IANA zone name; FilterError otherwise."""
    if not isinstance(tz, str) or tz not in _zone_names():
        raise FilterError(f"tz {str(tz)[:64]!r} is not a time zone name such as America/Chicago")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise FilterError(f"tz {tz[:64]!r} is not a time zone name such as America/Chicago") from exc
    return tz


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def build_context(session: Session, subject: Subject, args, tz: str, now: datetime,
                  defaults: dict | None = None, rules: Rules | None = None,
                  replayed_at: datetime | None = None) -> Context:
    """The Context of `args` (a MultiDict of URL arguments) for `subject`, seen in `tz` at `now`.

    `defaults` are arguments assumed when `args` leaves them out (the audit's own range). Options
    starting with "_" are never taken from `args`. `replayed_at`: `session` is a replica that had replayed
    the primary up to then (`lti_tool.replica`). FilterError says what is wrong.
    """
    args = MultiDict(args)
    for key, value in (defaults or {}).items():
        args.setdefault(key, value)
    filters = filter_rules.parse(args)
    check_timezone(tz)
    period = filter_rules.period(filters, tz, now, since=subject.since)
    compare = None
    if period.compare is not None and subject.kind != "room":
        compare = subject.scope(session, filters, period, True)
    options = {k: v for k, v in args.items() if not k.startswith("_")}
    return Context(session, subject, subject.scope(session, filters, period), compare, period, tz, filters,
                   options=options, rules=rules if rules is not None else current_rules(), replayed_at=replayed_at)
