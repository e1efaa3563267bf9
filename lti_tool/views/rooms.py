"""A course's live rooms (owner, co-editor, admin): the rooms list and each room's analytics page."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, abort, g, render_template, request
from sqlalchemy import select

from lti_tool.analytics import rooms
from lti_tool.analytics.filters import Period
from lti_tool.analytics.metrics import Scope
from lti_tool.analytics.rooms import AttendeeRow, RoomScope
from lti_tool.extensions import db
from lti_tool.launch.session import require
from lti_tool.models import Room, RoomSession

from . import localtime
from .dashboards import dashboard_context, filter_error_page, render_dashboard
from .formatting import fraction_percent

bp = Blueprint("rooms", __name__, url_prefix="/courses/<int:course_id>/rooms")

MIN_SEARCH_LETTERS = 3  # fewer letters search nothing: the table stays as it is
ATTENDEES_PER_PAGE = 25
ATTENDEE_SORTS = ("name", "minutes_viewed", "reactions", "chat_messages", "raised_hands", "polls_answered",
                  "live_engagement_rate")


@dataclass(frozen=True)
class AttendeeTable:
    rows: tuple[AttendeeRow, ...]   # this page's rows
    total: int                      # rows matching the search
    page: int
    pages: int
    sort: str
    dir: str
    q: str                          # the search as typed
    searched: bool                  # False when q is shorter than MIN_SEARCH_LETTERS


def matches(name: str, query: str) -> bool:
    """The whole name, or any of its words (first or last name), starts with the query."""
    name = name.lower()
    return name.startswith(query) or any(word.startswith(query) for word in name.split())


def attendee_table(rows: list[AttendeeRow], q: str = "", sort: str = "minutes_viewed", direction: str | None = None,
                   page: int = 1, per_page: int = ATTENDEES_PER_PAGE) -> AttendeeTable:
    """Attendees searched (from three letters), sorted (no value last, ties by name) and paged."""
    q = q.strip()[:100]
    searched = len(q) >= MIN_SEARCH_LETTERS
    if searched:
        rows = [r for r in rows if matches(r.name, q.lower())]
    sort = sort if sort in ATTENDEE_SORTS else "minutes_viewed"
    direction = direction if direction in ("asc", "desc") else ("asc" if sort == "name" else "desc")

    def value(row):
        v = getattr(row, sort)
        return v.lower() if isinstance(v, str) else v

    rows = sorted(rows, key=lambda r: (r.name.lower(), r.person_id))
    known = sorted((r for r in rows if value(r) is not None), key=value, reverse=direction == "desc")
    rows = known + [r for r in rows if value(r) is None]
    pages = max(1, -(-len(rows) // per_page))
    page = min(max(page, 1), pages)
    return AttendeeTable(tuple(rows[(page - 1) * per_page: page * per_page]), len(rows), page, pages, sort,
                         direction, q, searched)


def main_session(room: Room, external_id: str | None) -> RoomSession | None:
    """The room's main (not breakout) session with that id; None when none is asked for; 404 when unknown."""
    if not external_id:
        return None
    found = db.session.scalar(select(RoomSession).where(
        RoomSession.room_id == room.id, RoomSession.external_id == external_id,
        RoomSession.parent_session_id.is_(None)))
    if found is None:
        abort(404)
    return found


def room_scope(room: Room, chosen: RoomSession | None, period: Period | None) -> RoomScope:
    """One session when chosen, else every session that started in the period."""
    if chosen is not None:
        return RoomScope(room.registration_id, room.id, session_ids=(chosen.id,))
    return RoomScope(room.registration_id, room.id, None, period.start if period else None,
                     period.end if period else None)


def _int_option(ctx, name: str) -> int | None:
    raw = ctx.options.get(name) or ""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else None


def _room(ctx) -> RoomScope:
    return ctx.options["_room_scope"]


def _attendees(ctx) -> list[AttendeeRow]:
    if "attendees" not in ctx.cache:
        ctx.cache["attendees"] = rooms.attendees(ctx.session, _room(ctx))
    return ctx.cache["attendees"]


def _timeline(ctx) -> list[rooms.MinutePoint]:
    if "timeline" not in ctx.cache:
        ctx.cache["timeline"] = rooms.timeline(ctx.session, _room(ctx))
    return ctx.cache["timeline"]


