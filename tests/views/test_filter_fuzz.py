"""Fuzz every filter and option of the dashboard pages, their HTMX blocks and the report API
(hypothesis): whatever the address says, never a 500, and a GET stores nothing.

The arguments are the ones the pages and reports read (range, from, to, compare, owner, person,
page, sort, drill-downs, session, tz, limit, ...) plus unknown ones, with structured-but-wrong values:
far and impossible dates, huge and negative numbers, NUL and other characters that are not text,
long strings; the course, entry and room in the address are fuzzed too.
"""
from __future__ import annotations

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from lti_tool.analytics.dashboard import ENTRY_BLOCKS, GALLERY_BLOCKS, MY_BLOCKS
from lti_tool.extensions import db as _db
from lti_tool.views.api.reports import REPORTS, ROOM_REPORTS
from lti_tool.views.rooms import ROOM_BLOCKS

from ..ingest.dataset import EVENTS
from ..rooms.test_room_ingest import SESSION as ROOM_EVENTS
from ..support.hostile import EXTREME_NUMBERS, FAR_DATES, FUZZ, examples, texts, url_part
from ..support.factories import add_to_gallery, bearer
from ..support.rows import row_counts

FILTER_ARGS = ("range", "from", "to", "today", "compare", "granularity", "context", "media_type", "tag", "owner",
               "country", "region", "city", "domain", "device")
OPTION_ARGS = ("metric", "details", "dsort", "ddir", "dpage", "sort", "dir", "page", "q", "person", "loc_country",
               "loc_region", "drill_domain", "focus", "session", "interaction", "handoff", "_people", "_room_scope")
API_ARGS = ("tz", "limit", "per_page", "course", "entry", "room")
# Values the pages offer, so that the fuzz also reaches past the filters into every block.
CHOICES = {"range": ("last7", "last30", "last3m", "last12m", "creation", "custom"),
           "compare": ("none", "previous", "last_year"), "granularity": ("auto", "day", "month"),
           "context": ("all", "inside", "outside"), "tz": ("UTC", "America/Chicago", "Pacific/Kiritimati", "Etc/GMT+12"),
           "today": ("1",), "session": ("main", "breakout-a"), "metric": ("plays", "minutes_viewed", "avg_drop_off"),
           "details": ("dates", "entries", "users"), "owner": ("1", "2", "3"), "person": ("1", "2", "3", "4"),
           "page": ("1", "2", "0"), "dpage": ("1", "2"), "sort": ("name", "plays", "minutes_viewed", "last_viewed_at"),
           "dsort": ("name", "plays", "date"), "dir": ("asc", "desc"), "ddir": ("asc", "desc"),
           "country": ("US",), "loc_country": ("US",), "loc_region": ("California",), "region": ("California",),
           "city": ("Mountain View",), "domain": ("canvas.umn.edu", "(unknown)"),
           "drill_domain": ("canvas.umn.edu", "(unknown)"), "device": ("desktop", "mobile"),
           "media_type": ("video", "audio"), "tag": ("week1",), "limit": ("1", "10"), "per_page": ("1", "5"),
           "q": ("ana", "a"), "interaction": ("1", "2"), "focus": ("1_e1",)}
PAGES = ("gallery/", "entries/1_e1/", "rooms/", "rooms/room-1/", "embeds/audit", "embeds/mine", "my/", "my-analytics/",
         "exports/new", "exports/custom", "")
BLOCKS = tuple(sorted({*GALLERY_BLOCKS, *ENTRY_BLOCKS, *MY_BLOCKS, *ROOM_BLOCKS, "audit", "viewing", "dashboard"}))
EXAMPLES = {name: examples(count) for name, count in {"pages": 300, "reports": 300, "exports": 150}.items()}
EXPORT_KINDS = ("gallery-csv", "room-csv", "audit-csv", "audit-mine-csv", "custom")

names = st.one_of(st.sampled_from(FILTER_ARGS + OPTION_ARGS + API_ARGS), st.text(max_size=12))


def sometimes(strategy):
    """None four times in five, else a value of the strategy."""
    return st.one_of(st.none(), st.none(), st.none(), st.none(), strategy)


@st.composite
def values(draw, name: str) -> str:
    """A value for the argument: one it takes, a far date, an extreme number or hostile text."""
    choice = draw(st.integers(0, 5))
    if choice <= 1 and name in CHOICES:
        return draw(st.sampled_from(CHOICES[name]))
    if choice == 2:
        return draw(st.one_of(st.sampled_from(FAR_DATES), st.dates().map(lambda d: d.isoformat())))
    if choice == 3:
        return str(draw(st.one_of(st.sampled_from(EXTREME_NUMBERS), st.integers())))
    return draw(texts)


