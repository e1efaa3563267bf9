"""The embed audit: every page URL x entry on the domains whose embeds need action in a player
upgrade, grouped by domain with what to do. Period: the last 12 months by default.

Two subjects: the course's gallery media (owner, co-editor, admin) and, as the seed's procedure does
it from My Analytics, the media a person owns or co-edits across courses."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, g

from lti_tool.analytics.dashboard import AUDIT_BLOCKS, AUDIT_DEFAULTS
from lti_tool.analytics.context import Subject
from lti_tool.analytics.scopes import owns_any
from lti_tool.extensions import db
from lti_tool.launch.session import require

from .dashboards import dashboard_context, filter_error_page, render_dashboard

bp = Blueprint("embeds", __name__, url_prefix="/courses/<int:course_id>/embeds")


@bp.get("/audit")
@require("domains")
def audit(course_id: int):
    """This course's gallery media."""
    return _audit_page(Subject.of_course(g.course), title="Embed audit", mine=False)


@bp.get("/mine")
@require("my")
def mine(course_id: int):
    """The viewer's own media (owned or co-edited), wherever it is used."""
    session = g.viewer.session
    if not owns_any(db.session, session.registration_id, session.person_id):
        abort(403, description="You don't own or co-edit any media, so there are no embeds of yours to audit.")
    return _audit_page(Subject.of_owner(session.registration_id, session.person_id),
                       title="Embed audit of my media", mine=True)


def _audit_page(subject: Subject, title: str, mine: bool):
    ctx = dashboard_context(subject, defaults=AUDIT_DEFAULTS)
    if ctx is None:
        return filter_error_page()
    return render_dashboard("embeds/audit.html", AUDIT_BLOCKS, ctx, title=title, mine=mine,
                            rules_error=str(current_app.extensions["embed_rules"].error or ""))
