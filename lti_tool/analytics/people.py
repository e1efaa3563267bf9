"""Who is in a course as the tool knows it (launches now, the roster later), and a tenant's courses."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.models import Course, Enrollment, Person

LEVEL_ORDER = {"owner": 0, "co-editor": 1, "admin": 2, "viewer": 3, "none": 4}
# The one row that stands for viewers a dashboard may not name (see named_people).
OUTSIDE_COURSE = "Viewers outside this course"


def named_people(session: Session, course_id: int | None, every_viewer: bool = False) -> frozenset[int] | None:
    """Whom a dashboard names individually; None: everyone it counts.

    A course's dashboards (gallery, single media, their report API, CSV and PDF) name the people
    enrolled in the course; everyone else who watched its media (from another course, or embedded
    elsewhere) is counted in one OUTSIDE_COURSE row, without names or emails. Only a view with no
    course (My Analytics) and the media's owners and co-editors on its own page (`every_viewer`) see
    every viewer by name."""
    if course_id is None or every_viewer:
        return None
    return frozenset(session.scalars(select(Enrollment.person_id).where(Enrollment.course_id == course_id)))


@dataclass(frozen=True)
class PersonRow:
    person_id: int
    name: str
    email: str | None
    role_label: str
    level: str
    launch_count: int
    last_launch_at: datetime | None


@dataclass(frozen=True)
class LevelCount:
    level: str
    people: int


@dataclass(frozen=True)
class CourseRow:
    course_id: int
    title: str
    label: str
    people: int
    last_launch_at: datetime


def course_people(session: Session, course_id: int, access: Callable[[list[str]], str]) -> list[PersonRow]:
    """Everyone the course's roster lists or who has launched the tool in it, staff first, then by name.

    `access(roles)` is the role policy's level for an enrollment's roles: a person without a course role
    (level "none") may still open the course as an account admin, and is shown with that access."""
    rows = session.execute(
        select(Person, Enrollment).join(Enrollment, Enrollment.person_id == Person.id)
        .where(Enrollment.course_id == course_id)
    ).all()
    people = [
        PersonRow(p.id, p.display_name, p.email, e.role_label or e.level,
                  access(e.roles or []) if e.level == "none" else e.level, e.launch_count, e.last_launch_at)
        for p, e in rows
    ]
    return sorted(people, key=lambda r: (LEVEL_ORDER.get(r.level, 9), r.name.lower()))


def level_counts(people: list[PersonRow]) -> list[LevelCount]:
    counts: dict[str, int] = {}
    for row in people:
        counts[row.level] = counts.get(row.level, 0) + 1
    return [LevelCount(level, counts[level]) for level in sorted(counts, key=lambda l: LEVEL_ORDER.get(l, 9))]


def tenant_courses(session: Session, registration_id: int, search: str = "") -> list[CourseRow]:
    """A registration's courses, most recently launched first."""
    people = (
        select(Enrollment.course_id, func.count(Enrollment.id).label("people"))
        .group_by(Enrollment.course_id).subquery()
    )
    query = (
        select(Course, func.coalesce(people.c.people, 0))
        .outerjoin(people, people.c.course_id == Course.id)
        .where(Course.registration_id == registration_id)
        .order_by(Course.last_launch_at.desc(), Course.id)
    )
    if search:
        pattern = f"%{search.lower()}%"
        query = query.where(func.lower(Course.title).like(pattern) | func.lower(Course.label).like(pattern))
    return [CourseRow(c.id, c.title, c.label, n, c.last_launch_at) for c, n in session.execute(query).all()]
