"""The blocks of the media dashboards (course gallery, single media, My Analytics, My viewing, the
embed audit) and each page's registry of them (see `blocks`).

A page computes every block; an HTMX request computes only the block it swaps. Each block is a
function of one Context (`context.build_context`), built once per request from the URL's filters.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.models import Play, PlayerLoad
from lti_tool.models.types import MAX_INTEGER

from . import embeds, reports
from .blocks import Block, Col, Sheet, registry
from .context import Context
from .metrics import Scope, heatmap, person_heat, play_totals, reads_rollups
from .people import named_people
from .tables import Table, TableSpec, paginate_rows

TIMELINE_METRICS = ("impressions", "plays", "unique_viewers", "minutes_viewed", "avg_drop_off", "avg_completion_rate")
PEOPLE_SORTS = ("plays", "name", "impressions", "minutes_viewed", "avg_completion_rate", "total_completion_rate",
                "last_viewed_at")
PEOPLE_TABLE = TableSpec(PEOPLE_SORTS, "plays", search=("name", "email"),
                         value=lambda row, column: getattr(row.engagement, column))
DETAILS_TABLE = TableSpec((), "", prefix="d")   # the timeline's details keep their order


def data_as_of(session: Session, scope: Scope) -> datetime | None:
    """When the newest fact in scope happened (so a page can say how fresh it is)."""
    if reads_rollups(session, scope):
        total = play_totals(session, scope)[None]
        return max([t for t in (total.last_viewed_at, total.last_loaded_at) if t is not None], default=None)
    newest_play = session.scalar(select(func.max(Play.last_event_at)).where(*scope.where(Play, Play.started_at)))
    newest_load = session.scalar(select(func.max(PlayerLoad.occurred_at)).where(
        *scope.where(PlayerLoad, PlayerLoad.occurred_at)))
    return max([t for t in (newest_play, newest_load) if t is not None], default=None)


# The highlight cards of the page and the PDF, in order: each is a metric of `metrics.Highlights`.
HIGHLIGHT_CARDS = ("impressions", "plays", "unique_viewers", "minutes_viewed", "avg_minutes_per_play",
                   "avg_completion_rate")


def highlights_block(ctx: Context):
    return {"change": reports.highlights_with_change(ctx.session, ctx.scope, ctx.compare_scope),
            "as_of": ctx.as_of(data_as_of(ctx.session, ctx.scope)), "cards": HIGHLIGHT_CARDS}


def context_block(ctx: Context):
    return {"split": reports.context_split(ctx.session, ctx.scope)}


def timeline_block(ctx: Context):
    metric = ctx.options.get("metric") if ctx.options.get("metric") in TIMELINE_METRICS else "impressions"
    points = reports.timeline(ctx.session, ctx.scope, ctx.period, ctx.timezone)
    compare = (reports.timeline(ctx.session, ctx.compare_scope, ctx.period.compare, ctx.timezone)
               if ctx.compare_scope is not None else None)
    details = ctx.options.get("details") if ctx.options.get("details") in ("dates", "entries", "users") else None
    rows = []
    if details == "dates":
        rows = list(reversed(points))
    elif details == "entries":
        rows = reports.entries_table(ctx.session, ctx.scope)
    elif details == "users":
        rows = [r.engagement for r in people_rows(ctx)]
    table = paginate_rows(rows, DETAILS_TABLE, ctx.options) if details else None
    return {"metric": metric, "points": points, "compare": compare, "details": details, "table": table}


def top_block(ctx: Context):
    entries = reports.entries_table(ctx.session, ctx.scope)
    return {"entries": [e for e in entries if e.plays][:10],
            "viewers": reports.top_viewers(ctx.session, ctx.scope, course_id=ctx.course_id, every_viewer=ctx.every_viewer)}


def insights_block(ctx: Context):
    def top(dimension):
        rows = [r for r in ctx.breakdown(ctx.scope, dimension) if r.value and r.plays]
        return rows[0] if rows else None
    return {"domain": top("domain"), "country": top("country"), "device": top("device")}


def funnel_block(ctx: Context):
    """The funnel; milestone=25|50|75|100 also lists who reached that milestone: the entries, and the
    people the page may name (the others folded, as in the people table)."""
    milestone = _int(ctx.options.get("milestone"), None)
    reach = None
    if milestone in reports.MILESTONES:
        reach = reports.milestone_reach(ctx.session, ctx.scope, milestone, ctx.course_id, ctx.every_viewer)
    return {"steps": reports.funnel(ctx.session, ctx.scope), "milestones": reports.MILESTONES, "reach": reach}


def locations_block(ctx: Context):
    country, region = ctx.options.get("loc_country"), ctx.options.get("loc_region")
    scope = ctx.scope
    if country and region:
        level, scope = "city", _narrow(scope, countries=(country,), regions=(region,))
    elif country:
        level, scope = "region", _narrow(scope, countries=(country,))
    else:
        level = "country"
    return {"level": level, "country": country, "region": region,
            "rows": ctx.breakdown(scope, level)[:50]}


def devices_block(ctx: Context):
    return {"types": ctx.breakdown(ctx.scope, "device"),
            "os": ctx.breakdown(ctx.scope, "os")[:10],
            "browsers": ctx.breakdown(ctx.scope, "browser")[:10]}


def domains_block(ctx: Context):
    """Domains ranked by plays with what each means; drill_domain=<key> lists that domain's page URLs
    with the entries shown on each."""
    key = (ctx.options.get("drill_domain") or "")[:255]
    if key:
        return {"domain": key, "classification": ctx.rules.classify(None if key == embeds.UNKNOWN_DOMAIN else key),
                "rows": embeds.page_rows(ctx.session, ctx.scope, key, ctx.rules)[:100]}
    return {"domain": None, "rows": embeds.with_meaning(ctx.breakdown(ctx.scope, "domain")[:50], ctx.rules)}


def people_block(ctx: Context) -> Table:
    """People with their engagement (enrolled people who watched nothing included), searched, sorted, paged."""
    return paginate_rows(people_rows(ctx), PEOPLE_TABLE, ctx.options)


def people_rows(ctx: Context) -> list[reports.EngagementRow]:
    return ctx.cached("people", lambda: reports.people_engagement(ctx.session, ctx.scope, ctx.course_id,
                                                                  ctx.every_viewer))


def entry_heatmap_block(ctx: Context):
    """The entry's heatmap over its timeline, and one person's when `person` is chosen."""
    points = heatmap(ctx.session, ctx.scope)
    person = _int(ctx.options.get("person"), None)
    allowed = named_people(ctx.session, ctx.course_id, ctx.every_viewer)  # None: everyone
    if person is not None and allowed is not None and person not in allowed:
        person = None
    name = None
    if person:
        from lti_tool.models import Person

        found = ctx.session.get(Person, person)
        name = found.display_name if found else None
    return {"points": points, "person": person if name else None, "person_name": name,
            "levels": person_heat(ctx.session, ctx.scope, person) if name else None}


@dataclass(frozen=True)
class Choice:
    """One value a filter offers: its URL value, what the viewer reads, and whether it is chosen."""
    value: str
    label: str
    selected: bool


MAX_CHOICES = 100   # per filter: the values with the most plays


def filter_options(ctx: Context) -> dict[str, list[Choice]]:
    """Choices for the filter bar: the domains, countries, regions and cities seen and the tags and owners
    of the entries in scope, each ignoring its own filter (so choosing one keeps the others offered).
    Values chosen in the URL stay offered even without plays, so they can be unchosen."""
    if ctx.subject.kind == "room":
        return {name: [] for name in ("domains", "countries", "regions", "cities", "tags", "owners")}
    from lti_tool.models import MediaEntry, Person

    filters = ctx.filters
    places = {name: [r.value for r in ctx.breakdown(_narrow(ctx.scope, **{name: ()}), dimension) if r.value]
              for name, dimension in (("countries", "country"), ("regions", "region"), ("cities", "city"))}
    domains = [embeds.domain_key(r.value) for r in ctx.breakdown(_narrow(ctx.scope, domains=()), "domain")]
    tags, owner_ids = set(), set()
    if ctx.scope.entry_ids:
        for entry_tags, owner in ctx.session.execute(select(MediaEntry.tags, MediaEntry.owner_person_id)
                                                     .where(MediaEntry.id.in_(ctx.scope.entry_ids))):
            tags.update(entry_tags or [])
            if owner:
                owner_ids.add(owner)
    owners = sorted(((str(p.id), p.display_name) for p in ctx.session.scalars(select(Person).where(Person.id.in_(owner_ids)))),
                    key=lambda o: o[1].lower()) if owner_ids else []
    return {"domains": _choices([(d, "(no page URL)" if d == embeds.UNKNOWN_DOMAIN else d) for d in domains],
                                filters.domains),
            **{name: _choices([(v, v) for v in values], getattr(filters, name)) for name, values in places.items()},
            "tags": _choices([(t, t) for t in sorted(tags)], filters.tags),
            "owners": _choices(owners, tuple(str(o) for o in filters.owners))}


def _choices(offered: list[tuple[str, str]], chosen: tuple[str, ...]) -> list[Choice]:
    """The first MAX_CHOICES offered (value, label) pairs, then any chosen value not among them; a value
    is chosen whatever its case, as the filters match places case-insensitively."""
    chosen_keys = {c.lower() for c in chosen}
    choices = [Choice(value, label, value.lower() in chosen_keys) for value, label in offered[:MAX_CHOICES]]
    seen = {c.value.lower() for c in choices}
    return choices + [Choice(value, value, True) for value in chosen if value.lower() not in seen]


def _int(value, default):
    """A block option as an integer; the default when it is not one or no id could be that large."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if abs(number) <= MAX_INTEGER else default


