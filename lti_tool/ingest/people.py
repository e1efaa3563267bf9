"""Joining every feed's user to one person: LTI sub, or an alias (Canvas id, login, email, SIS, player id)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select, update

from lti_tool.extensions import db
from lti_tool.models import Person, PersonAlias, Play, PlayerEvent, PlayerLoad

ALIAS_KINDS = {"canvas": "canvas_user_id", "login": "login_id", "email": "email", "sis": "sis_id",
               "player": "player_user_id"}
UNRESOLVED = "unresolved:"


def resolve(registration_id: int, refs: set[str]) -> dict[str, int]:
    """Person ids for references "kind:value"; unknown people are created so no event is lost.

    A person known only by an alias gets a stand-in subject; their first launch merges them
    into the launching person (see `merge_stand_in`).
    """
    found: dict[str, int] = {}
    subs = {ref[4:] for ref in refs if ref.startswith("sub:")}
    if subs:
        rows = db.session.execute(select(Person.subject, Person.id).where(
            Person.registration_id == registration_id, Person.subject.in_(subs)))
        found.update({f"sub:{subject}": pid for subject, pid in rows})
    by_kind: dict[str, set[str]] = {}
    for ref in refs:
        kind, _, value = ref.partition(":")
        if kind in ALIAS_KINDS:
            by_kind.setdefault(ALIAS_KINDS[kind], set()).add(value.lower() if kind == "email" else value)
    for alias_kind, values in by_kind.items():
        rows = db.session.execute(select(PersonAlias.value, PersonAlias.person_id).where(
            PersonAlias.registration_id == registration_id, PersonAlias.kind == alias_kind,
            PersonAlias.value.in_(values)))
        short = next(k for k, v in ALIAS_KINDS.items() if v == alias_kind)
        found.update({f"{short}:{value}": pid for value, pid in rows})
    missing = sorted(refs - found.keys(), key=str)
    if missing:
        found.update(_create(registration_id, missing))
    return found


def _create(registration_id: int, refs: list[str]) -> dict[str, int]:
    """Create people for unknown references; concurrent creators of the same person are fine
    (INSERT … ON CONFLICT DO NOTHING, then read back)."""
    from .pipeline import _insert

    subjects: dict[str, str] = {}
    for ref in refs:
        kind, _, value = ref.partition(":")
        if kind == "email":
            value = value.lower()
        subjects[ref] = value[:255] if kind == "sub" else f"{UNRESOLVED}{kind}:{value}"[:255]
    db.session.execute(_insert(Person).values([
        {"registration_id": registration_id, "subject": subject, "created_at": datetime.now(timezone.utc),
         "email": ref.partition(":")[2].lower() if ref.startswith("email:") else None}
        for ref, subject in subjects.items()
    ]).on_conflict_do_nothing(index_elements=["registration_id", "subject"]))
    ids = dict(db.session.execute(select(Person.subject, Person.id).where(
        Person.registration_id == registration_id, Person.subject.in_(set(subjects.values())))).all())
    aliases = []
    for ref, subject in subjects.items():
        kind, _, value = ref.partition(":")
        if kind != "sub":
            aliases.append({"registration_id": registration_id, "person_id": ids[subject], "kind": ALIAS_KINDS[kind],
                            "value": (value.lower() if kind == "email" else value)[:255]})
    if aliases:
        db.session.execute(_insert(PersonAlias).values(aliases).on_conflict_do_nothing(
            index_elements=["registration_id", "kind", "value"]))
    return {ref: ids[subject] for ref, subject in subjects.items()}


def merge_stand_in(stand_in: Person, person: Person) -> None:
    """Move a stand-in person's viewing to the person who turned out to be them, then drop it (the rollups of
    the days they viewed are recomputed with the person's id)."""
    from .pipeline import refresh_rollups  # the pipeline imports this module
    from .room_rollups import stand_in_dropped

    stand_in_dropped(db.session, stand_in.id)

    registration_id = stand_in.registration_id
    touched = {(entry_id, at.date()) for entry_id, at in db.session.execute(
        select(Play.entry_id, Play.started_at).where(Play.person_id == stand_in.id)
        .union_all(select(PlayerLoad.entry_id, PlayerLoad.occurred_at).where(PlayerLoad.person_id == stand_in.id)))}
    for model in (PlayerEvent, Play, PlayerLoad):
        db.session.execute(update(model).where(model.person_id == stand_in.id).values(person_id=person.id))
    db.session.execute(update(PersonAlias).where(PersonAlias.person_id == stand_in.id)
                       .values(person_id=person.id))
    db.session.delete(stand_in)
    db.session.flush()
    refresh_rollups(registration_id, touched)
