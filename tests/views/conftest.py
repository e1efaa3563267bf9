"""Views fixtures: an ingest/report token, and a course whose gallery the catalog API filled."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from lti_tool.analytics.scopes import gallery_of
from lti_tool.models import Course

from ..support.factories import bearer, ingest


@pytest.fixture
def auth(registration) -> dict[str, str]:
    """The Authorization header of an ingest/report token of the registration."""
    return bearer(registration.id)


@pytest.fixture
def gallery_course(db, launch_as, client, registration, auth) -> Callable[..., Course]:
    """gallery_course(events, members) -> the course a teacher launched, with `events` stored and the
    entries `members` put into its Media Gallery through the catalog API (PUT /api/v1/categories/<id>)."""
    def make(events: list[dict], members: list[str]) -> Course:
        course = launch_as("teacher").course
        ingest(registration.id, events)
        gallery = gallery_of(db.session, course)
        response = client.put(f"/api/v1/categories/{gallery.external_id}", headers=auth,
                              json={"kind": "gallery", "name": gallery.name, "course_id": course.id,
                                    "members": members})
        assert response.status_code == 200, response.text
        return course
    return make
