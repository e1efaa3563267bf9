"""Funnel milestones are selectable (seed 003): choosing 25/50/75/100 % lists the media whose plays
reached it and the people the page may name (others folded, as in the people table), with how many of
their plays reached it. Over the data set of tests/ingest/dataset.py plus the enrolled student's copy of
plays A (to 50 %) and B (to the end)."""
from __future__ import annotations

import re

from sqlalchemy import select

from lti_tool.models import Person

from .test_people_rule import FOLDED, OUTSIDER, OUTSIDER_EMAIL, course_world  # noqa: F401  (the fixture)


def reach_rows(html: str, caption_start: str) -> dict[str, tuple[str, str]]:
    """{name: (plays reaching, plays)} of the milestone table whose caption starts so."""
    table = re.search(rf"<caption>{re.escape(caption_start)}.*?</table>", html, re.S)
    assert table, caption_start
    return {name: (reached, plays) for name, reached, plays in re.findall(
        r'<th scope="row">([^<]+)</th><td class="num">([^<]+)</td><td class="num">([^<]+)</td>', table.group(0))}


def student_name(world) -> str:
    return world["db"].session.scalar(select(Person).where(
        Person.subject == world["canvas"].sub("student"))).display_name


def test_gallery_lists_the_media_and_people_who_reached_a_milestone(course_world):  # noqa: F811
    page = course_world["page"]("teacher", "/gallery/").text
    funnel = page[page.index('id="funnel"'):page.index('id="locations"')]
    assert "milestone=75" in funnel                          # a link per milestone
    assert "Media whose plays reached" not in funnel          # nothing chosen: the funnel alone
    html = course_world["page"]("teacher", "/gallery/", milestone="75").text
    assert reach_rows(html, "Media whose plays reached 75 %") == {"1_e1": ("3", "6")}   # B, C and the student's B
    people = reach_rows(html, "People whose plays reached 75 %")
    assert people == {FOLDED: ("2", "3"), student_name(course_world): ("1", "2")}
    assert OUTSIDER not in html and OUTSIDER_EMAIL not in html
    assert 'aria-current="true">Who reached 75 %</a>' in html


def test_the_milestone_block_alone_is_swapped_by_htmx(course_world, launch_as):  # noqa: F811
    world = course_world
    block = launch_as("teacher").htmx("funnel").get(
        f"/courses/{world['course'].id}/gallery/",
        query_string={"range": "custom", "from": "2026-10-01", "to": "2026-10-10", "milestone": "25"})
    assert block.text.lstrip().startswith('<section id="funnel"') and 'id="locations"' not in block.text
    people = reach_rows(block.text, "People whose plays reached 25 %")
    # Every play reached 25 %: the anonymous play D is the Unknown row, placed by its numbers.
    assert people == {FOLDED: ("3", "3"), student_name(world): ("2", "2"), "Unknown": ("1", "1")}


def test_single_media_lists_people_only_and_an_unknown_milestone_lists_nothing(course_world):  # noqa: F811
    html = course_world["page"]("teacher", "/entries/1_e1/", milestone="100").text
    assert "Media whose plays reached" not in html
    assert reach_rows(html, "People whose plays reached 100 %") == {FOLDED: ("1", "3"),
                                                                    student_name(course_world): ("1", "2")}
    odd = course_world["page"]("teacher", "/entries/1_e1/", milestone="60").text
    assert "People whose plays reached" not in odd and "Who reached 25 %" in odd


def test_the_owner_sees_every_viewer_by_name(course_world):  # noqa: F811
    db = course_world["db"]
    student = db.session.scalar(select(Person).where(Person.subject == course_world["canvas"].sub("student")))
    course_world["entry"].owner_person_id = student.id
    db.session.commit()
    html = course_world["page"]("student", "/entries/1_e1/", milestone="50").text
    people = reach_rows(html, "People whose plays reached 50 %")
    assert people[OUTSIDER] == ("2", "2") and FOLDED not in people