@st.composite
def queries(draw) -> str:
    """A query string: often a custom range (its dates anywhere in years 1 to 9999), then any arguments."""
    pairs = []
    if draw(st.booleans()):
        dates = st.one_of(st.sampled_from(FAR_DATES), st.dates().map(lambda d: d.isoformat()))
        pairs += [("range", "custom"), ("from", draw(dates)), ("to", draw(dates))]
    for _ in range(draw(st.integers(0, 5))):
        name = draw(names)
        pairs.append((name, draw(values(name))))
    return "&".join(f"{url_part(name)}={url_part(value)}" for name, value in pairs)


@pytest.fixture
def teacher(launch_as, db, registration, client, app, monkeypatch, tmp_path):
    """A teacher's session on a course whose gallery holds 1_e1 (the hand-computed data set, on Oct 5) and
    whose room room-1 has the hand-computed live session; (the teacher, report token header, course id)."""
    monkeypatch.setitem(app.config, "INGEST_RATE_LIMIT_PER_MINUTE", 10**9)
    monkeypatch.setitem(app.config, "EXPORT_DIR", str(tmp_path / "exports"))
    session = launch_as("teacher")
    course = session.course
    auth = bearer(registration.id, "fuzz")
    assert client.post("/api/v1/events", json={"version": 1, "events": EVENTS}, headers=auth).status_code == 200
    room = {"id": "room-1", "type": "room", "name": "Week 1", "course": course.id}
    stored = client.post("/api/v1/room-events", json={"version": 1, "events": [room, *ROOM_EVENTS[1:]]}, headers=auth)
    assert stored.status_code == 200, stored.text
    add_to_gallery(db.session, course, "1_e1")
    return session, auth, course.id


def answered(response) -> int:
    """Never a 500; a refusal says why. Returns the status."""
    assert response.status_code < 500, response.text[:500]
    event(f"answered {response.status_code // 100}xx")
    if response.status_code == 400:
        assert response.text.strip()
    return response.status_code


@settings(FUZZ, max_examples=EXAMPLES["pages"])
@given(page=st.sampled_from(PAGES), query=queries(), block=st.none() | st.sampled_from(BLOCKS),
       course=sometimes(st.sampled_from(("0", "2147483648", "99999999999999999999"))), path_id=sometimes(texts))
def test_pages_and_blocks_fuzz(teacher, page, query, block, course, path_id):
    session, _auth, course_id = teacher
    if path_id is not None and page in ("entries/1_e1/", "rooms/room-1/"):
        page = page.split("/")[0] + f"/{url_part(path_id)}/"
    viewer = session.htmx(block) if block else session
    before = row_counts(_db)
    _db.session.remove()
    answered(viewer.get(f"/courses/{course or course_id}/{page}?{query}"))
    assert row_counts(_db) == before


@settings(FUZZ, max_examples=EXAMPLES["reports"])
@given(name=st.sampled_from(sorted(REPORTS)), query=queries(), subject=sometimes(texts))
def test_reports_fuzz(client, teacher, name, query, subject):
    _session, auth, course_id = teacher
    kind = "room" if name in ROOM_REPORTS else "entry" if "entry" in name else "course"
    value = subject if subject is not None else {"room": "room-1", "entry": "1_e1", "course": str(course_id)}[kind]
    before = row_counts(_db)
    _db.session.remove()
    answered(client.get(f"/api/v1/reports/{name}?{kind}={url_part(value)}&{query}", headers=auth))
    assert row_counts(_db) == before


@settings(FUZZ, max_examples=EXAMPLES["exports"])
@given(kind=st.sampled_from(EXPORT_KINDS), form=queries(), room=sometimes(texts))
def test_export_requests_fuzz(teacher, kind, form, room):
    """The export dialog posts the page's filters: never a 500; a refusal stores nothing."""
    session, _auth, course_id = teacher
    body = f"kind={kind}&delivery=download&room={url_part('room-1' if room is None else room)}&{form}"
    before = row_counts(_db)
    _db.session.remove()
    status = answered(session.htmx().post(f"/courses/{course_id}/exports/", data=body,
                                          headers={"Content-Type": "application/x-www-form-urlencoded"}))
    if status >= 400:
        assert row_counts(_db) == before

