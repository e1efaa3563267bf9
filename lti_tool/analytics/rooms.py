"""Room analytics (DESIGN §5): what happened in a room's live sessions, over a date range or one session.

Every function takes a RoomScope and returns frozen dataclasses. SQL selects the scope's rows;
per-minute bucketing and interval merging happen in Python in one pass over those rows, so the
work stays linear in the number of stays and samples.

Units: minutes as floats, rates as fractions 0-1 (None when the denominator is zero).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from lti_tool.models import (
    Attendance, AttachmentDownload, ChatMessage, EngagementSample, Interaction, InteractionAnswer, Person, QaThread,
    RaisedHand, Reaction, RoomSession, Rsvp,
)

from . import definitions as d

ENGAGED_LEVELS = ("high", "good")
# Darkest first: when a minute holds several levels for the same time, the more engaged one shows.
LEVEL_RANK = {"high": 0, "good": 1, "fair": 2, "low": 3, "none": 4}
MINUTE = timedelta(minutes=1)


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
    recording_plays: int                  # stays in recording mode


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
    text_answers: tuple[str, ...]         # open questions' answers, oldest first


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


def _minutes_by_person(stays: list[_Stay]) -> dict[int, float]:
    intervals: dict[int, list] = defaultdict(list)
    for stay in stays:
        if stay.person_id is not None:
            intervals[stay.person_id].append((stay.start, stay.end))
    return {person: _merged_seconds(spans) / 60 for person, spans in intervals.items()}


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
    minutes = _minutes_by_person(stays)
    known = len(minutes)
    live_people = {s.person_id for s in stays if s.mode == "live" and s.person_id is not None}
    live_viewers = len(live_people) + sum(1 for s in stays if s.mode == "live" and s.person_id is None)

    engaged, sampled = session.execute(
        select(func.sum(EngagementSample.interval_seconds).filter(EngagementSample.level.in_(ENGAGED_LEVELS)),
               func.sum(EngagementSample.interval_seconds))
        .where(EngagementSample.session_id.in_(ids))).one()

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
        recording_plays=sum(1 for s in stays if s.mode == "recording"),
    )


# -- timeline ------------------------------------------------------------------------------------

def _samples(session: Session, ids: tuple[int, ...], person_id: int | None = None):
    query = select(EngagementSample.person_id, EngagementSample.at, EngagementSample.interval_seconds,
                   EngagementSample.level).where(EngagementSample.session_id.in_(ids))
    if person_id is not None:
        query = query.where(EngagementSample.person_id == person_id)
    return session.execute(query)


def timeline(session: Session, scope: RoomScope) -> list[MinutePoint]:
    sessions = _sessions(session, scope)
    ids = _ids(sessions)
    stays = _stays(session, sessions)
    viewers: dict[datetime, set] = defaultdict(set)
    for index, stay in enumerate(stays):
        if stay.mode != "live":
            continue
        who = ("person", stay.person_id) if stay.person_id is not None else ("anonymous", index)
        minute = _floor_minute(stay.start)
        while minute < stay.end:  # the stay overlaps [minute, minute + 1 min)
            viewers[minute].add(who)
            minute += MINUTE
    engaged: dict[datetime, float] = defaultdict(float)
    sampled: dict[datetime, float] = defaultdict(float)
    for _person, at, seconds, level in _samples(session, ids):
        minute = _sample_minute(at, seconds)
        sampled[minute] += seconds
        if level in ENGAGED_LEVELS:
            engaged[minute] += seconds
    return [MinutePoint(minute, len(viewers.get(minute, ())), _rate(engaged[minute], sampled[minute]))
            for minute in _minutes(sessions, stays)]


# -- attendees -----------------------------------------------------------------------------------

def _per_person(session: Session, model, ids, *where) -> dict[int, int]:
    return dict(session.execute(select(model.person_id, func.count(model.id))
                                .where(model.session_id.in_(ids), *where).group_by(model.person_id)).all())


def attendees(session: Session, scope: RoomScope) -> list[AttendeeRow]:
    """Everyone signed in who attended (live or recording), by name."""
    sessions = _sessions(session, scope)
    ids = _ids(sessions)
    minutes = _minutes_by_person(_stays(session, sessions))
    people = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(tuple(minutes) or (-1,))))}
    rsvps = {r.person_id: r for r in session.scalars(
        select(Rsvp).where(Rsvp.room_id == scope.room_id, Rsvp.person_id.in_(tuple(minutes) or (-1,)))
        .order_by(Rsvp.at, Rsvp.id))}  # the latest registration wins
    reactions = _per_person(session, Reaction, ids, Reaction.throttled.is_(False))
    messages = _per_person(session, ChatMessage, ids, ChatMessage.sub_context.is_(None))
    hands = _per_person(session, RaisedHand, ids)
    polls = dict(session.execute(
        select(InteractionAnswer.person_id, func.count(func.distinct(InteractionAnswer.interaction_id)))
        .join(Interaction, Interaction.id == InteractionAnswer.interaction_id)
        .where(Interaction.session_id.in_(ids)).group_by(InteractionAnswer.person_id)).all())
    engaged, sampled = defaultdict(float), defaultdict(float)
    for person_id, _at, seconds, level in _samples(session, ids):
        sampled[person_id] += seconds
        if level in ENGAGED_LEVELS:
            engaged[person_id] += seconds
    rows = []
    for person_id, viewed in minutes.items():
        rsvp = rsvps.get(person_id)
        person = people[person_id]
        # Someone known only from the room feed has no name from Canvas; the RSVP form's name beats "Unnamed".
        has_name = person.name or person.given_name or person.family_name
        name = person.display_name if has_name or not rsvp else rsvp.name
        rows.append(AttendeeRow(
            person_id, name, rsvp and rsvp.title, rsvp and rsvp.role, rsvp and rsvp.company, rsvp and rsvp.industry,
            rsvp and rsvp.country, viewed, reactions.get(person_id, 0), messages.get(person_id, 0),
            hands.get(person_id, 0), polls.get(person_id, 0), _rate(engaged[person_id], sampled[person_id])))
    return sorted(rows, key=lambda r: (r.name.lower(), r.person_id))


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
                             tuple(text for _person, _option, text in answers if text))
