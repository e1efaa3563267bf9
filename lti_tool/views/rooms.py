"""A course's live rooms (owner, co-editor, admin): the rooms list and each room's analytics page."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, g, render_template, request

from lti_tool.analytics import rooms
from lti_tool.analytics.metrics import Scope
from lti_tool.analytics.rooms import AttendeeRow, RoomScope
from lti_tool.extensions import db
from lti_tool.launch.session import require
from lti_tool.models import Room, RoomSession

from lti_tool.render import localtime
from .dashboards import dashboard_context, filter_error_page, render_dashboard

bp = Blueprint("rooms", __name__, url_prefix="/courses/<int:course_id>/rooms")

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
    return rooms.attendee_table(_attendees(ctx), ctx.options.get("q", ""), ctx.options.get("sort", "minutes_viewed"),
                                ctx.options.get("dir"), _int_option(ctx, "page") or 1)


def attendee_block(ctx):
    """The chosen attendee (person=<id>) with their heat per minute and activity; None when nobody is chosen."""
    person_id = _int_option(ctx, "person")
    row = next((r for r in _attendees(ctx) if r.person_id == person_id), None)
    if row is None:
        return None
    minutes = rooms.session_minutes(ctx.session, _room(ctx))
    return {"row": row, "minutes": minutes, "heat": rooms.heat(ctx.session, _room(ctx), row.person_id),
            "activity": rooms.attendee_activity(ctx.session, _room(ctx), row.person_id)}


def interactions_block(ctx):
    rows = rooms.interactions(ctx.session, _room(ctx))
    chosen = _int_option(ctx, "interaction")
    detail = (rooms.interaction_detail(ctx.session, chosen)
              if chosen is not None and any(r.interaction_id == chosen for r in rows) else None)
    return {"rows": rows, "detail": detail}


def recordings_block(ctx):
    return rooms.recordings(ctx.session, _room(ctx))


def where_block(ctx):
    return {"countries": rooms.where_viewers(ctx.session, _room(ctx), "country"),
            "devices": rooms.where_viewers(ctx.session, _room(ctx), "device"),
            "all": rooms.where_totals(ctx.session, _room(ctx))}


ROOM_BLOCKS = {"overview": overview_block, "timeline": timeline_block, "attendees": attendees_block,
               "attendee": attendee_block, "interactions": interactions_block, "recordings": recordings_block,
               "where": where_block}


def get_room(external_id: str) -> Room:
    """The room of this course and registration; 404 for any other."""
    room = rooms.room_of_course(db.session, g.viewer.session.registration_id, g.course.id, external_id)
    if room is None:
        abort(404)
    return room


@bp.get("/")
@require("rooms")
def index(course_id: int):
    course_rooms = rooms.course_rooms(db.session, g.course.registration_id, course_id)
    sessions = rooms.main_sessions(db.session, [room.id for room in course_rooms])
    return render_template("rooms/index.html", rooms=course_rooms, sessions=sessions, title="Rooms")


@bp.get("/<path:external_id>/")
@require("rooms")
def page(course_id: int, external_id: str):
    room = get_room(external_id)
    asked = request.args.get("session")
    chosen = rooms.main_session(db.session, room, asked) if asked else None
    if asked and chosen is None:
        abort(404)
    # The dashboard Context wants a media Scope: this one selects no entries; the room's scope rides in the
    # options under a "_" name, which the URL can never set.
    ctx = dashboard_context(lambda filters, period, compare: Scope(room.registration_id, period.start, period.end,
                                                                   entry_ids=()),
                            since=room.created_at, course_id=course_id)
    if ctx is None:
        return filter_error_page()
    ctx.options["_room_scope"] = rooms.room_scope(room, chosen, ctx.period.start, ctx.period.end)
    choices = rooms.main_sessions(db.session, [room.id])[room.id]
    return render_dashboard("rooms/page.html", ROOM_BLOCKS, ctx, room=room, chosen=chosen, choices=choices,
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
