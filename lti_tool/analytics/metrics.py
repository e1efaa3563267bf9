"""Player metrics over derived plays and player loads (never raw events).

Every function takes a Scope (which entries, which time span) and returns frozen dataclasses.
Time spans are UTC instants: callers turn a viewer's local dates into them, so day boundaries
follow the viewer's time zone exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from lti_tool.models import Person, Play, PlayerLoad

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
        for column, values in ((model.device_type, self.devices),
                               (model.country, self.countries), (model.region, self.regions),
                               (model.city, self.cities), (model.person_id, self.person_ids)):
            if values:
                clauses.append(column.in_(values))
        return clauses


CAPPED_PERCENTILES = case((Play.percentile_count > 100, 100), else_=Play.percentile_count)


@dataclass(frozen=True)
class Highlights:
    impressions: int
    plays: int
    played_entries: int
    unique_viewers: int                  # known people, exact
    anonymous_plays: int
    minutes_viewed: float
    avg_completion_rate: float | None    # percent 0-100
    avg_drop_off: float | None           # fraction 0-1
    play_through_ratio: float | None     # fraction 0-1
    load_play_ratio: float | None        # fraction

    @property
    def anonymous_share(self) -> float | None:
        """Fraction 0-1 of plays by viewers who were not signed in."""
        return d.ratio(self.anonymous_plays, self.plays)


def highlights(session: Session, scope: Scope) -> Highlights:
    plays, entries, viewers, anonymous, seconds, percentiles, quartiles, completed = session.execute(
        select(func.count(Play.id), func.count(Play.entry_id.distinct()), func.count(Play.person_id.distinct()),
               func.count(Play.id) - func.count(Play.person_id), func.coalesce(func.sum(Play.seconds_viewed), 0.0),
               func.coalesce(func.sum(CAPPED_PERCENTILES), 0), func.coalesce(func.sum(Play.quartile_events), 0),
               func.coalesce(func.sum(case((Play.reached_end, 1), else_=0)), 0))
        .where(*scope.where(Play, Play.started_at))).one()
    impressions = session.scalar(select(func.count(PlayerLoad.id)).where(*scope.where(PlayerLoad, PlayerLoad.occurred_at)))
    return Highlights(
        impressions=impressions, plays=plays, played_entries=entries, unique_viewers=viewers,
        anonymous_plays=anonymous, minutes_viewed=round(seconds / 60, 4),
        avg_completion_rate=d.avg_completion_rate(percentiles, plays), avg_drop_off=d.avg_drop_off(quartiles, plays),
        play_through_ratio=d.ratio(completed, plays), load_play_ratio=d.ratio(plays, impressions),
    )


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
    play_rows = session.execute(
        select(Play.person_id, func.count(Play.id), func.sum(Play.seconds_viewed), func.sum(CAPPED_PERCENTILES),
               func.max(Play.last_event_at))
        .where(*scope.where(Play, Play.started_at)).group_by(Play.person_id)).all()
    load_rows = dict(session.execute(
        select(PlayerLoad.person_id, func.count(PlayerLoad.id))
        .where(*scope.where(PlayerLoad, PlayerLoad.occurred_at)).group_by(PlayerLoad.person_id)).all())
    coverage = _completion_by_person(session, scope)
    stats = {pid: (n, s, p, last) for pid, n, s, p, last in play_rows}
    ids = set(stats) | set(load_rows)
    names = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_([i for i in ids if i])))}
    rows = []
    for pid in ids:
        n, seconds, percentiles, last = stats.get(pid, (0, 0.0, 0, None))
        per_entry = coverage.get(pid, [])
        person = names.get(pid)
        rows.append(PersonEngagement(
            person_id=pid, name=person.display_name if person else "Unknown", email=person.email if person else None,
            impressions=load_rows.get(pid, 0), plays=n, minutes_viewed=round((seconds or 0.0) / 60, 4),
            avg_completion_rate=d.avg_completion_rate(percentiles or 0, n),
            total_completion_rate=round(sum(per_entry) / len(per_entry), 4) if per_entry else None,
            last_viewed_at=last))
    return sorted(rows, key=lambda r: (r.person_id is None, -r.plays, r.name.lower()))


def _completion_by_person(session: Session, scope: Scope) -> dict[int | None, list[float]]:
    """Each person's total completion rate (percent 0-100) of every entry they played."""
    covered: dict[tuple, int] = {}
    for person_id, entry_id, bits in session.execute(
            select(Play.person_id, Play.entry_id, Play.percentiles).where(*scope.where(Play, Play.started_at),
                                                                         Play.percentiles.isnot(None))):
        covered[(person_id, entry_id)] = covered.get((person_id, entry_id), 0) | int(bits, 2)
    by_person: dict[int | None, list[float]] = {}
    for (person_id, _entry), mask in covered.items():
        by_person.setdefault(person_id, []).append(float(min(mask.bit_count(), 100)))
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
