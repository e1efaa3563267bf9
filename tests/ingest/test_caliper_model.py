"""lti_tool.ingest.caliper_model.check_item beyond the conformance fixtures (test_feed_fixtures.py):
deep nesting, vocabularies a sender adds, durations, numbers."""
from __future__ import annotations

import pytest

from lti_tool.ingest.caliper_model import MAX_DEPTH, check_item
from lti_tool.ingest.schema import InvalidEvent

V1P2 = "http://purl.imsglobal.org/ctx/caliper/v1p2"


def attempt(**fields) -> dict:
    return {"@context": V1P2, "id": "https://example.edu/attempts/1", "type": "Attempt", **fields}


def refusal(item: dict) -> str:
    with pytest.raises(InvalidEvent) as refused:
        check_item(item)
    return str(refused.value)


def test_entities_nested_too_deep_are_refused_with_a_reason():
    item = attempt()
    holder = item
    for depth in range(MAX_DEPTH + 5):
        holder["isPartOf"] = {"id": f"https://example.edu/attempts/{depth}", "type": "Attempt"}
        holder = holder["isPartOf"]
    assert f"nested deeper than {MAX_DEPTH} levels" in refusal(item)
    shallow = attempt(isPartOf={"id": "https://example.edu/attempts/0", "type": "Attempt"})
    check_item(shallow)


def test_a_type_of_the_senders_own_vocabulary_needs_its_context():
    thesis = {"id": "https://example.edu/theses/1", "type": "Thesis", "name": "A Dissertation"}
    assert "'Thesis' is not a Caliper entity type" in refusal({"@context": V1P2, **thesis})
    check_item({"@context": ["https://example.edu/ctx/v1", V1P2], **thesis})
    check_item({"@context": {"Thesis": "https://example.edu/vocab/Thesis"}, **thesis})
    # Read as a plain entity: what Caliper says of every entity still holds.
    assert "name 1 is not a string" in refusal({"@context": ["https://example.edu/ctx/v1", V1P2], **thesis, "name": 1})
    assert "must include a Caliper context" in refusal({"@context": ["https://example.edu/ctx/v1"], **thesis})
    assert "is not a Caliper context" in refusal({"@context": "https://example.edu/ctx/v1", **thesis})


@pytest.mark.parametrize("duration", ["PT05M21S", "PT1.5S", "P1Y2M3DT4H5M6.5S", "P2W", "P0D", "PT0S"])
def test_iso_8601_durations_are_accepted(duration):
    check_item(attempt(duration=duration))


@pytest.mark.parametrize("duration", ["P", "PT", "PT5X", "5M", "P1H", "2016-11-15T10:55:30.000Z", "PT-5S", 30])
def test_what_is_not_a_duration_is_refused(duration):
    assert "duration" in refusal(attempt(duration=duration))


@pytest.mark.parametrize("value, ok", [(15.0, True), (0.5, True), (15, False), (True, False), ("15.0", False),
                                       (float("nan"), False), (float("inf"), False)])
def test_a_decimal_is_a_number_written_with_its_fraction(value, ok):
    score = {"@context": V1P2, "id": "https://example.edu/scores/1", "type": "Score", "maxScore": value}
    if ok:
        check_item(score)
    else:
        assert "maxScore" in refusal(score)


@pytest.mark.parametrize("value, ok", [(2, True), (0, True), (2.0, False), (True, False), ("2", False)])
def test_an_integer_is_an_integer(value, ok):
    item = attempt(count=value)
    if ok:
        check_item(item)
    else:
        assert "count" in refusal(item)


def test_date_times_need_their_time_and_offset():
    check_item(attempt(startedAtTime="2016-11-15T10:05:00.000Z", endedAtTime="2016-11-15T05:55:30-05:00"))
    for value in ("2016-11-15", "2016-11-15T10:05:00", 1479204300, "yesterday"):
        assert "startedAtTime" in refusal(attempt(startedAtTime=value))
