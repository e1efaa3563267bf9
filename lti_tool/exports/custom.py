"""Custom room reports: the room page's "Custom report" window (seed 000, "Custom reports").

Nine CSV reports over one course's rooms, each with exactly the columns the seed lists (its names as
headers; where the seed describes a column instead of naming it, a camelCase name listed below):

group_chat_transcripts  Group Chat Transcripts: userId, userFirstName, userLastName, userEmail, userRole,
    messageId, sentAt, message, repliedToMessageId, likes, deleted (whether the message was deleted:
    true/false), subContext (where it was written, e.g. breakout; empty for the main group chat).
chat_moderation  Chat Moderation, one row per session (breakout rooms are sessions of their own) with
    Q&A threads or moderator messages: contextId, contextName, lastActivity, pendingThreads, ownedThreads,
    resolvedThreads, doneThreads, userMessages, moderatorMessages, moderatorsOwningResolvedThreads,
    moderatorsOwningUnresolvedThreads. A moderator conversation's messages from the person who started
    it are user messages, the others moderator messages; resolved threads for the owner lists are those
    resolved or done, unresolved ones pending or owned. Owners are names joined with "; ".
chat_user_activity  Chat User Activity: userId, userEmail, Connections, internal received, internal sent,
    external received, external sent. Connections count chat connections; sent and received count
    moderator and private messages (group chat messages have no recipient), split by their
    `external` flag.
moderator_transcript  Moderator Transcript, moderator messages only (private messages between attendees
    are not moderation): Context ID, context name, creator, sender, sender email, recipient,
    recipient email, message, time, state, labels (joined with "; ").
polls_activity  Polls Activity, one row per answer (a crowd vote's several options are several rows):
    Context ID, poll ID, user ID, user first name, user last name, user email, question, type (poll, quiz,
    rating, open, crowd_vote), vote (the option, or an open question's text), vote time, visual type,
    visual icon, is correct (true/false for a quiz question, else empty), group poll name, group poll ID,
    scheduling type, scheduling time. Our interactions record no visual type or icon, poll group or
    scheduling: those six columns are always empty.
room_data  Room Data, one row per main session: roomId, roomName, sessionStartTime, sessionEndTime,
    hostId, hostName, hostEmail, uniqueUsers, engagementRate.
attendees_data  Attendees Data, one row per attendee of each main session (its breakout rooms
    included): userId, userName, userEmail, userRole, participationMinutes, engagementRate.
breakout_room_sessions  Breakout Room Sessions, grouped by main room: mainRoomId, mainRoomName,
    breakoutRoomId, breakoutRoomName, initiatorId, initiatorName, startTime, endTime, durationMinutes,
    participantCount, engagementRate.
rsvp  RSVP: entry_id, media name, first_name, last_name, title, company, email, country, role, industry.

Values. Ids: a room's and a session's external ids; a person's userId is their LTI subject. Times are
ISO 8601 in the requested time zone with its offset. Minutes have two decimals. Rates are percent
0-100 with one decimal, empty when nothing was sampled; engagement is DESIGN §5's live engagement
rate and uniqueUsers the room page's unique viewers, both from analytics.rooms. userRole is the
person's role in that session: "host" (its host, or the breakout room's initiator), "moderator"
(owns a Q&A thread or answered in a moderator conversation there) or "participant".
participationMinutes are the room page's minutes viewed (live stays, overlaps once, plus the
recording). participantCount counts people assigned to the breakout room or who joined it.
RSVP names: the person's given and family name when Canvas sent them, else the name typed on the
form whole in first_name (we do not split names). Text cells starting with =, +, -, @ or a tab
are prefixed with ' so a spreadsheet shows them instead of running them. Files are UTF-8 with a BOM.

Scope: the course's rooms of the registration; sessions (with their breakout rooms) that started in
the timeframe; RSVPs made in it. Parameters (`write_reports(params)`, and what the form posts):
    timeframe        last7, last30 (default), last120, last365 or custom; presets end yesterday in tz
    from, to         custom: first and last local day, YYYY-MM-DD
    tz               IANA time zone of the days and of the times written (default UTC)
    entry_ids        room ids (Room Data, Attendees Data)
    user_ids         people as sub:<LTI subject> (or canvas:, login:, email:, sis:, player:) or a bare
                     subject (Attendees Data)
    cue_point_ids    main session ids (Attendees Data)
    parentEntryIds   main session or room ids (Breakout Room Sessions)
    fromDate, toDate local days the breakout room started in, YYYY-MM-DD (Breakout Room Sessions)
    virtual_event_ids  refused when not empty: our rooms belong to a course, not to a virtual event, so
                     the filter could only be ignored, and a report that silently ignores a filter
                     looks filtered while it is not.
Ids are comma- or space-separated text or lists, at most MAX_IDS each. A filter given that none of
the chosen reports takes is an error, like an unknown parameter, a bad date or an unknown report.
"""
from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased
from werkzeug.datastructures import MultiDict

