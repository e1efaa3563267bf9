"""Player metrics over derived plays and player loads (never raw events), read from their rollups.

Every function takes a Scope (which entries, which time span) and returns frozen dataclasses.
Time spans are UTC instants: callers turn a viewer's local dates into them, so day boundaries
follow the viewer's time zone exactly.

Where the numbers come from (`reads_rollups`): on PostgreSQL, a scope that knows its zone and local
days (every page, report API call, CSV and PDF: `scopes._scope` gives them) reads `play_rollup`, the
plays and loads summed per local day and month of that zone, entry, viewer and dimension
(ingest/rollups.py; the zone is built on its first use). Those rows keep every column a Scope filters
or groups by, so every preset, custom range, compare period and any combination of filters reads
them, exactly: distinct viewers and entries are counted over the viewer and entry ids the rows keep,
whole months of the range read month rows and its edge days day rows. Still read from plays: SQLite
(the demo), a scope without local days (a room's recordings, tests calling with bare instants), the
heatmaps (one entry's plays, or one person's), and any function when READ_ROLLUPS is False (the
tests compare both answers).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from functools import lru_cache

from sqlalchemy import ColumnElement, String, and_, case, cast, func, or_, select, tuple_
from sqlalchemy.orm import Session

from lti_tool.models import Person, Play, PlayerLoad, PlayRollup

from . import definitions as d


# A `domains` value standing for plays and loads without a page URL (the "Unknown" domain row).
UNKNOWN_DOMAIN = "(unknown)"


@dataclass(frozen=True)
class Scope:
    registration_id: int
    start: datetime | None = None          # inclusive, aware UTC
    end: datetime | None = None            # exclusive, aware UTC
    entry_ids: tuple[int, ...] | None = None  # None: every entry of the registration
    context_category_id: int | None = None    # the gallery/channel whose page is "inside"
    context: str = "all"                   # all, inside (played in that page) or outside (elsewhere)
    domains: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    person_ids: tuple[int, ...] = ()       # only these viewers' rows ("my viewing")
    zone: str | None = None                # the zone of the local days start and end are the midnights of
    first_day: date | None = None          # local, inclusive (start's day)
    last_day: date | None = None           # local, inclusive (the day before end's)

    def where(self, model, time_column):
        """SQL conditions selecting this scope's rows of Play or PlayerLoad."""
        clauses = [model.registration_id == self.registration_id]
        if self.start is not None:
            clauses.append(time_column >= self.start)
        if self.end is not None:
            clauses.append(time_column < self.end)
        if self.entry_ids is not None:
            clauses.append(model.entry_id.in_(self.entry_ids or (-1,)))
        if self.context == "inside":
            clauses.append(model.context_category_id == self.context_category_id)
        elif self.context == "outside":
            clauses.append(or_(model.context_category_id.is_(None),
                               model.context_category_id != self.context_category_id))
        if self.domains:
            known = [d for d in self.domains if d != UNKNOWN_DOMAIN]
            clauses.append(or_(model.domain.in_(known), model.domain.is_(None)) if len(known) < len(self.domains)
                           else model.domain.in_(known))
        for column, values in ((model.device_type, self.devices), (model.country, self.countries),
                               (model.person_id, self.person_ids)):
            if values:
                clauses.append(column.in_(values))
        # Place names are typed or chosen by people: "paris" finds the plays located in "Paris".
        for column, values in ((model.region, self.regions), (model.city, self.cities)):
            if values:
                clauses.append(func.lower(column).in_({v.lower() for v in values}))
        return clauses

    def rollup_where(self, months: bool = True) -> list:
        """SQL conditions selecting this scope's rows of PlayRollup: its zone, whole months of the range
        from month rows (unless `months` is false) and the other days from day rows."""
        r = PlayRollup
        days = or_(*[and_(r.grain == grain, r.day.between(first, last))
                     for grain, first, last in rollup_pieces(self.first_day, self.last_day, months)])
        return [*replace(self, start=None, end=None).where(r, None), r.zone == self.zone, days]


