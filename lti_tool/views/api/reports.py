"""GET /api/v1/reports/<name>: the dashboards' reports as JSON, for a course's gallery, one entry or a room.

Each report calls the analytics functions the pages call, so a number is the same everywhere. A
response names its subject, the filters (as URL arguments), the local period and the definitions
of the metrics it returns; dates and times are ISO 8601, a missing value is null.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from typing import Callable
from zoneinfo import available_timezones

from flask import g, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from lti_tool.analytics import filters as filter_rules
from lti_tool.analytics import embeds, metrics, reports, rooms
from lti_tool.analytics.dashboard import data_as_of
from lti_tool.analytics.definitions import METRICS
from lti_tool.analytics.filters import Filters, Period
from lti_tool.analytics.metrics import Scope
from lti_tool.analytics.scopes import course_scope, entry_scope
from lti_tool.embed_rules import Classification, current_rules
from lti_tool.extensions import db
from lti_tool.models import Course, MediaEntry, Registration, Room, RoomSession
from lti_tool.models.types import MAX_INTEGER, utcnow

from . import bp, problem, token_required

MAX_LIMIT = 500
MAX_PER_PAGE = 200
PEOPLE_SORTS = ("plays", "name", "impressions", "minutes_viewed", "avg_completion_rate", "total_completion_rate",
                "last_viewed_at")
HIGHLIGHT_METRICS = ("impressions", "plays", "played_entries", "unique_viewers", "minutes_viewed",
                     "avg_completion_rate", "avg_drop_off", "play_through_ratio", "load_play_ratio")
TIMELINE_METRICS = ("impressions", "plays", "unique_viewers", "minutes_viewed", "avg_drop_off", "avg_completion_rate")
ROW_METRICS = ("impressions", "plays", "unique_viewers", "minutes_viewed", "avg_completion_rate")
PERSON_METRICS = ("impressions", "plays", "minutes_viewed", "avg_completion_rate", "total_completion_rate")


class BadArgument(ValueError):
    """A query argument a report cannot use; the message says which and why (a 400)."""


@dataclass(frozen=True)
class ReportInput:
    """Everything a report reads: the subject, filters, local period and the scopes they make."""
    session: Session
    course: Course | None
    entry: MediaEntry | None
    filters: Filters
    period: Period
    timezone: str
    scope: Scope
    compare_scope: Scope | None
    args: MultiDict


# -- the reports ---------------------------------------------------------------------------------

def highlights_report(inp: ReportInput) -> dict:
    """Highlights, the compare period's values and relative changes (fractions), and the newest fact's time."""
    change = reports.highlights_with_change(inp.session, inp.scope, inp.compare_scope)

    def values(h: metrics.Highlights | None) -> dict | None:
        return None if h is None else {**dataclasses.asdict(h), "anonymous_share": h.anonymous_share}

    return {"current": values(change.current), "previous": values(change.previous),
            "change": None if change.previous is None else {name: change.delta(name) for name in HIGHLIGHT_METRICS},
            "data_as_of": data_as_of(inp.session, inp.scope)}


def timeline_report(inp: ReportInput) -> dict:
    """One point per local day or month, and when compare is set the compare period's points on the same
    buckets (point i of each at the same position; first_day/last_day say which days each holds)."""
    points = reports.timeline(inp.session, inp.scope, inp.period, inp.timezone)
    compare = (reports.timeline(inp.session, inp.compare_scope, inp.period.compare, inp.timezone)
               if inp.compare_scope is not None else None)
    return {"points": points, "compare_points": compare}


def top_entries_report(inp: ReportInput) -> dict:
    """Entries ranked by engagement, the first `limit` of them."""
    rows = reports.entries_table(inp.session, inp.scope)
    return {"rows": rows[:_limit(inp.args)], "total": len(rows)}


def funnel_report(inp: ReportInput) -> dict:
    return {"steps": reports.funnel(inp.session, inp.scope)}


def viewing_context_report(inp: ReportInput) -> dict:
    """Plays inside the gallery page versus embedded elsewhere."""
    return reports.context_split(inp.session, inp.scope)


def user_engagement_report(inp: ReportInput) -> dict:
    """People with their engagement (enrolled people who watched nothing included), searched, sorted and paged."""
    rows = reports.people_engagement(inp.session, inp.scope, inp.course.id if inp.course else None)
    query = (inp.args.get("q") or "").strip().lower()
    if len(query) > 100:
        raise BadArgument("q must be at most 100 characters")
    if query:
        rows = [r for r in rows if query in r.engagement.name.lower() or query in (r.engagement.email or "").lower()]
    sort = inp.args.get("sort", "plays")
    if sort not in PEOPLE_SORTS:
        raise BadArgument(f"sort must be one of {', '.join(PEOPLE_SORTS)}")
    direction = inp.args.get("dir", "asc" if sort == "name" else "desc")
    if direction not in ("asc", "desc"):
        raise BadArgument("dir must be asc or desc")
    rows = _sorted_people(rows, sort, direction == "desc")
    page, per_page = _int(inp.args, "page", 1, 1, 100_000), _int(inp.args, "per_page", 50, 1, MAX_PER_PAGE)
    shown = [{**dataclasses.asdict(r.engagement), "role_label": r.role_label, "viewed": r.viewed}
             for r in rows[(page - 1) * per_page: page * per_page]]
    pages = max(1, -(-len(rows) // per_page))
    return {"rows": shown, "total": len(rows), "page": page, "per_page": per_page, "pages": pages, "sort": sort,
            "dir": direction}


def entry_heatmap_report(inp: ReportInput) -> dict:
    """Plays and viewers per percentile (0-100); with person=<id>, that person's levels (0 not viewed, 1, 2, 3+)."""
    person = _int(inp.args, "person", None, 1, 2**31 - 1)
    return {"points": metrics.heatmap(inp.session, inp.scope), "person": person,
            "person_levels": metrics.person_heat(inp.session, inp.scope, person) if person else None}


