"""The course's Media Gallery analytics (owner, co-editor, admin): what staff land on from Canvas."""
from __future__ import annotations

from flask import Blueprint, g, render_template

from lti_tool.analytics.dashboard import GALLERY_BLOCKS
from lti_tool.analytics.scopes import course_scope
from lti_tool.extensions import db
from lti_tool.launch.session import require

from .dashboards import dashboard_context, filter_error_page, render_dashboard

bp = Blueprint("gallery", __name__, url_prefix="/courses/<int:course_id>/gallery")


@bp.get("/")
@require("gallery")
def page(course_id: int):
    course = g.course
    request_ctx = dashboard_context(lambda filters, period, compare: course_scope(db.session, course, filters, period, compare),
                                    since=course.created_at, course_id=course.id)
    if request_ctx is None:
        return filter_error_page()
    return render_dashboard("gallery/page.html", GALLERY_BLOCKS, request_ctx, title="Media Gallery analytics")
