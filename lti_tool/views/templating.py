"""The dashboards' template filters and globals: the render package's formatting and charts, and URLs."""
from __future__ import annotations

from flask import Flask

from lti_tool.analytics.dashboard import TIMELINE_METRICS
from lti_tool.analytics.filters import DEVICES, EARLIEST, LATEST, MEDIA_TYPES
from lti_tool.analytics.definitions import METRICS
from lti_tool.render import charts
from lti_tool.render.formatting import (counted, country_name, delta, fraction_percent, listed, long_date,
                                        metric_format, metric_value, series_of)

from .dashboards import url_with


def register(app: Flask) -> None:
    app.add_template_filter(charts.fmt_number, "num")
    app.add_template_filter(charts.fmt_minutes, "mins")
    app.add_template_filter(fraction_percent, "frac")
    app.add_template_filter(delta, "delta")
    app.add_template_filter(metric_value)   # {{ value|metric_value("name") }}: formatted by the metric's unit
    app.add_template_filter(long_date, "longdate")
    app.add_template_filter(counted)
    app.add_template_filter(listed)
    app.add_template_filter(country_name, "country_name")
    app.add_template_filter(lambda steps: [(s.label, s.count) for s in steps], "steps")
    app.add_template_filter(lambda rows: [((r.value or "other").capitalize(), r.plays) for r in rows], "device_parts")
    app.add_template_global(url_with)
    app.add_template_global(EARLIEST.isoformat(), "earliest_day")   # the days a custom range may cover
    app.add_template_global(LATEST.isoformat(), "latest_day")
    # The filter bar's macro is imported without the page's context, so its fixed choices are globals.
    app.add_template_global(MEDIA_TYPES, "media_types")
    app.add_template_global(DEVICES, "device_types")
    app.add_template_global(lambda name: METRICS[name].label, "metric_label")
    app.add_template_global(lambda name: METRICS[name].definition, "metric_definition")
    app.add_template_global(metric_format)
    app.add_template_global(series_of)
    app.add_template_global(TIMELINE_METRICS, "timeline_metrics")
    for name in ("line_chart", "bar_chart", "funnel_chart", "share_bar", "timeline_heatmap", "engagement_strip"):
        app.add_template_global(getattr(charts, name), name)
