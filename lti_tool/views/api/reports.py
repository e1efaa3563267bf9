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

from flask import g, jsonify, request

from lti_tool.analytics import dashboard, embeds, metrics, reports, room_blocks, rooms
from lti_tool.analytics.context import Context, Subject, build_context, find_subject, registration_timezone, timezone_of
from lti_tool.analytics.definitions import METRICS
from lti_tool.analytics.filters import FilterError, Period
from lti_tool.analytics.tables import TableError, paginate_rows
from lti_tool.embed_rules import Classification
from lti_tool.extensions import db
from lti_tool.models.types import MAX_INTEGER, utcnow
from lti_tool.replica import reading

from . import bp, problem, token_required

MAX_LIMIT = 500
MAX_PER_PAGE = 200
HIGHLIGHT_METRICS = dashboard.HIGHLIGHTS.metrics
ROW_METRICS = dashboard.BREAKDOWN_METRICS


class BadArgument(ValueError):
    """A query argument a report cannot use; the message says which and why (a 400)."""


class Missing(LookupError):
    """The subject the request names does not exist in this token's registration (a 404)."""


# -- the reports ---------------------------------------------------------------------------------

def highlights_report(ctx: Context) -> dict:
    """Highlights, the compare period's values and relative changes (fractions), and the newest fact's time."""
    block = dashboard.highlights_block(ctx)
    change = block["change"]

    def values(h: metrics.Highlights | None) -> dict | None:
        return None if h is None else {**dataclasses.asdict(h), "anonymous_share": h.anonymous_share}

    return {"current": values(change.current), "previous": values(change.previous),
            "change": None if change.previous is None else {name: change.delta(name) for name in HIGHLIGHT_METRICS},
            "data_as_of": block["as_of"]}


def timeline_report(ctx: Context) -> dict:
    """One point per local day or month, and when compare is set the compare period's points on the same
    buckets (point i of each at the same position; first_day/last_day say which days each holds)."""
    block = dashboard.timeline_block(ctx)
    return {"points": block["points"], "compare_points": block["compare"]}


def top_entries_report(ctx: Context) -> dict:
    """Entries ranked by engagement, the first `limit` of them."""
    rows = reports.entries_table(ctx.session, ctx.scope)
    return {"rows": rows[:_limit(ctx.options)], "total": len(rows)}


def funnel_report(ctx: Context) -> dict:
    """The funnel; milestone= (one of 25, 50, 75, 100) also lists who reached it. Another value is a 400."""
    asked = ctx.options.get("milestone")
    if asked not in (None, "") and asked not in {str(m) for m in reports.MILESTONES}:
        raise BadArgument(f"milestone must be one of {', '.join(str(m) for m in reports.MILESTONES)}")
    return dashboard.funnel_block(ctx)


def viewing_context_report(ctx: Context) -> dict:
    """Plays inside the gallery page versus embedded elsewhere."""
    return dashboard.context_block(ctx)["split"]


def user_engagement_report(ctx: Context) -> dict:
    """People with their engagement (enrolled people who watched nothing included), searched, sorted and
    paged by the page's own table rule."""
    per_page = _int(ctx.options, "per_page", 50, 1, MAX_PER_PAGE)
    table = paginate_rows(dashboard.people_rows(ctx), dashboard.PEOPLE_TABLE, ctx.options, strict=True,
                          per_page=per_page)
    shown = [{**dataclasses.asdict(r.engagement), "role_label": r.role_label, "viewed": r.viewed} for r in table.rows]
    return {"rows": shown, "total": table.total, "page": table.page, "per_page": per_page, "pages": table.pages,
            "sort": table.sort, "dir": table.dir}


def entry_heatmap_report(ctx: Context) -> dict:
    """Plays and viewers per percentile (0-100); with person=<id>, that person's levels (0 not viewed, 1, 2, 3+)."""
    person = _int(ctx.options, "person", None, 1, 2**31 - 1)
    return {"points": metrics.heatmap(ctx.session, ctx.scope), "person": person,
            "person_levels": metrics.person_heat(ctx.session, ctx.scope, person) if person else None}


def countries_report(ctx: Context) -> dict:
    """By country; one country= drills to its regions, and one region= as well to that region's cities."""
    countries, regions = ctx.filters.countries, ctx.filters.regions
    level = "country"
    if len(countries) == 1:
        level = "city" if len(regions) == 1 else "region"
    return {"level": level, **_rows(ctx, level)}


def devices_report(ctx: Context) -> dict:
    """Device types, operating systems and browsers."""
    return {"device_types": _rows(ctx, "device"), "os": _rows(ctx, "os"), "browsers": _rows(ctx, "browser")}


def domains_report(ctx: Context) -> dict:
    return _rows(ctx, "domain")


def page_urls_report(ctx: Context) -> dict:
    """Page URLs within the domain= filter (required: the drill-down of a domain)."""
    if not ctx.filters.domains:
        raise BadArgument("page-urls needs domain=<domain>")
    return _rows(ctx, "url")