def rollup_pieces(first: date, last: date, months: bool = True) -> list[tuple[str, date, date]]:
    """(grain, first, last) of the rollup rows covering the local days first..last: the months wholly
    inside as month rows ("m", their first days), the days before and after them as day rows ("d")."""
    one = timedelta(days=1)
    first_month = first if first.day == 1 else (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    after = (last + one).replace(day=1)  # the first day of the month that is not whole
    if not months or first_month >= after:
        return [("d", first, last)]
    pieces = [("m", first_month, after - one)]
    if first < first_month:
        pieces.append(("d", first, first_month - one))
    if after <= last:
        pieces.append(("d", after, last))
    return pieces


# Whether scopes with local days read rollups (PostgreSQL only); False: every answer reads plays.
READ_ROLLUPS = True


def reads_rollups(session: Session, scope: Scope) -> bool:
    """Whether this scope's answers come from the rollups (see the module's docstring)."""
    if not READ_ROLLUPS or scope.zone is None or scope.first_day is None or scope.last_day is None:
        return False
    from lti_tool.ingest.rollups import ensure_zone

    return ensure_zone(session, scope.registration_id, scope.zone)


CAPPED_PERCENTILES = case((Play.percentile_count > 100, 100), else_=Play.percentile_count)


@dataclass(frozen=True, eq=False)
class Grouping:
    """What `play_totals` groups by: an SQL expression over Play, the same one over PlayerLoad and over
    PlayRollup (None: the plays answer), whether month rows can answer it, and the column's name when
    it groups by one column (`by_column`)."""
    play: ColumnElement
    load: ColumnElement
    rollup: ColumnElement | None = None
    months: bool = True
    column: str | None = None


@lru_cache(maxsize=None)
def by_column(name: str) -> Grouping:
    """Group by a column Play and PlayerLoad share: entry_id, person_id, country, device_type, domain, ..."""
    return Grouping(getattr(Play, name), getattr(PlayerLoad, name), getattr(PlayRollup, name), column=name)


# The groupings a dashboard page reads besides its scope's total; while `sharing` its scope, the first
# of them asked for reads every one from the rollups in one pass (GROUPING SETS).
SHARED_COLUMNS = ("entry_id", "person_id", "context_category_id", "device_type", "os", "browser", "country",
                  "region", "city", "domain")
_SHARING = "play_totals_sharing"


@dataclass
class _Shared:
    scope: Scope | None
    answers: dict


@contextmanager
def sharing(session: Session, scope: Scope | None = None):
    """Within it, `play_totals` answers each question (scope and single-column grouping) once, and the
    total and SHARED_COLUMNS groupings of `scope` (when given: a whole page is read) come from one pass
    over its rollups. For the reads of one request: a question already answered does not see what is
    written meanwhile."""
    previous = session.info.get(_SHARING)
    session.info[_SHARING] = _Shared(scope, {})
    try:
        yield
    finally:
        if previous is None:
            session.info.pop(_SHARING, None)
        else:
            session.info[_SHARING] = previous


@dataclass(frozen=True)
class PlayTotals:
    """The sums of a group of plays and player loads; every player metric is computed from them.

    A row type (Highlights, TimelinePoint, EntryRow, ...) takes the metrics it has fields for with
    `values_for`, so a metric computed here reaches a row by adding a field of the same name."""
    impressions: int = 0
    plays: int = 0
    unique_viewers: int = 0              # distinct signed-in people
    anonymous_plays: int = 0             # plays by viewers not signed in
    played_entries: int = 0              # distinct entries played
    seconds_viewed: float = 0.0
    capped_percentiles: int = 0          # per play, the distinct percentiles watched (at most 100), summed
    quartile_events: int = 0
    completed_plays: int = 0             # plays that reached the end
    last_played_at: datetime | None = None  # the newest play's start
    last_viewed_at: datetime | None = None  # the newest play event
    last_loaded_at: datetime | None = None  # the newest player load

    @property
    def minutes_viewed(self) -> float:
        return round(self.seconds_viewed / 60, 4)

    @property
    def avg_minutes_per_play(self) -> float | None:
        """Minutes viewed per play; None without plays."""
        value = d.ratio(self.seconds_viewed / 60, self.plays)
        return None if value is None else round(value, 4)

    @property
    def avg_completion_rate(self) -> float | None:
        """Percent 0-100."""
        return d.avg_completion_rate(self.capped_percentiles, self.plays)

    @property
    def avg_drop_off(self) -> float | None:
        """Fraction 0-1."""
        return d.avg_drop_off(self.quartile_events, self.plays)

    @property
    def play_through_ratio(self) -> float | None:
        """Fraction 0-1."""
        return d.ratio(self.completed_plays, self.plays)

    @property
    def load_play_ratio(self) -> float | None:
        """Plays per player impression (may exceed 1: a replay is a new play)."""
        return d.ratio(self.plays, self.impressions)

    @property
    def last_seen_at(self) -> datetime | None:
        """The newest play start or player load."""
        return max([t for t in (self.last_played_at, self.last_loaded_at) if t is not None], default=None)

    def values_for(self, row_type: type) -> dict:
        """This total's values for every field of the dataclass `row_type` named like one of its metrics."""
        return {f.name: getattr(self, f.name) for f in fields(row_type) if hasattr(self, f.name)}


NO_PLAYS = PlayTotals()


def play_totals(session: Session, scope: Scope, group: Grouping | None = None) -> dict[object, PlayTotals]:
    """The plays and player loads of `scope` summed per value of `group`: every value with a play or a load.

    Without a group, one total under the key None (there even when the scope holds nothing). This is
    the one play aggregate: highlights, per person, timeline, entries and breakdowns all read it."""
    shared = session.info.get(_SHARING)
    if shared is None or (group is not None and group.column is None):
        return _play_totals(session, scope, group)
    key = (scope, None if group is None else group.column)
    if key not in shared.answers:
        if (scope == shared.scope and (group is None or group.column in SHARED_COLUMNS)
                and reads_rollups(session, scope)):
            shared.answers.update(_rollup_totals_shared(session, scope))
        else:
            shared.answers[key] = _play_totals(session, scope, group)
    return dict(shared.answers[key])


def _play_totals(session: Session, scope: Scope, group: Grouping | None) -> dict[object, PlayTotals]:
    if (group is None or group.rollup is not None) and reads_rollups(session, scope):
        return _rollup_totals(session, scope, group)
    play_key = () if group is None else (group.play,)
    load_key = () if group is None else (group.load,)
    play_query = select(
        *play_key, func.count(Play.id), func.count(Play.person_id.distinct()),
        func.count(Play.id) - func.count(Play.person_id), func.count(Play.entry_id.distinct()),
        func.coalesce(func.sum(Play.seconds_viewed), 0.0), func.coalesce(func.sum(CAPPED_PERCENTILES), 0),
        func.coalesce(func.sum(Play.quartile_events), 0),
        func.coalesce(func.sum(case((Play.reached_end, 1), else_=0)), 0),
        func.max(Play.started_at), func.max(Play.last_event_at)).where(*scope.where(Play, Play.started_at))
    load_query = (select(*load_key, func.count(PlayerLoad.id), func.max(PlayerLoad.occurred_at))
                  .where(*scope.where(PlayerLoad, PlayerLoad.occurred_at)))
    if group is not None:
        play_query, load_query = play_query.group_by(group.play), load_query.group_by(group.load)
    plays = {(row[0] if play_key else None): row[len(play_key):] for row in session.execute(play_query)}
    loads = {(row[0] if load_key else None): row[len(load_key):] for row in session.execute(load_query)}
    totals = {}
    for key in plays.keys() | loads.keys():
        n, viewers, anonymous, entries, seconds, percentiles, quartiles, completed, started, last_event = plays.get(
            key, (0, 0, 0, 0, 0.0, 0, 0, 0, None, None))
        impressions, loaded = loads.get(key, (0, None))
        totals[key] = PlayTotals(impressions, n, viewers, anonymous, entries, seconds, percentiles, quartiles,
                                 completed, started, last_event, loaded)
    return totals


def _rollup_totals(session: Session, scope: Scope, group: Grouping | None) -> dict[object, PlayTotals]:
    """play_totals from the rollups: the same sums, and distinct counts over the ids the rows keep."""
    key = () if group is None else (group.rollup,)
    query = select(*key, *_rollup_measures()).where(
        *scope.rollup_where(group.months if group is not None else True))
    if group is not None:
        query = query.group_by(group.rollup)
    return {(row[0] if key else None): PlayTotals(*row[len(key):]) for row in session.execute(query)}


def _rollup_measures() -> list:
    """The PlayTotals fields, in order, summed over PlayRollup rows."""
    r = PlayRollup
    played = r.plays > 0
    return [func.coalesce(func.sum(r.impressions), 0), func.coalesce(func.sum(r.plays), 0),
            func.count(r.person_id.distinct()).filter(played),
            func.coalesce(func.sum(r.plays).filter(r.person_id.is_(None)), 0),
            func.count(r.entry_id.distinct()).filter(played), func.coalesce(func.sum(r.seconds_viewed), 0.0),
            func.coalesce(func.sum(r.capped_percentiles), 0), func.coalesce(func.sum(r.quartile_events), 0),
            func.coalesce(func.sum(r.completed_plays), 0), func.max(r.last_played_at), func.max(r.last_viewed_at),
            func.max(r.last_loaded_at)]


def _rollup_totals_shared(session: Session, scope: Scope) -> dict[tuple, dict[object, PlayTotals]]:
    """The total of `scope` and its totals per value of each SHARED_COLUMNS column, in one pass over its
    rollup rows: {(scope, None): {None: total}, (scope, column): {value: totals}, ...}."""
    columns = [getattr(PlayRollup, name) for name in SHARED_COLUMNS]
    query = (select(*[func.grouping(c) for c in columns], *columns, *_rollup_measures())
             .where(*scope.rollup_where())
             .group_by(func.grouping_sets(tuple_(), *[tuple_(c) for c in columns])))
    answers: dict[tuple, dict] = {(scope, name): {} for name in SHARED_COLUMNS}
    n = len(columns)
    for row in session.execute(query):
        grouped = [i for i in range(n) if row[i] == 0]   # GROUPING() is 0 for the column of the row's set
        totals = PlayTotals(*row[2 * n:])
        if grouped:
            answers[(scope, SHARED_COLUMNS[grouped[0]])][row[n + grouped[0]]] = totals
        else:
            answers[(scope, None)] = {None: totals}
    return answers


@dataclass(frozen=True)
class Highlights:
    impressions: int
    plays: int
    played_entries: int
    unique_viewers: int                  # known people, exact
    anonymous_plays: int
    minutes_viewed: float
    avg_minutes_per_play: float | None   # minutes
    avg_completion_rate: float | None    # percent 0-100
    avg_drop_off: float | None           # fraction 0-1
    play_through_ratio: float | None     # fraction 0-1
    load_play_ratio: float | None        # plays per impression

    @property
    def anonymous_share(self) -> float | None:
        """Fraction 0-1 of plays by viewers who were not signed in."""
        return d.ratio(self.anonymous_plays, self.plays)


def highlights(session: Session, scope: Scope) -> Highlights:
    return Highlights(**play_totals(session, scope)[None].values_for(Highlights))


@dataclass(frozen=True)
class PersonEngagement:
    person_id: int | None                # None: the "Unknown" row of anonymous viewing
    name: str
    email: str | None
    impressions: int
    plays: int
    minutes_viewed: float
    avg_completion_rate: float | None    # percent 0-100
    total_completion_rate: float | None  # percent 0-100, averaged over the entries they played
    last_viewed_at: datetime | None


def per_person(session: Session, scope: Scope) -> list[PersonEngagement]:
    """Engagement per person, most plays first; anonymous viewing is one row with person_id None."""
    totals = play_totals(session, scope, by_column("person_id"))
    coverage = _completion_by_person(session, scope)
    names = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_([i for i in totals if i])))}
    rows = []
    for pid, total in totals.items():
        per_entry = coverage.get(pid, [])
        person = names.get(pid)
        rows.append(PersonEngagement(
            person_id=pid, name=person.display_name if person else "Unknown", email=person.email if person else None,
            total_completion_rate=round(sum(per_entry) / len(per_entry), 4) if per_entry else None,
            **total.values_for(PersonEngagement)))
    return sorted(rows, key=lambda r: (r.person_id is None, -r.plays, r.name.lower()))


