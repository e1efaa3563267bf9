"""Room analytics (DESIGN §5): what happened in a room's live sessions, over a date range or one session.

Every function takes a RoomScope and returns frozen dataclasses. SQL selects the scope's rows;
engagement samples are read through their rollups per session × minute and session × person
(`RoomMinute`, `RoomPerson`, kept at ingest), except one person's own for their heat. Stays are
merged in Python: per person for minutes viewed, and swept once for the live viewers per minute.

Units: minutes as floats, rates as fractions 0-1 (None when the denominator is zero).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from lti_tool.models import (
    Attendance, AttachmentDownload, ChatMessage, EngagementSample, Interaction, InteractionAnswer, Person, Play,
    QaThread, RaisedHand, Reaction, Room, RoomMinute, RoomPerson, RoomSession, Rsvp,
)

from . import definitions as d
from .metrics import PersonEngagement, Scope, per_person
from .tables import TableSpec, paginate_rows

MIN_SEARCH_LETTERS = 3  # fewer letters search nothing: the table stays as it is
ATTENDEES_PER_PAGE = 25
ATTENDEE_SORTS = ("name", "minutes_viewed", "reactions", "chat_messages", "raised_hands", "polls_answered",
                  "live_engagement_rate")
ENGAGED_LEVELS = ("high", "good")
# Darkest first: when a minute holds several levels for the same time, the more engaged one shows.
LEVEL_RANK = {"high": 0, "good": 1, "fair": 2, "low": 3, "none": 4}
MINUTE = timedelta(minutes=1)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class RoomScope:
    registration_id: int
    room_id: int
    session_ids: tuple[int, ...] | None = None  # chosen sessions; None: every session in the range
    start: datetime | None = None               # inclusive, aware UTC, on a session's start
    end: datetime | None = None                 # exclusive, aware UTC


@dataclass(frozen=True)
class RoomOverview:
    unique_viewers: int                   # distinct known people, live or recording
    anonymous_stays: int                  # stays by people not signed in (counted apart)
    minutes_viewed: float                 # known people, overlapping stays counted once
    avg_minutes_viewed: float | None      # minutes_viewed ÷ unique_viewers
    avg_live_engagement_rate: float | None  # fraction 0-1
    unique_live_viewers: int              # known live people + anonymous live stays
    logged_in_attendees: int              # known people with a live stay
    reactions: int                        # not throttled
    reactions_rate: float | None          # people who reacted ÷ unique live viewers
    chat_messages: int                    # group chat
    chat_rate: float | None               # senders ÷ logged-in attendees
    polls_rate: float | None              # people who answered an interaction ÷ logged-in attendees
    qa_threads: int
    qa_rate: float | None                 # people who opened a thread ÷ logged-in attendees
    downloads: int
    downloads_rate: float | None          # people who downloaded ÷ unique live viewers
    recording_plays: int                  # recording stays + plays of the sessions' recording entries


@dataclass(frozen=True)
class MinutePoint:
    at: datetime                          # start of the minute, UTC
    live_viewers: int                     # people with a live stay overlapping the minute
    engagement_rate: float | None         # fraction 0-1 of that minute's sampled seconds


@dataclass(frozen=True)
class AttendeeRow:
    person_id: int
    name: str
    title: str | None
    role: str | None
    company: str | None
    industry: str | None
    country: str | None
    minutes_viewed: float
    reactions: int
    chat_messages: int
    raised_hands: int
    polls_answered: int                   # distinct interactions answered
    live_engagement_rate: float | None    # fraction 0-1
    engaged_seconds: float                # sampled live seconds at the high or good level
    sampled_seconds: float                # all sampled live seconds (the rate's denominator)


@dataclass(frozen=True)
class AttendeeTotals:
    """The viewer-engagement table's totals row over some attendee rows."""

    people: int
    minutes_viewed: float
    reactions: int
    chat_messages: int
    raised_hands: int
    polls_answered: int
    live_engagement_rate: float | None    # Σ engaged seconds ÷ Σ sampled seconds of those people


@dataclass(frozen=True)
class QaItem:
    at: datetime
    state: str


@dataclass(frozen=True)
class DownloadItem:
    at: datetime
    name: str


@dataclass(frozen=True)
class AttendeeActivity:
    qa_threads: tuple[QaItem, ...]
    downloads: tuple[DownloadItem, ...]
    raised_hands: tuple[datetime, ...]


