"""Another tenant's ids in the report API are answered exactly as ids that do not exist: the same
status and the same body, so a token cannot learn which ids another registration holds."""
from __future__ import annotations

import pytest

from lti_tool.ingest import tokens
from lti_tool.models import Room

from .test_report_api import auth, course, get, other_registration, token  # noqa: F401  (fixtures)


@pytest.fixture
def foreign_room(db, other_registration):  # noqa: F811
    other, foreign_course = other_registration
    room = Room(registration_id=other.id, external_id="foreign-room", name="Theirs", course_id=foreign_course.id)
    db.session.add(room)
    db.session.commit()
    return room


@pytest.mark.parametrize("report, foreign, missing", [
    ("funnel", {"course": "FOREIGN_COURSE"}, {"course": "999999"}),
    ("funnel", {"entry": "2_foreign"}, {"entry": "1_nope"}),
    ("entry-heatmap", {"entry": "2_foreign"}, {"entry": "1_nope"}),
    ("room-overview", {"room": "foreign-room"}, {"room": "no-such-room"}),
    ("room-countries", {"room": "foreign-room", "session": "s1"}, {"room": "no-such-room", "session": "s1"}),
])
def test_another_tenants_id_is_answered_as_a_missing_one(client, auth, course, other_registration,  # noqa: F811
                                                          foreign_room, report, foreign, missing):
    _other, foreign_course = other_registration
    foreign = {k: (str(foreign_course.id) if v == "FOREIGN_COURSE" else v) for k, v in foreign.items()}
    theirs = get(client, auth, report, **foreign)
    nothing = get(client, auth, report, **missing)
    assert nothing.status_code == 404
    assert (theirs.status_code, theirs.get_json()) == (nothing.status_code, nothing.get_json())


def test_the_other_tenant_still_reads_its_own(client, other_registration, foreign_room):  # noqa: F811
    other, foreign_course = other_registration
    theirs = {"Authorization": f"Bearer {tokens.create(other.id)[1]}"}
    assert get(client, theirs, "funnel", course=foreign_course.id).status_code == 200
    assert get(client, theirs, "room-overview", room="foreign-room", **{"from": None, "to": None,
                                                                          "range": None}).status_code == 200
