"""PDF summaries ("Download Report"): a room's session (or date range), a course's Media Gallery page and
the single-media page.

Data first, drawing second. `room_summary()` and `gallery_summary()` read everything a PDF shows
through the same analytics functions the pages call, into frozen dataclasses holding no ORM objects,
so a job can close its database session before the slow part; `render_pdf()` then draws a template
under templates/exports/pdf/ with WeasyPrint. `room_summary_pdf()`, `gallery_summary_pdf()` and
`entry_summary_pdf()` do both (the latter from a Context: `entry_summary()`).

Needs an app context (templates, filters), never a request context: it runs in an RQ worker.
WeasyPrint fetches nothing: the stylesheet is inline, charts are inline SVG from render/charts.py,
fonts come from the system (DejaVu), and every URL except data: is refused.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import render_template
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from lti_tool.analytics import dashboard, rooms
from lti_tool.analytics import filters as filter_rules
from lti_tool.analytics.definitions import METRICS
from lti_tool.analytics.reports import BreakdownRow, Change, EntryRow, ViewerRow
from lti_tool.analytics.blocks import Col, Sheet
from lti_tool.analytics.context import Context, Subject, build_context, check_timezone
from lti_tool.models import Course, Room, RoomSession
from lti_tool.models.types import utcnow
from lti_tool.render import charts, localtime, minute_labels, session_title
from lti_tool.render.formatting import counted, country_name, long_date, metric_format, series_of

TOP_ATTENDEES = 20            # attendees listed by minutes viewed; the totals row covers everyone
TOP_RECORDING_VIEWERS = 20    # people listed in the recordings table, most plays first
MAX_TEXT_ANSWERS = 50         # different answers to an open question listed per question
TOP_PLACES = 20               # countries, devices and domains rows
CHART_WIDTH = 720             # the charts' drawing units; the PDF scales them to the page width

INTERACTION_KINDS = {"poll": "Poll", "quiz": "Quiz question", "rating": "Rating scale", "open": "Open question",
                     "crowd_vote": "Crowd vote"}


@dataclass(frozen=True)
class Figure:
    """One overview number as the page shows it: the metric's label, its value, a line under it."""

    metric: str               # key of definitions.METRICS (label and definition)
    value: str
    note: str = ""

    @property
    def label(self) -> str:
        return METRICS[self.metric].label


@dataclass(frozen=True)
class InteractionSummary:
    kind: str                                  # a label such as "Rating scale"
    launched_at: datetime
    detail: rooms.InteractionDetail
    text_answers_left_out: int                 # different open answers beyond MAX_TEXT_ANSWERS


@dataclass(frozen=True)
class RoomSummary:
    room_name: str
    room_id: str                               # the room's external id
    title: str                                 # e.g. "Week 1 · Oct 5, 2026"
    when: str                                  # e.g. "Oct 5, 2026 · 10:00 – 10:10 (10 min)" or a date range
    sessions: int                              # main sessions covered
    timezone: str
    generated: str                             # local time the PDF was made
    figures: tuple[Figure, ...]
    anonymous_stays: int
    timeline_charts: tuple[charts.Chart, ...]   # per session: live unique viewers, then live engagement rate
    attendees: tuple[rooms.AttendeeRow, ...]   # the top TOP_ATTENDEES by minutes viewed
    attendee_count: int
    attendee_totals: rooms.AttendeeTotals      # over every attendee, not only those listed
    interactions: tuple[InteractionSummary, ...]
    recordings: rooms.Recordings
    recording_viewers: tuple[rooms.RecordingViewer, ...]  # the first TOP_RECORDING_VIEWERS
    countries: tuple[rooms.WhereRow, ...]      # the first TOP_PLACES
    devices: tuple[rooms.WhereRow, ...]
    places_left_out: tuple[int, int]           # countries and devices beyond TOP_PLACES
    where_all: rooms.WhereRow
    definitions: tuple[tuple[str, str], ...]   # (label, definition) of every metric shown


@dataclass(frozen=True)
class SheetTable:
    """A block's sheet as the PDF prints it: headers and the first rows, every cell already text."""

    title: str
    headers: tuple[str, ...]
    numeric: tuple[bool, ...]                  # right-aligned columns
    rows: tuple[tuple[str, ...], ...]
    left_out: int                              # rows beyond TOP_PLACES


