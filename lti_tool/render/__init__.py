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
