"""Demo rooms: a semester of live lectures and office hours in each demo course, as a room feed sends them.

Each course gets a "Live lecture" room (a session in each half of the term, 50-65 minutes, hosted by
the course's teacher with TAs moderating) and an "Office hours" room (two small sessions). Students
of the course roster join late or leave early, some reconnect; their players report engagement every
30 s (attention dips mid-session); they react (some clicking faster than the throttle lets through),
chat, open Q&A threads, raise hands, download the slides and the worksheet, answer polls, quizzes,
ratings, open questions and crowd votes, message the moderators and each other. One lecture per
course splits into two breakout rooms. Every session is recorded; a few students watch a recording
later, and those viewings are player events through the same pipeline and player as the demo's
media viewing (`seed._Player`).

Room events go through `ingest.rooms` (`room_event`, then `accept_room_events`) like a feed's
batches. Everything comes from `random.Random` seeded with the seed and the session, and every time
from the world's semester, so the same seed and `today` give the same events; event ids include the
seed, so a second run finds every event a duplicate and another seed adds rooms of its own.
"""
from __future__ import annotations

import hashlib
import math
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from lti_tool.extensions import db
from lti_tool.ingest import pipeline
from lti_tool.ingest.catalog import upsert_entry
from lti_tool.ingest.rooms import RejectedBatch, RoomBatchResult, accept_room_events, room_event
from lti_tool.ingest.schema import IncomingEvent
from lti_tool.models import Course, MediaEntry, Registration, Room
from lti_tool.models.rooms import REACTION_KINDS

from .seed import (
    COURSE_TAGS, COURSE_TIMEZONE, HOUR_WEIGHTS, LECTURES, SOURCE, USER_AGENTS, SeedEntry, SeedPerson,
    ViewingPlanner, World, _Player, _weighted,
)

SAMPLE_SECONDS = 30          # a player reports its state every 30 s of a stay
# Kept few so the demo's first start stays fast (every attendee sends a sample each 30 s: a lecture is
# about 6,000 room events, and the rooms' share of the first start should stay near 3 s on SQLite).
LECTURE_WEEKS = (4, 10)                # live lectures, one in each half of the term
OFFICE_HOURS_WEEKS = (7, 14)           # before the midterm and before the final
BREAKOUT_LECTURE = 1         # the second lecture of each course splits into two breakout rooms
# When each course meets (course time zone): weekday (0 = Monday), hour, minute.
LECTURE_TIME = {"bio101": (0, 10, 0), "hist210": (1, 13, 0)}
OFFICE_HOURS_TIME = {"bio101": (3, 15, 0), "hist210": (3, 11, 0)}
ROOM_NAMES = {"lecture": "Live lecture", "office": "Office hours"}
OFFICE_HOURS_NAMES = {7: "Midterm review office hours", 14: "Final review office hours"}
# Recordings watched later per session (most students who missed it catch up elsewhere): lectures, office hours.
RECORDING_VIEWINGS = {"lecture": (1, 2), "office": (0, 1)}

# Public addresses by country (geoip2fast places each in that country); Minnesota homes use the
# campus networks or the big home ISPs.
CAMPUS_ADDRESSES = ("134.84.{}.{}", "160.94.{}.{}")
HOME_ADDRESSES = ("73.65.{}.{}", "24.118.{}.{}", "75.73.{}.{}", "71.195.{}.{}")
ADDRESSES_ABROAD = {
    "CA": ("142.150.{}.{}", "128.100.{}.{}"), "CN": ("202.108.22.{}", "166.111.{}.{}"),
    "IN": ("14.139.{}.{}", "103.21.58.{}"), "KR": ("211.234.{}.{}", "147.46.{}.{}"),
    "DE": ("141.20.{}.{}", "130.149.{}.{}"), "MX": ("148.204.{}.{}", "132.248.{}.{}"),
    "NG": ("41.58.{}.{}", "196.6.103.{}"), "GB": ("81.2.69.{}", "128.243.{}.{}"),
}

# How often each kind is clicked, in REACTION_KINDS order (clap, heart, think, wow, smile).
REACTION_WEIGHTS = dict(zip(REACTION_KINDS, (30, 22, 14, 14, 20)))

QUIZZES = {
    "bio101": (
        ("Which organelle makes most of a cell's ATP?", ("Nucleus", "Mitochondrion", "Ribosome", "Golgi apparatus"),
         "Mitochondrion"),
        ("What crosses a membrane by osmosis?", ("Glucose", "Water", "Sodium ions", "Proteins"), "Water"),
        ("What does an enzyme lower?", ("The activation energy", "The free energy change", "The temperature",
                                        "The equilibrium constant"), "The activation energy"),
        ("Where does the Calvin cycle take place?", ("Thylakoid membrane", "Stroma", "Cytoplasm",
                                                     "Mitochondrial matrix"), "Stroma"),
        ("How many chromosomes does a human gamete have?", ("23", "46", "92", "12"), "23"),
        ("Which base pairs with adenine in DNA?", ("Cytosine", "Guanine", "Thymine", "Uracil"), "Thymine"),
    ),
    "hist210": (
        ("In which year did the Bastille fall?", ("1776", "1789", "1815", "1848"), "1789"),
        ("Where did industrialization begin?", ("France", "Britain", "Germany", "The United States"), "Britain"),
        ("Which conference divided Africa among European powers?", ("Vienna", "Berlin", "Paris", "Yalta"), "Berlin"),
        ("Which treaty ended the First World War with Germany?", ("Versailles", "Utrecht", "Westphalia",
                                                                  "Brest-Litovsk"), "Versailles"),
        ("Which country was partitioned in 1947?", ("Korea", "British India", "Vietnam", "Germany"), "British India"),
        ("When did the Berlin Wall fall?", ("1961", "1975", "1989", "1991"), "1989"),
    ),
}
POLL_OPTIONS = ("Very well", "Mostly", "Somewhat", "Not yet")
OFFICE_POLL = ("What should we go over first?", ("Last week's lecture", "The reading", "The assignment",
                                                  "Exam format"))