def _rows(ctx: Context, dimension: str) -> dict:
    rows = reports.breakdown(ctx.session, ctx.scope, dimension)
    return {"rows": rows[:_limit(ctx.options)], "total": len(rows)}


def embed_domains_report(ctx: Context) -> dict:
    """Domains ranked by plays, each with what it means (the embed rules' classification)."""
    rows = embeds.domain_rows(ctx.session, ctx.scope, ctx.rules)
    return {"rows": [_domain_row(r) for r in rows[:_limit(ctx.options)]], "total": len(rows)}


def embed_pages_report(ctx: Context) -> dict:
    """The page URLs of one domain (domain=, required once; "(unknown)": no page URL), with their entries."""
    if len(ctx.filters.domains) != 1:
        raise BadArgument(f"embed-pages needs exactly one domain=<domain> "
                          f"(domain={embeds.UNKNOWN_DOMAIN} for plays without a page URL)")
    key = ctx.filters.domains[0]
    rules = ctx.rules
    rows = embeds.page_rows(ctx.session, ctx.scope, key, rules)
    return {"domain": key,
            "classification": _classification(rules.classify(None if key == embeds.UNKNOWN_DOMAIN else key)),
            "rows": rows[:_limit(ctx.options)], "total": len(rows)}


def embed_audit_report(ctx: Context) -> dict:
    """The embed audit: domain= selects the domains, else the default selection (needs action or unknown,
    managed ones left out); every page URL x entry of each selected domain, grouped by domain."""
    result = embeds.audit(ctx.session, ctx.scope, ctx.rules)
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
    build: Callable[[Context], object]
    metrics: tuple[str, ...]         # names in definitions.METRICS its data holds
    parameters: tuple[str, ...] = ()  # its own query arguments, beyond the subject, tz and filters
    defaults: tuple[tuple[str, str], ...] = ()  # query arguments it assumes when absent (e.g. its own range)


BOTH = ("course", "entry")
BREAKDOWN_METRICS = (*ROW_METRICS, "played_entries")
REPORTS = {
    "gallery-highlights": Report("Highlights of the course gallery, with the compare period and changes",
                                 ("course",), highlights_report, HIGHLIGHT_METRICS),
    "gallery-timeline": Report("The course gallery per local day or month", ("course",), timeline_report,
                               dashboard.TIMELINE.metrics),
    "entry-highlights": Report("Highlights of one entry, with the compare period and changes", ("entry",),
                               highlights_report, HIGHLIGHT_METRICS),
    "entry-timeline": Report("One entry per local day or month", ("entry",), timeline_report, dashboard.TIMELINE.metrics),
    "top-entries": Report("The gallery's entries ranked by engagement", ("course",), top_entries_report,
                          (*ROW_METRICS, "engagement_ranking"), ("limit",)),
    "funnel": Report("Impressions, plays, and plays reaching 25, 50, 75 and 100 %; milestone=25|50|75|100 also "
                     "lists the entries and people whose plays reached it", BOTH, funnel_report,
                     ("impressions", "plays"), ("milestone",)),
    "viewing-context": Report("Plays inside the gallery page and embedded elsewhere", ("course",),
                              viewing_context_report, ("plays",)),
    "user-engagement": Report("People's engagement, including enrolled people who watched nothing", BOTH,
                              user_engagement_report, dashboard.PEOPLE.metrics, ("q", "sort", "dir", "page", "per_page")),
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
                          embed_audit_report, BREAKDOWN_METRICS, defaults=tuple(dashboard.AUDIT_DEFAULTS.items())),
}


# -- room reports: subject room=<external id>, one session= or the date filters; the room page's functions --

def room_overview_report(ctx: Context) -> dict:
    return room_blocks.overview_block(ctx)


def room_timeline_report(ctx: Context) -> dict:
    """Live unique viewers and live engagement rate (fraction) per minute."""
    return {"points": [point for one in room_blocks.timeline_block(ctx) for point in one.points]}


def room_attendees_report(ctx: Context) -> dict:
    """Attendees searched (q: three letters or more, else ignored), sorted and paged like the page's table."""
    per_page = _int(ctx.options, "per_page", rooms.ATTENDEES_PER_PAGE, 1, MAX_PER_PAGE)
    table = rooms.attendee_table(room_blocks.attendee_rows(ctx), ctx.options.get("q") or "",
                                 ctx.options.get("sort") or "minutes_viewed", ctx.options.get("dir"),
                                 ctx.options.get("page") or 1, per_page, strict=True)
    return {**dataclasses.asdict(table), "per_page": per_page}


def room_interactions_report(ctx: Context) -> dict:
    """Launched interactions, each with its detail (every answer's participants and rate)."""
    rows = rooms.interactions(ctx.session, ctx.scope)
    return {"rows": rows, "details": [rooms.interaction_detail(ctx.session, r.interaction_id) for r in rows]}


def room_recordings_report(ctx: Context) -> dict:
    """Plays of the sessions' recordings, with each person's impressions, plays, minutes and completion."""
    return room_blocks.recordings_block(ctx)


