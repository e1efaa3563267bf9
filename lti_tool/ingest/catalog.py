"""Catalog upserts: entries (name, type, duration, tags, owner, co-editors) and categories with members."""
from __future__ import annotations

from sqlalchemy import delete, select

from lti_tool.extensions import db
from lti_tool.models import (Category, CategoryEntry, Course, EntryCoeditor, MediaEntry, Play, find_category,
                              find_entry)
from lti_tool.models.media import MEDIA_TYPES
from lti_tool.models.types import MAX_INTEGER

from . import people
from .schema import InvalidEvent, number, parse_time, text, user_ref


class CatalogError(ValueError):
    def __init__(self, errors: dict[str, str], status: int = 400) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors
        self.status = status


def _check(errors: dict, field: str, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except InvalidEvent as exc:
        errors[field] = str(exc)
        return None


ENTRY_FIELDS = {"name", "media_type", "duration", "tags", "created_at", "owner", "coeditors"}


def upsert_entry(registration_id: int, external_id: str, body) -> tuple[MediaEntry, bool]:
    """Describe an entry; re-deriving its plays when its duration changes (percentiles depend on it).
    A body that cannot be saved raises CatalogError before anything is written."""
    errors: dict[str, str] = {}
    if not isinstance(body, dict):
        raise CatalogError({"body": "must be a JSON object"})
    _check(errors, "id", text, external_id, "id", required=True, limit=255)
    for field in sorted(set(body) - ENTRY_FIELDS):
        errors[field] = "unknown field"
    name = _check(errors, "name", text, body.get("name"), "name", limit=500)
    media_type = body.get("media_type", "video")
    if media_type not in MEDIA_TYPES:
        errors["media_type"] = f"must be one of {', '.join(MEDIA_TYPES)}"
    duration = _check(errors, "duration", number, body.get("duration"), "duration", minimum=0.001)
    tags = body.get("tags", [])
    if not isinstance(tags, list) or len(tags) > 100 or not all(isinstance(t, str) and 0 < len(t) <= 100 for t in tags):
        errors["tags"] = "must be a list of at most 100 strings of 1 to 100 characters"
    else:
        for i, tag in enumerate(tags):
            _check(errors, f"tags[{i}]", text, tag, "tag")
    created_at = _check(errors, "created_at", parse_time, body["created_at"]) if body.get("created_at") else None
    owner = _check(errors, "owner", user_ref, body.get("owner"))
    coeditors = body.get("coeditors", [])
    if not isinstance(coeditors, list) or len(coeditors) > 100:
        errors["coeditors"] = "must be a list of at most 100 user references"
        coeditors = []
    for i, ref in enumerate(coeditors):
        if ref is None or ref == "":
            errors[f"coeditors[{i}]"] = "must be a user reference such as sub:<LTI subject>"
        else:
            _check(errors, f"coeditors[{i}]", user_ref, ref)
    if errors:
        raise CatalogError(errors)

    entry = find_entry(db.session, registration_id, external_id)
    created = entry is None
    if created:
        entry = MediaEntry(registration_id=registration_id, external_id=external_id)
        db.session.add(entry)
    old_duration = entry.duration_seconds
    refs = people.resolve(registration_id, {r for r in [owner, *coeditors] if r})
    entry.name = name or ""
    entry.media_type = media_type
    entry.duration_seconds = duration
    entry.tags = sorted(set(tags))
    entry.entry_created_at = created_at
    entry.owner_person_id = refs.get(owner) if owner else None
    entry.described = True
    db.session.flush()
    db.session.execute(delete(EntryCoeditor).where(EntryCoeditor.entry_id == entry.id))
    for person_id in sorted({refs[r] for r in coeditors}):
        db.session.add(EntryCoeditor(entry_id=entry.id, person_id=person_id))
    if not created and old_duration != duration:
        from .pipeline import derive_plays, refresh_rollups

        keys = set(db.session.scalars(select(Play.play_key).where(Play.entry_id == entry.id)))
        refresh_rollups(registration_id, derive_plays(registration_id, keys))
    db.session.commit()
    return entry, created


CATEGORY_FIELDS = {"name", "kind", "course_id", "members"}


def upsert_category(registration_id: int, external_id: str, body) -> tuple[Category, bool]:
    """Describe a category and replace its members (entry external ids, unknown ones created). A body
    that cannot be saved raises CatalogError before anything is written."""
    errors: dict[str, str] = {}
    if not isinstance(body, dict):
        raise CatalogError({"body": "must be a JSON object"})
    _check(errors, "id", text, external_id, "id", required=True, limit=255)
    for field in sorted(set(body) - CATEGORY_FIELDS):
        errors[field] = "unknown field"
    name = _check(errors, "name", text, body.get("name"), "name", limit=500)
    kind = body.get("kind", "channel")
    if kind not in ("gallery", "channel"):
        errors["kind"] = "must be gallery or channel"
    members = body.get("members", [])
    if not isinstance(members, list) or len(members) > 10000 or not all(
            isinstance(m, str) and 0 < len(m) <= 255 for m in members):
        errors["members"] = "must be a list of at most 10000 entry ids"
        members = []
    for i, member in enumerate(members):
        if _check(errors, f"members[{i}]", text, member, "member") is None:
            break  # the first bad one is enough to say
    course_id = body.get("course_id")
    if course_id is not None and (isinstance(course_id, bool) or not isinstance(course_id, int)
                                  or not 1 <= course_id <= MAX_INTEGER):
        errors["course_id"] = "must be the tool's course id (an integer)"
    if errors:
        raise CatalogError(errors)
    if course_id is not None:
        course = db.session.get(Course, course_id)
        if course is None or course.registration_id != registration_id:
            # Another registration's course is answered as one that does not exist.
            raise CatalogError({"course_id": "no such course"}, status=404)

    category = find_category(db.session, registration_id, external_id)
    created = category is None
    if created:
        category = Category(registration_id=registration_id, external_id=external_id)
        db.session.add(category)
    category.name = name or ""
    category.kind = kind
    if course_id is not None:
        category.course_id = course_id
    db.session.flush()
    from .pipeline import resolve_entries
    from .schema import IncomingEvent

    # resolve_entries takes events; only their entry ids matter here.
    member_refs = [IncomingEvent(key="", type="impression", occurred_at=None, entry=m) for m in dict.fromkeys(members)]
    entries = resolve_entries(registration_id, member_refs)
    db.session.execute(delete(CategoryEntry).where(CategoryEntry.category_id == category.id))
    for position, member in enumerate(dict.fromkeys(members)):
        db.session.add(CategoryEntry(category_id=category.id, entry_id=entries[member].id, position=position))
    db.session.commit()
    return category, created


def entry_json(entry: MediaEntry) -> dict:
    return {
        "id": entry.external_id, "name": entry.name, "media_type": entry.media_type,
        "duration": entry.duration_seconds, "tags": entry.tags,
        "created_at": entry.entry_created_at.isoformat() if entry.entry_created_at else None,
        "described": entry.described,
    }


def category_json(category: Category) -> dict:
    members = db.session.scalars(
        select(MediaEntry.external_id).join(CategoryEntry, CategoryEntry.entry_id == MediaEntry.id)
        .where(CategoryEntry.category_id == category.id).order_by(CategoryEntry.position))
    return {"id": category.external_id, "name": category.name, "kind": category.kind,
            "course_id": category.course_id, "members": list(members)}
