"""Presentation without a request: SVG charts (`charts`), how numbers, dates and places read
(`formatting`) and local times. Pages, CSV files and PDFs all draw with it, so nothing outside the
views imports `lti_tool.views`."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def localtime(value: datetime, tz: str) -> str:
    """A UTC datetime in the viewer's zone, e.g. "Nov 21, 2026 14:05"."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return value.astimezone(zone).strftime("%b %d, %Y %H:%M")


def minute_labels(moments: list[datetime], tz: str, dated: bool) -> list[str]:
    """A per-minute chart's axis labels: "10:05", or "Oct 05 10:05" when `dated` (the charts of a date
    range, one per session, say the day on their axis)."""
    return [f"{localtime(m, tz)[:6]} {localtime(m, tz)[-5:]}" if dated else localtime(m, tz)[-5:] for m in moments]


def session_title(name: str | None, started_at: datetime, tz: str) -> str:
    """A session's chart title: its name and local start, e.g. "Week 1 · Oct 05, 2026 10:00"."""
    start = localtime(started_at, tz)
    return f"{name} · {start}" if name else start
