"""Account admins: every course of their tenant, and the tool's settings for the registration."""
from __future__ import annotations

from flask import Blueprint, g, render_template, request

from lti_tool.analytics.people import tenant_courses
from lti_tool.courses import update_tool_settings
from lti_tool.extensions import db
from lti_tool.launch.session import require
from lti_tool.views import wants_fragment

bp = Blueprint("admin", __name__, url_prefix="/courses/<int:course_id>/admin")


@bp.get("/courses")
@require("tenant.courses")
def courses(course_id: int):
    search = request.args.get("q", "")[:100]
    rows = tenant_courses(db.session, g.viewer.session.registration_id, search)
    template = "admin/_course_table.html" if wants_fragment("course-table") else "admin/courses.html"
    return render_template(template, rows=rows, search=search)


@bp.route("/tool", methods=["GET", "POST"])
@require("tool.settings")
def tool(course_id: int):
    registration = g.viewer.session.registration
    errors, saved = {}, False
    if request.method == "POST":
        errors = update_tool_settings(registration, request.form)
        saved = not errors
    return render_template("admin/tool.html", registration=registration, errors=errors, saved=saved), (
        422 if errors else 200)