@dataclass(frozen=True)
class GallerySummary:
    course_title: str
    when: str                                  # the period, e.g. "Oct 1, 2026 – Oct 10, 2026"
    compare_when: str | None
    filters: tuple[tuple[str, str], ...]       # (filter, values) of the filters in use
    timezone: str
    generated: str
    highlights: Change
    cards: tuple[str, ...]                     # the highlight cards' metrics, in the page's order
    as_of: str                                 # local time of the newest data, or "" when none arrived
    timeline_chart: charts.Chart
    top_entries: tuple[EntryRow, ...]
    top_viewers: tuple[ViewerRow, ...]
    locations_level: str                       # country, region or city (the page's drill-down)
    locations: tuple[BreakdownRow, ...]
    device_chart: charts.Chart
    operating_systems: tuple[BreakdownRow, ...]
    browsers: tuple[BreakdownRow, ...]
    domain: str | None                         # the page's drill-down: rows are that domain's page URLs
    domains: tuple  # embeds.DomainRow, or embeds.PageRow when drilled into one domain
    tables: tuple[SheetTable, ...]             # the sheets of the page's other blocks shown in PDFs (Block.in_pdf)
    definitions: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class EntrySummary:
    """The single-media page as the PDF prints it, from the page's own blocks (dashboard.ENTRY_BLOCKS)."""

    entry_name: str
    entry_id: str                              # the entry's external id
    media_type: str
    duration: str | None                       # m:ss, None when the catalog has not said
    when: str
    compare_when: str | None
    filters: tuple[tuple[str, str], ...]
    timezone: str
    generated: str
    highlights: Change
    cards: tuple[str, ...]
    as_of: str                                 # local time of the newest data, or "" when none arrived
    timeline_chart: charts.Chart               # "Video performance over time"
    heatmap_chart: charts.Chart                # plays and viewers over the media's own timeline
    funnel_chart: charts.Chart
    tables: tuple[SheetTable, ...]             # top countries, devices, operating systems, browsers, domains
    definitions: tuple[tuple[str, str], ...]


# -- rendering -------------------------------------------------------------------------------------

def url_fetcher():
    """WeasyPrint's fetcher for our PDFs: data: URLs only. A PDF is built from what its template holds,
    so nothing is fetched: no network from a worker, no file a crafted name could point at."""
    try:
        from weasyprint.urls import URLFetcher
    except ImportError:  # WeasyPrint before 68 takes a function
        from weasyprint.urls import default_url_fetcher

        def fetch(url: str, timeout: int = 10, ssl_context=None):
            if not url.startswith("data:"):
                raise ValueError(f"URI uses disallowed protocol: {url[:200]}")
            return default_url_fetcher(url, timeout=timeout, ssl_context=ssl_context)
        return fetch
    return URLFetcher(allowed_protocols={"data"}, allow_redirects=False)


def html_to_pdf(html: str) -> bytes:
    from weasyprint import HTML  # imported here: loading Pango costs time every other command would pay

    return HTML(string=html, url_fetcher=url_fetcher()).write_pdf()


def render_pdf(template_name: str, **context) -> bytes:
    """A template under exports/pdf/ as PDF bytes. Needs an app context only."""
    return html_to_pdf(render_template(template_name, **context))


def room_summary_pdf(session: Session, room_id: int, session_id: int | None, start: datetime | None,
                     end: datetime | None, tz: str) -> bytes:
    """The room's session summary (session_id = a main RoomSession.id of the room), or every session
    that started in [start, end) (aware UTC) when session_id is None."""
    summary = room_summary(session, room_id, session_id, start, end, tz)
    return render_pdf("exports/pdf/room.html", summary=summary)


def gallery_summary_pdf(session: Session, course_id: int, query_args: dict, tz: str) -> bytes:
    """The course's Media Gallery page summary over the page's own URL arguments (range, filters)."""
    return render_pdf("exports/pdf/gallery.html", summary=gallery_summary(session, course_id, query_args, tz))


def entry_summary_pdf(ctx: Context) -> bytes:
    """The single-media page summary for its Context (an entry subject, as `tasks._entry_context` builds it)."""
    return render_pdf("exports/pdf/entry.html", summary=entry_summary(ctx))


