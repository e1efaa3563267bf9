"""The People page and the people table as seen in a course an account admin only administers."""
from __future__ import annotations

from ..ingest.dataset import EVENTS
from ..support.factories import add_to_gallery, ingest


def test_an_admin_who_only_administers_the_course_is_no_unwatched_member(launch_as, db, registration):
    teacher = launch_as("teacher")
    ingest(registration.id, EVENTS)
    add_to_gallery(db.session, teacher.course, "1_e1")
    admin = launch_as("admin")                       # no course role, opens the course to administer it
    gallery = teacher.get(f"/courses/{teacher.course.id}/gallery/?range=custom&from=2026-10-01&to=2026-10-10")
    assert "Teacher Tester" in gallery.text and "Admin Tester" not in gallery.text
    people = admin.get(f"/courses/{teacher.course.id}/")
    row = next(line for line in people.text.splitlines() if '<th scope="row">Admin Tester' in line)
    assert "<td>Admin</td>" in row and "No access" not in row


def test_the_people_page_says_it_lists_the_roster_too(launch_as):
    teacher = launch_as("teacher")
    text = teacher.get(f"/courses/{teacher.course.id}/").text
    assert "who have opened Media Analytics, with" not in text
    assert "roster" in text.split('class="lede"')[1].split("</p>")[0]
