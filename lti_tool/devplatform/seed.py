"""Demo data: a reproducible semester of media viewing in the dev platform's two courses.

`flask demo seed` writes what a semester of launches, catalog feeds and player beacons would have
left behind: the courses and their Media Galleries, the demo people plus a generated roster, about
forty media entries, and player events that go through the ingest pipeline like any feed's.

Everything comes from `random.Random` seeded with the seed (and, per viewing, the viewing's
number), and every date from the day the semester ends (the day before `today`), so the same seed
and the same `today` give the same rows. Identifiers (people, entries, event keys) include the
seed: a second run with the same seed finds everything present and every event a duplicate; a run
with another seed adds a semester of its own.
"""
from __future__ import annotations

import hashlib
import math
import random
import re
import time
import unicodedata
import uuid
from bisect import bisect
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from itertools import accumulate
from typing import TYPE_CHECKING, Callable, Iterator
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from lti_tool.extensions import db
from lti_tool.ingest import pipeline
from lti_tool.ingest.catalog import category_json, upsert_category, upsert_entry
from lti_tool.ingest.schema import MAX_BATCH_EVENTS, IncomingEvent
from lti_tool.launch.records import _ensure_gallery, _record_aliases
from lti_tool.models import Category, Course, Enrollment, MediaEntry, Person, Play, PlayerEvent, PlayerLoad, Registration

from .platform import (
    COURSES, DESIGNER, INST_STUDENT, INSTRUCTOR, LEARNER, LTI, MENTOR, PEOPLE, TA, USER, DemoCourse, DemoPerson,
    dev_registration, id_token_claims,
)

if TYPE_CHECKING:
    from .rooms_seed import RoomSeedSummary

DEFAULT_SEED = 1
DEFAULT_EVENTS = 60_000
SOURCE = "demo"
SEMESTER_WEEKS = 16          # 15 teaching weeks and a finals week
MIDTERM_WEEK = 8
EMAIL_DOMAIN = "demo.example.edu"
COURSE_TIMEZONE = "America/Chicago"
ANONYMOUS_SHARE = 0.08       # fraction of viewings by viewers who are not signed in
HEARTBEAT_SECONDS = 10.0     # a player's VIEW event every 10 s of playback
_GOLDEN = 0.6180339887498949


class SeedError(RuntimeError):
    """The demo cannot be seeded; the message says what to do."""


# ── The world: semester, people, entries ───────────────────────────────────────────────────────

FIRST_NAMES = (
    "Aaliyah", "Abdi", "Adrian", "Aisha", "Alex", "Amara", "Andre", "Anika", "Ben", "Bianca", "Caleb", "Camila",
    "Carlos", "Chen", "Daniel", "Deja", "Diego", "Elena", "Emily", "Ethan", "Fatima", "Felix", "Grace", "Hana",
    "Hassan", "Isaac", "Isabel", "Jamal", "Jasmine", "Jonah", "Julia", "Kai", "Kayla", "Leah", "Liam", "Lucia",
    "Maya", "Mei", "Mohamed", "Nadia", "Nathan", "Noah", "Olivia", "Omar", "Priya", "Quinn", "Rahul", "Rosa",
    "Sam", "Sara", "Sofia", "Tariq", "Tessa", "Thao", "Tyler", "Valeria", "Wei", "Xavier", "Yusuf", "Zoe",
)
LAST_NAMES = (
    "Abdullahi", "Andersen", "Bauer", "Becker", "Brooks", "Carlson", "Castillo", "Chang", "Dahl", "Diaz", "Ellis",
    "Erickson", "Fischer", "Flores", "Garcia", "Gustafson", "Hagen", "Hansen", "Hassan", "Her", "Hoang", "Ibrahim",
    "Jensen", "Johnson", "Kim", "Kowalski", "Larson", "Lee", "Lindqvist", "Lopez", "Lund", "Martinez", "Moua",
    "Nelson", "Nguyen", "Nielsen", "Olson", "Ortiz", "Patel", "Petersen", "Quist", "Ramirez", "Rasmussen", "Schmidt",
    "Singh", "Sorensen", "Thao", "Thompson", "Tran", "Vang", "Walker", "Warsame", "Weber", "Xiong", "Yang", "Zamora",
)

# (country, region, city, time zone, weight): homes and travel, mostly the Twin Cities and Minnesota.
MINNESOTA = (
    ("US", "Minnesota", "Minneapolis", "America/Chicago", 30), ("US", "Minnesota", "Saint Paul", "America/Chicago", 14),
    ("US", "Minnesota", "Bloomington", "America/Chicago", 4), ("US", "Minnesota", "Duluth", "America/Chicago", 4),
    ("US", "Minnesota", "Rochester", "America/Chicago", 4), ("US", "Minnesota", "Saint Cloud", "America/Chicago", 3),
    ("US", "Minnesota", "Edina", "America/Chicago", 3), ("US", "Minnesota", "Mankato", "America/Chicago", 2),
    ("US", "Minnesota", "Eden Prairie", "America/Chicago", 2), ("US", "Minnesota", "Roseville", "America/Chicago", 2),
    ("US", "Minnesota", "Maple Grove", "America/Chicago", 2), ("US", "Minnesota", "Woodbury", "America/Chicago", 2),
    ("US", "Minnesota", "Plymouth", "America/Chicago", 2), ("US", "Minnesota", "Moorhead", "America/Chicago", 1),
    ("US", "Minnesota", "Winona", "America/Chicago", 1),
)
OTHER_STATES = (
    ("US", "Wisconsin", "Madison", "America/Chicago", 3), ("US", "Wisconsin", "Hudson", "America/Chicago", 1),
    ("US", "Wisconsin", "Eau Claire", "America/Chicago", 1), ("US", "Illinois", "Chicago", "America/Chicago", 3),
    ("US", "Iowa", "Des Moines", "America/Chicago", 1), ("US", "North Dakota", "Fargo", "America/Chicago", 1),
    ("US", "South Dakota", "Sioux Falls", "America/Chicago", 1), ("US", "Colorado", "Denver", "America/Denver", 1),
    ("US", "California", "San Jose", "America/Los_Angeles", 1), ("US", "Texas", "Austin", "America/Chicago", 1),
    ("US", "New York", "New York", "America/New_York", 1),
)
ABROAD = (
    ("CA", "Ontario", "Toronto", "America/Toronto", 2), ("CN", "Beijing", "Beijing", "Asia/Shanghai", 2),
    ("CN", "Shanghai", "Shanghai", "Asia/Shanghai", 1), ("IN", "Karnataka", "Bengaluru", "Asia/Kolkata", 2),
    ("KR", "Seoul", "Seoul", "Asia/Seoul", 2), ("DE", "Berlin", "Berlin", "Europe/Berlin", 1),
    ("MX", "Jalisco", "Guadalajara", "America/Mexico_City", 1), ("NG", "Lagos", "Lagos", "Africa/Lagos", 1),
    ("GB", "England", "London", "Europe/London", 1),
)

