"""The dashboard reports over a Scope: timeline, top entries, funnel, breakdowns, people.

Every page, the report API and exports call these, so a number is computed one way everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Iterator
from datetime import date, datetime, timezone
from operator import methodcaller

from sqlalchemy import DateTime, case, func, select, type_coerce
from sqlalchemy.orm import Session

from lti_tool.models import Enrollment, MediaEntry, Person, Play, PlayerEvent, PlayerLoad, PlayRollup

from . import definitions as d
from .buckets import FORMATS, bucket, spans
from .filters import Period
from .metrics import (NO_PLAYS, Grouping, Highlights, PersonEngagement, Scope, by_column, highlights, per_person,
                      play_totals, reads_rollups)
from .people import OUTSIDE_COURSE, named_people


@dataclass(frozen=True)
class Change:
    current: Highlights
    previous: Highlights | None

    def delta(self, name: str) -> float | None:
        """Relative change of a metric against the compare period, as a fraction (0.25 = +25 %)."""
        if self.previous is None:
            return None
        now, before = getattr(self.current, name), getattr(self.previous, name)
        if now is None or not before:
            return None
        return (now - before) / before


def highlights_with_change(session: Session, scope: Scope, compare_scope: Scope | None) -> Change:
    return Change(highlights(session, scope), highlights(session, compare_scope) if compare_scope else None)


@dataclass(frozen=True)
class TimelinePoint:
    bucket: str                      # local day "YYYY-MM-DD" or month "YYYY-MM"
    impressions: int
    plays: int
    unique_viewers: int
    minutes_viewed: float
    avg_drop_off: float | None       # fraction 0-1
    avg_completion_rate: float | None  # percent 0-100
    first_day: date | None = None    # the local days the point covers, inclusive (None: no day, as at
    last_day: date | None = None     # 29 February in a compare period a year earlier)


def timeline(session: Session, scope: Scope, period: Period, tz: str) -> list[TimelinePoint]:
    """One point per local day or month of the period, days without data included.

    A compare period (`period.compare` of the current one) gives the current period's buckets, point
    for point: each holds the compare days at the same position (filters._compare), so a compare
    series always has as many points as the current one and each of its days counts once."""
    dialect = session.get_bind().dialect.name
    totals = play_totals(session, scope, Grouping(
        bucket(Play.started_at, period.start, period.end, tz, period.granularity, dialect, period.shifts),
        bucket(PlayerLoad.occurred_at, period.start, period.end, tz, period.granularity, dialect, period.shifts),
        _rollup_bucket(period, tz, scope), months=period.granularity == "month" and not period.shifts))
    return [TimelinePoint(key, first_day=first_day, last_day=last_day,
                          **totals.get(key, NO_PLAYS).values_for(TimelinePoint))
            for key, first_day, last_day in spans(period.first_day, period.last_day, period.granularity, period.shifts,
                                                         period.drawn_on)]


def _rollup_bucket(period: Period, tz: str, scope: Scope):
    """The timeline's bucket of a rollup row: its local day (or month), moved by the compare period's
    shifts; None (the plays answer) when the scope's zone or days are not the period's."""
    if scope.zone != tz or scope.first_day != period.first_day or scope.last_day != period.last_day:
        return None
    day = PlayRollup.day
    if period.shifts:
        moves = [(PlayRollup.day >= first, days) for first, days in reversed(period.shifts[1:])]
        day = day + (case(*moves, else_=period.shifts[0][1]) if moves else period.shifts[0][1])
    return func.to_char(day, FORMATS[period.granularity][0])


@dataclass(frozen=True)
class EntryRow:
    entry_id: int
    external_id: str
    name: str
    media_type: str
    impressions: int
    plays: int
    unique_viewers: int
    minutes_viewed: float
    avg_completion_rate: float | None
    engagement: float                # 0-10 (DESIGN §5 engagement ranking)
    last_played_at: datetime | None


def entries_table(session: Session, scope: Scope) -> list[EntryRow]:
    """Every entry in scope with its metrics, ranked by engagement (then plays, then name)."""
    totals = play_totals(session, scope, by_column("entry_id"))
    ids = set(totals) | set(scope.entry_ids or ())
    entries = {e.id: e for e in session.scalars(select(MediaEntry).where(MediaEntry.id.in_(ids or {-1})))}
    max_plays = max((t.plays for t in totals.values()), default=0)
    max_viewers = max((t.unique_viewers for t in totals.values()), default=0)
    rows = []
    for entry_id, entry in entries.items():
        total = totals.get(entry_id, NO_PLAYS)
        engagement = d.engagement_ranking(total.plays, max_plays, total.unique_viewers, max_viewers,
                                          total.avg_completion_rate)
        rows.append(EntryRow(entry_id, entry.external_id, entry.display_name, entry.media_type, engagement=engagement,
                             **total.values_for(EntryRow)))
    return sorted(rows, key=lambda r: (-r.engagement, -r.plays, r.name.lower()))


@dataclass(frozen=True)
class ViewerRow:
    person_id: int
    name: str
    plays: int


def top_viewers(session: Session, scope: Scope, limit: int = 10, course_id: int | None = None,
                every_viewer: bool = False) -> list[ViewerRow]:
    """Signed-in viewers with the most plays, among those the dashboard may name (people.named_people)."""
    named = named_people(session, course_id, every_viewer)
    totals = play_totals(session, scope, by_column("person_id"))
    rows = sorted(((pid, total.plays) for pid, total in totals.items()
                   if pid is not None and total.plays > 0 and (named is None or pid in named)),
                  key=lambda row: (-row[1], row[0]))[:limit]
    names = {p.id: p.display_name for p in session.scalars(select(Person).where(Person.id.in_([r[0] for r in rows])))}
    return [ViewerRow(pid, names.get(pid, "Unknown"), n) for pid, n in rows]


@dataclass(frozen=True)
class FunnelStep:
    label: str
    count: int


def funnel(session: Session, scope: Scope) -> list[FunnelStep]:
    """Impressions -> plays -> plays reaching 25, 50, 75 and 100 %."""
    if reads_rollups(session, scope):
        r = PlayRollup
        impressions, plays, *quartiles = session.execute(select(*[func.coalesce(func.sum(c), 0) for c in (
            r.impressions, r.plays, r.reached_25, r.reached_50, r.reached_75, r.reached_100)])
            .where(*scope.rollup_where())).one()
    else:
        reached = [func.coalesce(func.sum(case((Play.highest_quartile >= q, 1), else_=0)), 0) for q in (25, 50, 75, 100)]
        plays, *quartiles = session.execute(select(func.count(Play.id), *reached)
                                            .where(*scope.where(Play, Play.started_at))).one()
        impressions = session.scalar(select(func.count(PlayerLoad.id)).where(*scope.where(PlayerLoad, PlayerLoad.occurred_at)))
    return [FunnelStep("Player impressions", impressions), FunnelStep("Plays", plays),
            *[FunnelStep(f"Reached {q} %", n) for q, n in zip((25, 50, 75, 100), quartiles)]]


MILESTONES = (25, 50, 75, 100)   # the funnel's playthrough milestones, percent of the media (0-100)


@dataclass(frozen=True)
class ReachRow:
    """An entry or a person with how many of its plays in scope reached a milestone."""

    key: int | None        # MediaEntry.id or Person.id; None for a row that stands for several people
    name: str
    reached: int           # plays that reached the milestone
    plays: int             # all its plays in scope


@dataclass(frozen=True)
class MilestoneReach:
    """Who reached a playthrough milestone: entries and people, most plays reaching it first."""

    milestone: int                     # percent, one of MILESTONES
    entries: tuple[ReachRow, ...]
    people: tuple[ReachRow, ...]       # named people; others folded (people.named_people)


def milestone_reach(session: Session, scope: Scope, milestone: int, course_id: int | None = None,
                    every_viewer: bool = False) -> MilestoneReach:
    """The entries and people whose plays reached `milestone` percent (a play reaches it when its
    highest quartile is at least that, as `funnel` counts them). People the dashboard may not name
    are one OUTSIDE_COURSE row and plays by people not signed in one "Unknown" row, as in the people table."""
    if milestone not in MILESTONES:
        raise ValueError(f"a milestone is one of {MILESTONES}")
    if reads_rollups(session, scope):
        r = PlayRollup
        rows = session.execute(select(r.entry_id, r.person_id, func.sum(r.plays),
                                      func.sum(getattr(r, f"reached_{milestone}")))
                               .where(*scope.rollup_where()).group_by(r.entry_id, r.person_id)
                               .having(func.sum(r.plays) > 0)).all()
    else:
        reached = func.coalesce(func.sum(case((Play.highest_quartile >= milestone, 1), else_=0)), 0)
        rows = session.execute(select(Play.entry_id, Play.person_id, func.count(Play.id), reached)
                               .where(*scope.where(Play, Play.started_at)).group_by(Play.entry_id, Play.person_id)).all()
    named = named_people(session, course_id, every_viewer)
    by_entry: dict[int, list[int]] = {}
    by_person: dict[int | str | None, list[int]] = {}
    for entry_id, person_id, plays, hits in rows:
        _add(by_entry, entry_id, hits, plays)
        folded = person_id is not None and named is not None and person_id not in named
        _add(by_person, OUTSIDE_COURSE if folded else person_id, hits, plays)
    entry_names = {e.id: e.display_name for e in session.scalars(select(MediaEntry).where(
        MediaEntry.id.in_(list(by_entry) or [-1])))}
    person_ids = [k for k in by_person if isinstance(k, int)]
    person_names = {p.id: p.display_name
                    for p in session.scalars(select(Person).where(Person.id.in_(person_ids or [-1])))}
    entries = [ReachRow(k, entry_names.get(k, "Unknown"), *n) for k, n in by_entry.items() if n[0]]
    people = [ReachRow(k if isinstance(k, int) else None,
                       person_names.get(k, "Unknown") if isinstance(k, int) else (k or "Unknown"), *n)
              for k, n in by_person.items() if n[0]]
    return MilestoneReach(milestone, _by_reach(entries), _by_reach(people))


def _add(totals: dict, key, reached: int, plays: int) -> None:
    counts = totals.setdefault(key, [0, 0])
    counts[0] += reached
    counts[1] += plays


def _by_reach(rows: list[ReachRow]) -> tuple[ReachRow, ...]:
    """Most plays reaching the milestone first; a folded row is placed by its numbers like any other."""
    return tuple(sorted(rows, key=lambda r: (-r.reached, -r.plays, r.name.lower())))


DIMENSIONS = {
    "country": "country", "region": "region", "city": "city", "device": "device_type", "os": "os",
    "browser": "browser", "domain": "domain", "url": "url",
}


@dataclass(frozen=True)
class BreakdownRow:
    value: str | None                # None: not known (e.g. no location, no page URL)
    impressions: int
    plays: int
    unique_viewers: int
    minutes_viewed: float
    avg_completion_rate: float | None
    played_entries: int
    last_seen_at: datetime | None


def breakdown(session: Session, scope: Scope, dimension: str) -> list[BreakdownRow]:
    """Metrics per value of a dimension (country, region, city, device, os, browser, domain, url), by plays."""
    rows = [BreakdownRow(value, **total.values_for(BreakdownRow))
            for value, total in play_totals(session, scope, by_column(DIMENSIONS[dimension])).items()]
    return sorted(rows, key=lambda r: (-r.plays, -r.impressions, r.value is None, r.value or ""))


@dataclass(frozen=True)
class ContextSplit:
    inside: int      # plays inside the gallery/channel page
    elsewhere: int   # plays of its media embedded elsewhere


def context_split(session: Session, scope: Scope) -> ContextSplit:
    plays = {ctx: total.plays for ctx, total in play_totals(session, scope, by_column("context_category_id")).items()}
    total = sum(plays.values())
    in_page = plays.get(scope.context_category_id, 0) if scope.context_category_id is not None else 0
    return ContextSplit(in_page, total - in_page)


@dataclass(frozen=True)
class EngagementRow:
    engagement: PersonEngagement
    role_label: str | None           # their course role, when enrolled
    viewed: bool


def people_engagement(session: Session, scope: Scope, course_id: int | None = None,
                      every_viewer: bool = False) -> list[EngagementRow]:
    """Engagement per person; members of the course (a course role) who watched nothing are listed as not viewed.

    People the dashboard may not name (people.named_people: with a course, those not enrolled in it,
    unless `every_viewer`) are folded into one "Viewers outside this course" row: no names, only numbers.
    """
    rows = per_person(session, scope)
    roles: dict[int, str] = {}
    if course_id is not None:
        enrolled = session.execute(select(Enrollment.person_id, Enrollment.role_label, Enrollment.level, Person)
                                   .join(Person, Person.id == Enrollment.person_id)
                                   .where(Enrollment.course_id == course_id)).all()
        roles = {pid: label for pid, label, _level, _p in enrolled}
        seen = {r.person_id for r in rows}
        for pid, _label, level, person in enrolled:
            # Only members with a course role are missed when they watched nothing: an account admin who
            # opened the tool here to administer it (course level "none") is no member to list as not viewed.
            if pid not in seen and level != "none":
                rows.append(PersonEngagement(pid, person.display_name, person.email, 0, 0, 0.0, None, None, None))
        if named_people(session, course_id, every_viewer) is not None:
            outside = [r for r in rows if r.person_id is not None and r.person_id not in roles]
            rows = [r for r in rows if r.person_id is None or r.person_id in roles]
            if outside:
                rows.append(_folded(outside, OUTSIDE_COURSE))
    return [EngagementRow(r, roles.get(r.person_id), r.plays > 0 or r.impressions > 0) for r in rows]


def _folded(rows: list[PersonEngagement], name: str) -> PersonEngagement:
    plays = sum(r.plays for r in rows)
    weighted = sum((r.avg_completion_rate or 0) * r.plays for r in rows)
    return PersonEngagement(
        person_id=-1, name=name, email=None, impressions=sum(r.impressions for r in rows), plays=plays,
        minutes_viewed=round(sum(r.minutes_viewed for r in rows), 4),
        avg_completion_rate=round(weighted / plays, 4) if plays else None, total_completion_rate=None,
        last_viewed_at=max((r.last_viewed_at for r in rows if r.last_viewed_at), default=None))


EVENTS_BATCH = 5_000  # rows fetched at a time when streaming raw events


def player_event_batches(session: Session, scope: Scope, course_id: int | None = None,
                         size: int = EVENTS_BATCH) -> Iterator[list[tuple]]:
    """Every player event in scope, oldest first, as lists of up to `size` row tuples, streamed from a
    server-side cursor on PostgreSQL: memory stays flat for millions of rows. Entry and viewer names
    are looked up once (there are few of them) instead of joined into every row, and put in a batch's
    rows a column at a time; with a course, viewers it may not name (people.named_people) are
    "Viewers outside this course"."""
    named = named_people(session, course_id)
    events = (select(type_coerce(PlayerEvent.occurred_at, DateTime), PlayerEvent.event_type, PlayerEvent.entry_id,
                     PlayerEvent.person_id, PlayerEvent.position, PlayerEvent.seconds_viewed, PlayerEvent.playback_type,
                     PlayerEvent.device_type, PlayerEvent.os, PlayerEvent.browser, PlayerEvent.country,
                     PlayerEvent.region, PlayerEvent.city, PlayerEvent.domain)
              .where(*scope.where(PlayerEvent, PlayerEvent.occurred_at))
              .order_by(PlayerEvent.occurred_at, PlayerEvent.id))
    entry_ids = select(PlayerEvent.entry_id).distinct().where(*scope.where(PlayerEvent, PlayerEvent.occurred_at))
    external_ids, entry_names = {}, {}
    for e in session.scalars(select(MediaEntry).where(MediaEntry.id.in_(entry_ids))):
        external_ids[e.id], entry_names[e.id] = e.external_id, e.display_name
    names: dict[int | None, str] = {None: "Unknown"}

    def viewer(person_id: int) -> str:
        if named is not None and person_id not in named:
            return OUTSIDE_COURSE
        person = session.get(Person, person_id)
        return person.display_name if person is not None else "Unknown"

    # Core rows, `size` at a time, from a server-side cursor (the statement's options leave the session's
    # connection as it was); the time column is read as stored (naive UTC) and made aware, as UTCDateTime
    # returns it, a batch at a time.
    result = session.connection().execute(events.execution_options(stream_results=True, yield_per=size))
    aware = methodcaller("replace", tzinfo=timezone.utc)
    for part in result.partitions(size):
        at, kind, entry_id, person_id, *rest = zip(*part)
        for new in set(person_id).difference(names):
            names[new] = viewer(new)
        yield list(zip(map(aware, at), kind, map(external_ids.__getitem__, entry_id),
                       map(entry_names.__getitem__, entry_id), map(names.__getitem__, person_id), *rest))


def player_event_rows(session: Session, scope: Scope, course_id: int | None = None) -> Iterator[tuple]:
    """Every player event in scope, oldest first, one row tuple at a time (`player_event_batches`)."""
    for batch in player_event_batches(session, scope, course_id):
        yield from batch