def _narrow(scope: Scope, **dimensions) -> Scope:
    from dataclasses import replace

    return replace(scope, **dimensions)


def my_viewing_block(ctx: Context):
    """A viewer's own viewing: what they watched, minutes and completion."""
    return {"entries": [e for e in reports.entries_table(ctx.session, ctx.scope) if e.plays],
            "totals": reports.highlights_with_change(ctx.session, ctx.scope, None).current}


# -- what the blocks are as tables (CSV sections, PDF tables) -----------------------------------------

HIGHLIGHT_COLUMNS = (
    Col.of("impressions"), Col.of("plays"), Col.of("played_entries"), Col.of("unique_viewers"),
    Col("anonymous_plays", label="Plays by viewers not signed in"), Col.of("minutes_viewed"),
    Col.of("avg_minutes_per_play"), Col.of("avg_completion_rate"), Col.of("avg_drop_off"),
    Col.of("play_through_ratio"), Col.of("load_play_ratio"),
)
TIMELINE_COLUMNS = (Col("bucket", label="Date"), Col.of("impressions"), Col.of("plays"), Col.of("unique_viewers"),
                    Col.of("minutes_viewed"), Col.of("avg_drop_off"),
                    Col.of("avg_completion_rate"))
ENTRY_COLUMNS = (Col("external_id", label="Entry id"), Col("name", label="Name"),
                 Col("media_type", label="Media type"), Col.of("impressions"), Col.of("plays"),
                 Col.of("unique_viewers"), Col.of("minutes_viewed"), Col.of("avg_completion_rate"),
                 Col.of("engagement", "engagement_ranking"), Col("last_played_at", label="Last played"))
