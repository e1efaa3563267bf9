"""The embed audit (owner, co-editor, admin): every page URL x entry on the domains whose embeds need
action in a player upgrade, grouped by domain with what to do. Period: the last 12 months by default."""
from __future__ import annotations

from flask import Blueprint, current_app, g

from lti_tool.analytics import filters as filter_rules
from lti_tool.analytics.dashboard import AUDIT_BLOCKS
from lti_tool.analytics.scopes import course_scope
from lti_tool.embed_rules import CATEGORIES
from lti_tool.extensions import db
from lti_tool.launch.session import require

from .dashboards import dashboard_context, filter_error_page, render_dashboard

bp = Blueprint("embeds", __name__, url_prefix="/courses/<int:course_id>/embeds")

AUDIT_DEFAULTS = {"range": "last12m"}


@bp.get("/audit")
@require("domains")
def audit(course_id: int):
    course = g.course
    ctx = dashboard_context(lambda filters, period, compare: course_scope(db.session, course, filters, period, compare),
                            since=course.created_at.date(), course_id=course.id, defaults=AUDIT_DEFAULTS)
    if ctx is None:
        return filter_error_page()
    return render_dashboard("embeds/audit.html", AUDIT_BLOCKS, ctx, title="Embed audit",
                            media_types=filter_rules.MEDIA_TYPES, devices=filter_rules.DEVICES,
                            categories=CATEGORIES, rules_error=str(current_app.extensions["embed_rules"].error or ""))