def room_countries_report(ctx: Context) -> dict:
    """Live unique viewers (as the overview counts them) and signed-in recording viewers per country;
    `all` counts each person once."""
    where = room_blocks.where_block(ctx)
    return {"rows": where["countries"], "all": where["all"]}


def room_devices_report(ctx: Context) -> dict:
    """Live unique viewers (as the overview counts them) and signed-in recording viewers per device type;
    `all` counts each person once."""
    where = room_blocks.where_block(ctx)
    return {"rows": where["devices"], "all": where["all"]}


ROOM_METRICS = room_blocks.OVERVIEW.metrics
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

# Which pages' blocks each subject's reports come from.
SUBJECT_BLOCKS = {"course": dashboard.GALLERY_BLOCKS, "entry": dashboard.ENTRY_BLOCKS,
                  "room": room_blocks.ROOM_BLOCKS}


def block_reports() -> dict[str, Report]:
    """Blocks served as they are: a block that names a report (`Block.report`) is that report, for every
    subject whose page holds the block, with its own metrics. A report written above keeps its shape."""
    found: dict[str, Report] = {}
    for kind, blocks in SUBJECT_BLOCKS.items():
        for block in blocks.values():
            if block.report and block.report not in REPORTS:
                earlier = found.get(block.report)
                subjects = (*(earlier.subjects if earlier else ()), kind)
                found[block.report] = Report(block.summary, subjects, block.fn, block.metrics)
    return found


REPORTS.update(block_reports())


# -- the route -----------------------------------------------------------------------------------

@bp.get("/reports/<path:external_id>")
@token_required
def report(external_id: str):
    """One report (`external_id` is its name: the rule is spelt like the API's other {id} routes)."""
    chosen = REPORTS.get(external_id)
    if chosen is None:
        return problem(404, "no such report", reports=list(REPORTS))
    try:
        ctx = _context(chosen)
        data = chosen.build(ctx)
    except Missing as exc:
        return problem(404, str(exc))
    except (FilterError, BadArgument, TableError) as exc:
        return problem(400, str(exc))
    subject = ctx.subject
    return jsonify(_plain({
        "report": external_id,
        "subject": _subject_json(subject),
        "filters": ctx.filters.query_args(),
        "period": None if subject.room_session is not None else _period_json(ctx.period, ctx.timezone),
        "metrics": {name: METRICS[name].as_json()
                    for name in chosen.metrics},
        "data": data,
    }))


def _context(chosen: Report) -> Context:
    """The Context of this request: its subject in this token's registration, the zone (tz=, else the
    course's, else the registration's default), filters and period, by `context.build_context`."""
    subject = _subject(chosen)
    tz = timezone_of(asked=request.args.get("tz"), course=subject.course,
                     registration_default=registration_timezone(db.session, g.registration_id))
    source = reading()   # the replica when there is one (`lti_tool.replica`); the subject came from the primary
    return build_context(source.session, subject, request.args, tz, utcnow(), dict(chosen.defaults),
                         replayed_at=source.replayed_at)


def _subject(chosen: Report) -> Subject:
    """The one subject (course=, entry= or room= with an optional session=) this report accepts, looked up in
    this token's registration only (`context.find_subject`)."""
    given = [kind for kind in ("course", "entry", "room") if request.args.get(kind)]
    if len(given) != 1 or given[0] not in chosen.subjects:
        wanted = " or ".join(f"{kind}=" for kind in chosen.subjects)
        raise BadArgument(f"this report needs exactly one subject: {wanted}")
    kind, raw = given[0], request.args.get(given[0])
    if kind == "course" and not _is_number(raw):
        raise BadArgument("course must be the tool's course id (an integer)")
    if kind != "course" and len(raw) > 255:
        raise BadArgument(f"{kind} must be {'an entry' if kind == 'entry' else 'a room'} id of at most 255 characters")
    if kind == "course" and int(raw) > MAX_INTEGER:
        raise Missing("no such course")
    try:
        return find_subject(db.session, g.registration_id, kind, int(raw) if kind == "course" else raw,
                            request.args.get("session") if kind == "room" else None)
    except LookupError as exc:
        raise Missing(str(exc)) from exc


def _subject_json(subject: Subject) -> dict:
    course, entry, room = subject.course, subject.entry, subject.room
    if room is not None:
        return {"type": "room", "id": room.external_id, "name": room.name, "course": room.course_id,
                "session": subject.room_session.external_id if subject.room_session else None}
    if entry is None:
        return {"type": "course", "id": course.id, "title": course.title, "label": course.label,
                "timezone": course.timezone}
    return {"type": "entry", "id": entry.external_id, "name": entry.display_name, "media_type": entry.media_type,
            "duration": entry.duration_seconds}


def _period_json(period: Period, tz: str) -> dict:
    compare = period.compare
    return {"first_day": period.first_day, "last_day": period.last_day, "timezone": tz,
            "granularity": period.granularity,
            "compare": {"first_day": compare.first_day, "last_day": compare.last_day} if compare else None}


def _int(args, name: str, default, lowest: int, highest: int):
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


def _limit(args) -> int:
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
