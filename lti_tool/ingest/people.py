"""Joining every feed's user to one person: LTI sub, or an alias (Canvas id, login, email, SIS, player id)."""
from __future__ import annotations

from sqlalchemy import select, update

from lti_tool.extensions import db
from lti_tool.models import Person, PersonAlias, Play, PlayerEvent, PlayerLoad

ALIAS_KINDS = {"canvas": "canvas_user_id", "login": "login_id", "email": "email", "sis": "sis_id",
               "player": "player_user_id"}
UNRESOLVED = "unresolved:"


def resolve(registration_id: int, refs: set[str]) -> dict[str, int]:
    """Person ids for references "kind:value"; unknown people are created so no event is lost.

    A person known only by an alias gets a placeholder subject; their first launch merges them
    into the launching person (see `merge_placeholder`).
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
    for ref in sorted(refs - found.keys(), key=str):
        kind, _, value = ref.partition(":")
        if kind == "email":
            value = value.lower()
            if f"email:{value}" in found:
                found[ref] = found[f"email:{value}"]
                continue
        if kind == "sub":
            person = Person(registration_id=registration_id, subject=value[:255])
            db.session.add(person)
            db.session.flush()
        else:
            person = Person(registration_id=registration_id, subject=f"{UNRESOLVED}{kind}:{value}"[:255],
                            email=value if kind == "email" else None)
            db.session.add(person)
            db.session.flush()
            db.session.add(PersonAlias(registration_id=registration_id, person_id=person.id,
                                       kind=ALIAS_KINDS[kind], value=value[:255]))
        found[ref] = person.id
    return found


def merge_placeholder(placeholder: Person, person: Person) -> None:
    """Move a placeholder person's viewing to the person who turned out to be them, then drop it."""
    for model in (PlayerEvent, Play, PlayerLoad):
        db.session.execute(update(model).where(model.person_id == placeholder.id).values(person_id=person.id))
    db.session.execute(update(PersonAlias).where(PersonAlias.person_id == placeholder.id)
                       .values(person_id=person.id))
    db.session.delete(placeholder)