from lti_tool.analytics import filters as filter_rules
from lti_tool.analytics import rooms
from lti_tool.ingest.people import ALIAS_KINDS
from lti_tool.models import (
    Attendance, BreakoutParticipant, ChatConnection, ChatMessage, Interaction, InteractionAnswer, Person, PersonAlias,
    QaThread, Room, RoomMessage, RoomSession, Rsvp,
)
from lti_tool.models.types import utcnow

TIMEFRAMES = {"last7": 7, "last30": 30, "last120": 120, "last365": 365, "custom": None}
TIMEFRAME_LABELS = {"last7": "Last 7 days", "last30": "Last 30 days", "last120": "Last 120 days",
                    "last365": "Last 365 days", "custom": "Custom"}
MAX_IDS = 100
MAX_ID_LENGTH = 255
MAX_CUSTOM_DAYS = 3660
ID_FILTERS = ("entry_ids", "virtual_event_ids", "user_ids", "cue_point_ids", "parentEntryIds")
DATE_FILTERS = ("fromDate", "toDate")
PARAMETERS = ("timeframe", "from", "to", "tz", *ID_FILTERS, *DATE_FILTERS)
YIELD_PER = 1000
RESOLVED_STATES = ("resolved", "done")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Selection:
    """What every report reads: the course's rooms, the timeframe as a UTC span, the filters."""

    registration_id: int
    course_id: int
    start: datetime                       # aware UTC, inclusive: first local day's midnight
    end: datetime                         # aware UTC, exclusive
    tz: str
    entry_ids: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()
    cue_point_ids: tuple[str, ...] = ()
    parent_entry_ids: tuple[str, ...] = ()
    breakout_start: datetime | None = None  # fromDate/toDate as a UTC span
    breakout_end: datetime | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)


@dataclass(frozen=True)
class Report:
    name: str                             # file name and form value
    title: str                            # as the seed names it
    columns: tuple[str, ...]
    filters: tuple[str, ...]              # the additional filters it takes
    rows: Callable[[Session, Selection], Iterator[tuple]]


# -- cells -----------------------------------------------------------------------------------------

def _time(value: datetime | None, sel: Selection) -> str:
    return value.astimezone(sel.zone).isoformat(timespec="seconds") if value else ""


def _rate(value: float | None) -> str:
    """A fraction 0-1 as percent 0-100 with one decimal; empty for none."""
    return "" if value is None else f"{value * 100:.1f}"


