"""Single media analytics: for the entry's owner and co-editors, and staff of a course whose gallery holds it."""
from __future__ import annotations

from flask import Blueprint, abort, g, url_for

from lti_tool.analytics.dashboard import ENTRY_BLOCKS
from lti_tool.analytics.context import entry_subject
from lti_tool.extensions import db
from lti_tool.launch.session import require

from .dashboards import dashboard_context, filter_error_page, render_dashboard

bp = Blueprint("entry", __name__, url_prefix="/courses/<int:course_id>/entries/<path:external_id>")


@bp.get("/")
@require("my")
def page(course_id: int, external_id: str):
    try:
        subject = entry_subject(db.session, g.course, external_id, g.viewer)
    except LookupError:
        abort(404)
    except PermissionError:
        abort(403)
    ctx = dashboard_context(subject)
    if ctx is None:
        return filter_error_page()
    back = url_for("gallery.page", course_id=course_id) if g.viewer.can("gallery") else None
    return render_dashboard("entry/page.html", ENTRY_BLOCKS, ctx, entry=subject.entry, back_url=back, person_links=True,
                            timeline_title="Video performance over time")
