"""A person's own pages: "My viewing" (what they watched) and "My Analytics" (media they own or co-edit)."""
from __future__ import annotations

from flask import Blueprint, current_app, g

from lti_tool.analytics.dashboard import MY_BLOCKS, VIEWING_BLOCKS
from lti_tool.analytics.context import Subject
from lti_tool.launch.session import require

from .dashboards import dashboard_context, filter_error_page, render_dashboard

bp = Blueprint("my", __name__, url_prefix="/courses/<int:course_id>")


@bp.get("/my/")
@require("my")
def viewing(course_id: int):
    """Only the viewer's own plays of this course's gallery media."""
    ctx = dashboard_context(Subject.of_viewer(g.course, g.viewer.session.person_id))
    if ctx is None:
        return filter_error_page()
    # Who else sees a person's viewing: every role whose level may open people's viewing detail.
    seen_by = current_app.extensions["role_policy"].labels_that_can("user_detail")
    return render_dashboard("my/viewing.html", VIEWING_BLOCKS, ctx, person=g.viewer.session.person, title="My viewing",
                            seen_by=seen_by)


@bp.get("/my-analytics/")
@require("my")
def analytics(course_id: int):
    """Every entry the viewer owns or co-edits, across courses."""
    session = g.viewer.session
    ctx = dashboard_context(Subject.of_owner(session.registration_id, session.person_id))
    if ctx is None:
        return filter_error_page()
    return render_dashboard("my/analytics.html", MY_BLOCKS, ctx, title="My Analytics", person_links=False)