@dataclass(frozen=True)
class InteractionRow:
    interaction_id: int
    launched_at: datetime
    question: str
    kind: str
    unique_participants: int


@dataclass(frozen=True)
class OptionRow:
    option: str
    participants: int
    rate: float | None                    # participants choosing it ÷ participants who answered
    correct: bool


@dataclass(frozen=True)
class InteractionDetail:
    interaction_id: int
    question: str
    kind: str
    option_count: int
    unique_participants: int
    options: tuple[OptionRow, ...]
    correct_option: str | None
    # An open question's answers, equal ones grouped whatever their case or surrounding spaces (shown as first
    # written), each with the participants who gave it: most participants first, then as first given.
    text_answers: tuple[OptionRow, ...]
    several_answers: bool                 # a participant may choose several options: rates add up past 100 %


@dataclass(frozen=True)
class RecordingViewer:
    """One person's viewing of the recordings: the recording entries' player plus recording stays."""

    person_id: int | None                 # None: everyone not signed in, as one row
    name: str
    impressions: int                      # player loads of a recording entry
    plays: int                            # player plays + recording stays
    minutes_viewed: float                 # player minutes + recording stay minutes
    avg_completion_rate: float | None     # percent 0-100, over player plays (stays have no percentiles)


@dataclass(frozen=True)
class Recordings:
    entry_ids: tuple[int, ...]            # the sessions' recording entries
    plays: int
    impressions: int
    viewers: tuple[RecordingViewer, ...]  # most plays first, the anonymous row last


@dataclass(frozen=True)
class WhereRow:
    """Unique viewers from one country or on one device type, live and from the recordings."""

    value: str | None                     # ISO country code or device type; None = unknown
    live_viewers: int                     # live unique viewers from there (signed-in people + anonymous stays)
    recording_viewers: int                # signed-in people who watched a recording from there


# -- scope ---------------------------------------------------------------------------------------

def _sessions(session: Session, scope: RoomScope) -> list[RoomSession]:
    """The chosen sessions with their breakout rooms (a breakout follows its parent)."""
    query = select(RoomSession).where(RoomSession.registration_id == scope.registration_id,
                                      RoomSession.room_id == scope.room_id)
    if scope.session_ids is not None:
        chosen = scope.session_ids or (-1,)
        query = query.where(or_(RoomSession.id.in_(chosen), RoomSession.parent_session_id.in_(chosen)))
        return list(session.scalars(query.order_by(RoomSession.started_at, RoomSession.id)))
    rows = list(session.scalars(query.order_by(RoomSession.started_at, RoomSession.id)))

    def in_range(s: RoomSession) -> bool:
        return (scope.start is None or s.started_at >= scope.start) and (scope.end is None or s.started_at < scope.end)

    mains = {s.id for s in rows if s.parent_session_id is None and in_range(s)}
    return [s for s in rows if s.id in mains or s.parent_session_id in mains]


def _ids(sessions: list[RoomSession]) -> tuple[int, ...]:
    return tuple(s.id for s in sessions) or (-1,)


@dataclass(frozen=True)
class _Stay:
    session_id: int
    person_id: int | None
    mode: str
    start: datetime
    end: datetime


def _stays(session: Session, sessions: list[RoomSession]) -> list[_Stay]:
    """Stays with a known end: an open live stay ends with its session; an open recording stay counts 0."""
    ends = {s.id: s.ended_at for s in sessions}
    stays = []
    for session_id, person_id, mode, joined, left in session.execute(
            select(Attendance.session_id, Attendance.person_id, Attendance.mode, Attendance.joined_at,
                   Attendance.left_at).where(Attendance.session_id.in_(_ids(sessions)))):
        end = left or (ends[session_id] if mode == "live" else None) or joined
        stays.append(_Stay(session_id, person_id, mode, joined, max(end, joined)))
    return stays


def live_unique_viewers(stay_people: Iterable[int | None]) -> int:
    """The live unique viewers of live stays given by their person ids (one per stay, None when not
    signed in): each signed-in person once, and each stay of someone not signed in (definitions.py)."""
    people = list(stay_people)
    return len({p for p in people if p is not None}) + people.count(None)