def _minutes(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _flag(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def _cell(value):
    """Text a spreadsheet would run as a formula is shown as text instead."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def _name(person: Person | None) -> str:
    return person.display_name if person is not None else ""


# -- scope -----------------------------------------------------------------------------------------

def _course_rooms(sel: Selection, entry_ids: tuple[str, ...] = ()):
    query = select(Room.id).where(Room.registration_id == sel.registration_id, Room.course_id == sel.course_id)
    return query.where(Room.external_id.in_(entry_ids)) if entry_ids else query


def _main_sessions(sel: Selection, entry_ids: tuple[str, ...] = ()):
    """Ids of the main sessions of the course's rooms that started in the timeframe."""
    return select(RoomSession.id).where(
        RoomSession.room_id.in_(_course_rooms(sel, entry_ids)), RoomSession.parent_session_id.is_(None),
        RoomSession.started_at >= sel.start, RoomSession.started_at < sel.end)


def _sessions_in_scope(sel: Selection):
    """Ids of those main sessions and of their breakout rooms."""
    mains = _main_sessions(sel)
    return select(RoomSession.id).where(or_(RoomSession.id.in_(mains), RoomSession.parent_session_id.in_(mains)))


def _roles(session: Session, sel: Selection) -> dict[tuple[int, int], str]:
    """(session id, person id) -> "host" or "moderator" for the sessions in scope; everyone else a participant."""
    scope = _sessions_in_scope(sel)
    roles: dict[tuple[int, int], str] = {}
    for session_id, host, initiator in session.execute(
            select(RoomSession.id, RoomSession.host_person_id, RoomSession.initiator_person_id)
            .where(RoomSession.id.in_(scope))):
        for person_id in (host, initiator):
            if person_id is not None:
                roles[(session_id, person_id)] = "host"
    owners = select(QaThread.session_id, QaThread.owner_person_id).where(
        QaThread.session_id.in_(scope), QaThread.owner_person_id.isnot(None))
    answering = select(RoomMessage.session_id, RoomMessage.person_id).where(
        RoomMessage.session_id.in_(scope), RoomMessage.kind == "moderator", RoomMessage.creator_person_id.isnot(None),
        RoomMessage.person_id != RoomMessage.creator_person_id)
    for session_id, person_id in session.execute(owners.union(answering)):
        roles.setdefault((session_id, person_id), "moderator")
    return roles


def _stream(session: Session, query):
    return session.execute(query.execution_options(yield_per=YIELD_PER))


def _context_name(room_session: RoomSession, room: Room) -> str:
    return room_session.name or room.name or room.external_id


# -- the reports -----------------------------------------------------------------------------------

def group_chat_transcripts(session: Session, sel: Selection) -> Iterator[tuple]:
    roles = _roles(session, sel)
    query = (select(ChatMessage, Person).join(Person, Person.id == ChatMessage.person_id)
             .join(RoomSession, RoomSession.id == ChatMessage.session_id)
             .where(ChatMessage.session_id.in_(_sessions_in_scope(sel)))
             .order_by(RoomSession.started_at, RoomSession.id, ChatMessage.at, ChatMessage.id))
    for message, person in _stream(session, query):
        yield (person.subject, person.given_name, person.family_name, person.email,
               roles.get((message.session_id, person.id), "participant"), message.event_key, _time(message.at, sel),
               message.text, message.reply_to, message.likes, _flag(message.deleted), message.sub_context)


def chat_moderation(session: Session, sel: Selection) -> Iterator[tuple]:
    scope = _sessions_in_scope(sel)
    threads: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    last: dict[int, datetime] = {}
    for session_id, state, count, newest in session.execute(
            select(QaThread.session_id, QaThread.state, func.count(QaThread.id), func.max(QaThread.at))
            .where(QaThread.session_id.in_(scope)).group_by(QaThread.session_id, QaThread.state)):
        threads[session_id][state] = count
        last[session_id] = max(last.get(session_id, newest), newest)
    from_moderator = and_(RoomMessage.creator_person_id.isnot(None),
                          RoomMessage.person_id != RoomMessage.creator_person_id)
    messages: dict[int, tuple[int, int]] = {}
    for session_id, moderator_messages, count, newest in session.execute(
            select(RoomMessage.session_id, func.count(RoomMessage.id).filter(from_moderator),
                   func.count(RoomMessage.id), func.max(RoomMessage.at))
            .where(RoomMessage.session_id.in_(scope), RoomMessage.kind == "moderator")
            .group_by(RoomMessage.session_id)):
        messages[session_id] = (count - moderator_messages, moderator_messages)
        last[session_id] = max(last.get(session_id, newest), newest)
    owners: dict[tuple[int, bool], set[str]] = defaultdict(set)
    for session_id, state, person in session.execute(
            select(QaThread.session_id, QaThread.state, Person).distinct()
            .join(Person, Person.id == QaThread.owner_person_id).where(QaThread.session_id.in_(scope))):
        owners[(session_id, state in RESOLVED_STATES)].add(person.display_name)
    if not last:
        return
    for room_session, room in session.execute(
            select(RoomSession, Room).join(Room, Room.id == RoomSession.room_id)
            .where(RoomSession.id.in_(tuple(last))).order_by(RoomSession.started_at, RoomSession.id)):
        counts, (user_messages, moderator_messages) = threads[room_session.id], messages.get(room_session.id, (0, 0))
        yield (room_session.external_id, _context_name(room_session, room), _time(last[room_session.id], sel),
               counts["pending"], counts["owned"], counts["resolved"], counts["done"], user_messages,
               moderator_messages,
               "; ".join(sorted(owners[(room_session.id, True)], key=str.lower)),
               "; ".join(sorted(owners[(room_session.id, False)], key=str.lower)))


def chat_user_activity(session: Session, sel: Selection) -> Iterator[tuple]:
    scope = _sessions_in_scope(sel)
    # person id -> [connections, internal received, internal sent, external received, external sent]
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for person_id, count in session.execute(
            select(ChatConnection.person_id, func.count(ChatConnection.id))
            .where(ChatConnection.session_id.in_(scope)).group_by(ChatConnection.person_id)):
        counts[person_id][0] = count
    for column, sent in ((RoomMessage.recipient_person_id, 0), (RoomMessage.person_id, 1)):
        for person_id, external, count in session.execute(
                select(column, RoomMessage.external, func.count(RoomMessage.id))
                .where(RoomMessage.session_id.in_(scope), column.isnot(None)).group_by(column, RoomMessage.external)):
            counts[person_id][1 + 2 * bool(external) + sent] += count
    if not counts:
        return
    query = select(Person).where(Person.id.in_(tuple(counts))).order_by(Person.subject)
    for person in session.scalars(query.execution_options(yield_per=YIELD_PER)):
        yield (person.subject, person.email, *counts[person.id])


def moderator_transcript(session: Session, sel: Selection) -> Iterator[tuple]:
    sender, recipient, creator = aliased(Person), aliased(Person), aliased(Person)
    query = (select(RoomMessage, RoomSession, Room, sender, recipient, creator)
             .join(RoomSession, RoomSession.id == RoomMessage.session_id).join(Room, Room.id == RoomSession.room_id)
             .join(sender, sender.id == RoomMessage.person_id)
             .outerjoin(recipient, recipient.id == RoomMessage.recipient_person_id)
             .outerjoin(creator, creator.id == RoomMessage.creator_person_id)
             .where(RoomMessage.session_id.in_(_sessions_in_scope(sel)), RoomMessage.kind == "moderator")
             .order_by(RoomSession.started_at, RoomSession.id, RoomMessage.at, RoomMessage.id))
    for message, room_session, room, who, whom, started_by in _stream(session, query):
        yield (room_session.external_id, _context_name(room_session, room), _name(started_by), _name(who), who.email,
               _name(whom), whom.email if whom else "", message.text, _time(message.at, sel), message.state,
               "; ".join(message.labels or []))


def polls_activity(session: Session, sel: Selection) -> Iterator[tuple]:
    query = (select(InteractionAnswer, Interaction, RoomSession.external_id, Person)
             .join(Interaction, Interaction.id == InteractionAnswer.interaction_id)
             .join(RoomSession, RoomSession.id == Interaction.session_id)
             .join(Person, Person.id == InteractionAnswer.person_id)
             .where(Interaction.session_id.in_(_sessions_in_scope(sel)))
             .order_by(RoomSession.started_at, RoomSession.id, Interaction.launched_at, Interaction.id,
                       InteractionAnswer.at, InteractionAnswer.id))
    for answer, interaction, context_id, person in _stream(session, query):
        correct = (answer.option == interaction.correct_option) if interaction.correct_option is not None else None
        yield (context_id, interaction.external_id, person.subject, person.given_name, person.family_name, person.email,
               interaction.question, interaction.kind, answer.option if answer.option is not None else answer.text,
               _time(answer.at, sel), "", "", _flag(correct), "", "", "", "")


def _main_rows(session: Session, sel: Selection, entry_ids: tuple[str, ...], session_ids: tuple[str, ...] = ()):
    """(main session, room) in scope, oldest first, one at a time."""
    query = (select(RoomSession, Room).join(Room, Room.id == RoomSession.room_id)
             .where(RoomSession.id.in_(_main_sessions(sel, entry_ids))))
    if session_ids:
        query = query.where(RoomSession.external_id.in_(session_ids))
    return session.execute(query.order_by(RoomSession.started_at, RoomSession.id)).all()


def room_data(session: Session, sel: Selection) -> Iterator[tuple]:
    rows = _main_rows(session, sel, sel.entry_ids)
    hosts = {p.id: p for p in session.scalars(select(Person).where(
        Person.id.in_({s.host_person_id for s, _room in rows if s.host_person_id} or {-1})))}
    for room_session, room in rows:
        overview = rooms.overview(session, rooms.room_scope(room, room_session, None, None))
        host = hosts.get(room_session.host_person_id)
        yield (room.external_id, room.name, _time(room_session.started_at, sel), _time(room_session.ended_at, sel),
               host.subject if host else "", _name(host), host.email if host else "", overview.unique_viewers,
               _rate(overview.avg_live_engagement_rate))


def attendees_data(session: Session, sel: Selection) -> Iterator[tuple]:
    wanted = _people(session, sel.registration_id, sel.user_ids) if sel.user_ids else None
    roles = _roles(session, sel)
    for room_session, room in _main_rows(session, sel, sel.entry_ids, sel.cue_point_ids):
        attendees = [a for a in rooms.attendees(session, rooms.room_scope(room, room_session, None, None))
                     if wanted is None or a.person_id in wanted]
        people = {p.id: p for p in session.scalars(select(Person).where(
            Person.id.in_([a.person_id for a in attendees] or [-1])))}
        for attendee in attendees:
            person = people[attendee.person_id]
            yield (person.subject, attendee.name, person.email,
                   roles.get((room_session.id, attendee.person_id), "participant"),
                   _minutes(attendee.minutes_viewed), _rate(attendee.live_engagement_rate))


def breakout_room_sessions(session: Session, sel: Selection) -> Iterator[tuple]:
    parent = aliased(RoomSession)
    query = (select(RoomSession, parent, Room).join(parent, parent.id == RoomSession.parent_session_id)
             .join(Room, Room.id == parent.room_id).where(parent.id.in_(_main_sessions(sel))))
    if sel.parent_entry_ids:
        query = query.where(or_(parent.external_id.in_(sel.parent_entry_ids),
                                Room.external_id.in_(sel.parent_entry_ids)))
    if sel.breakout_start is not None:
        query = query.where(RoomSession.started_at >= sel.breakout_start)
    if sel.breakout_end is not None:
        query = query.where(RoomSession.started_at < sel.breakout_end)
    rows = session.execute(query.order_by(Room.name, Room.id, parent.started_at, parent.id, RoomSession.started_at,
                                          RoomSession.id)).all()
    ids = [breakout.id for breakout, _parent, _room in rows] or [-1]
    people: dict[int, set[int]] = defaultdict(set)
    assigned = select(BreakoutParticipant.session_id, BreakoutParticipant.person_id).where(
        BreakoutParticipant.session_id.in_(ids))
    joined = select(Attendance.session_id, Attendance.person_id).where(
        Attendance.session_id.in_(ids), Attendance.person_id.isnot(None), Attendance.mode == "live")
    for session_id, person_id in session.execute(assigned.union(joined)):
        people[session_id].add(person_id)
    initiators = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(
        {b.initiator_person_id or b.host_person_id for b, _p, _r in rows} - {None} or {-1})))}
    for breakout, _parent, room in rows:
        initiator = initiators.get(breakout.initiator_person_id or breakout.host_person_id)
        duration = (breakout.ended_at - breakout.started_at).total_seconds() / 60 if breakout.ended_at else None
        overview = rooms.overview(session, rooms.RoomScope(room.registration_id, room.id, session_ids=(breakout.id,)))
        yield (room.external_id, room.name, breakout.external_id, breakout.name,
               initiator.subject if initiator else "", _name(initiator), _time(breakout.started_at, sel),
               _time(breakout.ended_at, sel), _minutes(duration), len(people[breakout.id]),
               _rate(overview.avg_live_engagement_rate))


