"""What an export covers: the page's own arguments (filters, date range, session), checked when the
export is asked for and turned back into the page's scope by the job.

The date range is frozen when the export is asked for: "last 30 days" becomes the custom range it
meant at that moment, so a job that runs later (or after midnight) reports the same days the page
showed. Everything is checked with the page's own rules (`analytics.filters`, `analytics.rooms`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from lti_tool.analytics import filters as filter_rules
from lti_tool.analytics import rooms
from lti_tool.analytics.filters import Filters, Period
from lti_tool.analytics.context import Subject, build_context
from lti_tool.analytics.rooms import RoomScope
from lti_tool.models import Course, Room, RoomSession
from lti_tool.models.types import utcnow

FILTER_ARGS = ("range", "from", "to", "today", "compare", "granularity", "context", *filter_rules.ARG_NAMES)
ROOM_ARGS = ("session", "range", "from", "to", "today")
MAX_ARG_VALUES = filter_rules.MAX_VALUES


class ExportError(ValueError):
    """A request that cannot become an export; the message says why, for the person who asked."""


def page_args(source: MultiDict, allowed: tuple[str, ...]) -> dict[str, list[str]]:
    """The page arguments among `allowed` (each a list of strings), others dropped."""
    args = {}
    for name in allowed:
        values = [v for v in source.getlist(name) if v != ""]
        if len(values) > MAX_ARG_VALUES or any(len(v) > 255 for v in values):
            raise ExportError(f"too many or too long values for {name}")
        if values:
            args[name] = values
    return args


def as_multidict(args: dict) -> MultiDict:
    return MultiDict([(k, v) for k, values in args.items() for v in (values if isinstance(values, list) else [values])])


def check_timezone(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ExportError(f"unknown time zone {tz!r}") from exc
    return tz


def _parse(args: dict) -> Filters:
    try:
        return filter_rules.parse(as_multidict(args))
    except filter_rules.FilterError as exc:
        raise ExportError(f"these filters cannot be used: {exc}") from exc


def freeze(args: dict, tz: str, now: datetime, since) -> dict:
    """The same arguments with the date range the page meant at `now` spelled out as a custom range."""
    filters = _parse(args)
    period = filter_rules.period(filters, tz, now, since=since)
    frozen = {k: v for k, v in args.items() if k not in ("range", "from", "to", "today")}
    frozen.update({"range": ["custom"], "from": [period.first_day.isoformat()], "to": [period.last_day.isoformat()]})
    if filters.preset != "custom":
        frozen["preset"] = [filters.preset]   # what the person chose, for the file's title line
    return frozen


# -- rooms ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RoomSelection:
    room: Room
    chosen: RoomSession | None            # one main session, or None: every session in the period
    period: Period
    scope: RoomScope
    timezone: str


def room_selection(session: Session, course: Course, params: dict, now: datetime) -> RoomSelection:
    """The room page's scope for {"room": external id, "args": page arguments, "timezone": tz}."""
    tz = check_timezone(str(params.get("timezone") or "UTC"))
    external_id = params.get("room")
    room = (rooms.room_of_course(session, course.registration_id, course.id, external_id)
            if isinstance(external_id, str) and external_id else None)
    if room is None:
        raise ExportError("this course has no such room")
    args = params.get("args") or {}
    asked = (args.get("session") or [None])[0]
    chosen = rooms.main_session(session, room, asked) if asked else None
    if asked and chosen is None:
        raise ExportError("this room has no such session")
    try:
        ctx = build_context(session, Subject.of_room(room, chosen, course), as_multidict(args), tz, now)
    except filter_rules.FilterError as exc:
        raise ExportError(f"these filters cannot be used: {exc}") from exc
    return RoomSelection(room, chosen, ctx.period, ctx.scope, tz)


def room_params(session: Session, course: Course, external_id: str, source: MultiDict, tz: str,
                now: datetime) -> dict:
    """Checked, frozen parameters of a room export from the page's arguments."""
    params = {"room": external_id, "args": page_args(source, ROOM_ARGS), "timezone": check_timezone(tz)}
    selection = room_selection(session, course, params, now)
    params["args"] = freeze(params["args"], tz, now, selection.room.created_at)
    if selection.chosen is not None:
        params["args"]["session"] = [selection.chosen.external_id]
    return params


# -- the gallery ------------------------------------------------------------------------------------

def gallery_params(session: Session, course: Course, source: MultiDict, tz: str, now: datetime) -> dict:
    args = page_args(source, FILTER_ARGS)
    return {"args": freeze(args, check_timezone(tz), now, course.created_at), "timezone": tz}


def gallery_context(session: Session, course: Course, params: dict):
    """The gallery page's Context for the frozen arguments (the PDF summary builds it the same way)."""
    args = {k: v for k, v in (params.get("args") or {}).items() if k != "preset"}
    tz = check_timezone(str(params.get("timezone") or "UTC"))
    try:
        return build_context(session, Subject.of_course(course), as_multidict(args), tz, utcnow())
    except filter_rules.FilterError as exc:
        raise ExportError(f"these filters cannot be used: {exc}") from exc