def _merged_seconds(intervals: list[tuple[datetime, datetime]]) -> float:
    """Seconds covered by the intervals, overlaps counted once."""
    total, current_start, current_end = 0.0, None, None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None:
                total += (current_end - current_start).total_seconds()
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += (current_end - current_start).total_seconds()
    return total


def _minutes_by_person(stays: list[_Stay], player_seconds: dict[int, float] | None = None) -> dict[int, float]:
    """Minutes per signed-in person: their stays (overlaps once) plus their recording player time."""
    intervals: dict[int, list] = defaultdict(list)
    for stay in stays:
        if stay.person_id is not None:
            intervals[stay.person_id].append((stay.start, stay.end))
    minutes = {person: _merged_seconds(spans) / 60 for person, spans in intervals.items()}
    for person, seconds in (player_seconds or {}).items():
        minutes[person] = minutes.get(person, 0.0) + seconds / 60
    return minutes


def _recording_entries(sessions: list[RoomSession]) -> tuple[int, ...]:
    return tuple(sorted({s.recording_entry_id for s in sessions if s.recording_entry_id is not None}))


def _recording_scope(scope: RoomScope, sessions: list[RoomSession]) -> Scope:
    """The media scope of the sessions' recordings: every play of them, whenever it happened."""
    return Scope(scope.registration_id, entry_ids=_recording_entries(sessions))


def _player_viewing(session: Session, scope: RoomScope, sessions: list[RoomSession]) -> tuple[dict[int, float], int]:
    """({signed-in person: seconds played}, plays) of the sessions' recording entries."""
    entries = _recording_entries(sessions)
    if not entries:
        return {}, 0
    seconds: dict[int, float] = {}
    plays = 0
    for person_id, count, played in session.execute(
            select(Play.person_id, func.count(Play.id), func.sum(Play.seconds_viewed))
            .where(*_recording_scope(scope, sessions).where(Play, Play.started_at)).group_by(Play.person_id)):
        plays += count
        if person_id is not None:
            seconds[person_id] = played or 0.0
    return seconds, plays


def _floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _sample_minute(at: datetime, seconds: float) -> datetime:
    """A sample's time is the end of its interval; it belongs to the minute its interval starts in."""
    return _floor_minute(at - timedelta(seconds=seconds))


def _minutes(sessions: list[RoomSession], stays: list[_Stay]) -> list[datetime]:
    """Every minute of the sessions, from each start to its end (or its last live stay when still open)."""
    last_live: dict[int, datetime] = {}
    minutes: set[datetime] = set()
    for stay in stays:
        if stay.mode == "live":
            last_live[stay.session_id] = max(last_live.get(stay.session_id, stay.end), stay.end)
    for s in sessions:
        end = s.ended_at or last_live.get(s.id) or s.started_at
        minute = _floor_minute(s.started_at)
        while minute < end:
            minutes.add(minute)
            minute += MINUTE
    return sorted(minutes)


def _rate(engaged_seconds: float, all_seconds: float) -> float | None:
    return d.ratio(engaged_seconds, all_seconds)


def _count(session: Session, query) -> int:
    return session.scalar(query) or 0


# -- overview ------------------------------------------------------------------------------------

def overview(session: Session, scope: RoomScope) -> RoomOverview:
    sessions = _sessions(session, scope)
    ids = _ids(sessions)
    stays = _stays(session, sessions)
    player_seconds, player_plays = _player_viewing(session, scope, sessions)
    minutes = _minutes_by_person(stays, player_seconds)
    known = len(minutes)
    live_people = {s.person_id for s in stays if s.mode == "live" and s.person_id is not None}
    live_viewers = live_unique_viewers(s.person_id for s in stays if s.mode == "live")

    engaged, sampled = session.execute(
        select(func.sum(RoomPerson.engaged_seconds), func.sum(RoomPerson.sampled_seconds))
        .where(RoomPerson.session_id.in_(ids))).one()

    def people_and_count(model, *where):
        return session.execute(
            select(func.count(func.distinct(model.person_id)), func.count(model.id))
            .where(model.session_id.in_(ids), *where)).one()

    reacting, reactions = people_and_count(Reaction, Reaction.throttled.is_(False))
    chatting, messages = people_and_count(ChatMessage, ChatMessage.sub_context.is_(None))
    asking, threads = people_and_count(QaThread)
    downloading, downloads = people_and_count(AttachmentDownload)
    answering = _count(session, select(func.count(func.distinct(InteractionAnswer.person_id)))
                       .join(Interaction, Interaction.id == InteractionAnswer.interaction_id)
                       .where(Interaction.session_id.in_(ids)))
    minutes_viewed = sum(minutes.values())
    return RoomOverview(
        unique_viewers=known,
        anonymous_stays=sum(1 for s in stays if s.person_id is None),
        minutes_viewed=minutes_viewed,
        avg_minutes_viewed=d.ratio(minutes_viewed, known),
        avg_live_engagement_rate=_rate(engaged or 0, sampled or 0),
        unique_live_viewers=live_viewers,
        logged_in_attendees=len(live_people),
        reactions=reactions,
        reactions_rate=d.ratio(reacting, live_viewers),
        chat_messages=messages,
        chat_rate=d.ratio(chatting, len(live_people)),
        polls_rate=d.ratio(answering, len(live_people)),
        qa_threads=threads,
        qa_rate=d.ratio(asking, len(live_people)),
        downloads=downloads,
        downloads_rate=d.ratio(downloading, live_viewers),
        recording_plays=sum(1 for s in stays if s.mode == "recording") + player_plays,
    )