# -- room ------------------------------------------------------------------------------------------

def _zone(tz: str) -> ZoneInfo:
    """The zone; FilterError (a ValueError) when `tz` is not a zone name."""
    return ZoneInfo(check_timezone(tz))


def duration_text(seconds: float) -> str:
    """45 -> "45 s", 600 -> "10 min", 5400 -> "1 h 30 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min" if hours and minutes else (f"{hours} h" if hours else f"{minutes} min")


def session_when(started: datetime, ended: datetime | None, tz: str) -> str:
    """The session's local date, start and end time and duration."""
    zone = _zone(tz)
    start_local = started.astimezone(zone)
    text = f"{long_date(start_local.date())} · {start_local:%H:%M}"
    if ended is None:
        return text + " (no end reported yet)"
    end_local = ended.astimezone(zone)
    end_text = f"{end_local:%H:%M}" if end_local.date() == start_local.date() else \
        f"{long_date(end_local.date())} {end_local:%H:%M}"
    return f"{text} – {end_text} ({duration_text((ended - started).total_seconds())})"


def range_when(start: datetime | None, end: datetime | None, tz: str) -> str:
    """The local days of [start, end): "Sessions that started Oct 1, 2026 – Oct 30, 2026"."""
    zone = _zone(tz)
    if start is None and end is None:
        return "Every session"
    first = long_date(start.astimezone(zone).date()) if start else "the first session"
    last = long_date((end - timedelta(microseconds=1)).astimezone(zone).date()) if end else "today"
    return f"Sessions that started on {first}" if first == last else f"Sessions that started {first} – {last}"


def _room_figures(o: rooms.RoomOverview) -> tuple[Figure, ...]:
    """The overview cards of the room page, in its order and wording."""
    def figure(metric: str, value, note: str = "") -> Figure:
        return Figure(metric, metric_format(metric)(value), note)
    return (
        figure("room_unique_viewers", o.unique_viewers,
               f"+ {counted(o.anonymous_stays, 'stay')} by people not signed in" if o.anonymous_stays else ""),
        figure("room_avg_minutes_viewed", o.avg_minutes_viewed, f"{charts.fmt_minutes(o.minutes_viewed)} in all"),
        figure("live_engagement_rate", o.avg_live_engagement_rate,
               f"{METRICS['live_unique_viewers'].label}: {charts.fmt_number(o.unique_live_viewers)}"),
        figure("reactions_rate", o.reactions_rate, counted(o.reactions, "reaction")),
        figure("chat_rate", o.chat_rate, counted(o.chat_messages, "message")),
        figure("polls_rate", o.polls_rate),
        figure("qa_rate", o.qa_rate, counted(o.qa_threads, "thread")),
        figure("attachments_rate", o.downloads_rate, counted(o.downloads, "download")),
        figure("recording_plays", o.recording_plays),
    )


def _timeline_charts(one: rooms.SessionTimeline, tz: str, dated: bool) -> tuple[charts.Chart, charts.Chart]:
    """One session's two charts, titled and labelled as the room page's (render.session_title, minute_labels)."""
    labels, points = minute_labels([p.at for p in one.points], tz, dated), one.points
    title = session_title(one.name, one.started_at, tz) + ": " if dated else ""
    viewers = charts.line_chart(
        f"{title}{METRICS['live_unique_viewers'].label} per minute", labels,
        [charts.Series(METRICS["live_unique_viewers"].label, tuple(p.live_viewers for p in points))],
        width=CHART_WIDTH, height=190, label_header="Minute")
    engagement = charts.line_chart(
        f"{title}{METRICS['live_engagement_rate'].label} per minute", labels,
        [charts.Series(METRICS["live_engagement_rate"].label, tuple(p.engagement_rate for p in points))],
        value_format=metric_format("live_engagement_rate"), width=CHART_WIDTH, height=190, label_header="Minute")
    return viewers, engagement


ROOM_METRICS = ("room_unique_viewers", "room_avg_minutes_viewed", "live_unique_viewers", "live_engagement_rate",
                "reactions_rate", "chat_rate", "polls_rate", "qa_rate", "attachments_rate", "interaction_answer_rate",
                "recording_plays", "recording_unique_viewers", "impressions", "plays", "minutes_viewed",
                "avg_completion_rate")


