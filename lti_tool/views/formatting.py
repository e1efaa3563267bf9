"""Template filters and globals of the dashboards: numbers, metric names, charts, URLs.

Formatting comes from the chart module so a number reads the same on a page, in a chart and in a PDF.
"""
from __future__ import annotations

from datetime import date

from flask import Flask, url_for

from lti_tool.analytics.dashboard import TIMELINE_METRICS
from lti_tool.analytics.definitions import METRICS

from . import charts
from .dashboards import url_with

COUNTRY_NAMES = {
    "US": "United States", "CA": "Canada", "MX": "Mexico", "GB": "United Kingdom", "DE": "Germany", "FR": "France",
    "NL": "Netherlands", "IN": "India", "CN": "China", "JP": "Japan", "KR": "South Korea", "BR": "Brazil",
    "AU": "Australia", "ZA": "South Africa", "NG": "Nigeria", "ES": "Spain", "IT": "Italy", "SE": "Sweden",
    "NO": "Norway", "IE": "Ireland", "SG": "Singapore", "VN": "Vietnam", "PH": "Philippines", "KE": "Kenya",
}


def fraction_percent(value: float | None) -> str:
    """A fraction 0-1 as a percentage: 0.625 -> "62.5%"."""
    return charts.fmt_percent(None if value is None else value * 100)


def delta(value: float | None) -> str:
    """A relative change: 0.25 -> "+25%", -0.1 -> "−10%"."""
    if value is None:
        return ""
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    return f"{sign}{charts.fmt_percent(abs(value) * 100)}"


def counted(value: int | None, singular: str, plural: str | None = None) -> str:
    """1 -> "1 reaction", 3 -> "3 reactions"."""
    n = value or 0
    return f"{charts.fmt_number(n)} {singular if n == 1 else (plural or singular + 's')}"


def long_date(value: date) -> str:
    return f"{value:%b} {value.day}, {value.year}"


def country_name(code: str | None) -> str:
    return COUNTRY_NAMES.get(code or "", code or "Unknown")


def metric_format(name: str):
    return {"minutes_viewed": charts.fmt_minutes, "avg_completion_rate": charts.fmt_percent,
            "avg_drop_off": lambda v: fraction_percent(v)}.get(name, charts.fmt_number)


def series_of(points, metric: str, name: str, role: str = "primary") -> charts.Series:
    values = tuple(getattr(p, metric) for p in points)
    if metric == "avg_drop_off":
        values = tuple(None if v is None else v for v in values)
    return charts.Series(name, values, role)


def register(app: Flask) -> None:
    app.add_template_filter(charts.fmt_number, "num")
    app.add_template_filter(charts.fmt_percent, "pct")
    app.add_template_filter(charts.fmt_minutes, "mins")
    app.add_template_filter(fraction_percent, "frac")
    app.add_template_filter(delta, "delta")
    app.add_template_filter(long_date, "longdate")
    app.add_template_filter(counted)
    app.add_template_filter(country_name, "country_name")
    app.add_template_filter(lambda steps: [(s.label, s.count) for s in steps], "steps")
    app.add_template_filter(lambda rows: [((r.value or "other").capitalize(), r.plays) for r in rows], "device_parts")
    app.add_template_global(url_with)
    app.add_template_global(lambda name: METRICS[name].label, "metric_label")
    app.add_template_global(lambda name: METRICS[name].definition, "metric_definition")
    app.add_template_global(metric_format)
    app.add_template_global(series_of)
    app.add_template_global(TIMELINE_METRICS, "timeline_metrics")
    for name in ("line_chart", "bar_chart", "funnel_chart", "share_bar", "timeline_heatmap", "engagement_strip"):
        app.add_template_global(getattr(charts, name), name)