OPEN_ANSWERS = (
    "How this connects to last week's topic", "The second example on the slides", "Which parts will be on the exam",
    "Could we get more practice problems?", "The difference between the two terms you compared",
    "Nothing, it was clear!", "The timeline at the end went fast", "Where to find the reading",
    "Why the graph looked like that", "More real-world examples please",
)

GREETINGS = ("Good morning!", "Hi everyone", "hello 👋", "Morning!", "hi", "Hey all", "Hello from the library",
             "Can everyone hear ok?", "hi from the bus 🚌")
HOST_OPENING = ("Welcome, everyone! We'll start in a minute.", "Good to see you all. Slides are under Attachments.")
QUESTIONS = ("Could you go over the slide on {topic} again?", "Will {topic} be on the exam?",
             "Is there a reading for {topic}?", "How does {topic} connect to last week?",
             "Sorry, what was the second point?", "Can you share the slides after?",
             "Is the worksheet due before the next session?", "Could you repeat the last example?")
STAFF_REPLIES = ("Good question. I'll come back to it after the poll.", "Yes, it's in the slides under Attachments.",
                 "Check the reading for this week, section 2.", "Yes, the worksheet is due Friday.",
                 "Great point, let's take that in office hours.", "The recording will be up tonight.")
CHATTER = ("that makes sense now", "+1", "same question", "oh interesting", "this is the part I missed",
           "thanks!", "good example", "wait what", "🙌", "lol")
CLOSING = ("Thank you!", "Thanks, see you next time", "thx", "Thanks professor!", "very helpful, thanks")
DELETED = ("test", "oops wrong chat", "anyone want to get lunch after?", "ignore that")
QA_QUESTIONS = ("I'm confused about {topic}. Can you explain the main idea again?",
                "Can you give another example of {topic}?", "Will we need to know the details of {topic}?",
                "Is there a practice set for {topic}?", "How much of {topic} is in the reading?")
QA_ANSWERS = ("Answered live, see the recording at the timestamp.", "I've added an example to the slides.",
              "Yes, expect one question on it.", "Practice set is posted in the course.")
MODERATOR_ASKS = (("My audio keeps cutting out, is it just me?", ["technical"]),
                  ("I got disconnected, did I miss the quiz?", ["technical"]),
                  ("Can I get an extension on the worksheet?", ["question"]),
                  ("The slides link isn't working for me", ["technical"]),
                  ("I have a question I'd rather not ask in the chat", ["question"]))
MODERATOR_REPLIES = ("It's on our side, give it a minute.", "No, the quiz is still open.",
                     "Email me after class and we'll sort it out.", "Try the Attachments tab again.",
                     "Sure, ask away here.")
PRIVATE = ("are you going to the study group?", "did you get the last slide?", "which breakout are you in?",
           "I'll send you my notes", "this is so much clearer than the reading", "see you at the lab")
BREAKOUT_CHAT = ("Who wants to take notes?", "I can share my screen", "Let's start with question 1",
                 "I think it's the second option", "We should write that down", "Good idea",
                 "Five minutes left", "Who reports back?")
# Students' RSVP details: most answer as students; some list the job they hold alongside (title, company, industry).
JOBS = (("Lab technician", "Mayo Clinic", "Healthcare"), ("Intern", "Medtronic", "Medical devices"),
        ("Sales associate", "Target", "Retail"), ("Research assistant", "University of Minnesota", "Higher education"),
        ("Barista", "Caribou Coffee", "Food service"), ("Analyst intern", "3M", "Manufacturing"),
        ("Tutor", "Minneapolis Public Schools", "Education"), ("Cashier", "Cub Foods", "Retail"))
DEVICE_FULL_SCREEN = {"mobile": 0.55, "tablet": 0.35, "desktop": 0.2}
DEVICE_CLASS = {user_agent: device for device, user_agent, _weight in USER_AGENTS}


def _kaltura_id(label: str) -> str:
    """A Kaltura-shaped id ("1_" and eight base-36 characters) for a label, as seed._entry_id makes them."""
    digest = int(hashlib.sha256(label.encode()).hexdigest(), 16)
    chars = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "1_" + "".join(chars[(digest >> (6 * i)) % 36] for i in range(8))


def _time(moment: datetime) -> float:
    """Unix seconds to the millisecond (the feed's other time format; cheaper to read than ISO 8601)."""
    return round(moment.timestamp(), 3)


def _ref(person: SeedPerson) -> str:
    return f"sub:{person.sub}"


def _address(rng: random.Random, person: SeedPerson, on_campus: bool) -> str:
    country = person.home[0]
    if country == "US":
        shapes = CAMPUS_ADDRESSES if on_campus else HOME_ADDRESSES
    else:
        shapes = ADDRESSES_ABROAD.get(country, HOME_ADDRESSES)
    shape = rng.choice(shapes)
    return shape.format(*(rng.randint(1, 254) for _ in range(shape.count("{}"))))


# ── The plan: rooms and sessions ───────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class RoomPlan:
    external_id: str
    kind: str                  # lecture, office
    name: str
    course_key: str
    course_id: int
    live_entry: str            # external id of the room's live stream entry


@dataclass(frozen=True)
class SessionPlan:
    room: RoomPlan
    number: int                # 0-based among the room's sessions
    week: int
    external_id: str
    name: str
    topic: str
    start: datetime            # aware UTC
    end: datetime
    recording: str             # external id of the recording's media entry


