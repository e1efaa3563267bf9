"""A metric owns its unit: pages, PDFs, CSV headers and the report API read the value by it."""
from __future__ import annotations

import pytest

from lti_tool.analytics.definitions import METRICS, Unit
from lti_tool.render.formatting import UNIT_FORMATS, metric_format, metric_value


def test_every_unit_has_a_page_format():
    assert set(UNIT_FORMATS) == set(Unit)
    assert {m.unit for m in METRICS.values()} <= set(Unit)


@pytest.mark.parametrize(("name", "value", "text"), [
    ("plays", 1234, "1,234"),
    ("minutes_viewed", 12.54, "12.5 min"),
    ("room_avg_minutes_viewed", 3.0, "3 min"),
    ("avg_completion_rate", 44.25, "44.2%"),       # percent 0-100
    ("avg_drop_off", 0.625, "62.5%"),              # fraction 0-1
    ("live_engagement_rate", 1 / 3, "33.3%"),
    ("load_play_ratio", 1.5, "1.5"),               # a ratio may exceed 1: not a percentage
    ("engagement_ranking", 8.5, "8.5"),
    ("avg_completion_rate", None, "—"),
    ("live_engagement_level", "good", "good"),
])
def test_a_value_reads_by_its_metrics_unit(name, value, text):
    assert metric_value(value, name) == metric_format(name)(value) == text


def test_a_metric_the_page_does_not_define_is_an_error():
    with pytest.raises(KeyError):
        metric_format("no_such_metric")


def test_the_report_api_description_names_the_unit():
    assert METRICS["avg_drop_off"].as_json() == {
        "label": "Avg. drop-off", "definition": METRICS["avg_drop_off"].definition, "unit": "fraction"}
    assert METRICS["avg_completion_rate"].as_json()["unit"] == "percent"
