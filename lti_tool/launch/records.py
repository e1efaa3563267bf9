"""What a validated launch saves: course, person (as the privacy level allows), aliases, enrollment."""
from __future__ import annotations

from sqlalchemy import select

from lti_tool.extensions import db
from lti_tool.models import Category, Course, Enrollment, Person, PersonAlias, Registration
from lti_tool.models.types import utcnow

from lti_tool.ingest.people import UNRESOLVED, merge_stand_in

from .roles import Decision

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"


def _text(value, limit: int = 255) -> str | None:
    return value.strip()[:limit] if isinstance(value, str) and value.strip() else None


def record_launch(registration: Registration, claims: dict, decision: Decision) -> tuple[Course, Person]:
    """Upsert the course, person, aliases and enrollment a launch describes (caller commits)."""
    now = utcnow()
    context = claims.get(LTI + "context") or {}
    custom = claims.get(LTI + "custom") or {}
    platform = claims.get(LTI + "tool_platform") or {}

    course = db.session.scalar(
        select(Course).where(Course.registration_id == registration.id, Course.context_id == context["id"])
    )
    if course is None:
        course = Course(registration=registration, context_id=str(context["id"])[:255], created_at=now)
        db.session.add(course)
    course.label = _text(context.get("label")) or course.label or ""
    course.title = _text(context.get("title"), 500) or course.title or course.label or "Untitled course"
    course.platform_guid = _text(platform.get("guid")) or course.platform_guid
    course.canvas_course_id = _text(custom.get("canvas_course_id"), 64) or course.canvas_course_id
    course.api_domain = _text(custom.get("canvas_api_domain")) or course.api_domain
    course.nrps_url = _text((claims.get(NRPS) or {}).get("context_memberships_url"), 1000) or course.nrps_url
    course.last_launch_at = now
    db.session.flush()
    _ensure_gallery(registration, course)

    person = db.session.scalar(
        select(Person).where(Person.registration_id == registration.id, Person.subject == claims["sub"])
    )
    if person is None:
        person = Person(registration_id=registration.id, subject=claims["sub"][:255], created_at=now)
        db.session.add(person)
    # Only what Canvas sends at the key's privacy level is kept; a later launch may add or refresh it.
    for field in ("name", "given_name", "family_name", "email"):
        value = _text(claims.get(field))
        if value:
            setattr(person, field, value)
    timezone = _text(custom.get("user_timezone"), 64)
    if timezone and not timezone.startswith("$"):
        person.timezone = timezone
    person.last_launch_at = now
    db.session.flush()

    _record_aliases(registration, person, claims, custom)

    enrollment = db.session.scalar(
        select(Enrollment).where(Enrollment.course_id == course.id, Enrollment.person_id == person.id)
    )
    if enrollment is None:
        enrollment = Enrollment(course=course, person=person, launch_count=0)
        db.session.add(enrollment)
    enrollment.roles = [r for r in claims.get(LTI + "roles", []) if isinstance(r, str)][:50]
    enrollment.level = decision.course_level
    enrollment.role_label = decision.label
    enrollment.launch_count = (enrollment.launch_count or 0) + 1
    enrollment.last_launch_at = now
    return course, person


def _record_aliases(registration: Registration, person: Person, claims: dict, custom: dict) -> None:
    lis = claims.get(LTI + "lis") or {}
    candidates = {
        "canvas_user_id": custom.get("canvas_user_id"),
        "login_id": custom.get("canvas_login_id"),
        "email": (claims.get("email") or "").lower() or None,
        "sis_id": lis.get("person_sourcedid"),
        "lti11_user_id": claims.get(LTI + "lti11_legacy_user_id"),
    }
    for kind, raw in candidates.items():
        value = _text(raw)
        # Canvas leaves "$Canvas.user.loginId" unexpanded when the value is not available.
        if not value or value.startswith("$"):
            continue
        alias = db.session.scalar(
            select(PersonAlias).where(
                PersonAlias.registration_id == registration.id, PersonAlias.kind == kind, PersonAlias.value == value
            )
        )
        if alias is None:
            db.session.add(PersonAlias(registration_id=registration.id, person_id=person.id, kind=kind, value=value))
        elif alias.person_id != person.id:
            previous = db.session.get(Person, alias.person_id)
            if previous is not None and previous.subject.startswith(UNRESOLVED):
                # Events arrived under this alias before the person first launched: they are this person's.
                merge_stand_in(previous, person)
                db.session.flush()
            else:
                alias.person_id = person.id


def _ensure_gallery(registration: Registration, course: Course) -> None:
    """A course's Media Gallery category exists from its first launch (a catalog feed may rename it)."""
    exists = db.session.scalar(select(Category.id).where(Category.course_id == course.id, Category.kind == "gallery"))
    if exists is None:
        db.session.add(Category(registration_id=registration.id, external_id=f"gallery:{course.context_id}"[:255],
                                name=f"{course.title} Media Gallery"[:500], kind="gallery", course_id=course.id))
