"""Changes to course and registration settings, validated; views only call these."""
from __future__ import annotations

from lti_tool.analytics.context import check_timezone
from lti_tool.analytics.filters import FilterError
from lti_tool.extensions import db
from lti_tool.models import Course, Registration


def _timezone(value: str | None, errors: dict, field: str) -> str | None:
    value = (value or "").strip()
    if value:
        try:
            check_timezone(value)
        except FilterError:
            errors[field] = f"{value[:64]!r} is not a time zone name such as America/Chicago."
    return value or None


def update_course_settings(course: Course, form) -> dict:
    """Apply the course settings form; return field errors (nothing is changed when there are any)."""
    errors: dict[str, str] = {}
    timezone = _timezone(form.get("timezone"), errors, "timezone")
    if errors:
        return errors
    course.timezone = timezone
    db.session.commit()
    return {}


def update_tool_settings(registration: Registration, form) -> dict:
    errors: dict[str, str] = {}
    timezone = _timezone(form.get("default_timezone"), errors, "default_timezone")
    policy = form.get("unknown_deployment", registration.unknown_deployment)
    if policy not in ("reject", "accept"):
        errors["unknown_deployment"] = "Choose reject or accept."
    if errors:
        return errors
    registration.default_timezone = timezone or "UTC"
    registration.unknown_deployment = policy
    db.session.commit()
    return {}