def room_summary(session: Session, room_id: int, session_id: int | None, start: datetime | None,
                 end: datetime | None, tz: str) -> RoomSummary:
    """Everything the room PDF shows. LookupError for an unknown room, or a session that is not one
    of the room's main sessions; ValueError for an unknown time zone."""
    _zone(tz)
    room = session.get(Room, room_id)
    if room is None:
        raise LookupError(f"no room {room_id}")
    chosen = None
    if session_id is not None:
        chosen = session.get(RoomSession, session_id)
        if chosen is None or chosen.room_id != room.id or chosen.parent_session_id is not None:
            raise LookupError(f"room {room_id} has no main session {session_id}")
    scope = rooms.room_scope(room, chosen, start, end)
    room_name = room.name or room.external_id
    if chosen is not None:
        when = session_when(chosen.started_at, chosen.ended_at, tz)
        title = " · ".join(p for p in (chosen.name, long_date(chosen.started_at.astimezone(_zone(tz)).date())) if p)
        session_count = 1
    else:
        when = range_when(start, end, tz)
        title = when
        session_count = sum(1 for s in rooms.main_sessions(session, [room.id])[room.id]
                            if (start is None or s.started_at >= start) and (end is None or s.started_at < end))

    overview = rooms.overview(session, scope)
    everyone = rooms.attendees(session, scope)
    top = rooms.attendee_table(everyone, sort="minutes_viewed", per_page=TOP_ATTENDEES)
    interactions = []
    for row in rooms.interactions(session, scope):
        detail = rooms.interaction_detail(session, row.interaction_id)
        left_out = max(0, len(detail.text_answers) - MAX_TEXT_ANSWERS)
        if left_out:
            detail = replace(detail, text_answers=detail.text_answers[:MAX_TEXT_ANSWERS])
        interactions.append(InteractionSummary(INTERACTION_KINDS.get(row.kind, row.kind), row.launched_at, detail,
                                               left_out))
    recordings = rooms.recordings(session, scope)
    timeline_charts = tuple(chart for one in rooms.session_timelines(session, scope)
                            for chart in _timeline_charts(one, tz, dated=chosen is None))
    countries, devices = rooms.where_viewers(session, scope, "country"), rooms.where_viewers(session, scope, "device")
    return RoomSummary(
        room_name=room_name, room_id=room.external_id, title=title, when=when, sessions=session_count, timezone=tz,
        generated=localtime(utcnow(), tz), figures=_room_figures(overview), anonymous_stays=overview.anonymous_stays,
        timeline_charts=timeline_charts, attendees=top.rows, attendee_count=top.total,
        attendee_totals=top.totals, interactions=tuple(interactions), recordings=recordings,
        recording_viewers=recordings.viewers[:TOP_RECORDING_VIEWERS],
        countries=tuple(countries[:TOP_PLACES]), devices=tuple(devices[:TOP_PLACES]),
        places_left_out=(max(0, len(countries) - TOP_PLACES), max(0, len(devices) - TOP_PLACES)),
        where_all=rooms.where_totals(session, scope),
        definitions=tuple((METRICS[m].label, METRICS[m].definition) for m in ROOM_METRICS),
    )


# -- gallery ---------------------------------------------------------------------------------------

GALLERY_BLOCKS = ("highlights", "timeline", "top", "locations", "devices", "domains")   # the page's, in its order
# Defined at the PDF's end: its highlight cards, the plays' played-entries line and the top videos' score, then
# the metrics of every block it prints as a table.
GALLERY_METRICS = (*dashboard.HIGHLIGHT_CARDS, "played_entries", "engagement_ranking")
FILTER_NAMES = {"media_type": "Media type", "tag": "Tag", "owner": "Owner", "country": "Country", "region": "Region",
                "city": "City", "domain": "Domain", "device": "Device", "context": "Viewing context"}


def _gallery_metrics() -> tuple[str, ...]:
    """The metrics the gallery PDF shows: its own and those of the blocks it prints as tables."""
    extra = (m for block in dashboard.GALLERY_BLOCKS.values() if block.in_pdf for m in block.metrics)
    return tuple(dict.fromkeys((*GALLERY_METRICS, *extra)))