def plan_rooms(world: World, course_ids: dict[str, int]) -> list[tuple[RoomPlan, list[SessionPlan]]]:
    """The rooms of every demo course and their sessions that ended by the end of the semester."""
    zone = ZoneInfo(COURSE_TIMEZONE)
    planned = []
    for course in world.courses:
        for kind, weeks, when in (("lecture", LECTURE_WEEKS, LECTURE_TIME), ("office", OFFICE_HOURS_WEEKS,
                                                                              OFFICE_HOURS_TIME)):
            room = RoomPlan(_kaltura_id(f"demo-seed-{world.seed}-room-{course.key}-{kind}"), kind, ROOM_NAMES[kind],
                            course.key, course_ids[course.key],
                            _kaltura_id(f"demo-seed-{world.seed}-live-{course.key}-{kind}"))
            sessions = []
            for week in weeks:
                weekday, hour, minute = when[course.key]
                day = world.semester.day(week, weekday)
                rng = random.Random(f"{world.seed}:room:{course.key}:{kind}:{week}")
                start = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(timezone.utc)
                start += timedelta(seconds=rng.randint(-90, 150))  # hosts start a little early or late
                minutes = rng.randint(50, 65) if kind == "lecture" else rng.randint(40, 55)
                end = start + timedelta(minutes=minutes, seconds=rng.randint(0, 59))
                if end.date() > world.semester.end:
                    continue
                topic = LECTURES[course.key][week - 1]
                name = f"Week {week} · {topic if kind == 'lecture' else OFFICE_HOURS_NAMES[week]}"
                sessions.append(SessionPlan(
                    room, len(sessions), week, f"{room.external_id}-{day.isoformat()}", name, topic, start, end,
                    _kaltura_id(f"demo-seed-{world.seed}-recording-{room.external_id}-{week}")))
            planned.append((room, sessions))
    return planned


# ── One session: who comes, when, and what they do ────────────────────────────────────────────

@dataclass
class _Attendee:
    person: SeedPerson
    role: str                               # host, moderator, viewer
    stays: list[tuple[datetime, datetime]]
    attention: float                        # 0-1: how focused they usually are
    full_screen: float                      # chance a focused, listening viewer is in full screen
    chattiness: float
    user_agent: str
    ip: str                                 # the same address for the whole session
    breakout: str | None = None             # the breakout session id they are sent to

    def present(self, moment: datetime) -> bool:
        return any(start <= moment < end for start, end in self.stays)


@dataclass
class _Events:
    """Raw room events of one batch, with ids numbered within their session."""

    prefix: str
    items: list[dict] = field(default_factory=list)
    counter: int = 0

    def add(self, event_type: str, /, described: str | None = None, **fields) -> str:
        """Append an event (fields that are None are left out); returns its id: the id of the room or
        session it describes, else a new one."""
        self.counter += 1
        event_id = described or f"{self.prefix}:{event_type}:{self.counter}"
        self.items.append({"id": event_id, "type": event_type, **{k: v for k, v in fields.items() if v is not None}})
        return event_id


@dataclass(eq=False)
class _Line:
    """A chat message before it becomes an event (hashed by identity: replies point at their line)."""

    at: datetime
    attendee: _Attendee
    text: str
    reply_to: _Line | None = None
    likes: int = 0
    deleted: bool = False
    sub_context: str | None = None
    session: str | None = None              # a breakout session; None for the main session