def countries_report(inp: ReportInput) -> dict:
    """By country; one country= drills to its regions, and one region= as well to that region's cities."""
    countries, regions = inp.filters.countries, inp.filters.regions
    level = "country"
    if len(countries) == 1:
        level = "city" if len(regions) == 1 else "region"
    return {"level": level, **_rows(inp, level)}


def devices_report(inp: ReportInput) -> dict:
    """Device types, operating systems and browsers."""
    return {"device_types": _rows(inp, "device"), "os": _rows(inp, "os"), "browsers": _rows(inp, "browser")}


def domains_report(inp: ReportInput) -> dict:
    return _rows(inp, "domain")


def page_urls_report(inp: ReportInput) -> dict:
    """Page URLs within the domain= filter (required: the drill-down of a domain)."""
    if not inp.filters.domains:
        raise BadArgument("page-urls needs domain=<domain>")
    return _rows(inp, "url")


def _rows(inp: ReportInput, dimension: str) -> dict:
    rows = reports.breakdown(inp.session, inp.scope, dimension)
    return {"rows": rows[:_limit(inp.args)], "total": len(rows)}


def embed_domains_report(inp: ReportInput) -> dict:
    """Domains ranked by plays, each with what it means (the embed rules' classification)."""
    rows = embeds.domain_rows(inp.session, inp.scope, current_rules())
    return {"rows": [_domain_row(r) for r in rows[:_limit(inp.args)]], "total": len(rows)}


def embed_pages_report(inp: ReportInput) -> dict:
    """The page URLs of one domain (domain=, required once; "(unknown)": no page URL), with their entries."""
    if len(inp.filters.domains) != 1:
        raise BadArgument(f"embed-pages needs exactly one domain=<domain> "
                          f"(domain={embeds.UNKNOWN_DOMAIN} for plays without a page URL)")
    key = inp.filters.domains[0]
    rules = current_rules()
    rows = embeds.page_rows(inp.session, inp.scope, key, rules)
    return {"domain": key,
            "classification": _classification(rules.classify(None if key == embeds.UNKNOWN_DOMAIN else key)),
            "rows": rows[:_limit(inp.args)], "total": len(rows)}


