"""Which entries and rows a dashboard looks at: a course's Media Gallery, one entry, or a person's own media."""
from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from lti_tool.models import Category, CategoryEntry, Course, EntryCoeditor, MediaEntry

from .filters import Filters, Period
from .metrics import Scope


def gallery_of(session: Session, course: Course) -> Category | None:
    """The course's Media Gallery category (created at its first launch)."""
    return session.scalar(select(Category).where(Category.course_id == course.id, Category.kind == "gallery")
                          .order_by(Category.id))


def _filtered_entries(session: Session, query, filters: Filters) -> tuple[int, ...]:
    if filters.media_types:
        query = query.where(MediaEntry.media_type.in_(filters.media_types))
    if filters.owners:
        query = query.where(MediaEntry.owner_person_id.in_(filters.owners))
    rows = session.execute(query.with_only_columns(MediaEntry.id, MediaEntry.tags)).all()
    if filters.tags:
        wanted = set(filters.tags)
        rows = [r for r in rows if wanted & set(r.tags or [])]
    return tuple(sorted(r.id for r in rows))


def _scope(registration_id: int, entry_ids, filters: Filters, period: Period | None, context_category_id=None,
           compare: bool = False) -> Scope:
    span = period.compare if (compare and period is not None) else period
    return Scope(
        registration_id=registration_id, start=span.start if span else None, end=span.end if span else None,
        zone=span.zone if span else None, first_day=span.first_day if span else None,
        last_day=span.last_day if span else None,
        entry_ids=entry_ids, context_category_id=context_category_id,
        context=filters.context if context_category_id is not None else "all",
        domains=filters.domains, devices=filters.devices, countries=filters.countries,
        regions=filters.regions, cities=filters.cities)


def course_scope(session: Session, course: Course, filters: Filters, period: Period | None, compare: bool = False) -> Scope:
    """The course gallery's entries, wherever they were played (the viewing context filter narrows it)."""
    gallery = gallery_of(session, course)
    query = select(MediaEntry).join(CategoryEntry, CategoryEntry.entry_id == MediaEntry.id)
    query = query.where(CategoryEntry.category_id == (gallery.id if gallery else -1))
    return _scope(course.registration_id, _filtered_entries(session, query, filters), filters, period,
                  gallery.id if gallery else None, compare)


def entry_scope(entry: MediaEntry, filters: Filters, period: Period | None, compare: bool = False) -> Scope:
    return _scope(entry.registration_id, (entry.id,), filters, period, None, compare)


def owner_scope(session: Session, registration_id: int, person_id: int, filters: Filters, period: Period | None,
                compare: bool = False) -> Scope:
    """Every entry the person owns or co-edits, across courses ("My Analytics")."""
    coedited = select(EntryCoeditor.entry_id).where(EntryCoeditor.person_id == person_id)
    query = select(MediaEntry).where(MediaEntry.registration_id == registration_id,
                                     or_(MediaEntry.owner_person_id == person_id, MediaEntry.id.in_(coedited)))
    return _scope(registration_id, _filtered_entries(session, query, filters), filters, period, None, compare)


def owns_or_coedits(session: Session, entry: MediaEntry, person_id: int) -> bool:
    if entry.owner_person_id == person_id:
        return True
    return session.scalar(select(EntryCoeditor.id).where(EntryCoeditor.entry_id == entry.id,
                                                         EntryCoeditor.person_id == person_id)) is not None


def in_course_gallery(session: Session, entry: MediaEntry, course: Course) -> bool:
    gallery = gallery_of(session, course)
    return gallery is not None and session.scalar(select(CategoryEntry.id).where(
        CategoryEntry.category_id == gallery.id, CategoryEntry.entry_id == entry.id)) is not None


def owns_any(session: Session, registration_id: int, person_id: int) -> bool:
    coedits = select(EntryCoeditor.id).where(EntryCoeditor.person_id == person_id).limit(1)
    owns = select(MediaEntry.id).where(MediaEntry.registration_id == registration_id,
                                       MediaEntry.owner_person_id == person_id).limit(1)
    return session.scalar(owns) is not None or session.scalar(coedits) is not None