class SessionSimulator:
    """The room events of one main session (and its breakout rooms); depends only on (seed, session)."""

    def __init__(self, world: World, plan: SessionPlan, roster: list[SeedPerson], teacher: SeedPerson,
                 tas: list[SeedPerson]) -> None:
        self.world, self.plan, self.teacher, self.tas = world, plan, teacher, tas
        self.rng = random.Random(f"{world.seed}:room-session:{plan.external_id}")
        self.events = _Events(f"demo:s{world.seed}:{plan.external_id}")
        self.roster = roster
        self.lecture = plan.room.kind == "lecture"
        self.length = (plan.end - plan.start).total_seconds()
        self.attendees: list[_Attendee] = []
        self.breakouts: list[tuple[str, datetime, datetime]] = []

    def at(self, fraction: float) -> datetime:
        return self.plan.start + timedelta(seconds=self.length * fraction)

    def run(self) -> list[dict]:
        plan = self.plan
        self.events.add("session", plan.external_id, room=plan.room.external_id, start=_time(plan.start),
                        end=_time(plan.end), name=plan.name, host=_ref(self.teacher), recording=plan.recording)
        self._plan_attendance()
        if self.lecture and plan.number == BREAKOUT_LECTURE:
            self._plan_breakouts()
        self._stays()
        self._engagement()
        self._reactions()
        self._chat()
        self._qa()
        self._hands()
        self._downloads()
        self._interactions()
        self._messages()
        return self.events.items

    # -- who comes, and when -----------------------------------------------------------------------

    def _plan_attendance(self) -> None:
        plan, rng = self.plan, self.rng
        start, end = plan.start, plan.end
        people = [(self.teacher, "host")] + [(ta, "moderator") for ta in self.tas]
        for person, role in people:
            if role == "moderator" and not self.lecture and rng.random() < 0.5:
                continue  # office hours are the teacher's; a TA drops in now and then
            joined = start + timedelta(seconds=rng.uniform(-60 if role == "host" else 0, 90))
            self.attendees.append(self._attendee(person, role, [(max(start, joined), end)]))
        fading = 1 - 0.12 * plan.week / 16  # attendance thins out over the semester
        for person in self.roster:
            if self.lecture:
                chance = (0.3 if person.engagement < 0.1 else min(0.97, 0.62 + 0.45 * person.engagement)) * fading
            else:
                chance = 0.04 + 0.12 * person.engagement  # a handful, mostly the keen ones
            if rng.random() >= chance:
                continue
            roll = rng.random()
            joined = start + timedelta(seconds=rng.uniform(-45, 200))
            if roll < 0.2:
                joined = start + timedelta(seconds=rng.uniform(300, 0.35 * self.length))  # late
            left = end - timedelta(seconds=rng.uniform(0, 90))
            if rng.random() < 0.14:
                left = start + timedelta(seconds=self.length * rng.uniform(0.5, 0.92))  # leaves early
            joined = max(start, joined)
            if left <= joined + timedelta(minutes=3):
                left = min(end, joined + timedelta(minutes=rng.uniform(5, 15)))
            stays = [(joined, left)]
            if rng.random() < 0.1 and (left - joined).total_seconds() > 1200:
                # the connection drops and they come back: two stays
                drop = joined + (left - joined) * rng.uniform(0.3, 0.7)
                back = drop + timedelta(seconds=rng.uniform(30, 240))
                stays = [(joined, drop), (back, left)]
            self.attendees.append(self._attendee(person, "viewer", stays))

    def _attendee(self, person: SeedPerson, role: str, stays) -> _Attendee:
        rng = self.rng
        user_agent = person.devices[0]
        if len(person.devices) > 1 and rng.random() < 0.15:
            user_agent = rng.choice(person.devices[1:])
        device = DEVICE_CLASS[user_agent]
        attention = (0.95 if role != "viewer"
                     else max(0.1, min(0.95, 0.3 + 0.6 * person.engagement + rng.gauss(0, 0.08))))
        stays = [(a.replace(microsecond=0), b.replace(microsecond=0)) for a, b in stays]
        return _Attendee(person, role, stays, attention, DEVICE_FULL_SCREEN[device] * rng.uniform(0.5, 1.5),
                         rng.betavariate(1.3, 3.5), user_agent, _address(rng, person, on_campus=rng.random() < 0.45))

    def _plan_breakouts(self) -> None:
        rng, plan = self.rng, self.plan
        opened, closed = self.at(0.42), self.at(0.42) + timedelta(minutes=rng.randint(12, 16))
        present = [a for a in self.attendees if a.role == "viewer" and a.present(opened) and a.present(closed)]
        rng.shuffle(present)
        for number in (1, 2):
            session_id = f"{plan.external_id}-breakout-{number}"
            moderator = (self.tas + [self.teacher])[(number - 1) % (len(self.tas) + 1)]
            group = [next(a for a in self.attendees if a.person is moderator), *present[number - 1::2]]
            self.breakouts.append((session_id, opened, closed))
            self.events.add("session", session_id, room=plan.room.external_id, start=_time(opened), end=_time(closed),
                            name=f"Breakout room {number}", parent=plan.external_id, initiator=_ref(self.teacher),
                            participants=[_ref(a.person) for a in group])
            for attendee in group:
                attendee.breakout = session_id

    def _breakout_window(self, attendee: _Attendee) -> tuple[datetime, datetime] | None:
        for session_id, opened, closed in self.breakouts:
            if attendee.breakout == session_id:
                return opened, closed
        return None

    # -- stays and engagement ----------------------------------------------------------------------

    def _stays(self) -> None:
        rng = self.rng
        for attendee in self.attendees:
            for joined, left in attendee.stays:
                self._stay(attendee, self.plan.external_id, joined, left)
            window = self._breakout_window(attendee)
            if window:
                self._stay(attendee, attendee.breakout, window[0] + timedelta(seconds=rng.uniform(2, 25)),
                           window[1] - timedelta(seconds=rng.uniform(0, 10)))

    def _stay(self, attendee: _Attendee, session_id: str, joined: datetime, left: datetime) -> None:
        rng = self.rng
        join = self.events.add("join", time=_time(joined), session=session_id, user=_ref(attendee.person),
                               ip=attendee.ip, user_agent=attendee.user_agent)
        self.events.add("connection", time=_time(joined + timedelta(seconds=rng.uniform(1, 6))), session=session_id,
                        user=_ref(attendee.person))
        self.events.add("leave", time=_time(left), join=join)

    def _attention(self, attendee: _Attendee, fraction: float) -> float:
        """Chance of a focused tab: high at the start, a dip past the middle, a little back at the end
        (the host and moderators stay on it)."""
        if attendee.role != "viewer":
            return attendee.attention
        dip = 0.38 * math.exp(-(((fraction - 0.57) / 0.16) ** 2))
        warmup = 0.08 * math.exp(-fraction / 0.06)
        return max(0.03, min(0.99, attendee.attention * (1 - dip) + warmup))

    def _engagement(self) -> None:
        """A sample every 30 s of each stay, timed at its interval's end; a player keeps its state a while
        (it is the same tab and the same mute button), so levels come in runs."""
        rng, plan = self.rng, self.plan
        start = plan.start.timestamp()
        for attendee in self.attendees:
            ref, window = _ref(attendee.person), self._breakout_window(attendee)
            away = (window[0].timestamp(), window[1].timestamp()) if window else (math.inf, math.inf)
            state = None
            for joined, left in attendee.stays:
                moment, last = joined.timestamp() + SAMPLE_SECONDS, left.timestamp()
                while moment <= last:
                    if state is None or rng.random() < 0.22:
                        focused = rng.random() < self._attention(attendee, (moment - start) / self.length)
                        sound = rng.random() < (0.94 if focused else 0.72)
                        state = (sound, focused, focused and sound and rng.random() < attendee.full_screen)
                    self.events.add("engagement", time=moment,
                                    session=attendee.breakout if away[0] < moment <= away[1] else plan.external_id,
                                    user=ref, seconds=SAMPLE_SECONDS, sound_on=state[0], tab_focused=state[1],
                                    full_screen=state[2])
                    moment += SAMPLE_SECONDS

    # -- reactions, chat, Q&A, hands, downloads ----------------------------------------------------

    def _present(self, moment: datetime, role: str | None = "viewer") -> list[_Attendee]:
        return [a for a in self.attendees if (role is None or a.role == role) and a.present(moment)]

    def _reactions(self) -> None:
        rng, plan = self.rng, self.plan
        kinds, weights = list(REACTION_WEIGHTS), list(REACTION_WEIGHTS.values())
        # Bursts: the welcome, the quiz result, a good example, the goodbye; then a trickle all along.
        bursts = [(0.03, ("smile", "heart", "clap")), (0.47, ("wow", "think", "clap")),
                  (0.7, ("heart", "wow", "smile")), (0.985, ("clap", "heart"))]
        for fraction, favoured in bursts:
            moment = self.at(fraction)
            for attendee in self._present(moment):
                if rng.random() > 0.15 + 0.5 * attendee.chattiness:
                    continue
                clicked = moment + timedelta(seconds=rng.uniform(0, 20))
                clicks = rng.choice((1, 1, 1, 2, 3, 5)) if rng.random() < 0.35 else 1  # fast repeat clicks
                kind = rng.choice(favoured)
                for _ in range(clicks):
                    self.events.add("reaction", time=_time(clicked), session=plan.external_id,
                                    user=_ref(attendee.person), kind=kind)
                    clicked += timedelta(seconds=rng.uniform(0.3, 1.4))
        for attendee in self.attendees:
            if attendee.role != "viewer":
                continue
            for _ in range(int(rng.expovariate(1 / (0.5 + 4 * attendee.chattiness)))):
                moment = self.at(rng.random())
                if attendee.present(moment):
                    self.events.add("reaction", time=_time(moment), session=plan.external_id,
                                    user=_ref(attendee.person), kind=_weighted(rng, kinds, weights))

    def _chat(self) -> None:
        """The group chat: the host's welcome, greetings, questions with answers and chatter (some liked),
        one message taken down, thanks at the end; and each breakout room's own chat."""
        rng, plan = self.rng, self.plan
        topic = plan.topic.lower()
        staff = [a for a in self.attendees if a.role != "viewer"]
        viewers = [a for a in self.attendees if a.role == "viewer"]
        lines = [_Line(self.at(0.005), self.attendees[0], rng.choice(HOST_OPENING), likes=rng.randint(0, 3))]
        for attendee in self._present(self.at(0.03)):
            if rng.random() < 0.1 + 0.4 * attendee.chattiness:
                lines.append(_Line(self.at(rng.uniform(0, 0.05)), attendee, rng.choice(GREETINGS),
                                   likes=rng.randint(0, 2)))
        for _ in range(rng.randint(4, 9) if self.lecture else rng.randint(3, 6)):
            fraction = rng.uniform(0.08, 0.95)
            asking = [a for a in self._present(self.at(fraction)) if rng.random() < 0.3 + 0.7 * a.chattiness]
            if not asking:
                continue
            question = _Line(self.at(fraction), rng.choice(asking), rng.choice(QUESTIONS).format(topic=topic),
                             likes=rng.choices((0, 1, 2, 3, 5, 8), weights=(4, 4, 3, 2, 1, 1))[0])
            lines.append(question)
            if rng.random() < 0.75:
                lines.append(_Line(question.at + timedelta(seconds=rng.uniform(15, 120)), rng.choice(staff),
                                   rng.choice(STAFF_REPLIES), reply_to=question, likes=rng.randint(0, 4)))
            for _ in range(rng.randint(0, 2)):
                others = [a for a in viewers if a is not question.attendee and a.present(question.at)]
                if others:
                    lines.append(_Line(question.at + timedelta(seconds=rng.uniform(5, 60)), rng.choice(others),
                                       rng.choice(CHATTER), reply_to=question, likes=rng.randint(0, 2)))
        talkers = [a for a in viewers if a.chattiness > 0.25]
        for _ in range(rng.randint(3, 10) if talkers else 0):
            moment, talker = self.at(rng.uniform(0.05, 0.95)), rng.choice(talkers)
            if talker.present(moment):
                lines.append(_Line(moment, talker, rng.choice(CHATTER), likes=rng.randint(0, 1)))
        if viewers:
            oops = rng.choice(viewers)
            lines.append(_Line(oops.stays[0][0] + timedelta(seconds=rng.uniform(20, 200)), oops, rng.choice(DELETED),
                               deleted=True))
        for attendee in self._present(self.at(0.99)):
            if rng.random() < 0.08 + 0.35 * attendee.chattiness:
                lines.append(_Line(self.at(rng.uniform(0.975, 0.998)), attendee, rng.choice(CLOSING),
                                   likes=rng.randint(0, 2)))
        for session_id, opened, closed in self.breakouts:
            group = [a for a in self.attendees if a.breakout == session_id]
            for _ in range(rng.randint(4, 9)):
                lines.append(_Line(opened + (closed - opened) * rng.uniform(0.05, 0.95), rng.choice(group),
                                   rng.choice(BREAKOUT_CHAT), likes=rng.randint(0, 1), sub_context="breakout",
                                   session=session_id))
        sent: dict[_Line, str] = {}  # event ids, for the replies
        for line in sorted(lines, key=lambda one: one.at):
            sent[line] = self.events.add(
                "chat", time=_time(max(line.at, line.attendee.stays[0][0])), session=line.session or plan.external_id,
                user=_ref(line.attendee.person), text=line.text,
                reply_to=sent[line.reply_to] if line.reply_to else None, likes=line.likes or None,
                deleted=line.deleted or None, sub_context=line.sub_context)

    def _qa(self) -> None:
        """Q&A threads: a question (its text in the "qa" chat) and the moderator's answer; owned, resolved
        and done threads belong to the teacher or a TA, pending ones to nobody yet. The first session of
        each room has a thread in every state."""
        rng, plan = self.rng, self.plan
        staff = [a for a in self.attendees if a.role != "viewer"]
        states = ["pending", "owned", "resolved", "done"] if plan.number == 0 else []
        states += rng.choices(("pending", "owned", "resolved", "done"), weights=(2, 1, 3, 4),
                              k=rng.randint(1, 4 if self.lecture else 3))
        for state in states:
            fraction = rng.uniform(0.1, 0.9)
            asking = self._present(self.at(fraction))
            if not asking:
                continue
            asker = rng.choice(asking)
            opened = self.at(fraction)
            owner = rng.choice(staff) if state != "pending" else None
            self.events.add("qa", time=_time(opened), session=plan.external_id, user=_ref(asker.person), state=state,
                            owner=_ref(owner.person) if owner else None)
            question = self.events.add("chat", time=_time(opened), session=plan.external_id, user=_ref(asker.person),
                                       text=rng.choice(QA_QUESTIONS).format(topic=plan.topic.lower()),
                                       likes=rng.randint(0, 6) or None, sub_context="qa")
            if state in ("resolved", "done"):
                self.events.add("chat", time=_time(opened + timedelta(seconds=rng.uniform(30, 400))),
                                session=plan.external_id, user=_ref(owner.person), text=rng.choice(QA_ANSWERS),
                                reply_to=question, sub_context="qa")

    def _hands(self) -> None:
        rng = self.rng
        for _ in range(rng.randint(2, 7) if self.lecture else rng.randint(2, 5)):
            moment = self.at(rng.uniform(0.1, 0.95))
            present = self._present(moment)
            if present:
                hand = max(present, key=lambda a: a.chattiness + rng.random())
                self.events.add("raised_hand", time=_time(moment), session=self.plan.external_id,
                                user=_ref(hand.person))

    def _downloads(self) -> None:
        rng, plan = self.rng, self.plan
        if self.lecture:
            files = ((f"Week {plan.week} slides.pdf", 0.45), (f"Week {plan.week} worksheet.pdf", 0.25))
        else:
            files = (("Office hours notes.pdf", 0.3),)
        for attendee in self.attendees:
            if attendee.role != "viewer":
                continue
            for name, chance in files:
                if rng.random() < chance * (0.6 + attendee.attention):
                    joined, left = attendee.stays[0][0], attendee.stays[-1][1]
                    for _ in range(2 if rng.random() < 0.08 else 1):
                        moment = joined + (left - joined) * rng.random()
                        self.events.add("download", time=_time(moment), session=plan.external_id,
                                        user=_ref(attendee.person), name=name)

    # -- interactions -----------------------------------------------------------------------------

    def _interactions(self) -> None:
        plan, rng = self.plan, self.rng
        course = plan.room.course_key
        if self.lecture:
            question, options, correct = QUIZZES[course][plan.number % len(QUIZZES[course])]
            earlier = [t for t in LECTURES[course][:plan.week] if "review" not in t][-5:]
            launched = [
                (0.16, "poll", f"How well do you understand {plan.topic.lower()} so far?", POLL_OPTIONS, None),
                (0.45, "quiz", question, options, correct),
                (0.72, "crowd_vote", "Which topics should we review next time?", tuple(earlier), None),
                # The closing question alternates between a rating and an open question.
                (0.88, "rating", "How clear was today's session?", ("1", "2", "3", "4", "5"), None)
                if plan.number % 2 == 0 else
                (0.88, "open", f"What is one question you still have about {plan.topic.lower()}?", (), None),
            ]
        else:
            launched = [(0.08, "poll", *OFFICE_POLL, None)]
        for fraction, kind, text, options, right in launched:
            moment = self.at(fraction)
            interaction = self.events.add("interaction", time=_time(moment), session=plan.external_id, kind=kind,
                                          question=text, options=list(options) or None, correct=right)
            for attendee in self._present(moment):
                if rng.random() > 0.55 + 0.45 * self._attention(attendee, fraction):
                    continue
                answered = moment + timedelta(seconds=rng.uniform(4, 75))
                for choice in self._answers(attendee, kind, options, right):
                    self.events.add("answer", time=_time(answered), interaction=interaction, user=_ref(attendee.person),
                                    **choice)

    def _answers(self, attendee: _Attendee, kind: str, options, right) -> list[dict]:
        rng, skill = self.rng, attendee.person.engagement
        if kind == "open":
            return [{"text": rng.choice(OPEN_ANSWERS)}]
        if kind == "quiz":
            if rng.random() < 0.45 + 0.5 * skill:
                return [{"option": right}]
            return [{"option": rng.choice([o for o in options if o != right])}]
        if kind == "rating":
            return [{"option": _weighted(rng, options, (1, 2, 6, 14, 12 + 10 * skill))}]
        if kind == "poll" and options == POLL_OPTIONS:
            return [{"option": _weighted(rng, options, (1 + 4 * skill, 4, 3 - 2 * skill, 1.5 - skill))}]
        if kind == "crowd_vote":
            return [{"option": o} for o in rng.sample(list(options), k=rng.choice((1, 1, 2, 2, 3)))]
        return [{"option": rng.choice(options)}]

    # -- moderator and private messages ------------------------------------------------------------

    def _messages(self) -> None:
        rng, plan = self.rng, self.plan
        staff = [a for a in self.attendees if a.role != "viewer"]
        viewers = [a for a in self.attendees if a.role == "viewer"]
        if not viewers:
            return
        for _ in range(rng.randint(1, 3)):
            moment = self.at(rng.uniform(0.05, 0.9))
            asker = rng.choice(viewers)
            if not asker.present(moment):
                continue
            text, labels = rng.choice(MODERATOR_ASKS)
            moderator = rng.choice(staff)
            answered = rng.random() < 0.8
            self.events.add("message", time=_time(moment), session=plan.external_id, user=_ref(asker.person),
                            recipient=_ref(moderator.person), creator=_ref(asker.person), kind="moderator", text=text,
                            state="answered" if answered else "read", labels=labels, external=False)
            if answered:
                self.events.add("message", time=_time(moment + timedelta(seconds=rng.uniform(20, 180))),
                                session=plan.external_id, user=_ref(moderator.person),
                                recipient=_ref(asker.person), creator=_ref(asker.person), kind="moderator",
                                text=rng.choice(MODERATOR_REPLIES), state="read", labels=labels, external=False)
        for _ in range(rng.randint(2, 6) if len(viewers) > 1 else 0):
            moment = self.at(rng.uniform(0.02, 0.98))
            sender, recipient = rng.sample(viewers, 2)
            if sender.present(moment):
                self.events.add("message", time=_time(moment), session=plan.external_id, user=_ref(sender.person),
                                recipient=_ref(recipient.person), creator=_ref(sender.person), kind="private",
                                text=rng.choice(PRIVATE), state=rng.choice(("read", "read", "sent")), labels=[],
                                external=False)


