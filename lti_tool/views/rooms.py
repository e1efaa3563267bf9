"""A course's live rooms (owner, co-editor, admin): the rooms list and each room's analytics page."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, g, render_template, request

from lti_tool.analytics import rooms
from lti_tool.analytics.context import Subject
from lti_tool.analytics.room_blocks import ROOM_BLOCKS
from lti_tool.extensions import db
from lti_tool.launch.session import require
from lti_tool.models import Room, RoomSession
from lti_tool.render import localtime, minute_labels, session_title

from .dashboards import dashboard_context, filter_error_page, render_dashboard

bp = Blueprint("rooms", __name__, url_prefix="/courses/<int:course_id>/rooms")
bp.add_app_template_global(minute_labels, "minute_labels")
bp.add_app_template_global(session_title, "session_title")


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
    choices = rooms.main_sessions(db.session, [room.id])[room.id]
    chosen = chosen_session(room, choices)
    ctx = dashboard_context(Subject.of_room(room, chosen, g.course))
    if ctx is None:
        return filter_error_page()
    return render_dashboard("rooms/page.html", ROOM_BLOCKS, ctx, room=room, chosen=chosen, choices=choices,
                            title=f"Room analytics: {room.name or room.external_id}")


RANGE_ARGS = ("range", "from", "to")


def chosen_session(room: Room, choices: list[RoomSession]) -> RoomSession | None:
    """The session the page shows: the URL's `session`, else None (every session in a date range) when
    the URL names a range or `show=range`, else the latest main session (`choices` are newest first), so
    a room never opens on an empty default range while it has sessions. 404 for an unknown session."""
    asked = request.args.get("session")
    if asked:
        return rooms.main_session(db.session, room, asked) or abort(404)
    if request.args.get("show") == "range" or any(request.args.get(name) for name in RANGE_ARGS):
        return None
    return choices[0] if choices else None


@bp.app_template_global()
def session_label(one: RoomSession, tz: str) -> str:
    """e.g. "Week 1 · Oct 05, 2026 05:00" (the name, then the start in the viewer's zone)."""
    return session_title(one.name, one.started_at, tz)


@bp.app_template_global()
def minute_label(moment: datetime, tz: str) -> str:
    """The local hour and minute, e.g. "05:03" (the timeline's axis labels)."""
    return localtime(moment, tz)[-5:]