def sheet_table(sheet: Sheet, tz: str, omit: tuple[str, ...] = ()) -> SheetTable:
    """The first TOP_PLACES rows of a block's sheet, each cell as the page would write it, without the
    columns whose field is in `omit` (the CSV keeps every column)."""
    rows = list(sheet.rows())
    kept = [i for i, column in enumerate(sheet.columns) if column.field not in omit]
    columns = [sheet.columns[i] for i in kept]
    cells = tuple(tuple(_cell(row[i], sheet.columns[i], tz) for i in kept) for row in rows[:TOP_PLACES])
    headers = tuple(METRICS[c.metric].label if c.metric else c.label for c in columns)
    return SheetTable(sheet.title, headers, tuple(c.metric is not None for c in columns), cells,
                      max(0, len(rows) - TOP_PLACES))


def _cell(value, column: Col, tz: str) -> str:
    if value is None:
        return charts.NO_VALUE
    if column.metric is not None:
        return metric_format(column.metric)(value)
    if isinstance(value, datetime):
        return localtime(value, tz)
    if isinstance(value, date):
        return long_date(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return charts.fmt_number(value) if isinstance(value, (int, float)) else str(value)


def bucket_labels(buckets: list[str]) -> list[str]:
    """Short axis labels for local day ("2026-10-05") or month ("2026-10") buckets: "Oct 5" (with the year
    when the days span several years) or "Oct 2026"."""
    labels = []
    years = {bucket[:4] for bucket in buckets}
    for bucket in buckets:
        if len(bucket) == 7:
            labels.append(f"{date.fromisoformat(bucket + '-01'):%b %Y}")
        else:
            day = date.fromisoformat(bucket)
            labels.append(f"{day:%b} {day.day}" + (f", {day.year}" if len(years) > 1 else ""))
    return labels


def gallery_context(session: Session, course: Course, query_args, tz: str) -> Context:
    """The gallery page's Context for these URL arguments (a MultiDict or a dict of lists), without a
    request: `context.build_context`, as the page builds it. FilterError says what is wrong."""
    args = query_args if isinstance(query_args, MultiDict) else MultiDict(
        [(k, v) for k, values in dict(query_args).items()
         for v in (values if isinstance(values, (list, tuple)) else [values])])
    return build_context(session, Subject.of_course(course), args, tz, utcnow())


def _filters_in_use(ctx: Context, session: Session) -> tuple[tuple[str, str], ...]:
    from lti_tool.models import Person

    used = []
    for arg, values in ctx.filters.query_args().items():
        if arg not in FILTER_NAMES:
            continue
        values = values if isinstance(values, list) else [values]
        if arg == "owner":
            people = session.scalars(select(Person).where(Person.id.in_([int(v) for v in values])))
            names = {p.id: p.display_name for p in people}
            values = [names.get(int(v)) or f"person {v}" for v in values]
        elif arg == "country":
            values = [country_name(v) for v in values]
        elif arg == "context":
            values = [filter_rules.CONTEXTS[v] for v in values]
        used.append((FILTER_NAMES[arg], ", ".join(values)))
    return tuple(used)


def gallery_summary(session: Session, course_id: int, query_args, tz: str) -> GallerySummary:
    """Everything the gallery PDF shows, from the page's own blocks. LookupError for an unknown course,
    filters.FilterError for arguments the page would refuse, ValueError for an unknown time zone."""
    course = session.get(Course, course_id)
    if course is None:
        raise LookupError(f"no course {course_id}")
    ctx = gallery_context(session, course, query_args, tz)
    highlights, timeline, top, locations, devices, domains = (
        dashboard.GALLERY_BLOCKS[name].fn(ctx) for name in GALLERY_BLOCKS)

    timeline_chart = _timeline_chart(ctx, timeline)
    device_chart = charts.share_bar("Plays by device type",
                                    [((r.value or "other").capitalize(), r.plays) for r in devices["types"]],
                                    width=CHART_WIDTH, label_header="Device")
    when, compare_when = _period_when(ctx)
    return GallerySummary(
        course_title=course.title or course.label or course.context_id, when=when, compare_when=compare_when,
        filters=_filters_in_use(ctx, session), timezone=tz, generated=localtime(utcnow(), tz),
        highlights=highlights["change"], cards=tuple(highlights["cards"]),
        as_of=localtime(highlights["as_of"], tz) if highlights["as_of"] else "",
        timeline_chart=timeline_chart, top_entries=tuple(top["entries"]), top_viewers=tuple(top["viewers"]),
        locations_level=locations["level"], locations=tuple(locations["rows"][:TOP_PLACES]),
        device_chart=device_chart, operating_systems=tuple(r for r in devices["os"] if r.plays),
        browsers=tuple(r for r in devices["browsers"] if r.plays),
        domain=domains["domain"], domains=tuple(domains["rows"][:TOP_PLACES]),
        tables=tuple(sheet_table(sheet, tz) for block in dashboard.GALLERY_BLOCKS.values()
                     if block.in_pdf and block.sheets for sheet in block.sheets(ctx)),
        definitions=tuple((METRICS[m].label, METRICS[m].definition) for m in _gallery_metrics()),
    )



def _timeline_chart(ctx: Context, timeline: dict) -> charts.Chart:
    """The timeline block's chosen metric per day or month, with the compare period's line when there is one."""
    metric = timeline["metric"]
    series = [series_of(timeline["points"], metric, "This period")]
    if timeline["compare"]:
        series.append(series_of(timeline["compare"], metric, "Compare period", "compare"))
    return charts.line_chart(
        f"{METRICS[metric].label} by {ctx.period.granularity}",
        bucket_labels([p.bucket for p in timeline["points"]]), series, value_format=metric_format(metric),
        width=CHART_WIDTH, height=220)


def _period_when(ctx: Context) -> tuple[str, str | None]:
    """The period's days, and the compare period's (None without one)."""
    period = ctx.period
    compare = (f"{long_date(period.compare.first_day)} – {long_date(period.compare.last_day)}"
               if period.compare else None)
    return f"{long_date(period.first_day)} – {long_date(period.last_day)}", compare


# -- single media ----------------------------------------------------------------------------------

ENTRY_TABLE_BLOCKS = ("locations", "devices", "domains")   # printed as their sheets' first TOP_PLACES rows
# Left out of those tables: of one media, played entries is 0 or 1, and the last-seen time crowds the page.
ENTRY_TABLE_OMIT = ("played_entries", "last_seen_at")


def entry_summary(ctx: Context) -> EntrySummary:
    """Everything the single-media PDF shows, from the entry page's own blocks over its Context."""
    blocks = dashboard.ENTRY_BLOCKS
    highlights, timeline, heat, funnel = (blocks[name].fn(ctx) for name in ("highlights", "timeline", "heatmap",
                                                                             "funnel"))
    entry = ctx.subject.entry
    duration = entry.duration_seconds
    heatmap_chart = charts.timeline_heatmap(
        "Plays and unique viewers over the media's timeline", [p.plays for p in heat["points"]],
        [p.viewers for p in heat["points"]], duration_seconds=duration, width=CHART_WIDTH, height=160)
    funnel_chart = charts.funnel_chart("Impressions to plays to milestones",
                                       [(step.label, step.count) for step in funnel["steps"]], width=CHART_WIDTH)
    tables = tuple(sheet_table(sheet, ctx.timezone, ENTRY_TABLE_OMIT) for name in ENTRY_TABLE_BLOCKS
                   for sheet in blocks[name].sheets(ctx))
    metrics = (*dashboard.HIGHLIGHT_CARDS, *(m for name in ENTRY_TABLE_BLOCKS for m in blocks[name].metrics))
    when, compare_when = _period_when(ctx)
    return EntrySummary(
        entry_name=entry.display_name, entry_id=entry.external_id, media_type=entry.media_type,
        duration=charts.fmt_clock(duration) if duration else None, when=when, compare_when=compare_when,
        filters=_filters_in_use(ctx, ctx.session), timezone=ctx.timezone, generated=localtime(utcnow(), ctx.timezone),
        highlights=highlights["change"], cards=tuple(highlights["cards"]),
        as_of=localtime(highlights["as_of"], ctx.timezone) if highlights["as_of"] else "",
        timeline_chart=_timeline_chart(ctx, timeline), heatmap_chart=heatmap_chart, funnel_chart=funnel_chart,
        tables=tables, definitions=tuple((METRICS[m].label, METRICS[m].definition) for m in dict.fromkeys(metrics)),
    )
