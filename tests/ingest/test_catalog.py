"""The catalog API: entries and categories, and how events and launches join it."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from lti_tool.ingest import rollups, tokens
from lti_tool.models import Category, CategoryEntry, EntryCoeditor, MediaEntry, Person, Play, PlayRollup

from ..support.factories import make_registration
from .dataset import EVENTS


@pytest.fixture
def auth(registration):
    _token, secret = tokens.create(registration.id)
    return {"Authorization": f"Bearer {secret}"}


def test_put_entry_creates_then_updates(client, db, auth):
    body = {"name": "Week 1 lecture", "media_type": "video", "duration": 600, "tags": ["week1", "lecture"],
            "created_at": "2026-09-01T12:00:00Z", "owner": "sub:teacher-1", "coeditors": ["login:ta1", "email:Designer@X.edu"]}
    created = client.put("/api/v1/entries/1_abc123", json=body, headers=auth)
    assert created.status_code == 201
    assert created.get_json() == {"id": "1_abc123", "name": "Week 1 lecture", "media_type": "video", "duration": 600.0,
                                  "tags": ["lecture", "week1"], "created_at": "2026-09-01T12:00:00+00:00", "described": True}
    entry = db.session.scalar(select(MediaEntry))
    owner = db.session.get(Person, entry.owner_person_id)
    assert owner.subject == "teacher-1"
    assert db.session.scalar(select(func.count(EntryCoeditor.id))) == 2
    updated = client.put("/api/v1/entries/1_abc123", json={**body, "name": "Renamed", "coeditors": []}, headers=auth)
    assert updated.status_code == 200 and updated.get_json()["name"] == "Renamed"
    assert db.session.scalar(select(func.count(EntryCoeditor.id))) == 0
    assert client.get("/api/v1/entries/1_abc123", headers=auth).get_json()["name"] == "Renamed"
    assert client.get("/api/v1/entries/nope", headers=auth).status_code == 404


def test_events_for_an_unknown_entry_create_it_undescribed_until_the_catalog_says(client, db, auth):
    client.post("/api/v1/events", json={"version": 1, "events": EVENTS}, headers=auth)
    entry = db.session.scalar(select(MediaEntry))
    assert entry.described is False
    client.put("/api/v1/entries/1_e1", json={"name": "Described", "duration": 200}, headers=auth)
    db.session.expire_all()
    assert db.session.scalar(select(MediaEntry)).described is True
    # A new duration changes which percentiles each play covered: plays are derived again.
    play_a = db.session.scalar(select(Play).where(Play.play_key == "native:A"))
    assert play_a.percentile_count == 26  # [0, 50] of 200 s = percentiles 0-25


@pytest.mark.parametrize("body, field", [
    ({"media_type": "hologram"}, "media_type"),
    ({"duration": -5}, "duration"),
    ({"duration": "long"}, "duration"),
    ({"tags": "x"}, "tags"),
    ({"tags": ["x" * 101]}, "tags"),
    ({"owner": "someone"}, "owner"),
    ({"coeditors": ["bad"]}, "coeditors[0]"),
    ({"created_at": "last week"}, "created_at"),
    ({"colour": "red"}, "colour"),
    ({"name": "n" * 501}, "name"),
])
def test_bad_entries_are_refused_and_change_nothing(client, db, auth, body, field):
    response = client.put("/api/v1/entries/1_bad", json=body, headers=auth)
    assert response.status_code == 400 and field in response.get_json()["fields"]
    assert db.session.scalar(select(func.count(MediaEntry.id))) == 0
    assert db.session.scalar(select(func.count(Person.id))) == 0


def test_put_category_with_members(client, db, auth, launch_as):
    course = launch_as("teacher").course  # a launch creates the course and its Media Gallery category
    gallery = db.session.scalar(select(Category).where(Category.course_id == course.id))
    assert gallery.kind == "gallery" and gallery.name == "Course course-a Media Gallery"
    body = {"name": "BIO gallery", "kind": "gallery", "course_id": course.id, "members": ["1_a", "1_b", "1_a"]}
    response = client.put("/api/v1/categories/12345", json=body, headers=auth)
    assert response.status_code == 201
    assert response.get_json() == {"id": "12345", "name": "BIO gallery", "kind": "gallery", "course_id": course.id,
                                   "members": ["1_a", "1_b"]}
    again = client.put("/api/v1/categories/12345", json={**body, "members": ["1_c"]}, headers=auth)
    assert again.get_json()["members"] == ["1_c"]
    assert db.session.scalar(select(func.count(CategoryEntry.id))) == 1
    assert client.get("/api/v1/categories/12345", headers=auth).get_json()["members"] == ["1_c"]


def test_category_of_another_registrations_course_reads_as_missing(client, db, auth, launch_as, registration):
    course = launch_as("teacher").course
    other = make_registration("999", auth_token_url="https://other.edu/login/oauth2/token")
    _t, secret = tokens.create(other.id)
    response = client.put("/api/v1/categories/x", json={"course_id": course.id},
                          headers={"Authorization": f"Bearer {secret}"})
    missing = client.put("/api/v1/categories/y", json={"course_id": 2**31 - 1},
                         headers={"Authorization": f"Bearer {secret}"})
    assert (response.status_code, response.get_json()) == (404, {**missing.get_json()})
    assert response.get_json()["fields"]["course_id"] == "no such course"
    assert db.session.scalar(select(func.count(Category.id)).where(Category.external_id == "x")) == 0


@pytest.mark.parametrize("body, field", [
    ({"kind": "folder"}, "kind"), ({"members": "1_a"}, "members"), ({"members": [""]}, "members"),
    ({"course_id": "1"}, "course_id"), ({"extra": 1}, "extra"),
])
def test_bad_categories_are_refused(client, db, auth, body, field):
    response = client.put("/api/v1/categories/c1", json=body, headers=auth)
    assert response.status_code == 400 and field in response.get_json()["fields"]
    assert db.session.scalar(select(func.count(Category.id))) == 0


def test_catalog_needs_a_token_and_json(client, db, auth):
    assert client.put("/api/v1/entries/1_a", json={}).status_code == 401
    assert client.put("/api/v1/entries/1_a", data="name=x", headers=auth).status_code == 415
    assert client.put("/api/v1/categories/c", json={}).status_code == 401


def test_alias_events_merge_into_the_person_at_first_launch(client, db, auth, launch_as, canvas, registration):
    login = "student@test.edu"  # the login id Canvas sends for the `student` of the test platform
    assert rollups.ensure_zone(db.session, registration.id, "Asia/Kolkata")  # a zone kept: rollups follow the merge
    events = [dict(e, user=f"login:{login}") for e in EVENTS if e.get("user")]
    client.post("/api/v1/events", json={"version": 1, "events": events}, headers=auth)
    stand_in = db.session.scalar(select(Person).where(Person.subject == f"unresolved:login:{login}"))
    assert stand_in is not None
    launch_as("student")
    db.session.expire_all()
    student = db.session.scalar(select(Person).where(Person.subject == canvas.sub("student")))
    assert db.session.scalar(select(func.count(Play.id)).where(Play.person_id == student.id)) == 3
    assert db.session.scalar(select(Person).where(Person.subject.like("unresolved:%"))) is None
    assert db.session.scalar(select(func.sum(PlayRollup.plays)).where(PlayRollup.person_id == student.id,
                                                                      PlayRollup.zone == "Asia/Kolkata",
                                                                      PlayRollup.grain == "d")) == 3
