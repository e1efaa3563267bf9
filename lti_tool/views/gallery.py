"""The course's Media Gallery analytics (owner, co-editor, admin): what staff land on from Canvas."""
from __future__ import annotations

from flask import Blueprint, g

from lti_tool.analytics.dashboard import GALLERY_BLOCKS
from lti_tool.analytics.context import Subject
from lti_tool.launch.session import require

from .dashboards import dashboard_context, filter_error_page, render_dashboard

bp = Blueprint("gallery", __name__, url_prefix="/courses/<int:course_id>/gallery")


@bp.get("/")
@require("gallery")
def page(course_id: int):
    ctx = dashboard_context(Subject.of_course(g.course))
    if ctx is None:
        return filter_error_page()
    return render_dashboard("gallery/page.html", GALLERY_BLOCKS, ctx, title="Media Gallery analytics")