PEOPLE_COLUMNS = (Col("name", label="Name"), Col("email", label="Email"), Col("role_label", label="Course role"),
                  Col.of("impressions"), Col.of("plays"), Col.of("minutes_viewed"),
                  Col.of("avg_completion_rate"), Col.of("total_completion_rate"),
                  Col("last_viewed_at", label="Last viewed"))
BREAKDOWN_COLUMNS = (Col.of("impressions"), Col.of("plays"), Col.of("unique_viewers"), Col.of("minutes_viewed"),
                     Col.of("avg_completion_rate"), Col.of("played_entries"),
                     Col("last_seen_at", label="Last seen"))


def values(row, columns: tuple[Col, ...]) -> tuple:
    """A row's cells for these columns."""
    return tuple(getattr(row, c.field) for c in columns)


def highlights_sheets(ctx: Context) -> list[Sheet]:
    def rows():
        change = highlights_block(ctx)["change"]
        yield ("This period", ctx.period.first_day, ctx.period.last_day, *values(change.current, HIGHLIGHT_COLUMNS))
        if change.previous is not None:
            compare = ctx.period.compare
            yield ("Compare period", compare.first_day, compare.last_day, *values(change.previous, HIGHLIGHT_COLUMNS))
    return [Sheet("Highlights", (Col("period", label="Period"), Col("first_day", label="From"),
                                 Col("last_day", label="To"), *HIGHLIGHT_COLUMNS), rows)]


def timeline_sheets(ctx: Context) -> list[Sheet]:
    return [Sheet("Metrics over time", TIMELINE_COLUMNS,
                  lambda: (values(p, TIMELINE_COLUMNS) for p in timeline_block(ctx)["points"]))]


def top_sheets(ctx: Context) -> list[Sheet]:
    return [Sheet("Media engagement", ENTRY_COLUMNS,
                  lambda: (values(r, ENTRY_COLUMNS) for r in reports.entries_table(ctx.session, ctx.scope)))]