def embed_audit_report(inp: ReportInput) -> dict:
    """The embed audit: domain= selects the domains, else the default selection (needs action or unknown,
    managed ones left out); every page URL x entry of each selected domain, grouped by domain."""
    result = embeds.audit(inp.session, inp.scope, current_rules())
    row_fields = ("page_url", "page_identifiable", "note", "entry_id", "entry_name", "plays", "impressions",
                  "last_seen_at")
    return {"selected": result.selected, "default_selection": result.default_selection,
            "domains": [_domain_row(r) for r in result.domains],
            "groups": [{**_domain_row(g.domain), "pages": g.pages, "entries": g.entries,
                        "rows": [{name: getattr(r, name) for name in row_fields} for r in g.rows]}
                       for g in result.groups],
            "total_rows": result.rows}


def _classification(c: Classification) -> dict:
    """A classification with its page_identifiable property (dataclasses.asdict leaves properties out)."""
    return {**dataclasses.asdict(c), "page_identifiable": c.page_identifiable}


def _domain_row(row: embeds.DomainRow) -> dict:
    fields = {f.name: getattr(row, f.name) for f in dataclasses.fields(row) if f.name != "classification"}
    return {**fields, "classification": _classification(row.classification)}


@dataclass(frozen=True)
class Report:
    summary: str
    subjects: tuple[str, ...]        # which of "course", "entry", "room" it accepts (exactly one is given)
    build: Callable[[ReportInput], object]
    metrics: tuple[str, ...]         # names in definitions.METRICS its data holds
    parameters: tuple[str, ...] = ()  # its own query arguments, beyond the subject, tz and filters
    defaults: tuple[tuple[str, str], ...] = ()  # query arguments it assumes when absent (e.g. its own range)


BOTH = ("course", "entry")
BREAKDOWN_METRICS = (*ROW_METRICS, "played_entries")
REPORTS = {
    "gallery-highlights": Report("Highlights of the course gallery, with the compare period and changes",
                                 ("course",), highlights_report, HIGHLIGHT_METRICS),
    "gallery-timeline": Report("The course gallery per local day or month", ("course",), timeline_report,
                               TIMELINE_METRICS),
    "entry-highlights": Report("Highlights of one entry, with the compare period and changes", ("entry",),
                               highlights_report, HIGHLIGHT_METRICS),
    "entry-timeline": Report("One entry per local day or month", ("entry",), timeline_report, TIMELINE_METRICS),
    "top-entries": Report("The gallery's entries ranked by engagement", ("course",), top_entries_report,
                          (*ROW_METRICS, "engagement_ranking"), ("limit",)),
    "funnel": Report("Impressions, plays, and plays reaching 25, 50, 75 and 100 %", BOTH, funnel_report,
                     ("impressions", "plays")),
    "viewing-context": Report("Plays inside the gallery page and embedded elsewhere", ("course",),
                              viewing_context_report, ("plays",)),
    "user-engagement": Report("People's engagement, including enrolled people who watched nothing", BOTH,
                              user_engagement_report, PERSON_METRICS, ("q", "sort", "dir", "page", "per_page")),
    "entry-heatmap": Report("Plays and viewers per percentile of one entry", ("entry",), entry_heatmap_report,
                            ("plays", "unique_viewers"), ("person",)),
    "countries": Report("By country (or region, or city when drilled down)", BOTH, countries_report,
                        BREAKDOWN_METRICS, ("limit",)),
    "devices": Report("By device type, operating system and browser", BOTH, devices_report, BREAKDOWN_METRICS,
                      ("limit",)),
    "domains": Report("By the domain of the page the player was in", BOTH, domains_report, BREAKDOWN_METRICS,
                      ("limit",)),
    "page-urls": Report("By page URL within domain=", BOTH, page_urls_report, BREAKDOWN_METRICS, ("limit",)),
    "embed-domains": Report("Domains where media was played, ranked by plays, each with its embed-rule "
                            "classification (category, explanation, guidance, needs_action, managed)", BOTH,
                            embed_domains_report, BREAKDOWN_METRICS, ("limit",)),
    "embed-pages": Report("The page URLs of one domain (domain= exactly once; (unknown): no page URL), each with "
                          "the entries shown on it", BOTH, embed_pages_report, ROW_METRICS, ("limit",)),
    "embed-audit": Report("The embed audit: every page URL x entry on the domain= domains, else on the domains "
                          "whose embeds need action or whose need is unknown (managed ones left out)", ("course",),
                          embed_audit_report, BREAKDOWN_METRICS, defaults=(("range", "last12m"),)),
}


