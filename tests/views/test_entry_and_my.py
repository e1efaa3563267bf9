"""Single media analytics, My Analytics and My viewing: who sees what, and the numbers."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lti_tool.models import Person

from ..ingest.dataset import EVENTS, P1
from ..support.factories import add_to_gallery, entry, ingest

OCT = "range=custom&from=2026-10-01&to=2026-10-10"


@pytest.fixture
def world(launch_as, db, registration, canvas):
    """Course A with the data set's entry 1_e1 in its gallery, and a second entry 1_other outside it."""
    teacher, student = launch_as("teacher"), launch_as("student")
    other = [dict(e, id="o-" + e["id"], entry_id="1_other") for e in EVENTS[:3]]
    ingest(registration.id, EVENTS + other)
    add_to_gallery(db.session, teacher.course, "1_e1")
    return {"teacher": teacher, "student": student, "course": teacher.course, "e1": entry(db.session, "1_e1"),
            "db": db, "canvas": canvas}


def get(world, who, path, target=None):
    """The page at `path` of the course as `who` sees it; as htmx, the block whose id is `target`."""
    viewer = world[who].htmx(target) if target else world[who]
    return viewer.get(f"/courses/{world['course'].id}{path}")


def card(html, label):
    return re.search(rf">{re.escape(label)}</span></span><span class=\"card-value\">([^<]+)<", html).group(1)


def test_staff_see_a_gallery_entry_with_outsiders_folded(world):
    html = get(world, "teacher", f"/entries/1_e1/?{OCT}").text
    assert card(html, "Plays") == "4" and card(html, "Player impressions") == "6"
    assert "Where viewers watched" in html and "<svg" in html
    assert "Viewers outside this course" in html and "Person-One" not in html
    p1 = world["db"].session.scalar(select(Person).where(Person.subject == P1[4:]))
    forced = get(world, "teacher", f"/entries/1_e1/?{OCT}&person={p1.id}",
                 target="heatmap").text
    assert forced.lstrip().startswith('<section id="heatmap"') and "how often each part was watched" not in forced


def test_staff_cannot_open_media_outside_their_gallery(world):
    assert get(world, "teacher", "/entries/1_other/").status_code == 403
    assert get(world, "teacher", "/entries/1_nothing/").status_code == 404


def test_an_owner_who_is_a_student_sees_everything_of_their_own_media(world):
    db, canvas = world["db"], world["canvas"]
    student = db.session.scalar(select(Person).where(Person.subject == canvas.sub("student")))
    world["e1"].owner_person_id = student.id
    db.session.commit()
    p1 = db.session.scalar(select(Person).where(Person.subject == P1[4:]))
    html = get(world, "student", f"/entries/1_e1/?{OCT}").text
    assert card(html, "Plays") == "4"
    assert "Viewers outside this course" not in html
    heat = get(world, "student", f"/entries/1_e1/?{OCT}&person={p1.id}", target="heatmap").text
    assert "how often each part was watched" in heat and "Viewed twice" in heat
    mine = get(world, "student", f"/my-analytics/?{OCT}").text
    assert card(mine, "Plays") == "4" and "1_other" not in mine  # only their own entries
    assert get(world, "student", "/entries/1_other/").status_code == 403
    assert get(world, "student", "/gallery/").status_code == 403


def test_my_analytics_without_media(world):
    html = get(world, "teacher", "/my-analytics/").text
    assert "You don't own or co-edit any media yet" in html


def test_my_viewing_shows_only_the_viewers_own_plays(world):
    canvas = world["canvas"]
    mine = [dict(e, id="s-" + e["id"], play_id="S", user=f"sub:{canvas.sub('student')}") for e in EVENTS[1:3]]
    ingest(world["course"].registration_id, mine)
    html = get(world, "student", f"/my/?{OCT}").text
    assert card(html, "Plays") == "1" and card(html, "Minutes viewed") == "0.8 min"  # 50 s
    assert "Person One" not in html and "Unknown" not in html
    nothing = get(world, "teacher", f"/my/?{OCT}").text
    assert "No viewing recorded for you in this period" in nothing


def test_my_viewing_names_every_role_that_can_see_it_from_the_role_policy(world):
    html = get(world, "student", f"/my/?{OCT}").text
    assert "course's teachers" not in html
    assert ("Besides you, people in these roles can see your viewing data: TA, Teacher, Designer, Account admin "
            "and Site admin.") in html


def test_my_analytics_links_to_the_embed_audit_only_for_someone_it_answers(world):
    student, audit = world["student"], f"/courses/{world['course'].id}/embeds/mine"
    assert student.get(audit).status_code == 403
    assert "embeds/mine" not in get(world, "student", "/my-analytics/").text
    db, canvas = world["db"], world["canvas"]
    world["e1"].owner_person_id = db.session.scalar(select(Person).where(Person.subject == canvas.sub("student"))).id
    db.session.commit()
    assert "embeds/mine" in get(world, "student", "/my-analytics/").text and student.get(audit).status_code == 200