def _completion_by_person(session: Session, scope: Scope) -> dict[int | None, list[float]]:
    """Each person's total completion rate (percent 0-100) of every entry they played."""
    bitsets: dict[tuple, list[str]] = {}
    if reads_rollups(session, scope):
        r = PlayRollup
        watched = session.execute(select(r.person_id, r.entry_id, cast(func.bit_or(r.watched), String))
                                  .where(*scope.rollup_where(), r.watched.isnot(None))
                                  .group_by(r.person_id, r.entry_id))
    else:
        watched = session.execute(select(Play.person_id, Play.entry_id, Play.percentiles)
                                  .where(*scope.where(Play, Play.started_at), Play.percentiles.isnot(None)))
    for person_id, entry_id, bits in watched:
        bitsets.setdefault((person_id, entry_id), []).append(bits)
    by_person: dict[int | None, list[float]] = {}
    for (person_id, _entry), played in bitsets.items():
        rate = d.total_completion_rate(played)
        if rate is not None:
            by_person.setdefault(person_id, []).append(rate)
    return by_person


@dataclass(frozen=True)
class HeatmapPoint:
    percentile: int   # 0-100
    plays: int        # plays that watched this percentile
    viewers: int      # distinct signed-in people who watched it


def heatmap(session: Session, scope: Scope) -> list[HeatmapPoint]:
    """Per percentile of an entry's timeline (scope it to one entry)."""
    plays = [0] * 101
    viewers: list[set] = [set() for _ in range(101)]
    for person_id, bits in session.execute(
            select(Play.person_id, Play.percentiles).where(*scope.where(Play, Play.started_at))):
        if not bits:
            continue
        for i, bit in enumerate(bits):
            if bit == "1":
                plays[i] += 1
                if person_id is not None:
                    viewers[i].add(person_id)
    return [HeatmapPoint(i, plays[i], len(viewers[i])) for i in range(101)]


def person_heat(session: Session, scope: Scope, person_id: int) -> list[int]:
    """Per percentile, how often this person watched it: 0 not viewed, 1 once, 2 twice, 3 three times or more."""
    counts = [0] * 101
    for bits in session.scalars(select(Play.percentiles).where(*scope.where(Play, Play.started_at),
                                                               Play.person_id == person_id)):
        for i, bit in enumerate(bits or ""):
            counts[i] += bit == "1"
    return [min(c, 3) for c in counts]