# -- room reports: subject room=<external id>, one session= or the date filters; the room page's functions --

@dataclass(frozen=True)
class RoomInput:
    session: Session
    room: Room
    chosen: RoomSession | None
    scope: rooms.RoomScope
    args: MultiDict


def room_overview_report(inp: RoomInput) -> dict:
    return rooms.overview(inp.session, inp.scope)


def room_timeline_report(inp: RoomInput) -> dict:
    """Live unique viewers and live engagement rate (fraction) per minute."""
    return {"points": rooms.timeline(inp.session, inp.scope)}


def room_attendees_report(inp: RoomInput) -> dict:
    """Attendees searched (q: three letters or more, else ignored), sorted and paged like the page's table."""
    sort = inp.args.get("sort", "minutes_viewed")
    if sort not in rooms.ATTENDEE_SORTS:
        raise BadArgument(f"sort must be one of {', '.join(rooms.ATTENDEE_SORTS)}")
    direction = inp.args.get("dir")
    if direction not in (None, "asc", "desc"):
        raise BadArgument("dir must be asc or desc")
    query = inp.args.get("q") or ""
    if len(query) > 100:
        raise BadArgument("q must be at most 100 characters")
    per_page = _int(inp.args, "per_page", rooms.ATTENDEES_PER_PAGE, 1, MAX_PER_PAGE)
    table = rooms.attendee_table(rooms.attendees(inp.session, inp.scope), query, sort, direction,
                                 _int(inp.args, "page", 1, 1, 100_000), per_page)
    return {**dataclasses.asdict(table), "per_page": per_page}


def room_interactions_report(inp: RoomInput) -> dict:
    """Launched interactions, each with its detail (every answer's participants and rate)."""
    rows = rooms.interactions(inp.session, inp.scope)
    return {"rows": rows, "details": [rooms.interaction_detail(inp.session, r.interaction_id) for r in rows]}


def room_recordings_report(inp: RoomInput) -> dict:
    """Plays of the sessions' recordings, with each person's impressions, plays, minutes and completion."""
    return rooms.recordings(inp.session, inp.scope)


def room_countries_report(inp: RoomInput) -> dict:
    """Live unique viewers (as the overview counts them) and signed-in recording viewers per country;
    `all` counts each person once."""
    return {"rows": rooms.where_viewers(inp.session, inp.scope, "country"),
            "all": rooms.where_totals(inp.session, inp.scope)}


def room_devices_report(inp: RoomInput) -> dict:
    """Live unique viewers (as the overview counts them) and signed-in recording viewers per device type;
    `all` counts each person once."""
    return {"rows": rooms.where_viewers(inp.session, inp.scope, "device"),
            "all": rooms.where_totals(inp.session, inp.scope)}


ROOM_METRICS = ("room_unique_viewers", "room_avg_minutes_viewed", "live_engagement_rate", "live_unique_viewers",
                "reactions_rate", "chat_rate", "polls_rate", "qa_rate", "attachments_rate", "recording_plays")
ROOM_REPORTS = {
    "room-overview": Report("A room's overview: viewers, minutes, live engagement and participation", ("room",),
                            room_overview_report, ROOM_METRICS, ("session",)),
    "room-timeline": Report("A room's live unique viewers and live engagement rate per minute", ("room",),
                            room_timeline_report, ("live_unique_viewers", "live_engagement_rate"), ("session",)),
    "room-attendees": Report("A room's attendees with their engagement, searched, sorted and paged", ("room",),
                             room_attendees_report, ("room_avg_minutes_viewed", "live_engagement_rate"),
                             ("session", "q", "sort", "dir", "page", "per_page")),
    "room-interactions": Report("A room's launched interactions with every answer's participants and rate",
                                ("room",), room_interactions_report, ("interaction_answer_rate",), ("session",)),
    "room-recordings": Report("Plays of a room's recordings, per person", ("room",), room_recordings_report,
                              ("recording_plays", "impressions", "plays", "minutes_viewed", "avg_completion_rate"),
                              ("session",)),
    "room-countries": Report("A room's unique viewers per country, live and recording", ("room",),
                             room_countries_report, ("live_unique_viewers", "recording_unique_viewers"), ("session",)),
    "room-devices": Report("A room's unique viewers per device type, live and recording", ("room",),
                           room_devices_report, ("live_unique_viewers", "recording_unique_viewers"), ("session",)),
}
REPORTS.update(ROOM_REPORTS)