# -- timeline ------------------------------------------------------------------------------------

def _samples(session: Session, ids: tuple[int, ...], person_id: int | None = None):
    query = select(EngagementSample.person_id, EngagementSample.at, EngagementSample.interval_seconds,
                   EngagementSample.level).where(EngagementSample.session_id.in_(ids))
    if person_id is not None:
        query = query.where(EngagementSample.person_id == person_id)
    return session.execute(query)


@dataclass(frozen=True)
class SessionTimeline:
    """One main session's minutes (its breakout rooms' too): a chart of its own, so that sessions of a
    date range are never spliced onto one minute axis."""
    name: str | None
    started_at: datetime                  # the main session's start, UTC
    points: list[MinutePoint]


def timeline(session: Session, scope: RoomScope) -> list[MinutePoint]:
    """Every minute of the scope's sessions, oldest first (one axis: the report API and the CSV)."""
    sessions = _sessions(session, scope)
    return _timeline(session, sessions, _stays(session, sessions))


def session_timelines(session: Session, scope: RoomScope) -> list[SessionTimeline]:
    """The timeline cut per main session, oldest first: the page's and the PDF's charts."""
    sessions = _sessions(session, scope)
    stays = _stays(session, sessions)
    by_minute = {point.at: point for point in _timeline(session, sessions, stays)}
    groups: dict[int, list[RoomSession]] = defaultdict(list)
    for one in sessions:
        groups[one.parent_session_id or one.id].append(one)
    cut = []
    for main in (s for s in sessions if s.parent_session_id is None):
        ids = {one.id for one in groups[main.id]}
        minutes = _minutes(groups[main.id], [stay for stay in stays if stay.session_id in ids])
        cut.append(SessionTimeline(main.name, main.started_at, [by_minute[minute] for minute in minutes]))
    return cut


def _timeline(session: Session, sessions: list[RoomSession], stays: list[_Stay]) -> list[MinutePoint]:
    """Per minute of the sessions: live unique viewers and live engagement rate."""
    engaged: dict[datetime, float] = defaultdict(float)
    sampled: dict[datetime, float] = defaultdict(float)
    # Each sample belongs to the minute its interval starts in (see _sample_minute), summed at ingest.
    for number, engaged_seconds, sampled_seconds in session.execute(
            select(RoomMinute.minute, func.sum(RoomMinute.engaged_seconds), func.sum(RoomMinute.sampled_seconds))
            .where(RoomMinute.session_id.in_(_ids(sessions))).group_by(RoomMinute.minute)):
        minute = EPOCH + timedelta(minutes=int(number))
        engaged[minute], sampled[minute] = engaged_seconds or 0.0, sampled_seconds or 0.0
    minutes = _minutes(sessions, stays)
    return [MinutePoint(minute, viewers, _rate(engaged[minute], sampled[minute]))
            for minute, viewers in zip(minutes, _live_viewers(stays, minutes))]