# ── The room: its description and RSVPs ────────────────────────────────────────────────────────

def room_events(world: World, room: RoomPlan, sessions: list[SessionPlan], roster: list[SeedPerson],
                teacher: SeedPerson, tas: list[SeedPerson]) -> list[dict]:
    """The room's description and its RSVPs: most of the roster for the lecture room (at the start of
    term), a few before each office hours."""
    rng = random.Random(f"{world.seed}:room:{room.external_id}")
    events = _Events(f"demo:s{world.seed}:{room.external_id}")
    events.add("room", room.external_id, name=room.name, course=room.course_id, entry=room.live_entry)
    if not sessions:
        return events.items
    first = sessions[0].start
    people = [(teacher, "Host")] + [(ta, "Moderator") for ta in tas] + [(p, "Viewer") for p in roster]
    for person, role in people:
        if room.kind == "lecture":
            if role == "Viewer" and rng.random() > 0.6 + 0.4 * person.engagement:
                continue
            registered = first - timedelta(days=rng.uniform(1, 12), hours=rng.uniform(0, 12))
        else:
            if role == "Viewer" and rng.random() > 0.1 + 0.3 * person.engagement:
                continue
            registered = rng.choice(sessions).start - timedelta(days=rng.uniform(0.2, 3))
        title, company, industry = ("Undergraduate student", "University of Minnesota", "Higher education")
        if role == "Host":
            title = "Professor"
        elif role == "Moderator":
            title = "Teaching assistant"
        elif rng.random() < 0.25:
            title, company, industry = rng.choice(JOBS)
        elif rng.random() < 0.08:
            title = "Exchange student"
        events.add("rsvp", time=_time(registered), room=room.external_id, user=_ref(person), name=person.name,
                   title=title, company=company, email=person.email, country=person.home[0], role=role,
                   industry=industry)
    return events.items