# -- the route -----------------------------------------------------------------------------------

@bp.get("/reports/<path:external_id>")
@token_required
def report(external_id: str):
    """One report (`external_id` is its name: the rule is spelt like the API's other {id} routes)."""
    chosen = REPORTS.get(external_id)
    if chosen is None:
        return problem(404, "no such report", reports=list(REPORTS))
    if external_id in ROOM_REPORTS:
        return _room_report(external_id, chosen)
    subject, error = _subject(chosen)
    if error:
        return error
    course, entry = subject
    try:
        inp = _report_input(course, entry, chosen.defaults)
        data = chosen.build(inp)
    except (filter_rules.FilterError, BadArgument) as exc:
        return problem(400, str(exc))
    return jsonify(_plain({
        "report": external_id,
        "subject": _subject_json(course, entry),
        "filters": inp.filters.query_args(),
        "period": _period_json(inp.period, inp.timezone),
        "metrics": {name: {"label": METRICS[name].label, "definition": METRICS[name].definition}
                    for name in chosen.metrics},
        "data": data,
    }))


def _room_report(name: str, chosen: Report):
    """A room report: the room of this token's registration, one of its sessions or the date filters."""
    room_arg = request.args.get("room")
    if not room_arg or request.args.get("course") or request.args.get("entry"):
        return problem(400, "this report needs exactly one subject: room=")
    if len(room_arg) > 255:
        return problem(400, "room must be a room id of at most 255 characters")
    # Only this token's registration is looked in: another tenant's room is answered as a missing one.
    room = db.session.scalar(select(Room).where(Room.registration_id == g.registration_id,
                                                Room.external_id == room_arg))
    if room is None:
        return problem(404, "no such room")
    session_arg = request.args.get("session")
    chosen_session = None
    if session_arg:
        chosen_session = rooms.main_session(db.session, room, session_arg)
        if chosen_session is None:
            return problem(404, "no such session in that room")
    course = db.session.get(Course, room.course_id) if room.course_id else None
    try:
        filters = filter_rules.parse(request.args)
        registration = db.session.get(Registration, g.registration_id)
        tz = (request.args.get("tz") or (course.timezone if course else None) or registration.default_timezone
              or "UTC")
        if tz not in available_timezones():
            raise BadArgument(f"tz {tz[:64]!r} is not a time zone name such as America/Chicago")
        period = filter_rules.period(filters, tz, utcnow(), since=room.created_at)
        scope = rooms.room_scope(room, chosen_session, period.start, period.end)
        data = chosen.build(RoomInput(db.session, room, chosen_session, scope, request.args))
    except (filter_rules.FilterError, BadArgument) as exc:
        return problem(400, str(exc))
    return jsonify(_plain({
        "report": name,
        "subject": {"type": "room", "id": room.external_id, "name": room.name, "course": room.course_id,
                    "session": chosen_session.external_id if chosen_session else None},
        "filters": filters.query_args(),
        "period": None if chosen_session else _period_json(period, tz),
        "metrics": {metric: {"label": METRICS[metric].label, "definition": METRICS[metric].definition}
                    for metric in chosen.metrics},
        "data": data,
    }))


