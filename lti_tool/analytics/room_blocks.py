"""The blocks of a room's page: a `Context` whose subject is a room (one main session, or every
session that started in the period) and whose scope is a `rooms.RoomScope`.

The room page renders them, the report API serves them (room-overview, room-attendees, ...), and the
room's CSV and PDF read the same functions in `rooms`.
"""
from __future__ import annotations

from . import rooms
from .blocks import Block, registry
from .context import Context


def _int_option(ctx: Context, name: str) -> int | None:
    raw = ctx.options.get(name) or ""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else None


def attendee_rows(ctx: Context) -> list[rooms.AttendeeRow]:
    """Every attendee of the room's scope, computed once per request."""
    return ctx.cached("attendees", lambda: rooms.attendees(ctx.session, ctx.scope))


def overview_block(ctx: Context) -> rooms.RoomOverview:
    return rooms.overview(ctx.session, ctx.scope)


def timeline_block(ctx: Context) -> list[rooms.SessionTimeline]:
    """The timeline per main session (a date range charts each session apart, never on one minute axis)."""
    return ctx.cached("timeline", lambda: rooms.session_timelines(ctx.session, ctx.scope))


def attendees_block(ctx: Context) -> rooms.AttendeeTable:
    return rooms.attendee_table(attendee_rows(ctx), ctx.options.get("q", ""), ctx.options.get("sort", "minutes_viewed"),
                                ctx.options.get("dir"), _int_option(ctx, "page") or 1)


def attendee_block(ctx: Context) -> dict | None:
    """The chosen attendee (person=<id>) with their heat per minute and activity; None when nobody is chosen."""
    person_id = _int_option(ctx, "person")
    row = next((r for r in attendee_rows(ctx) if r.person_id == person_id), None)
    if row is None:
        return None
    return {"row": row, "minutes": rooms.session_minutes(ctx.session, ctx.scope),
            "heat": rooms.heat(ctx.session, ctx.scope, row.person_id),
            "activity": rooms.attendee_activity(ctx.session, ctx.scope, row.person_id)}


def interactions_block(ctx: Context) -> dict:
    rows = rooms.interactions(ctx.session, ctx.scope)
    chosen = _int_option(ctx, "interaction")
    detail = (rooms.interaction_detail(ctx.session, chosen)
              if chosen is not None and any(r.interaction_id == chosen for r in rows) else None)
    return {"rows": rows, "detail": detail}


def recordings_block(ctx: Context) -> rooms.Recordings:
    return rooms.recordings(ctx.session, ctx.scope)


def where_block(ctx: Context) -> dict:
    return {"countries": rooms.where_viewers(ctx.session, ctx.scope, "country"),
            "devices": rooms.where_viewers(ctx.session, ctx.scope, "device"),
            "all": rooms.where_totals(ctx.session, ctx.scope)}


OVERVIEW = Block("overview", overview_block, ("room_unique_viewers", "room_avg_minutes_viewed", "live_engagement_rate",
                                              "live_unique_viewers", "reactions_rate", "chat_rate", "polls_rate",
                                              "qa_rate", "attachments_rate", "recording_plays"))
TIMELINE = Block("timeline", timeline_block, ("live_unique_viewers", "live_engagement_rate"))
ATTENDEES = Block("attendees", attendees_block, ("room_avg_minutes_viewed", "live_engagement_rate"),
                  rooms.ATTENDEE_TABLE)
ATTENDEE = Block("attendee", attendee_block, ("live_engagement_level",))
INTERACTIONS = Block("interactions", interactions_block, ("interaction_answer_rate",))
RECORDINGS = Block("recordings", recordings_block, ("recording_plays", "impressions", "plays", "minutes_viewed",
                                                    "avg_completion_rate"))
WHERE = Block("where", where_block, ("live_unique_viewers", "recording_unique_viewers"))

ROOM_BLOCKS = registry(OVERVIEW, TIMELINE, ATTENDEES, ATTENDEE, INTERACTIONS, RECORDINGS, WHERE)
