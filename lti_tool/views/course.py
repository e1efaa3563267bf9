"""Course surface: the overview staff land on, and course settings (owner, admin)."""
from __future__ import annotations

from zoneinfo import available_timezones

from flask import Blueprint, current_app, g, render_template, request

from lti_tool import jobs
from lti_tool.analytics.people import course_people, level_counts
from lti_tool.courses import update_course_settings
from lti_tool.extensions import db
from lti_tool.launch.session import require
from lti_tool.roster import request_sync, roster_status
from lti_tool.views import wants_fragment

bp = Blueprint("course", __name__, url_prefix="/courses/<int:course_id>")


@bp.get("/")
@require("course.view")
def home(course_id: int):
    policy = current_app.extensions["role_policy"]
    people = course_people(db.session, course_id, lambda roles: policy.decide(roles).level)
    return render_template("course/home.html", people=people, counts=level_counts(people))


@bp.route("/settings", methods=["GET", "POST"])
@require("course.settings")
def settings(course_id: int):
    errors, saved = {}, False
    if request.method == "POST":
        errors = update_course_settings(g.course, request.form)
        saved = not errors
    template = "course/_settings_form.html" if wants_fragment("course-settings") else "course/settings.html"
    return render_template(template, errors=errors, saved=saved, zones=sorted(available_timezones()),
                           roster=roster_status(g.course)), (422 if errors else 200)


@bp.post("/settings/roster")
@require("course.settings")
def sync_roster_now(course_id: int):
    """Ask for a roster sync now (the job runs in the background; the page never waits for Canvas);
    503 with the reason when the job could not be queued."""
    unavailable = None
    try:
        started = request_sync(g.course.id) if g.course.nrps_url else False
    except jobs.Unavailable as exc:
        started, unavailable = None, str(exc)
    template = "course/_roster.html" if wants_fragment("roster") else "course/settings.html"
    return render_template(template, errors={}, saved=False, zones=sorted(available_timezones()),
                           roster=roster_status(g.course), roster_started=started,
                           roster_unavailable=unavailable), 503 if unavailable else 200
