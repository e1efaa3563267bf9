"""CSV headers: a share, kept as a percent or as a fraction, is written 0-100 and its descriptive header says (%)."""
from __future__ import annotations

import pytest

from lti_tool.exports.csv_export import metric, plain


@pytest.mark.parametrize(("column", "descriptive", "raw"), [
    (metric("avg_completion_rate"), "Avg. completion rate (%)", "avg_completion_rate"),
    (metric("avg_drop_off"), "Avg. drop-off (%)", "avg_drop_off"),
    (metric("downloads_rate", "attachments_rate"), "Attachments downloaded (%)", "downloads_rate"),
    (metric("minutes_viewed"), "Minutes viewed", "minutes_viewed"),
    (metric("load_play_ratio"), "Load-to-play ratio", "load_play_ratio"),
    (metric("engagement", "engagement_ranking"), "Engagement", "engagement"),
    (plain("last_seen_at", "Last seen"), "Last seen", "last_seen_at"),
])
def test_headers_come_from_the_metric(column, descriptive, raw):
    assert column.header(descriptive=True) == descriptive
    assert column.header(descriptive=False) == raw
