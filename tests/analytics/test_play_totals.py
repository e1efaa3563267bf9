"""The one play aggregate: grouped totals add up to the ungrouped one (so no group with plays or
loads only is lost), and the ungrouped total is the highlights."""
from __future__ import annotations

import pytest

from lti_tool.analytics.metrics import NO_PLAYS, Scope, by_column, highlights, play_totals

from .test_reports import load

ADDITIVE = ("impressions", "plays", "anonymous_plays", "seconds_viewed", "capped_percentiles", "quartile_events",
            "completed_plays")


@pytest.mark.parametrize("column", ["entry_id", "person_id", "country", "device_type", "domain"])
def test_groups_add_up_to_the_total(db, registration, column):
    load(db, registration)
    scope = Scope(registration.id)
    (total,) = play_totals(db.session, scope).values()
    groups = play_totals(db.session, scope, by_column(column)).values()
    for name in ADDITIVE:
        assert sum(getattr(g, name) for g in groups) == pytest.approx(getattr(total, name)), name
    assert max(g.last_seen_at for g in groups) == total.last_seen_at


def test_the_total_is_the_highlights(db, registration):
    load(db, registration)
    scope = Scope(registration.id)
    total = play_totals(db.session, scope)[None]
    h = highlights(db.session, scope)
    assert (h.plays, h.impressions, h.unique_viewers, h.minutes_viewed, h.avg_completion_rate) == (
        total.plays, total.impressions, total.unique_viewers, total.minutes_viewed, total.avg_completion_rate)


def test_an_empty_scope_has_one_total_with_nothing(db, registration):
    assert play_totals(db.session, Scope(registration.id, entry_ids=())) == {None: NO_PLAYS}
    assert play_totals(db.session, Scope(registration.id, entry_ids=()), by_column("entry_id")) == {}