# Real user agent shapes: (device class, user agent, weight within the class).
USER_AGENTS = (
    ("desktop", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/124.0.0.0 Safari/537.36", 34),
    ("desktop", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80", 10),
    ("desktop", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", 5),
    ("desktop", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/124.0.0.0 Safari/537.36", 20),
    ("desktop", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                "Version/17.4.1 Safari/605.1.15", 16),
    ("desktop", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:125.0) Gecko/20100101 Firefox/125.0", 3),
    ("desktop", "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/124.0.0.0 Safari/537.36", 4),
    ("mobile", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
               "Version/17.4.1 Mobile/15E148 Safari/604.1", 45),
    ("mobile", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
               "CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1", 10),
    ("mobile", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/124.0.6367.82 Mobile Safari/537.36", 25),
    ("mobile", "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
               "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36", 20),
    ("tablet", "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
               "Version/17.4 Mobile/15E148 Safari/604.1", 70),
    ("tablet", "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/124.0.6367.82 Safari/537.36", 30),
)
DEVICE_CLASSES = ("desktop", "mobile", "tablet")

# Where players are embedded, as the embed-domain table of the seeds lists them:
# kind -> (weight for signed-in viewers, weight for anonymous viewers).
PAGE_KINDS = {
    "gallery": (34, 2),            # the course's Media Gallery in Canvas (kaf.canvas.umn.edu)
    "kaf_embed": (30, 5),          # embedded with the editor's Kaltura button (kaf.canvas.umn.edu)
    "canvas_page": (12, 6),        # MediaSpace embed code on a Canvas page
    "instructure_page": (4, 2),
    "mediaspace": (6, 20),
    "new_quiz": (3, 1),
    "canvas_file": (1.5, 2),
    "scorm": (1.2, 2),
    "google_sites": (0.6, 12),
    "qualtrics": (0.8, 10),
    "articulate": (0.5, 8),
    "cdnapisec": (0.5, 18),
    "offline": (0.3, 10),          # a page saved to the viewer's computer (file:///C:/Users/...)
    "no_page": (0.2, 2),
}
# Hours of the day (local) at which people watch, weighted; evenings are busiest.
HOUR_WEIGHTS = (2, 1, 0.5, 0.3, 0.3, 0.5, 1, 2, 4, 6, 7, 7, 6, 6, 7, 7, 6, 6, 7, 9, 10, 10, 8, 5)
WEEKDAY_WEIGHTS = (1.0, 0.95, 0.95, 0.85, 0.55, 0.45, 0.9)  # Monday .. Sunday


@dataclass(frozen=True)
class Semester:
    start: date      # a Monday
    end: date        # the last day with data: the day before `today`

    @classmethod
    def ending_before(cls, today: date) -> "Semester":
        end = today - timedelta(days=1)
        first = end - timedelta(weeks=SEMESTER_WEEKS) + timedelta(days=1)
        return cls(start=first - timedelta(days=first.weekday()), end=end)

    def day(self, week: int, weekday: int) -> date:
        """Week 1 is the first; weekday 0 is Monday."""
        return self.start + timedelta(weeks=week - 1, days=weekday)


@dataclass(frozen=True)
class SeedPerson:
    key: str
    sub: str
    given_name: str
    family_name: str
    email: str
    canvas_id: str
    login_id: str
    timezone: str
    role: str                                     # student, ta, designer, observer, teacher, admin
    courses: tuple[tuple[str, tuple[str, ...]], ...]  # (course key, LTI roles)
    engagement: float                             # 0-1: how much and how far they watch
    devices: tuple[str, ...]                      # user agents, the usual one first
    home: tuple                                   # (country, region, city, time zone)
    player_ref: str                               # how players name them: "sub:…" or "login:…"
    demo: DemoPerson | None = None

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


@dataclass(frozen=True)
class SeedEntry:
    external_id: str
    name: str
    media_type: str
    duration: float                  # seconds
    tags: tuple[str, ...]
    course_keys: tuple[str, ...]     # the galleries it is in
    release: date                    # when students are told to watch it (course time zone)
    created_at: datetime             # aware UTC, a few days before release
    weight: float                    # relative popularity
    hotspots: tuple[float, ...]      # seconds people go back to rewatch
    slug: str


@dataclass
class World:
    seed: int
    semester: Semester
    courses: tuple[DemoCourse, ...]
    people: list[SeedPerson]
    entries: list[SeedEntry]
    exams: dict[str, tuple[date, ...]]
    # External id of each course's Media Gallery; a launch names it "gallery:<context id>".
    galleries: dict[str, str] = field(default_factory=dict)

    def gallery_id(self, course: DemoCourse) -> str:
        return self.galleries.get(course.key) or f"gallery:{course.context_id}"[:255]

    def enrolled(self, course_key: str, role: str | None = None) -> list[SeedPerson]:
        return [p for p in self.people if dict(p.courses).get(course_key) and (role is None or p.role == role)]


# Lectures, one a week (week 8 reviews for the midterm, week 15 for the final), and a few extras.
LECTURES = {
    "bio101": ("What is life?", "The chemistry of life", "Cell membranes", "Cell structure",
               "Enzymes and metabolism", "Cellular respiration", "Photosynthesis", "Midterm review",
               "Cell division", "Mendelian genetics", "DNA replication", "Gene expression",
               "Evolution by natural selection", "Ecology and ecosystems", "Final review"),
    "hist210": ("The world in 1750", "Atlantic revolutions", "Industrialization", "Nationalism",
                "Empires and colonialism", "The road to 1914", "The First World War", "Midterm review",
                "Revolution in Russia", "The interwar years", "The Second World War", "Decolonization",
                "The Cold War", "Globalization", "Final review"),
}
COURSE_TAGS = {"bio101": ("biology", "bio101"), "hist210": ("history", "hist210")}
# (course keys, name, media type, (min, max) minutes, week, weight, tags)
EXTRAS = (
    (("bio101",), "Lab safety walkthrough", "video", (6, 10), 1, 0.9, ("lab",)),
    (("bio101",), "Microscope basics", "youtube", (4, 8), 2, 0.5, ("lab", "youtube")),
    (("bio101",), "Week 5 — Enzyme kinetics practice quiz", "quiz", (6, 12), 5, 0.7, ("quiz",)),
    (("bio101",), "Podcast: life in a drop of pond water", "audio", (18, 30), 10, 0.35, ("podcast",)),
    (("hist210",), "Reading primary sources", "video", (8, 14), 1, 0.8, ("skills",)),
    (("hist210",), "Interview: a day in the archives", "audio", (20, 35), 6, 0.35, ("podcast", "interview")),
    (("hist210",), "Map quiz: Europe in 1914", "quiz", (5, 9), 6, 0.7, ("quiz", "maps")),
    (("hist210",), "Documentary clip: the Berlin Wall", "youtube", (6, 12), 13, 0.5, ("youtube", "cold-war")),
    (("bio101", "hist210"), "Welcome to the Media Gallery", "video", (3, 4), 1, 0.6, ("orientation",)),
    (("bio101", "hist210"), "Academic integrity in five minutes", "video", (4, 6), 1, 0.45, ("orientation",)),
    (("bio101", "hist210"), "Study skills: taking notes from lectures", "youtube", (8, 12), 3, 0.35,
     ("study-skills", "youtube")),
)


def plan_world(seed: int, today: date) -> World:
    """The semester, people and entries of a seed, ending the day before `today` (no database)."""
    semester = Semester.ending_before(today)
    rng = random.Random(f"{seed}:world")
    people = _plan_people(seed, rng)
    exams = {
        "bio101": (semester.day(MIDTERM_WEEK, 3), semester.day(SEMESTER_WEEKS, 1)),
        "hist210": (semester.day(MIDTERM_WEEK, 2), semester.day(SEMESTER_WEEKS, 3)),
    }
    entries = _plan_entries(seed, rng, semester)
    return World(seed=seed, semester=semester, courses=COURSES, people=people, entries=entries, exams=exams)


def _weighted(rng: random.Random, items, weights):
    return rng.choices(items, weights=weights)[0]


def _place(rng: random.Random, table) -> tuple:
    row = _weighted(rng, table, [r[4] for r in table])
    return row[:4]


def _home(rng: random.Random) -> tuple:
    roll = rng.random()
    return _place(rng, MINNESOTA if roll < 0.85 else OTHER_STATES if roll < 0.93 else ABROAD)


def _user_agent(rng: random.Random, device_class: str) -> str:
    rows = [r for r in USER_AGENTS if r[0] == device_class]
    return _weighted(rng, [r[1] for r in rows], [r[2] for r in rows])


def _devices(rng: random.Random) -> tuple[str, ...]:
    primary = _weighted(rng, DEVICE_CLASSES, (85, 10, 5))
    devices = [_user_agent(rng, primary)]
    if rng.random() < 0.55:
        devices.append(_user_agent(rng, "mobile"))
    if rng.random() < 0.15:
        devices.append(_user_agent(rng, "tablet"))
    return tuple(devices)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _plan_people(seed: int, rng: random.Random) -> list[SeedPerson]:
    people: list[SeedPerson] = []
    engagement = {"teacher": 0.5, "ta": 0.6, "designer": 0.4, "student": 0.85, "observer": 0.25, "admin": 0.0}
    for demo in PEOPLE:
        people.append(SeedPerson(
            key=demo.key, sub=demo.sub, given_name=demo.given_name, family_name=demo.family_name,
            email=demo.email, canvas_id=demo.canvas_id,
            login_id=f"{demo.given_name.lower()}{demo.family_name.lower()[0]}", timezone=demo.timezone,
            role=demo.key, courses=demo.roles_by_course, engagement=engagement[demo.key], devices=_devices(rng),
            home=("GB", "England", "London", "Europe/London") if demo.key == "admin" else _place(rng, MINNESOTA),
            player_ref=f"sub:{demo.sub}", demo=demo))

    # 120 people: 114 students (60 in BIO-101 only, 44 in HIST-210 only, 10 in both), 3 TAs, 2 designers, 1 observer.
    student_roles = (LEARNER, INST_STUDENT, USER)
    plan = ([("student", (("bio101", student_roles),))] * 60 + [("student", (("hist210", student_roles),))] * 44
            + [("student", (("bio101", student_roles), ("hist210", student_roles)))] * 10
            + [("ta", (("bio101", (TA, INSTRUCTOR, INST_STUDENT, USER)),))]
            + [("ta", (("hist210", (TA, INSTRUCTOR, INST_STUDENT, USER)),))] * 2
            + [("designer", (("bio101", (DESIGNER, USER)),)), ("designer", (("hist210", (DESIGNER, USER)),)),
               ("observer", (("hist210", (MENTOR, USER)),))])
    names = set()
    for number, (role, courses) in enumerate(plan, start=1):
        while True:
            given, family = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            if (given, family) not in names:
                names.add((given, family))
                break
        login = f"{_ascii(family)[:4]}{seed}{number:03d}"
        home = _home(rng)
        if role == "student":
            # Most students watch a fair amount; a few hardly ever do.
            level = 0.03 if rng.random() < 0.06 else rng.betavariate(2.2, 2.0)
        else:
            level = {"ta": 0.5, "designer": 0.3, "observer": 0.2}[role]
        sub = str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo-seed-{seed}-person-{number}"))
        people.append(SeedPerson(
            key=f"p{number:03d}", sub=sub, given_name=given, family_name=family, email=f"{login}@{EMAIL_DOMAIN}",
            canvas_id=f"{seed}{number:04d}", login_id=login, timezone=home[3], role=role, courses=courses,
            engagement=level, devices=_devices(rng), home=home,
            # Players in Canvas (KAF) name the viewer by their login; other feeds by the LTI subject.
            player_ref=f"login:{login}" if rng.random() < 0.4 else f"sub:{sub}"))
    return people


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", _ascii(text)).strip("-")


def _entry_id(seed: int, number: int) -> str:
    """A Kaltura-shaped entry id ("1_" and eight base-36 characters), stable per seed."""
    digest = int(hashlib.sha256(f"demo-seed-{seed}-entry-{number}".encode()).hexdigest(), 16)
    chars = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "1_" + "".join(chars[(digest >> (6 * i)) % 36] for i in range(8))


def _plan_entries(seed: int, rng: random.Random, semester: Semester) -> list[SeedEntry]:
    course_zone = ZoneInfo(COURSE_TIMEZONE)
    entries: list[SeedEntry] = []

    def add(course_keys, name, media_type, minutes, release, weight, tags):
        duration = float(round(rng.uniform(*minutes) * 60))
        uploaded = release - timedelta(days=rng.randint(1, 5))
        created = datetime(uploaded.year, uploaded.month, uploaded.day, rng.randint(9, 17), rng.randint(0, 59),
                           tzinfo=course_zone).astimezone(timezone.utc)
        hotspots = tuple(sorted(round(duration * rng.uniform(0.15, 0.9)) for _ in range(rng.randint(1, 3))))
        entries.append(SeedEntry(
            external_id=_entry_id(seed, len(entries) + 1), name=name, media_type=media_type, duration=duration,
            tags=tuple(sorted(set(tags))), course_keys=course_keys, release=release, created_at=created,
            weight=weight * math.exp(rng.gauss(0, 0.3)), hotspots=hotspots, slug=_slug(name)))

    for course_key, topics in LECTURES.items():
        weekday = 0 if course_key == "bio101" else 1
        for week, topic in enumerate(topics, start=1):
            review = "review" in topic
            minutes = (40, 60) if review else (12, 55)
            tags = (*COURSE_TAGS[course_key], "lecture", f"week-{week}", *(("exam-review",) if review else ()))
            add((course_key,), f"Week {week} — {topic}", "video", minutes, semester.day(week, weekday),
                1.4 if review else 1.0, tags)
    for course_keys, name, media_type, minutes, week, weight, tags in EXTRAS:
        course_tags = tuple(t for key in course_keys for t in COURSE_TAGS[key])
        add(course_keys, name, media_type, minutes, semester.day(week, 2), weight, (*course_tags, *tags))
    return entries


# ── Writing the world: courses, galleries, people, enrollments, catalog ─────────────────────────

@dataclass
class WorldCounts:
    people: int = 0
    people_created: int = 0
    entries: int = 0
    entries_created: int = 0


def write_world(registration: Registration, world: World) -> WorldCounts:
    """Create what is missing, as launches and catalog feeds would have; leave what exists alone."""
    counts = WorldCounts()
    semester = world.semester
    opened = datetime.combine(semester.start - timedelta(days=14), datetime.min.time(), timezone.utc)
    last_launch = datetime.combine(semester.end, datetime.min.time(), timezone.utc) + timedelta(hours=17)
    base_url = registration.issuer.removesuffix("/dev")
    policy = current_app.extensions["role_policy"]

    courses: dict[str, Course] = {}
    for demo_course in world.courses:
        course = db.session.scalar(select(Course).where(Course.registration_id == registration.id,
                                                        Course.context_id == demo_course.context_id))
        if course is None:
            claims = id_token_claims(registration, base_url, PEOPLE[0], demo_course, "seed")
            course = Course(registration=registration, context_id=demo_course.context_id, label=demo_course.label,
                            title=demo_course.title, platform_guid=claims[LTI + "tool_platform"]["guid"],
                            canvas_course_id=demo_course.canvas_id,
                            api_domain=claims[LTI + "custom"]["canvas_api_domain"],
                            created_at=opened, last_launch_at=last_launch)
            db.session.add(course)
            db.session.flush()
        gallery_query = select(Category).where(Category.course_id == course.id, Category.kind == "gallery")
        if db.session.scalar(gallery_query) is None:
            _ensure_gallery(registration, course)
            db.session.flush()
            db.session.scalar(gallery_query).created_at = opened
        world.galleries[demo_course.key] = db.session.scalar(gallery_query.order_by(Category.id)).external_id
        courses[demo_course.key] = course

    for seed_person in world.people:
        counts.people += 1
        person = db.session.scalar(select(Person).where(Person.registration_id == registration.id,
                                                        Person.subject == seed_person.sub))
        if person is None:
            counts.people_created += 1
            person = Person(registration_id=registration.id, subject=seed_person.sub, name=seed_person.name,
                            given_name=seed_person.given_name, family_name=seed_person.family_name,
                            email=seed_person.email, timezone=seed_person.timezone, created_at=opened)
            db.session.add(person)
            db.session.flush()
        _record_aliases(registration, person, *_alias_claims(registration, base_url, seed_person))
        for course_key, roles in seed_person.courses:
            course = courses[course_key]
            exists = db.session.scalar(select(Enrollment.id).where(Enrollment.course_id == course.id,
                                                                   Enrollment.person_id == person.id))
            if exists is None:
                decision = policy.decide(list(roles))
                db.session.add(Enrollment(course=course, person=person, roles=list(roles),
                                          level=decision.course_level, role_label=decision.label,
                                          source="seed", launch_count=0))
    db.session.flush()

    teacher = next(p for p in world.people if p.key == "teacher")
    coeditors = {key: [p for p in world.people if p.role in ("ta", "designer") and dict(p.courses).get(key)]
                 for key in COURSE_TAGS}
    for entry in world.entries:
        counts.entries += 1
        found = db.session.scalar(select(MediaEntry.described).where(
            MediaEntry.registration_id == registration.id, MediaEntry.external_id == entry.external_id))
        if found:
            continue
        counts.entries_created += 1
        editors = sorted({f"sub:{p.sub}" for key in entry.course_keys for p in coeditors[key]})
        upsert_entry(registration.id, entry.external_id, {
            "name": entry.name, "media_type": entry.media_type, "duration": entry.duration, "tags": list(entry.tags),
            "created_at": entry.created_at.isoformat(), "owner": f"sub:{teacher.sub}", "coeditors": editors})

    for demo_course in world.courses:
        gallery = db.session.scalar(select(Category).where(Category.registration_id == registration.id,
                                                           Category.external_id == world.gallery_id(demo_course)))
        current = category_json(gallery)["members"]
        wanted = [e.external_id for e in world.entries if demo_course.key in e.course_keys]
        missing = [m for m in wanted if m not in set(current)]
        if missing:
            upsert_category(registration.id, gallery.external_id, {
                "name": gallery.name, "kind": "gallery", "course_id": courses[demo_course.key].id,
                "members": current + missing})
    db.session.commit()
    return counts


def _alias_claims(registration: Registration, base_url: str, person: SeedPerson) -> tuple[dict, dict]:
    """(claims, custom) as a launch of this person would carry them, for the launch's alias rules."""
    if person.demo is not None:
        course = next(c for c in COURSES if person.demo.roles_in(c.key))
        claims = id_token_claims(registration, base_url, person.demo, course, "seed")
        return claims, claims[LTI + "custom"]
    custom = {"canvas_user_id": person.canvas_id, "canvas_login_id": person.login_id}
    claims = {"email": person.email, LTI + "custom": custom, LTI + "lis": {"person_sourcedid": f"SIS-{person.canvas_id}"}}
    return claims, custom


# ── Viewing: one player load and what the player reports ───────────────────────────────────────

class _Cumulative:
    """Weighted choice by bisecting cumulative weights (rng.choices recomputes them every call)."""

    def __init__(self, items, weights) -> None:
        self.items = list(items)
        self.totals = list(accumulate(weights))

    def pick(self, rng: random.Random):
        return self.items[bisect(self.totals, rng.random() * self.totals[-1])]


class ViewingPlanner:
    """Turns a world into viewings: viewing `index` of a seed depends on nothing but (seed, index)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.entries = _Cumulative(world.entries, [e.weight for e in world.entries])
        self.students = {}
        self.staff = {}
        for course in world.courses:
            students = [p for p in world.enrolled(course.key) if p.role in ("student", "observer")]
            self.students[course.key] = _Cumulative(students, [p.engagement ** 1.5 + 0.01 for p in students])
            self.staff[course.key] = [p for p in world.enrolled(course.key) if p.role in ("teacher", "ta", "designer")]
        self.class_size = {c.key: len(world.enrolled(c.key, "student")) for c in world.courses}
        self.courses = {c.key: c for c in world.courses}
        self.pages = {anonymous: _Cumulative(PAGE_KINDS, [w[anonymous] for w in PAGE_KINDS.values()])
                      for anonymous in (0, 1)}
        self.anywhere = _Cumulative(MINNESOTA + OTHER_STATES + ABROAD,
                                    [r[4] * (3 if r in MINNESOTA else 1) for r in MINNESOTA + OTHER_STATES + ABROAD])
        self.travel = _Cumulative(OTHER_STATES + ABROAD + MINNESOTA, [r[4] for r in OTHER_STATES + ABROAD + MINNESOTA])
        self.agents = {cls: _Cumulative([r[1] for r in USER_AGENTS if r[0] == cls],
                                        [r[2] for r in USER_AGENTS if r[0] == cls]) for cls in DEVICE_CLASSES}
        self.offset = random.Random(f"{world.seed}:offset").random()
        self.zones: dict[str, ZoneInfo] = {}
        self.tour = list(PAGE_KINDS)  # the first viewings show every kind of page once

    def zone(self, name: str) -> ZoneInfo:
        if name not in self.zones:
            self.zones[name] = ZoneInfo(name)
        return self.zones[name]

    def events(self, index: int) -> list[IncomingEvent]:
        """The events of viewing `index`: an impression, then (usually) a play and what follows it."""
        world = self.world
        rng = random.Random(f"{world.seed}:{index}")
        # Low-discrepancy rather than independent draws: the anonymous share stays near 8 % in small data sets.
        anonymous = (self.offset + index * _GOLDEN) % 1.0 < ANONYMOUS_SHARE
        on_tour = index < len(self.tour)
        entry: SeedEntry = self.entries.pick(rng)
        if len(entry.course_keys) > 1:
            course_key = _weighted(rng, entry.course_keys, [self.class_size[k] for k in entry.course_keys])
        else:
            course_key = entry.course_keys[0]
        course = self.courses[course_key]

        viewer: SeedPerson | None = None
        if not anonymous:
            staff = self.staff[course_key]
            viewer = rng.choice(staff) if staff and rng.random() < 0.05 else self.students[course_key].pick(rng)

        kind = self.tour[index] if on_tour else self.pages[int(anonymous)].pick(rng)
        if entry.media_type == "quiz" and not on_tour and rng.random() < 0.3:
            kind = "new_quiz"
        page_url, context = self.page(kind, course, entry, viewer, rng)

        if on_tour:
            user_agent = self.agents[DEVICE_CLASSES[index % 3]].pick(rng)
        elif viewer is None:
            user_agent = self.agents[_weighted(rng, DEVICE_CLASSES, (70, 22, 8))].pick(rng)
        elif len(viewer.devices) > 1 and rng.random() < (0.5 if entry.media_type == "audio" else 0.25):
            user_agent = rng.choice(viewer.devices[1:])
        else:
            user_agent = viewer.devices[0]
        if viewer is None:
            where = self.anywhere.pick(rng)[:4]
        elif rng.random() < 0.05 or (on_tour and index == 1):
            where = self.travel.pick(rng)[:4]
        else:
            where = viewer.home
        started = self.start_time(rng, entry, course_key, self.zone(where[3]))
        review = started.date() >= entry.release + timedelta(days=5)

        load = f"s{world.seed}-v{index}"
        common = {
            "entry": entry.external_id, "user": viewer.player_ref if viewer else None, "load": load,
            "page_url": page_url, "user_agent": user_agent, "location": where[:3], "playback_context": context,
        }
        engagement = viewer.engagement if viewer else 0.35
        return _Player(rng, f"demo:s{world.seed}:v{index}", common, entry, started).run(
            engagement=engagement, review=review, must_play=on_tour, staff=bool(viewer and viewer.role != "student"))

    def start_time(self, rng: random.Random, entry: SeedEntry, course_key: str, zone: ZoneInfo) -> datetime:
        """When a viewing starts: soon after the release, or in the days before the next exam."""
        semester = self.world.semester
        exams = [d for d in self.world.exams[course_key] if d >= entry.release + timedelta(days=2)]
        day = None
        for _attempt in range(6):
            if exams and rng.random() < 0.3:
                exam = exams[0] if rng.random() < 0.6 else exams[-1]
                candidate = exam - timedelta(days=int(rng.expovariate(1 / 2.0)))
            else:
                candidate = entry.release + timedelta(days=int(rng.expovariate(1 / 3.0)))
            candidate = max(candidate, entry.release)
            if candidate > semester.end:
                continue
            day = candidate
            if rng.random() < WEEKDAY_WEIGHTS[candidate.weekday()]:
                break
        if day is None:
            day = entry.release + timedelta(days=rng.randint(0, max(0, (semester.end - entry.release).days)))
        hour = _weighted(rng, range(24), HOUR_WEIGHTS)
        if day == entry.release and hour < 9:
            hour = rng.randint(9, 22)
        local = datetime(day.year, day.month, day.day, hour, rng.randint(0, 59), rng.randint(0, 59), tzinfo=zone)
        started = local.astimezone(timezone.utc)
        # A morning far east of Minnesota can fall before the release; the viewer comes a day later.
        released = datetime(entry.release.year, entry.release.month, entry.release.day, 8,
                            tzinfo=self.zone(COURSE_TIMEZONE)).astimezone(timezone.utc)
        while started < released:
            started += timedelta(days=1)
        return started

    def page(self, kind: str, course: DemoCourse, entry: SeedEntry, viewer: SeedPerson | None,
             rng: random.Random) -> tuple[str | None, str | None]:
        """(page URL, playback context) for a kind of embed; only the gallery page has a context."""
        cid, eid, slug = course.canvas_id, entry.external_id, entry.slug
        gallery_number = int(hashlib.sha1(course.key.encode()).hexdigest()[:6], 16) % 900000 + 100000
        if kind == "gallery":
            return (f"https://kaf.canvas.umn.edu/media/t/{eid}/{gallery_number}?canvas_course={cid}",
                    self.world.gallery_id(course))
        if kind == "kaf_embed":
            return f"https://kaf.canvas.umn.edu/browseandembed/index/media/entryid/{eid}", None
        if kind == "canvas_page":
            return f"https://canvas.umn.edu/courses/{cid}/pages/{slug}", None
        if kind == "instructure_page":
            return f"https://umn.instructure.com/courses/{cid}/pages/{slug}", None
        if kind == "mediaspace":
            return f"https://mediaspace.umn.edu/media/{slug}/{eid}", None
        if kind == "new_quiz":
            return f"https://umn.quiz-lti-iad-prod.instructure.com/lti/assignments/{cid}{gallery_number % 1000}/take", None
        if kind == "canvas_file":
            return (f"https://a4356-36346120.cluster79.canvas-user-content.com/courses/{cid}/files/"
                    f"{gallery_number * 10 + len(slug)}/preview?verifier=demo", None)
        if kind == "scorm":
            return f"https://iad.scorm.canvaslms.com/content/{cid}/{slug}/index_lms.html", None
        if kind == "google_sites":
            return ("https://1065223623-atari-embeds.googleusercontent.com/embeds/16cb204cf3a9d4d223a0a3fd8b0eec5d/"
                    "inner-frame-minified.html?jsh=m", None)
        if kind == "qualtrics":
            return f"https://umn.qualtrics.com/jfe/form/SV_{hashlib.sha1(slug.encode()).hexdigest()[:15]}", None
        if kind == "articulate":
            return f"https://articulateusercontent.com/review/items/{eid[2:]}/story.html", None
        if kind == "cdnapisec":
            return (f"https://cdnapisec.kaltura.com/index.php/extwidget/preview/partner_id/1234567/uiconf_id/"
                    f"48501523/entry_id/{eid}/embed/dynamic", None)
        if kind == "offline":
            name = (viewer.given_name if viewer else rng.choice(FIRST_NAMES)).lower()
            if rng.random() < 0.7:
                return f"file:///C:/Users/{name}/Downloads/{slug}.html", None
            return f"file:///Users/{name}/Documents/{course.label}/{slug}.html", None
        return None, None


class _Player:
    """A player's beacons for one load, as a Kaltura player sends them: impression, play request, play,
    a view every 10 s of playback with the seconds played and the position, pauses, seeks, quartiles
    as the playhead passes 25/50/75/100 %, ended. Seeks and pauses happen on heartbeats, so the 10 s
    before each view are exactly the seconds it reports."""

    def __init__(self, rng: random.Random, key: str, common: dict, entry: SeedEntry, started: datetime) -> None:
        self.rng, self.key, self.common, self.entry, self.started = rng, key, common, entry, started
        self.events: list[IncomingEvent] = []
        self.play: str | None = None

    def emit(self, kind: str, at: float, **fields) -> None:
        n = len(self.events)
        self.events.append(IncomingEvent(
            key=f"{self.key}:{n}", type=kind, occurred_at=self.started + timedelta(seconds=at), play=self.play,
            seq=n, **self.common, **fields))

    def run(self, *, engagement: float, review: bool, must_play: bool, staff: bool) -> list[IncomingEvent]:
        rng = self.rng
        self.emit("impression", 0.0)
        skip_chance = 0.12 + 0.25 * (1 - engagement)
        if not must_play and rng.random() < skip_chance:
            return self.events  # the page was opened, the media never played
        clock = rng.uniform(2, 25)
        plays = 0
        while True:
            plays += 1
            self.play = f"{self.common['load']}-{plays}"
            start, stop = self.plan(engagement, review, staff, replay=plays > 1)
            self.emit("play_request", clock, position=round(start, 3))
            if not must_play and rng.random() < 0.006:
                self.emit("error", clock + rng.uniform(1, 8), position=round(start, 3), extra={"errorCode": 7})
                return self.events
            clock += rng.uniform(0.3, 2.5)
            clock, finished = self.playback(clock, start, stop)
            # Replays are rare and short: a new play in the same load.
            if not finished or plays > 1 or rng.random() > 0.05:
                return self.events
            clock += rng.uniform(2, 30)

    def plan(self, engagement: float, review: bool, staff: bool, replay: bool) -> tuple[float, float]:
        """(start position, where the viewer will stop) in seconds; stop == duration means to the end."""
        rng, duration, entry = self.rng, self.entry.duration, self.entry
        if replay:
            return 0.0, min(duration, rng.uniform(30, 150))
        if review and entry.hotspots and rng.random() < 0.5:
            spot = rng.choice(entry.hotspots)  # before an exam: straight to the part that was hard
            start = round(max(0.0, spot - rng.uniform(10, 40)), 3)
            return start, min(duration, start + rng.uniform(60, 300))
        start = 0.0
        if rng.random() < 0.06:
            start = round(duration * rng.uniform(0.2, 0.7))  # picking up where they left off
        # Longer media lose more viewers; engaged viewers stay longer.
        finish = (0.80 - 0.55 * min(1.0, duration / 3600)) * (0.55 + 0.8 * engagement)
        if staff:
            finish *= 0.5
        if rng.random() < min(0.95, max(0.03, finish)):
            return start, duration
        if rng.random() < 0.07:
            return start, start + rng.uniform(1, 9)  # gone within the first seconds
        left = 1 - math.sqrt(rng.random())        # most who leave, leave early
        return start, start + max(10.0, left * (duration - start))

    def playback(self, clock: float, position: float, stop: float) -> tuple[float, bool]:
        """Play from `position` until `stop` (or the end); returns the clock and whether it ended."""
        rng, duration = self.rng, self.entry.duration
        marks = {q: duration * q / 100 for q in (25, 50, 75)}
        fired: set[int] = set()

        def pass_marks(upto: float, at: float) -> None:
            for q, mark in marks.items():
                if q not in fired and mark <= upto:
                    fired.add(q)
                    self.emit(f"quartile_{q}", at, position=round(mark, 3))

        self.emit("play", clock, position=round(position, 3))
        pass_marks(position, clock + 0.25)  # a play that starts past a mark fires it at once
        if stop - position < HEARTBEAT_SECONDS and stop < duration:
            clock += stop - position
            self.emit("pause", clock, position=round(stop, 3))
            return clock, False
        seeks = 0
        while True:
            chunk = min(HEARTBEAT_SECONDS, duration - position)
            for q, mark in marks.items():
                if q not in fired and position < mark <= position + chunk:
                    fired.add(q)
                    self.emit(f"quartile_{q}", clock + (mark - position), position=round(mark, 3))
            clock += chunk
            position += chunk
            self.emit("view", clock, position=round(position, 3), seconds_viewed=round(chunk, 3))
            if position >= duration - 1e-6:
                self.emit("quartile_100", clock, position=duration)
                self.emit("ended", clock + 0.1, position=duration)
                return clock + 0.1, True
            if position >= stop:
                if rng.random() < 0.45:
                    self.emit("pause", clock, position=round(position, 3))
                return clock, False
            roll = rng.random()
            near_spot = any(position - HEARTBEAT_SECONDS < s <= position for s in self.entry.hotspots)
            if seeks < 6 and ((near_spot and rng.random() < 0.3) or roll < 0.006):
                target = max(0.0, position - rng.uniform(15, 60))  # back to watch a part again
                seeks += 1
                self.emit("seek", clock, position=round(position, 3), seek_to=round(target, 3))
                clock += rng.uniform(0.3, 1.5)
                position = target
            elif seeks < 6 and roll < 0.010:
                target = min(duration - 5, position + rng.uniform(30, 180))  # skipping ahead
                if target > position:
                    seeks += 1
                    self.emit("seek", clock, position=round(position, 3), seek_to=round(target, 3))
                    clock += rng.uniform(0.3, 1.5)
                    pass_marks(target, clock)  # the player fires the marks that were skipped
                    position = target
                    stop = max(stop, position + HEARTBEAT_SECONDS)
            elif roll < 0.022:
                self.emit("pause", clock, position=round(position, 3))
                clock += _pause_length(rng)
                self.emit("resume", clock, position=round(position, 3))
            elif roll < 0.0225:
                self.emit("share", clock, position=round(position, 3))


def _pause_length(rng: random.Random) -> float:
    """Seconds a pause lasts: mostly short, sometimes minutes, rarely most of an hour."""
    roll = rng.random()
    if roll < 0.7:
        return rng.uniform(3, 60)
    if roll < 0.95:
        return rng.uniform(60, 600)
    return rng.uniform(600, 3600)


# ── The command ────────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class SeedSummary:
    seed: int
    first_day: date
    last_day: date
    people: int = 0
    people_created: int = 0
    entries: int = 0
    entries_created: int = 0
    viewings: int = 0
    events: int = 0
    accepted: int = 0
    duplicates: int = 0
    plays: int = 0
    impressions: int = 0
    seconds: float = 0.0
    derive_seconds: float = 0.0
    skipped: bool = False
    rooms: RoomSeedSummary | None = None

    def lines(self) -> list[str]:
        if self.skipped:
            return ["the demo registration already has events; nothing seeded (another --seed adds a semester of its own)"]
        rate = self.events / self.seconds if self.seconds else 0.0
        return [
            f"seed {self.seed}: semester {self.first_day} to {self.last_day}",
            f"people      {self.people} ({self.people_created} new)",
            f"entries     {self.entries} ({self.entries_created} new)",
            f"viewings    {self.viewings}",
            f"events      {self.events}: {self.accepted} accepted, {self.duplicates} duplicates",
            f"plays       {self.plays} ({self.impressions} player impressions) in the demo registration",
            f"time        {self.seconds:.1f} s ({rate:,.0f} events/s), of which {self.derive_seconds:.1f} s deriving plays",
            *(self.rooms.lines() if self.rooms else ()),
        ]


def generate(world: World, events: int) -> Iterator[list[IncomingEvent]]:
    """Viewings 0, 1, 2, … until about `events` events; one list per viewing."""
    planner = ViewingPlanner(world)
    produced = index = 0
    while produced < events:
        viewing = planner.events(index)
        produced += len(viewing)
        index += 1
        yield viewing


def seed_demo(*, seed: int = DEFAULT_SEED, events: int = DEFAULT_EVENTS, today: date | None = None,
              if_empty: bool = False, batch_size: int = MAX_BATCH_EVENTS,
              progress: Callable[[int, int], None] | None = None) -> SeedSummary:
    """Seed the dev platform's registration; `progress(events so far, target)` after each batch."""
    started = time.perf_counter()
    registration = dev_registration()
    if registration is None:
        raise SeedError("there is no dev platform registration to seed; run `flask demo setup` first")
    world = plan_world(seed, today or date.today())
    summary = dict(seed=seed, first_day=world.semester.start, last_day=world.semester.end)
    has_events = db.session.scalar(select(PlayerEvent.id).where(PlayerEvent.registration_id == registration.id).limit(1))
    if if_empty and has_events is not None:
        return SeedSummary(**summary, skipped=True)
    counts = write_world(registration, world)

    viewings = generated = accepted = duplicates = 0
    batch: list[IncomingEvent] = []
    for viewing in generate(world, events):
        viewings += 1
        batch.extend(viewing)
        if len(batch) >= batch_size:
            result = pipeline.accept(registration.id, batch[:batch_size], SOURCE, derive=False, commit=False)
            accepted, duplicates, generated = (accepted + result.accepted, duplicates + result.duplicates,
                                               generated + batch_size)
            del batch[:batch_size]
            if progress:
                progress(generated, events)
    if batch:
        result = pipeline.accept(registration.id, batch, SOURCE, derive=False, commit=False)
        accepted, duplicates, generated = accepted + result.accepted, duplicates + result.duplicates, generated + len(batch)
    from .rooms_seed import seed_rooms

    rooms = seed_rooms(registration, world)  # commits the room events; the recordings' plays are derived below
    derive_started = time.perf_counter()
    if accepted or rooms.player_accepted:
        pipeline.rebuild(registration.id)  # derives plays, loads and rollups once, and commits
    else:
        db.session.rollback()  # every event was there already: nothing to derive, nothing changed
    derive_seconds = time.perf_counter() - derive_started
    plays = db.session.scalar(select(func.count(Play.id)).where(Play.registration_id == registration.id))
    impressions = db.session.scalar(select(func.count(PlayerLoad.id)).where(PlayerLoad.registration_id == registration.id))
    return SeedSummary(**summary, people=counts.people, people_created=counts.people_created, entries=counts.entries,
                       entries_created=counts.entries_created, viewings=viewings, events=generated,
                       accepted=accepted, duplicates=duplicates, plays=plays, impressions=impressions,
                       seconds=time.perf_counter() - started, derive_seconds=derive_seconds, rooms=rooms)