# ── Recordings: catalog entries and later viewings through the player pipeline ─────────────────

def recording_entry(plan: SessionPlan) -> SeedEntry:
    """A session's recording as the seed's player plays media: as long as the session, released when it ends."""
    zone = ZoneInfo(COURSE_TIMEZONE)
    length = (plan.end - plan.start).total_seconds()
    return SeedEntry(
        external_id=plan.recording, name=f"{plan.room.name}: {plan.name} (recording)", media_type="video",
        duration=float(round(length)), tags=(*COURSE_TAGS[plan.room.course_key], "recording"),
        course_keys=(plan.room.course_key,), release=plan.end.astimezone(zone).date(),
        created_at=plan.end + timedelta(minutes=20), weight=1.0,
        hotspots=(round(0.16 * length), round(0.45 * length)), slug=plan.recording)  # the poll, the quiz


def recording_viewings(world: World, planner: ViewingPlanner, plan: SessionPlan, entry: SeedEntry,
                       roster: list[SeedPerson], attended: set[str]) -> list[list[IncomingEvent]]:
    """A few students watch the recording in the days after (mostly those who missed the session)."""
    rng = random.Random(f"{world.seed}:recording:{plan.external_id}")
    low, high = RECORDING_VIEWINGS[plan.room.kind]
    missed = [p for p in roster if p.key not in attended]
    candidates = missed * 3 + roster  # those who missed it are the likelier viewers
    course = planner.courses[plan.room.course_key]
    data_ends = datetime.combine(world.semester.end + timedelta(days=1), datetime.min.time(), timezone.utc)
    viewings = []
    for number in range(rng.randint(low, high)):
        viewer = rng.choice(candidates)
        zone = planner.zone(viewer.home[3])
        day = plan.end.astimezone(zone).date() + timedelta(days=min(int(rng.expovariate(1 / 2.5)), 20))
        hour = _weighted(rng, range(24), HOUR_WEIGHTS)
        started = datetime(day.year, day.month, day.day, hour, rng.randint(0, 59), tzinfo=zone).astimezone(timezone.utc)
        started = max(started, plan.end + timedelta(hours=1))
        if started + timedelta(seconds=entry.duration) > data_ends:
            continue  # not yet: the semester's data ends yesterday
        page_url, context = planner.page("kaf_embed", course, entry, viewer, rng)
        load = f"s{world.seed}-rec-{plan.recording}-{number}"
        common = {"entry": entry.external_id, "user": viewer.player_ref, "load": load, "page_url": page_url,
                  "user_agent": viewer.devices[0], "location": viewer.home[:3], "playback_context": context}
        events = _Player(rng, f"demo:s{world.seed}:rec:{plan.recording}:{number}", common, entry, started).run(
            engagement=viewer.engagement, review=rng.random() < 0.3, must_play=True, staff=False)
        viewings.append(events)
    return viewings