def rsvp(session: Session, sel: Selection) -> Iterator[tuple]:
    query = (select(Rsvp, Room, Person).join(Room, Room.id == Rsvp.room_id)
             .outerjoin(Person, Person.id == Rsvp.person_id)
             .where(Rsvp.room_id.in_(_course_rooms(sel)), Rsvp.at >= sel.start, Rsvp.at < sel.end)
             .order_by(Room.name, Room.id, Rsvp.at, Rsvp.id))
    for registration, room, person in _stream(session, query):
        named = person is not None and (person.given_name or person.family_name)
        first, last = (person.given_name, person.family_name) if named else (registration.name, "")
        yield (room.external_id, room.name, first, last, registration.title, registration.company,
               registration.email or (person.email if person else None), registration.country, registration.role,
               registration.industry)


REPORTS: dict[str, Report] = {r.name: r for r in (
    Report("group_chat_transcripts", "Group Chat Transcripts",
           ("userId", "userFirstName", "userLastName", "userEmail", "userRole", "messageId", "sentAt", "message",
            "repliedToMessageId", "likes", "deleted", "subContext"), (), group_chat_transcripts),
    Report("chat_moderation", "Chat Moderation",
           ("contextId", "contextName", "lastActivity", "pendingThreads", "ownedThreads", "resolvedThreads",
            "doneThreads", "userMessages", "moderatorMessages", "moderatorsOwningResolvedThreads",
            "moderatorsOwningUnresolvedThreads"), (), chat_moderation),
    Report("chat_user_activity", "Chat User Activity",
           ("userId", "userEmail", "Connections", "internal received", "internal sent", "external received",
            "external sent"), (), chat_user_activity),
    Report("moderator_transcript", "Moderator Transcript",
           ("Context ID", "context name", "creator", "sender", "sender email", "recipient", "recipient email",
            "message", "time", "state", "labels"), (), moderator_transcript),
    Report("polls_activity", "Polls Activity",
           ("Context ID", "poll ID", "user ID", "user first name", "user last name", "user email", "question", "type",
            "vote", "vote time", "visual type", "visual icon", "is correct", "group poll name", "group poll ID",
            "scheduling type", "scheduling time"), (), polls_activity),
    Report("room_data", "Room Data",
           ("roomId", "roomName", "sessionStartTime", "sessionEndTime", "hostId", "hostName", "hostEmail",
            "uniqueUsers", "engagementRate"), ("entry_ids", "virtual_event_ids"), room_data),
    Report("attendees_data", "Attendees Data",
           ("userId", "userName", "userEmail", "userRole", "participationMinutes", "engagementRate"),
           ("entry_ids", "user_ids", "cue_point_ids", "virtual_event_ids"), attendees_data),
    Report("breakout_room_sessions", "Breakout Room Sessions",
           ("mainRoomId", "mainRoomName", "breakoutRoomId", "breakoutRoomName", "initiatorId", "initiatorName",
            "startTime", "endTime", "durationMinutes", "participantCount", "engagementRate"),
           ("fromDate", "toDate", "parentEntryIds", "virtual_event_ids"), breakout_room_sessions),
    Report("rsvp", "RSVP",
           ("entry_id", "media name", "first_name", "last_name", "title", "company", "email", "country", "role",
            "industry"), (), rsvp),
)}


