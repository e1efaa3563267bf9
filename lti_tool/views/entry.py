"""Single media analytics: for the entry's owner and co-editors, and staff of a course whose gallery holds it."""
from __future__ import annotations

from flask import Blueprint, abort, g, url_for

from lti_tool.analytics.dashboard import ENTRY_BLOCKS
from lti_tool.analytics.context import Subject
from lti_tool.analytics.scopes import in_course_gallery, owns_or_coedits
from lti_tool.extensions import db
from lti_tool.launch.session import require
from lti_tool.models import MediaEntry, find_entry

from .dashboards import dashboard_context, filter_error_page, render_dashboard

bp = Blueprint("entry", __name__, url_prefix="/courses/<int:course_id>/entries/<path:external_id>")


def get_entry(external_id: str) -> tuple[MediaEntry, bool]:
    """The entry and whether the viewer owns or co-edits it (then every viewer of it is named); 404 or
    403 otherwise. Anyone else (course staff, admins) sees it as the course's dashboards show people."""
    viewer = g.viewer
    entry = find_entry(db.session, viewer.session.registration_id, external_id)
    if entry is None:
        abort(404)
    if owns_or_coedits(db.session, entry, viewer.session.person_id):
        return entry, True
    if viewer.level == "admin" or (viewer.can("entry") and in_course_gallery(db.session, entry, g.course)):
        return entry, False
    abort(403)


@bp.get("/")
@require("my")
def page(course_id: int, external_id: str):
    entry, every_viewer = get_entry(external_id)
    ctx = dashboard_context(Subject.of_entry(entry, g.course, every_viewer))
    if ctx is None:
        return filter_error_page()
    back = url_for("gallery.page", course_id=course_id) if g.viewer.can("gallery") else None
    return render_dashboard("entry/page.html", ENTRY_BLOCKS, ctx, entry=entry, back_url=back, person_links=True,
                            timeline_title="Video performance over time")
