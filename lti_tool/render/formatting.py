"""How numbers, dates and places read: on a page, in a chart, in a PDF and in a CSV alike.

Formatting comes from the chart module so a number reads the same on a page, in a chart and in a PDF;
a metric's value reads by its unit (`analytics.definitions.Unit`), never by the metric's name.
Pure functions; `lti_tool.views.templating` registers them as template filters.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date

from lti_tool.analytics.definitions import METRICS, Unit

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


def listed(words, last: str = "and") -> str:
    """("TA", "Teacher", "Designer") -> "TA, Teacher and Designer"; `last` joins the last two."""
    words = [str(w) for w in words]
    if len(words) < 2:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


def long_date(value: date) -> str:
    return f"{value:%b} {value.day}, {value.year}"


def country_name(code: str | None) -> str:
    return COUNTRY_NAMES.get(code or "", code or "Unknown")


def level(value: str | None) -> str:
    """A named level as it is stored ("high", "good", ...); "—" for none."""
    return value or charts.NO_VALUE


UNIT_FORMATS: dict[Unit, Callable[..., str]] = {
    Unit.COUNT: charts.fmt_number, Unit.MINUTES: charts.fmt_minutes, Unit.PERCENT: charts.fmt_percent,
    Unit.FRACTION: fraction_percent, Unit.RATIO: charts.fmt_number, Unit.SCORE: charts.fmt_number,
    Unit.LEVEL: level,
}


def metric_format(name: str) -> Callable[..., str]:
    """How a value of the metric `name` reads, by its unit: minutes "12.5 min", percent (0-100) and
    fraction (0-1) alike "62.5%", counts, ratios and scores "1,234"."""
    return UNIT_FORMATS[METRICS[name].unit]


def metric_value(value, name: str) -> str:
    """A value of the metric `name` as it reads (the template filter `metric_value`)."""
    return metric_format(name)(value)


def series_of(points, metric: str, name: str, role: str = "primary") -> charts.Series:
    """One chart series: the `metric` attribute of each point, in order (None where a point has none)."""
    return charts.Series(name, tuple(getattr(p, metric) for p in points), role)