# -- parameters ------------------------------------------------------------------------------------

def _people(session: Session, registration_id: int, refs: Iterable[str]) -> set[int]:
    """Person ids of user_ids: kind:value references as the feeds send them, or bare LTI subjects."""
    subjects, aliases = set(), defaultdict(set)
    for ref in refs:
        subjects.add(ref)
        kind, sep, value = ref.partition(":")
        if sep and kind == "sub":
            subjects.add(value)
        elif sep and kind in ALIAS_KINDS:
            aliases[ALIAS_KINDS[kind]].add(value.lower() if kind == "email" else value)
    found = set(session.scalars(select(Person.id).where(Person.registration_id == registration_id,
                                                         Person.subject.in_(subjects))))
    for alias_kind, values in aliases.items():
        found |= set(session.scalars(select(PersonAlias.person_id).where(
            PersonAlias.registration_id == registration_id, PersonAlias.kind == alias_kind,
            PersonAlias.value.in_(values))))
    return found


def _ids(name: str, raw) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        values = re.split(r"[\s,]+", raw)
    elif isinstance(raw, (list, tuple)) and all(isinstance(v, str) for v in raw):
        values = [part for v in raw for part in re.split(r"[\s,]+", v)]
    else:
        raise ValueError(f"{name} must be text or a list of text")
    values = list(dict.fromkeys(v for v in values if v))
    if len(values) > MAX_IDS:
        raise ValueError(f"{name}: at most {MAX_IDS} ids, {len(values)} given")
    if any(len(v) > MAX_ID_LENGTH for v in values):
        raise ValueError(f"{name}: an id is longer than {MAX_ID_LENGTH} characters")
    return tuple(values)


