"""Hand-computed metrics over a small data set, on PostgreSQL (over HTTP) and on SQLite; rebuild agrees."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from lti_tool.analytics import metrics
from lti_tool.analytics.metrics import Scope
from lti_tool.extensions import db as _db
from lti_tool.ingest import tokens
from lti_tool.ingest.pipeline import rebuild
from lti_tool.models import Person, Play, Registration

from ..support.factories import embedded_app, ingest, make_registration
from .dataset import EVENTS, EXPECTED, P1, P2, P3

PLAYS = {  # play key -> seconds, percentiles watched, quartile events, reached end
    "native:A": (50.0, 51, 2, False),
    "native:B": (60.0, 61, 4, True),
    "native:C": (20.0, 22, 3, False),
    "native:D": (25.0, 26, 1, False),
}


def check_everything(session, registration_id):
    plays = {p.play_key: p for p in session.scalars(select(Play))}
    assert {k: (p.seconds_viewed, p.percentile_count, p.quartile_events, p.reached_end) for k, p in plays.items()} == PLAYS
    assert plays["native:C"].segments == [[0.0, 10.0], [80.0, 90.0]]
    scope = Scope(registration_id)
    highlights = metrics.highlights(session, scope)
    for name, value in EXPECTED.items():
        assert getattr(highlights, name) == pytest.approx(value), name
    assert highlights.anonymous_share == pytest.approx(0.25)

    people = {p.subject: p.id for p in session.scalars(select(Person))}
    rows = {r.person_id: r for r in metrics.per_person(session, scope)}
    p1 = rows[people[P1[4:]]]
    assert (p1.impressions, p1.plays) == (2, 2)
    assert p1.minutes_viewed == pytest.approx(110 / 60, abs=1e-4)
    assert p1.avg_completion_rate == pytest.approx(56.0)
    assert p1.total_completion_rate == pytest.approx(100.0)  # 0-50 and 40-100 cover all 101, capped
    p2 = rows[people[P2[4:]]]
    assert (p2.plays, p2.avg_completion_rate, p2.total_completion_rate) == (1, 22.0, 22.0)
    p3 = rows[people[P3[4:]]]
    assert (p3.impressions, p3.plays, p3.avg_completion_rate) == (1, 0, None)
    unknown = rows[None]
    assert (unknown.name, unknown.impressions, unknown.plays) == ("Unknown", 2, 1)

    points = {p.percentile: p for p in metrics.heatmap(session, scope)}
    assert (points[5].plays, points[5].viewers) == (3, 2)     # A, C, D; p1 and p2 (D is anonymous)
    assert (points[45].plays, points[45].viewers) == (2, 1)   # A, B: both p1
    assert (points[85].plays, points[85].viewers) == (2, 2)   # B, C
    assert (points[95].plays, points[95].viewers) == (1, 1)   # B
    assert (points[60].plays, points[60].viewers) == (1, 1)   # B
    heat = metrics.person_heat(session, scope, people[P1[4:]])
    assert heat[:40] == [1] * 40 and heat[40:51] == [2] * 11 and heat[51:] == [1] * 50

    # A time span: only the morning (plays A and B start before 12:00 UTC).
    morning = Scope(registration_id, start=datetime(2026, 10, 5, 0, tzinfo=timezone.utc),
                    end=datetime(2026, 10, 5, 12, tzinfo=timezone.utc))
    part = metrics.highlights(session, morning)
    assert (part.plays, part.impressions, part.unique_viewers) == (2, 2, 1)
    # Dimensions: only the first impression and play A carry the Windows Chrome user agent and a page URL.
    desktop = metrics.highlights(session, Scope(registration_id, devices=("desktop",)))
    assert (desktop.impressions, desktop.plays) == (1, 0)
    on_canvas = metrics.highlights(session, Scope(registration_id, domains=("canvas.umn.edu",)))
    assert on_canvas.impressions == 1
    in_us = metrics.highlights(session, Scope(registration_id, countries=("US",)))
    assert in_us.impressions == 1


def test_metrics_on_postgresql_over_http(client, db, registration):
    _token, secret = tokens.create(registration.id)
    response = client.post("/api/v1/events", json={"version": 1, "events": EVENTS},
                           headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200, response.text
    assert response.get_json() == {"accepted": 15, "duplicates": 0, "ignored": 0}
    check_everything(db.session, registration.id)
    rebuild(registration.id)
    check_everything(db.session, registration.id)


def test_metrics_on_sqlite_and_rebuild_agree(tmp_path):
    app = embedded_app(tmp_path / "m.sqlite3")
    with app.app_context():
        reg = make_registration()
        result = ingest(reg.id, EVENTS)
        assert result.accepted == 15
        check_everything(_db.session, reg.id)
        runner = app.test_cli_runner()
        assert "rebuilt 4 plays and 6 player loads" in runner.invoke(args=["analytics", "rebuild"]).output
        check_everything(_db.session, reg.id)
        assert _db.session.scalar(select(Registration.id)) == reg.id