def _subject(chosen: Report):
    """((course, entry), None) for this token's registration, or (None, the error response). Only this
    registration is looked in: another tenant's id is answered exactly as an id that does not exist."""
    course_arg, entry_arg = request.args.get("course"), request.args.get("entry")
    given = [kind for kind, value in (("course", course_arg), ("entry", entry_arg)) if value]
    if len(given) != 1 or given[0] not in chosen.subjects:
        wanted = " or ".join(f"{kind}=" for kind in chosen.subjects)
        return None, problem(400, f"this report needs exactly one subject: {wanted}")
    if course_arg:
        if not _is_number(course_arg):
            return None, problem(400, "course must be the tool's course id (an integer)")
        found = db.session.scalar(select(Course).where(Course.registration_id == g.registration_id,
                                                       Course.id == int(course_arg))) \
            if int(course_arg) <= MAX_INTEGER else None
    else:
        if len(entry_arg) > 255:
            return None, problem(400, "entry must be an entry id of at most 255 characters")
        found = db.session.scalar(select(MediaEntry).where(MediaEntry.registration_id == g.registration_id,
                                                           MediaEntry.external_id == entry_arg))
    if found is None:
        return None, problem(404, f"no such {given[0]}")
    return ((found, None) if course_arg else (None, found)), None


def _report_input(course: Course | None, entry: MediaEntry | None,
                  defaults: tuple[tuple[str, str], ...] = ()) -> ReportInput:
    """Filters, time zone, period and scopes of this request (FilterError or BadArgument when invalid);
    the report's defaults stand in for arguments the request leaves out."""
    args = request.args
    if any(name not in args for name, _value in defaults):
        args = MultiDict(args)
        for name, value in defaults:
            if name not in args:
                args[name] = value
    filters = filter_rules.parse(args)
    registration = db.session.get(Registration, g.registration_id)
    tz = args.get("tz") or (course.timezone if course else None) or registration.default_timezone or "UTC"
    if tz not in available_timezones():
        raise BadArgument(f"tz {tz[:64]!r} is not a time zone name such as America/Chicago")
    now = utcnow()
    created = course.created_at if course else (entry.entry_created_at or entry.created_at)
    period = filter_rules.period(filters, tz, now, since=created)

    def scope(compare: bool) -> Scope:
        if course is not None:
            return course_scope(db.session, course, filters, period, compare)
        return entry_scope(entry, filters, period, compare)

    return ReportInput(db.session, course, entry, filters, period, tz, scope(False),
                       scope(True) if period.compare else None, args)


def _subject_json(course: Course | None, entry: MediaEntry | None) -> dict:
    if course is not None:
        return {"type": "course", "id": course.id, "title": course.title, "label": course.label,
                "timezone": course.timezone}
    return {"type": "entry", "id": entry.external_id, "name": entry.display_name, "media_type": entry.media_type,
            "duration": entry.duration_seconds}


def _period_json(period: Period, tz: str) -> dict:
    compare = period.compare
    return {"first_day": period.first_day, "last_day": period.last_day, "timezone": tz,
            "granularity": period.granularity,
            "compare": {"first_day": compare.first_day, "last_day": compare.last_day} if compare else None}


def _sorted_people(rows: list[reports.EngagementRow], column: str, descending: bool) -> list:
    """Sorted by a column of their engagement; rows without a value (None) last either way, ties by name."""
    def value(row):
        v = getattr(row.engagement, column)
        return v.lower() if isinstance(v, str) else v

    rows = sorted(rows, key=lambda r: r.engagement.name.lower())
    known = sorted((r for r in rows if value(r) is not None), key=value, reverse=descending)
    return known + [r for r in rows if value(r) is None]


def _int(args: MultiDict, name: str, default, lowest: int, highest: int):
    """An integer query argument within [lowest, highest], or the default when it is absent."""
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    if not _is_number(raw) or not lowest <= int(raw) <= highest:
        raise BadArgument(f"{name} must be an integer from {lowest} to {highest}")
    return int(raw)


def _is_number(raw: str) -> bool:
    """ASCII digits only ("²" is a digit to str.isdigit but not to int), and not absurdly long."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 12


def _limit(args: MultiDict) -> int:
    return _int(args, "limit", 50, 1, MAX_LIMIT)


def _plain(value):
    """JSON-ready data: dataclasses as objects, dates and datetimes in ISO 8601, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value
