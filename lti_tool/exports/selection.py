"""What an export covers: the page's own arguments (filters, date range, session), checked when the
export is asked for and turned back into the page's scope by the job.

The date range is frozen when the export is asked for: "last 30 days" becomes the custom range it
meant at that moment, so a job that runs later (or after midnight) reports the same days the page
showed. Everything is checked with the page's own rules (`analytics.filters`, `analytics.rooms`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Mapping

from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from lti_tool.analytics import context, rooms
from lti_tool.analytics import filters as filter_rules
from lti_tool.analytics.context import Context, Subject, build_context
from lti_tool.analytics.filters import Filters, Period
from lti_tool.analytics.rooms import RoomScope
from lti_tool.models import Course, Room, RoomSession
from lti_tool.models.types import utcnow

if TYPE_CHECKING:
    from lti_tool.launch.session import Viewer

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
    """`tz` when it is a zone name (`context.check_timezone`); ExportError otherwise."""
    try:
        return context.check_timezone(tz)
    except filter_rules.FilterError as exc:
        raise ExportError(f"unknown time zone {str(tz)[:64]!r}") from exc


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


def subject_params(subject: Subject, args: dict, tz: str, now: datetime) -> dict:
    """{"args": the page arguments frozen at `now`, "timezone": tz} for an export of `subject`. A room's
    session is stored by its own id, whichever spelling the page sent."""
    frozen = freeze(args, check_timezone(tz), now, subject.since)
    if subject.room_session is not None:
        frozen["session"] = [subject.room_session.external_id]
    return {"args": frozen, "timezone": tz}


def subject_context(session: Session, subject: Subject, params: dict, now: datetime | None = None) -> Context:
    """The page's Context for an export's frozen parameters ({"args", "timezone"}), as its job sees it."""
    args = {k: v for k, v in (params.get("args") or {}).items() if k != "preset"}
    tz = check_timezone(str(params.get("timezone") or "UTC"))
    try:
        return build_context(session, subject, as_multidict(args), tz, now or utcnow())
    except filter_rules.FilterError as exc:
        raise ExportError(f"these filters cannot be used: {exc}") from exc


# (session, course, the page's arguments, the viewer) -> what the page shows; ExportError when the
# arguments name nothing of this course that this viewer may see.
SubjectOf = Callable[[Session, Course, MultiDict, "Viewer"], Subject]


@dataclass(frozen=True)
class PageBinding:
    """The page an export kind is asked from, and how that page's arguments become its parameters.

    The page's Export toolbar offers every kind bound to its endpoint (`Kind.page`); only viewers
    with `capability` may ask for them. The toolbar sends the page's filter form (`filter_form`, a CSS
    selector) with the request, and the page's subject under `subject_field` (from the page URL's
    `external_id`), so the export covers what the page shows.
    """

    endpoint: str                           # the page's view, e.g. "gallery.page"
    capability: str                         # what the viewer needs to open the page
    filter_form: str                        # CSS selector of the page's filter form
    args: tuple[str, ...]                   # the page arguments an export keeps (others are dropped)
    subject: SubjectOf                      # what the page shows, for its arguments and viewer
    subject_field: str | None = None        # the form field naming the page's subject (its external id)
    defaults: Mapping[str, str] = field(default_factory=dict)   # arguments assumed when the URL leaves them out

    def params(self, session: Session, course: Course, values: MultiDict, viewer: Viewer, tz: str,
               now: datetime) -> dict:
        """Checked, frozen parameters from the page's arguments (request.args or the dialog's form)."""
        values = MultiDict(values)
        for key, value in self.defaults.items():
            values.setdefault(key, value)
        subject = self.subject(session, course, values, viewer)
        params = subject_params(subject, page_args(values, self.args), tz, now)
        return {self.subject_field: values.get(self.subject_field, ""), **params} if self.subject_field else params


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
    ctx = subject_context(session, Subject.of_room(room, chosen, course), params, now)
    return RoomSelection(room, chosen, ctx.period, ctx.scope, tz)


# -- the gallery ------------------------------------------------------------------------------------

def gallery_params(session: Session, course: Course, source: MultiDict, tz: str, now: datetime) -> dict:
    """Checked, frozen parameters of a gallery export from the gallery page's arguments."""
    return subject_params(Subject.of_course(course), page_args(source, FILTER_ARGS), tz, now)


def gallery_context(session: Session, course: Course, params: dict):
    """The gallery page's Context for the frozen arguments (the PDF summary builds it the same way)."""
    return subject_context(session, Subject.of_course(course), params)