# ── The command's part ─────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class RoomSeedSummary:
    rooms: int = 0
    sessions: int = 0                  # main sessions
    breakouts: int = 0
    attendees: int = 0                 # signed-in people present, summed over main sessions
    events: int = 0                    # room events sent
    accepted: int = 0
    duplicates: int = 0
    throttled: int = 0                 # reactions the throttle did not count
    recording_viewings: int = 0
    player_events: int = 0
    player_accepted: int = 0           # player events new to the database (plays still to derive)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        per_session = self.attendees / self.sessions if self.sessions else 0
        return [
            f"rooms       {self.rooms}: {self.sessions} sessions ({per_session:.0f} attendees on average), "
            f"{self.breakouts} breakout rooms",
            f"room events {self.events}: {self.accepted} accepted, {self.duplicates} duplicates, "
            f"{self.throttled} reactions throttled",
            f"recordings  {self.sessions} ({self.recording_viewings} later viewings, "
            f"{self.player_events} player events, {self.player_accepted} new)",
            f"room time   {self.seconds:.1f} s",
        ]


def seed_rooms(registration: Registration, world: World) -> RoomSeedSummary:
    """Write the demo rooms of `world` into the registration; their recordings' player events are
    accepted but not derived (the caller rebuilds plays once). Commits the room events."""
    started = time.perf_counter()
    course_ids = {c.key: db.session.scalar(select(Course.id).where(
        Course.registration_id == registration.id, Course.context_id == c.context_id)) for c in world.courses}
    teacher = next(p for p in world.people if p.key == "teacher")
    opened = datetime.combine(world.semester.start - timedelta(days=14), datetime.min.time(), timezone.utc)
    planner = ViewingPlanner(world)
    totals = RoomBatchResult()
    counts = dict(rooms=0, sessions=0, breakouts=0, attendees=0, events=0, recording_viewings=0, player_events=0)
    player_batch: list[IncomingEvent] = []
    for room, sessions in plan_rooms(world, course_ids):
        roster = world.enrolled(room.course_key, "student")
        tas = world.enrolled(room.course_key, "ta")
        counts["rooms"] += 1
        label = next(c.label for c in world.courses if c.key == room.course_key)
        _describe_entry(registration.id, room.live_entry, {
            "name": f"{label} {room.name} (live stream)", "media_type": "video", "owner": _ref(teacher),
            "tags": [*COURSE_TAGS[room.course_key], "live"], "created_at": opened.isoformat()})
        existed = db.session.scalar(select(Room.id).where(Room.registration_id == registration.id,
                                                          Room.external_id == room.external_id)) is not None
        _accept(registration.id, room_events(world, room, sessions, roster, teacher, tas), totals, counts)
        if not existed:
            # A room of the semester was made before it, as the galleries were.
            db.session.scalar(select(Room).where(Room.registration_id == registration.id,
                                                 Room.external_id == room.external_id)).created_at = opened
        for plan in sessions:
            recording = recording_entry(plan)
            _describe_entry(registration.id, recording.external_id, {
                "name": recording.name, "media_type": recording.media_type, "duration": recording.duration,
                "tags": list(recording.tags), "created_at": recording.created_at.isoformat(), "owner": _ref(teacher)})
            simulator = SessionSimulator(world, plan, roster, teacher, tas)
            _accept(registration.id, simulator.run(), totals, counts)
            counts["sessions"] += 1
            counts["breakouts"] += len(simulator.breakouts)
            counts["attendees"] += sum(1 for a in simulator.attendees if a.role == "viewer")
            attended = {a.person.key for a in simulator.attendees}
            for viewing in recording_viewings(world, planner, plan, recording, roster, attended):
                counts["recording_viewings"] += 1
                player_batch.extend(viewing)
    db.session.commit()
    player_accepted = 0
    if player_batch:
        player_accepted = pipeline.accept(registration.id, player_batch, SOURCE, derive=False, commit=False).accepted
    counts["player_events"] = len(player_batch)
    return RoomSeedSummary(**counts, accepted=totals.accepted, duplicates=totals.duplicates,
                           throttled=totals.throttled, player_accepted=player_accepted,
                           seconds=time.perf_counter() - started)


def _accept(registration_id: int, raw_events: list[dict], totals: RoomBatchResult, counts: dict) -> None:
    batch = [(index, room_event(raw)) for index, raw in enumerate(raw_events)]
    try:
        result = accept_room_events(registration_id, batch, commit=False)
    except RejectedBatch as rejected:  # a bug in the simulation: say which events
        reasons = "; ".join(f"{raw_events[e['index']]['id']}: {e['reason']}" for e in rejected.errors[:5])
        raise RuntimeError(f"the demo room batch was rejected: {reasons}") from rejected
    totals.accepted += result.accepted
    totals.duplicates += result.duplicates
    totals.throttled += result.throttled
    counts["events"] += len(raw_events)


def _describe_entry(registration_id: int, external_id: str, body: dict) -> None:
    """A live stream or recording in the catalog, as write_world describes the demo's media: once; a
    described entry is left alone."""
    described = db.session.scalar(select(MediaEntry.described).where(
        MediaEntry.registration_id == registration_id, MediaEntry.external_id == external_id))
    if not described:
        upsert_entry(registration_id, external_id, body)