def overview_block(ctx):
    return rooms.overview(ctx.session, _room(ctx))


def timeline_block(ctx):
    return _timeline(ctx)


def attendees_block(ctx):
    return attendee_table(_attendees(ctx), ctx.options.get("q", ""), ctx.options.get("sort", "minutes_viewed"),
                          ctx.options.get("dir"), _int_option(ctx, "page") or 1)


def attendee_block(ctx):
    """The chosen attendee (person=<id>) with their heat per minute and activity; None when nobody is chosen."""
    person_id = _int_option(ctx, "person")
    row = next((r for r in _attendees(ctx) if r.person_id == person_id), None)
    if row is None:
        return None
    minutes = [p.at for p in _timeline(ctx)]
    return {"row": row, "minutes": minutes, "heat": rooms.heat(ctx.session, _room(ctx), row.person_id),
            "activity": rooms.attendee_activity(ctx.session, _room(ctx), row.person_id)}


def interactions_block(ctx):
    rows = rooms.interactions(ctx.session, _room(ctx))
    chosen = _int_option(ctx, "interaction")
    detail = (rooms.interaction_detail(ctx.session, chosen)
              if chosen is not None and any(r.interaction_id == chosen for r in rows) else None)
    return {"rows": rows, "detail": detail}


ROOM_BLOCKS = {"overview": overview_block, "timeline": timeline_block, "attendees": attendees_block,
               "attendee": attendee_block, "interactions": interactions_block}


def get_room(external_id: str) -> Room:
    """The room of this course and registration; 404 for any other."""
    room = db.session.scalar(select(Room).where(Room.registration_id == g.viewer.session.registration_id,
                                                Room.external_id == external_id))
    if room is None or room.course_id != g.course.id:
        abort(404)
    return room


@bp.get("/")
@require("rooms")
def index(course_id: int):
    course_rooms = list(db.session.scalars(select(Room).where(
        Room.registration_id == g.course.registration_id, Room.course_id == course_id).order_by(Room.name, Room.id)))
    sessions: dict[int, list[RoomSession]] = {room.id: [] for room in course_rooms}
    for one in db.session.scalars(select(RoomSession).where(
            RoomSession.room_id.in_(tuple(sessions) or (-1,)), RoomSession.parent_session_id.is_(None))
            .order_by(RoomSession.started_at.desc(), RoomSession.id.desc())):
        sessions[one.room_id].append(one)
    return render_template("rooms/index.html", rooms=course_rooms, sessions=sessions, title="Rooms")


@bp.get("/<path:external_id>/")
@require("rooms")
def page(course_id: int, external_id: str):
    room = get_room(external_id)
    chosen = main_session(room, request.args.get("session"))
    # The dashboard Context wants a media Scope: this one selects no entries; the room's scope rides in the
    # options under a "_" name, which the URL can never set.
    ctx = dashboard_context(lambda filters, period, compare: Scope(room.registration_id, period.start, period.end,
                                                                   entry_ids=()),
                            since=room.created_at.date(), course_id=course_id)
    if ctx is None:
        return filter_error_page()
    ctx.options["_room_scope"] = room_scope(room, chosen, ctx.period)
    choices = list(db.session.scalars(select(RoomSession).where(
        RoomSession.room_id == room.id, RoomSession.parent_session_id.is_(None))
        .order_by(RoomSession.started_at.desc(), RoomSession.id.desc())))
    return render_dashboard("rooms/page.html", ROOM_BLOCKS, ctx, room=room, chosen=chosen, choices=choices,
                            rate_format=fraction_percent,
                            title=f"Room analytics: {room.name or room.external_id}")


@bp.app_template_global()
def session_label(one: RoomSession, tz: str) -> str:
    """e.g. "Week 1 · Oct 05, 2026 05:00" (the name, then the start in the viewer's zone)."""
    start = localtime(one.started_at, tz)
    return f"{one.name} · {start}" if one.name else start


@bp.app_template_global()
def minute_label(moment: datetime, tz: str) -> str:
    """The local hour and minute, e.g. "05:03" (the timeline's axis labels)."""
    return localtime(moment, tz)[-5:]