def people_sheets(ctx: Context) -> list[Sheet]:
    def rows():
        for row in people_rows(ctx):
            e = row.engagement
            yield (e.name, e.email, row.role_label, e.impressions, e.plays, e.minutes_viewed, e.avg_completion_rate,
                   e.total_completion_rate, e.last_viewed_at)
    return [Sheet("User engagement", PEOPLE_COLUMNS, rows)]


def breakdown_sheets(*dimensions: tuple[str, str, str]):
    """Sheets of whole breakdowns: (dimension, title, its column's label) each."""
    def sheets(ctx: Context) -> list[Sheet]:
        def rows(dimension: str):
            return lambda: ((r.value or "Unknown", *values(r, BREAKDOWN_COLUMNS))
                            for r in ctx.breakdown(ctx.scope, dimension))
        return [Sheet(title, (Col("value", label=label), *BREAKDOWN_COLUMNS), rows(dimension))
                for dimension, title, label in dimensions]
    return sheets


HIGHLIGHTS = Block("highlights", highlights_block, ("impressions", "plays", "played_entries", "unique_viewers",
                   "minutes_viewed", "avg_minutes_per_play", "avg_completion_rate", "avg_drop_off", "play_through_ratio", "load_play_ratio"),
                   sheets=highlights_sheets)
CONTEXT = Block("context", context_block, ("plays",))
TIMELINE = Block("timeline", timeline_block, TIMELINE_METRICS, DETAILS_TABLE, sheets=timeline_sheets)
TOP = Block("top", top_block, ("plays", "unique_viewers", "minutes_viewed", "avg_completion_rate",
                               "engagement_ranking"), sheets=top_sheets)
INSIGHTS = Block("insights", insights_block, ("plays",))
FUNNEL = Block("funnel", funnel_block, ("impressions", "plays"))
PEOPLE = Block("people", people_block, ("impressions", "plays", "minutes_viewed", "avg_completion_rate",
                                        "total_completion_rate"), PEOPLE_TABLE, sheets=people_sheets)
BREAKDOWN_METRICS = ("impressions", "plays", "unique_viewers", "minutes_viewed", "avg_completion_rate")
LOCATIONS = Block("locations", locations_block, BREAKDOWN_METRICS,
                  sheets=breakdown_sheets(("country", "Countries", "Country")))
DEVICES = Block("devices", devices_block, BREAKDOWN_METRICS,
                sheets=breakdown_sheets(("device", "Devices", "Device"), ("os", "Operating systems", "Operating system"),
                                        ("browser", "Browsers", "Browser")))
DOMAINS = Block("domains", domains_block, BREAKDOWN_METRICS, sheets=breakdown_sheets(("domain", "Domains", "Domain")))
HEATMAP = Block("heatmap", entry_heatmap_block, ("plays", "unique_viewers"))
VIEWING = Block("viewing", my_viewing_block, ("plays", "minutes_viewed", "avg_completion_rate"))

GALLERY_BLOCKS = registry(HIGHLIGHTS, CONTEXT, TIMELINE, TOP, INSIGHTS, FUNNEL, LOCATIONS, DEVICES, DOMAINS, PEOPLE)
ENTRY_BLOCKS = registry(HIGHLIGHTS, TIMELINE, HEATMAP, FUNNEL, PEOPLE, LOCATIONS, DEVICES, DOMAINS)
MY_BLOCKS = registry(HIGHLIGHTS, TIMELINE, TOP, FUNNEL, PEOPLE, LOCATIONS, DEVICES, DOMAINS)
VIEWING_BLOCKS = registry(VIEWING)


AUDIT_DEFAULTS = {"range": "last12m"}   # the audit looks back a year unless the URL says otherwise
AUDIT_ROWS_SHOWN = 200      # rows per domain on the audit page (the CSV export has them all)
AUDIT_FOCUS_ROWS = 2_000    # rows when one domain is drilled into


def audit_block(ctx: Context):
    """The embed audit; focus=<domain key> shows that domain's group alone (the drill-down)."""
    result = embeds.audit(ctx.session, ctx.scope, ctx.rules)
    focus = (ctx.options.get("focus") or "")[:255] or None
    groups = [g for g in result.groups if focus is None or g.domain.key == focus]
    limit = AUDIT_FOCUS_ROWS if focus else AUDIT_ROWS_SHOWN
    return {"audit": result, "focus": focus if groups else None, "groups": groups if groups else list(result.groups),
            "limit": limit}


AUDIT_BLOCKS = registry(Block("audit", audit_block, ("plays", "impressions")))
