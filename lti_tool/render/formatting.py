"""How numbers, dates and places read: on a page, in a chart, in a PDF and in a CSV alike.

Formatting comes from the chart module so a number reads the same on a page, in a chart and in a PDF.
Pure functions; `lti_tool.views.templating` registers them as template filters.
"""
from __future__ import annotations

from datetime import date

from . import charts

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
    """One chart series: the `metric` attribute of each point, in order (None where a point has none)."""
    return charts.Series(name, tuple(getattr(p, metric) for p in points), role)