def _day(name: str, raw) -> date | None:
    if raw in (None, ""):
        return None
    try:
        day = date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise ValueError(f"{name} must be a date as YYYY-MM-DD, not {str(raw)[:40]!r}")
    if day < filter_rules.EARLIEST:
        raise ValueError(f"{name} must not be before {filter_rules.EARLIEST.isoformat()}")
    return day


def _span(first: date, last: date, tz: str, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local days first..last, as the dashboards compute their periods."""
    period = filter_rules.period(filter_rules.Filters(preset="custom", start=first, end=last), tz, now)
    return period.start, period.end


def report_names(names: Iterable[str]) -> list[str]:
    """The chosen reports in REPORTS order, each once; ValueError for none or an unknown one."""
    names = list(names)
    unknown = [n for n in names if n not in REPORTS]
    if unknown:
        raise ValueError(f"unknown report {str(unknown[0])[:60]!r}; choose among {', '.join(REPORTS)}")
    if not names:
        raise ValueError("choose at least one report")
    return [n for n in REPORTS if n in names]


def selection(registration_id: int, course_id: int, names: list[str], params: dict,
              now: datetime | None = None) -> Selection:
    """The validated parameters of these reports; ValueError says what is wrong."""
    unknown = sorted(set(params) - set(PARAMETERS), key=str)
    if unknown:
        raise ValueError(f"unknown parameter {str(unknown[0])[:60]!r}; known: {', '.join(PARAMETERS)}")
    tz = params.get("tz") or "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown time zone {str(tz)[:60]!r}") from exc
    now = now or utcnow()
    timeframe = params.get("timeframe") or "last30"
    if timeframe not in TIMEFRAMES:
        raise ValueError(f"timeframe must be one of {', '.join(TIMEFRAMES)}")
    if timeframe == "custom":
        first, last = _day("from", params.get("from")), _day("to", params.get("to"))
        if first is None or last is None:
            raise ValueError("a custom timeframe needs from and to as YYYY-MM-DD")
        if last < first:
            raise ValueError("the custom timeframe ends before it starts")
        if (last - first).days >= MAX_CUSTOM_DAYS:
            raise ValueError("the custom timeframe spans at most ten years")
    else:
        last = now.astimezone(ZoneInfo(tz)).date() - timedelta(days=1)
        first = last - timedelta(days=TIMEFRAMES[timeframe] - 1)
    start, end = _span(first, last, tz, now)

    given = {name: _ids(name, params.get(name)) for name in ID_FILTERS}
    days = {name: _day(name, params.get(name)) for name in DATE_FILTERS}
    if given["virtual_event_ids"]:
        raise ValueError("virtual_event_ids is not supported: rooms here belong to a course, not to a virtual "
                         "event; leave it empty")
    taken = {f for n in names for f in REPORTS[n].filters}
    for name in (*ID_FILTERS, *DATE_FILTERS):
        if (given.get(name) or days.get(name)) and name not in taken:
            takers = [r.title for r in REPORTS.values() if name in r.filters]
            raise ValueError(f"{name} applies to {' and '.join(takers)}, which is not among the chosen reports")
    if days["fromDate"] and days["toDate"] and days["toDate"] < days["fromDate"]:
        raise ValueError("toDate is before fromDate")
    breakout_start = _span(days["fromDate"], days["fromDate"], tz, now)[0] if days["fromDate"] else None
    breakout_end = _span(days["toDate"], days["toDate"], tz, now)[1] if days["toDate"] else None
    return Selection(registration_id, course_id, start, end, tz, entry_ids=given["entry_ids"],
                     user_ids=given["user_ids"], cue_point_ids=given["cue_point_ids"],
                     parent_entry_ids=given["parentEntryIds"], breakout_start=breakout_start,
                     breakout_end=breakout_end)


def form_request(form) -> tuple[list[str], dict]:
    """(report names, params) from the custom report form (a MultiDict): `report` repeated, the rest
    single fields; empty fields are left out. write_reports validates both."""
    names = form.getlist("report")
    params = {name: form.get(name) for name in PARAMETERS if form.get(name)}
    return names, params


ID_FILTER_FIELDS = (  # (name, label, help) of the id filters the window offers; virtual_event_ids is refused
    ("entry_ids", "Room IDs", "e.g. the id in this room's address"),
    ("user_ids", "User IDs", "sub:<LTI user id>, email:<address>, canvas:<Canvas user id> …"),
    ("cue_point_ids", "Session IDs", "main sessions"),
    ("parentEntryIds", "Main room IDs", "main sessions or rooms"),
)


def window_context(action: str, form=None, error: str | None = None, today: date | None = None,
                   hidden: dict | None = None) -> dict:
    """What exports/_custom_report.html renders: `action` is where the form posts, with the `hidden`
    fields (e.g. {"kind": "custom"}); `form` (a MultiDict) the values to show again with `error`;
    `today` (local) caps the calendar pickers."""
    form = form if form is not None else MultiDict()
    takers = {name: " and ".join(r.title for r in REPORTS.values() if name in r.filters) for name in ID_FILTERS}
    return {"action": action, "hidden": hidden or {}, "form": form, "error": error, "today": today.isoformat() if today else None,
            "reports": {name: r for name, r in REPORTS.items()}, "timeframes": TIMEFRAME_LABELS, "max_ids": MAX_IDS,
            "id_filters": [(name, label, help_text, takers[name]) for name, label, help_text in ID_FILTER_FIELDS],
            "filters_used": any(form.get(name) for name in (*ID_FILTERS, *DATE_FILTERS))}


# -- writing ---------------------------------------------------------------------------------------

def write_reports(session: Session, registration_id: int, course_id: int, names: list[str], params: dict,
                  directory: Path, *, now: datetime | None = None) -> list[Path]:
    """One CSV per chosen report, `<name>.csv` in `directory`, in REPORTS order; rows are written as
    the queries stream them. Everything is validated before a file is written (ValueError)."""
    chosen = report_names(names)
    sel = selection(registration_id, course_id, chosen, params, now)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in chosen:
        report = REPORTS[name]
        path = directory / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.writer(handle)
            writer.writerow(report.columns)
            for row in report.rows(session, sel):
                writer.writerow([_cell(value) for value in row])
        paths.append(path)
    return paths