def _minute_number(moment: datetime) -> int:
    """Whole minutes since 1970-01-01 UTC, rounded down."""
    return int((moment - EPOCH).total_seconds() // 60)


def _live_viewers(stays: list[_Stay], minutes: list[datetime]) -> list[int]:
    """Live unique viewers in each of `minutes` (sorted): everyone with a live stay overlapping the minute,
    each signed-in person once and each stay of someone not signed in apart (live_unique_viewers).

    One sweep: each viewer's stays become runs of whole minutes, merged per viewer, and a running count
    of the runs' starts and ends is read at each minute."""
    runs: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
    for index, stay in enumerate(stays):
        if stay.mode != "live":
            continue
        who = ("person", stay.person_id) if stay.person_id is not None else ("anonymous", index)
        first = _minute_number(stay.start)
        # The stay overlaps [minute, minute + 1 min) for every first ≤ minute < after.
        after = -(-(stay.end - EPOCH) // MINUTE)
        if after > first:
            runs[who].append((first, after))
    changes: dict[int, int] = defaultdict(int)
    for spans in runs.values():
        spans.sort()
        start, end = spans[0]
        for first, after in spans[1:]:
            if first > end:
                changes[start] += 1
                changes[end] -= 1
                start, end = first, after
            else:
                end = max(end, after)
        changes[start] += 1
        changes[end] -= 1
    counts, present, points = [], 0, sorted(changes)
    next_change = 0
    for minute in minutes:
        number = _minute_number(minute)
        while next_change < len(points) and points[next_change] <= number:
            present += changes[points[next_change]]
            next_change += 1
        counts.append(present)
    return counts


# -- attendees -----------------------------------------------------------------------------------

def _per_person(session: Session, model, ids, *where) -> dict[int, int]:
    return dict(session.execute(select(model.person_id, func.count(model.id))
                                .where(model.session_id.in_(ids), *where).group_by(model.person_id)).all())


RSVP_COLUMNS = (Rsvp.person_id, Rsvp.name, Rsvp.title, Rsvp.company, Rsvp.country, Rsvp.role, Rsvp.industry)


def _rsvps(session: Session, room_id: int, person_ids) -> dict:
    """Each person's latest RSVP to the room (the columns the pages show, as rows: no ORM objects to build)."""
    return {r.person_id: r for r in session.execute(
        select(*RSVP_COLUMNS).where(Rsvp.room_id == room_id, Rsvp.person_id.in_(tuple(person_ids) or (-1,)))
        .order_by(Rsvp.at, Rsvp.id))}


def _names(session: Session, rsvps: dict, person_ids) -> dict[int, str]:
    """Display names; someone known only from the room feed has no name from Canvas, so the RSVP form's
    name beats "Unnamed user"."""
    names = {}
    for person in session.execute(select(Person.id, Person.name, Person.given_name, Person.family_name)
                                  .where(Person.id.in_(tuple(person_ids) or (-1,)))):
        rsvp = rsvps.get(person.id)
        has_name = person.name or person.given_name or person.family_name
        names[person.id] = Person.display_name.fget(person) if has_name or not rsvp else rsvp.name
    return names


def attendees(session: Session, scope: RoomScope) -> list[AttendeeRow]:
    """Everyone signed in who attended live or watched a recording, by name."""
    sessions = _sessions(session, scope)
    ids = _ids(sessions)
    minutes = _minutes_by_person(_stays(session, sessions), _player_viewing(session, scope, sessions)[0])
    rsvps = _rsvps(session, scope.room_id, minutes)
    names = _names(session, rsvps, minutes)
    reactions = _per_person(session, Reaction, ids, Reaction.throttled.is_(False))
    messages = _per_person(session, ChatMessage, ids, ChatMessage.sub_context.is_(None))
    hands = _per_person(session, RaisedHand, ids)
    polls = dict(session.execute(
        select(InteractionAnswer.person_id, func.count(func.distinct(InteractionAnswer.interaction_id)))
        .join(Interaction, Interaction.id == InteractionAnswer.interaction_id)
        .where(Interaction.session_id.in_(ids)).group_by(InteractionAnswer.person_id)).all())
    engaged, sampled = defaultdict(float), defaultdict(float)
    for person_id, engaged_seconds, sampled_seconds in session.execute(
            select(RoomPerson.person_id, func.sum(RoomPerson.engaged_seconds), func.sum(RoomPerson.sampled_seconds))
            .where(RoomPerson.session_id.in_(ids)).group_by(RoomPerson.person_id)):
        engaged[person_id], sampled[person_id] = engaged_seconds or 0.0, sampled_seconds or 0.0
    rows = []
    for person_id, viewed in minutes.items():
        rsvp = rsvps.get(person_id)
        rows.append(AttendeeRow(
            person_id, names[person_id], rsvp and rsvp.title, rsvp and rsvp.role, rsvp and rsvp.company, rsvp and rsvp.industry,
            rsvp and rsvp.country, viewed, reactions.get(person_id, 0), messages.get(person_id, 0),
            hands.get(person_id, 0), polls.get(person_id, 0), _rate(engaged[person_id], sampled[person_id]),
            engaged[person_id], sampled[person_id]))
    return sorted(rows, key=lambda r: (r.name.lower(), r.person_id))


ATTENDEE_TABLE = TableSpec(ATTENDEE_SORTS, "minutes_viewed", per_page=ATTENDEES_PER_PAGE, search=("name",),
                           min_search=MIN_SEARCH_LETTERS, match=lambda row, query: matches(row.name, query))


@dataclass(frozen=True)
class AttendeeTable:
    rows: tuple[AttendeeRow, ...]   # this page's rows
    total: int                      # rows matching the search
    page: int
    pages: int
    sort: str
    dir: str
    q: str                          # the search as typed
    searched: bool                  # False when q is shorter than MIN_SEARCH_LETTERS
    totals: AttendeeTotals          # over every row matching the search, not only this page


def matches(name: str, query: str) -> bool:
    """The whole name, or any of its words (first or last name), starts with the query."""
    name = name.lower()
    return name.startswith(query) or any(word.startswith(query) for word in name.split())


def attendee_table(rows: list[AttendeeRow], q: str = "", sort: str = "minutes_viewed", direction: str | None = None,
                   page: int = 1, per_page: int = ATTENDEES_PER_PAGE, strict: bool = False) -> AttendeeTable:
    """Attendees searched (from three letters), sorted and paged by the one table rule (`tables`), with the
    totals of every attendee matching the search."""
    options = {"q": q, "sort": sort, "dir": direction, "page": str(page)}
    table = paginate_rows(rows, ATTENDEE_TABLE, options, strict=strict, per_page=per_page)
    return AttendeeTable(table.rows, table.total, table.page, table.pages, table.sort, table.dir, table.q,
                         table.searched, attendee_totals(list(table.matched)))


def attendee_totals(rows: list[AttendeeRow]) -> AttendeeTotals:
    """The totals row of these attendees (all of them, not one page)."""
    return AttendeeTotals(
        len(rows), sum(r.minutes_viewed for r in rows), sum(r.reactions for r in rows),
        sum(r.chat_messages for r in rows), sum(r.raised_hands for r in rows), sum(r.polls_answered for r in rows),
        _rate(sum(r.engaged_seconds for r in rows), sum(r.sampled_seconds for r in rows)))


def session_minutes(session: Session, scope: RoomScope) -> list[datetime]:
    """The timeline's minutes (UTC), without reading any sample."""
    sessions = _sessions(session, scope)
    return _minutes(sessions, _stays(session, sessions))


def heat(session: Session, scope: RoomScope, person_id: int) -> list[str | None]:
    """One engagement level per minute of the timeline; None where the person sent no sample (offline).
    A minute shows the level that filled most of its sampled time, the more engaged on a tie."""
    sessions = _sessions(session, scope)
    stays = _stays(session, sessions)
    seconds_by_level: dict[datetime, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for _person, at, seconds, level in _samples(session, _ids(sessions), person_id):
        seconds_by_level[_sample_minute(at, seconds)][level] += seconds
    levels: list[str | None] = []
    for minute in _minutes(sessions, stays):
        spent = seconds_by_level.get(minute)
        levels.append(min(spent, key=lambda level: (-spent[level], LEVEL_RANK[level])) if spent else None)
    return levels


def attendee_activity(session: Session, scope: RoomScope, person_id: int) -> AttendeeActivity:
    """The person's Q&A threads, downloads and raised hands, oldest first."""
    ids = _ids(_sessions(session, scope))

    def rows(model, *columns):
        return session.execute(select(*columns).where(model.session_id.in_(ids), model.person_id == person_id)
                               .order_by(model.at, model.id)).all()

    return AttendeeActivity(
        tuple(QaItem(at, state) for at, state in rows(QaThread, QaThread.at, QaThread.state)),
        tuple(DownloadItem(at, name) for at, name in rows(AttachmentDownload, AttachmentDownload.at,
                                                          AttachmentDownload.name)),
        tuple(at for (at,) in rows(RaisedHand, RaisedHand.at)),
    )


# -- interactions --------------------------------------------------------------------------------

def interactions(session: Session, scope: RoomScope) -> list[InteractionRow]:
    """Launched interactions in launch order, with the distinct people who answered each."""
    ids = _ids(_sessions(session, scope))
    participants = (select(InteractionAnswer.interaction_id,
                           func.count(func.distinct(InteractionAnswer.person_id)).label("people"))
                    .group_by(InteractionAnswer.interaction_id).subquery())
    query = (select(Interaction.id, Interaction.launched_at, Interaction.question, Interaction.kind,
                    func.coalesce(participants.c.people, 0))
             .outerjoin(participants, participants.c.interaction_id == Interaction.id)
             .where(Interaction.session_id.in_(ids)).order_by(Interaction.launched_at, Interaction.id))
    return [InteractionRow(*row) for row in session.execute(query).all()]


# Interaction kinds where one participant may choose several options.
MULTI_SELECT_KINDS = frozenset({"crowd_vote"})


def interaction_detail(session: Session, interaction_id: int) -> InteractionDetail:
    interaction = session.get(Interaction, interaction_id)
    if interaction is None:
        raise LookupError(f"no interaction {interaction_id}")
    answers = session.execute(select(InteractionAnswer.person_id, InteractionAnswer.option, InteractionAnswer.text)
                              .where(InteractionAnswer.interaction_id == interaction_id)
                              .order_by(InteractionAnswer.at, InteractionAnswer.id)).all()
    answered = {person for person, _option, _text in answers}
    choosing: dict[str, set[int]] = defaultdict(set)
    for person, option, _text in answers:
        if option is not None:
            choosing[option].add(person)
    options = tuple(
        OptionRow(option, len(choosing[option]), d.ratio(len(choosing[option]), len(answered)),
                  option == interaction.correct_option)
        for option in interaction.options or [])
    return InteractionDetail(interaction.id, interaction.question, interaction.kind, len(interaction.options or []),
                             len(answered), options, interaction.correct_option,
                             _grouped_text(answers, len(answered)), interaction.kind in MULTI_SELECT_KINDS)


def _grouped_text(answers, answered: int) -> tuple[OptionRow, ...]:
    """Open answers (person, option, text rows, oldest first) grouped by their text ignoring case and
    surrounding spaces, each with the participants who gave it and their share of those who answered."""
    spelling: dict[str, str] = {}
    giving: dict[str, set[int]] = defaultdict(set)
    for person, _option, text in answers:
        if text and text.strip():
            key = text.strip().casefold()
            spelling.setdefault(key, text.strip())
            giving[key].add(person)
    order = sorted(spelling, key=lambda key: -len(giving[key]))   # stable: ties stay in the order first given
    return tuple(OptionRow(spelling[key], len(giving[key]), d.ratio(len(giving[key]), answered), False)
                 for key in order)


# -- recordings, countries, devices ---------------------------------------------------------------

def recordings(session: Session, scope: RoomScope) -> Recordings:
    """Viewing of the sessions' recordings per person: the recording entries' player (DESIGN §5 plays,
    impressions, minutes, completion) plus the recording stays the room feed reports."""
    sessions = _sessions(session, scope)
    entries = _recording_entries(sessions)
    player: list[PersonEngagement] = per_person(session, _recording_scope(scope, sessions)) if entries else []
    by_person = {row.person_id: row for row in player}
    stays: dict[int | None, list[_Stay]] = defaultdict(list)
    for stay in _stays(session, sessions):
        if stay.mode == "recording":
            stays[stay.person_id].append(stay)
    known = [p for p in set(by_person) | set(stays) if p is not None]
    names = _names(session, _rsvps(session, scope.room_id, known), known)
    viewers = []
    for person_id in set(by_person) | set(stays):
        row = by_person.get(person_id)
        own = stays.get(person_id, [])
        stay_minutes = sum((s.end - s.start).total_seconds() for s in own) / 60
        viewers.append(RecordingViewer(
            person_id, names.get(person_id, "Unknown"), row.impressions if row else 0, (row.plays if row else 0) + len(own),
            (row.minutes_viewed if row else 0.0) + stay_minutes, row.avg_completion_rate if row else None))
    viewers.sort(key=lambda r: (r.person_id is None, -r.plays, r.name.lower(), r.person_id or 0))
    return Recordings(entries, sum(r.plays for r in viewers), sum(r.impressions for r in viewers), tuple(viewers))


WHERE_COLUMNS = {"country": "country", "device": "device_type"}


def where_viewers(session: Session, scope: RoomScope, dimension: str) -> list[WhereRow]:
    """Unique viewers per country or device type ("country" or "device"): live unique viewers from live
    stays (as the overview counts them: anonymous stays too); signed-in recording viewers from recording
    stays and plays of the recording entries. Most live viewers first."""
    column = WHERE_COLUMNS[dimension]
    sessions = _sessions(session, scope)
    live: dict[str | None, list[int | None]] = defaultdict(list)
    recorded: dict[str | None, set[int]] = defaultdict(set)
    for mode, value, person_id in session.execute(
            select(Attendance.mode, getattr(Attendance, column), Attendance.person_id)
            .where(Attendance.session_id.in_(_ids(sessions)))):
        if mode == "live":
            live[value].append(person_id)
        elif person_id is not None:
            recorded[value].add(person_id)
    if _recording_entries(sessions):
        for value, person_id in session.execute(
                select(getattr(Play, column), Play.person_id).distinct()
                .where(*_recording_scope(scope, sessions).where(Play, Play.started_at), Play.person_id.isnot(None))):
            recorded[value].add(person_id)
    rows = [WhereRow(value, live_unique_viewers(live.get(value, ())), len(recorded.get(value, ())))
            for value in set(live) | set(recorded)]
    return sorted(rows, key=lambda r: (-r.live_viewers, -r.recording_viewers, r.value is None, r.value or ""))


def where_totals(session: Session, scope: RoomScope) -> WhereRow:
    """The "All" row: live unique viewers (the overview's number) and signed-in recording viewers, each
    person counted once."""
    sessions = _sessions(session, scope)
    live: list[int | None] = []
    recorded: set[int] = set()
    for mode, person_id in session.execute(
            select(Attendance.mode, Attendance.person_id).where(Attendance.session_id.in_(_ids(sessions)))):
        if mode == "live":
            live.append(person_id)
        elif person_id is not None:
            recorded.add(person_id)
    recorded |= set(_player_viewing(session, scope, sessions)[0])
    return WhereRow(None, live_unique_viewers(live), len(recorded))


# -- the room and its sessions ------------------------------------------------------------------

def room_scope(room: Room, chosen: RoomSession | None, start: datetime | None, end: datetime | None) -> RoomScope:
    """One session when chosen, else every session that started in [start, end)."""
    if chosen is not None:
        return RoomScope(room.registration_id, room.id, session_ids=(chosen.id,))
    return RoomScope(room.registration_id, room.id, None, start, end)


def main_session(session: Session, room: Room, external_id: str) -> RoomSession | None:
    """The room's main (not breakout) session with that id, or None."""
    return session.scalar(select(RoomSession).where(
        RoomSession.room_id == room.id, RoomSession.external_id == external_id[:255],
        RoomSession.parent_session_id.is_(None)))


def room_of_course(session: Session, registration_id: int, course_id: int, external_id: str) -> Room | None:
    """The course's room with that id, or None (another course's room is None too)."""
    room = session.scalar(select(Room).where(Room.registration_id == registration_id, Room.external_id == external_id))
    return room if room is not None and room.course_id == course_id else None


def main_sessions(session: Session, room_ids: list[int]) -> dict[int, list[RoomSession]]:
    """Each room's main (not breakout) sessions, newest first."""
    found: dict[int, list[RoomSession]] = {room_id: [] for room_id in room_ids}
    for one in session.scalars(select(RoomSession).where(
            RoomSession.room_id.in_(room_ids or [-1]), RoomSession.parent_session_id.is_(None))
            .order_by(RoomSession.started_at.desc(), RoomSession.id.desc())):
        found[one.room_id].append(one)
    return found


def course_rooms(session: Session, registration_id: int, course_id: int) -> list[Room]:
    return list(session.scalars(select(Room).where(Room.registration_id == registration_id, Room.course_id == course_id)
                                .order_by(Room.name, Room.id)))
