"""The LTI protocol surface: OIDC login, launch, JWKS and the Canvas configuration JSON.

It speaks the protocol only and ends every successful launch in a redirect to a dashboard.
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for
from pylti1p3.contrib.flask import FlaskRequest
from sqlalchemy import select

from lti_tool.extensions import db
from lti_tool.models.types import utcnow
from lti_tool.models import Registration

from . import keys
from .canvas_config import developer_key_json
from .errors import LaunchError
from .protocol import LTI, ToolMessageLaunch, ToolOIDCLogin
from .records import record_launch
from .session import create_session, issue_handoff
from .tool_conf import DbToolConf

log = logging.getLogger(__name__)
bp = Blueprint("launch", __name__, url_prefix="/lti")

CANVAS_ERRORS = {
    "login_required": (
        "Canvas could not confirm that you are signed in",
        "This happens when the browser keeps Canvas's sign-in away from the tool's frame (Safari and "
        "private windows often do). Open the tool in a new tab, or sign in to Canvas again and reload.",
    ),
    "launch_no_longer_valid": (
        "This launch link has expired",
        "Reload the Canvas page and open the tool again from course navigation.",
    ),
    "unauthorized_client": (
        "Canvas refused this tool",
        "The tool's developer key may be off or its redirect URI may not match. Ask your Canvas administrator.",
    ),
}


def base_url() -> str:
    return (current_app.config.get("PUBLIC_BASE_URL") or request.host_url).rstrip("/")


def launch_url() -> str:
    # Fixed: the one redirect URI registered on the developer key.
    return base_url() + "/lti/launch"


@bp.before_request
def _frame_hosts():
    # Launch pages are shown inside Canvas: allow every registered platform host to frame them.
    hosts: set[str] = set()
    for allowed in db.session.scalars(select(Registration.allowed_frame_hosts)):
        hosts.update(allowed or [])
    g.frame_hosts = sorted(hosts)


def error_page(error: LaunchError):
    log.warning("launch refused: %s: %s", error.code, error.detail)
    return render_template("launch/error.html", error=error), error.status


@bp.route("/login", methods=["GET", "POST"])
def login():
    target = request.values.get("target_link_uri")
    if target and urlsplit(target).netloc not in ("", urlsplit(base_url()).netloc):
        return error_page(LaunchError(
            "foreign_target_link_uri", f"The login asks to continue at {target}, which is not this tool.",
            hint="Check the target link URI on the developer key.", status=400))
    login_flow = ToolOIDCLogin(FlaskRequest(), DbToolConf())
    try:
        authorize_url = login_flow.authorize_url(launch_url())
    except LaunchError as error:
        return error_page(error)
    in_frame = request.headers.get("Sec-Fetch-Dest") == "iframe"
    if in_frame and not request.values.get("new_window"):
        # Check in the browser that the frame may keep cookies before leaving for Canvas.
        params = {k: v for k, v in request.values.items() if k != "new_window"}
        response = current_app.make_response(
            render_template("launch/cookie_check.html", authorize_url=authorize_url, params=params)
        )
    else:
        response = redirect(authorize_url, 302)
    login_flow.apply_cookies(response)
    return response


@bp.post("/launch")
def launch():
    if request.form.get("error"):
        return canvas_error(request.form.get("error", ""), request.form.get("error_description", ""))
    tool_conf = DbToolConf()
    message = ToolMessageLaunch(FlaskRequest(), tool_conf)
    try:
        claims = message.get_launch_data()
        registration = tool_conf.last_registration
        decision = current_app.extensions["role_policy"].decide(claims.get(LTI + "roles", []))
        if decision.level == "none":
            raise LaunchError(
                "role_without_access", "Your role in this course does not give access to media analytics.",
                title="Media analytics is not available for your role",
                hint="Teachers, TAs, designers, students and observers of the course can open it.", status=403)
        course, person = record_launch(registration, claims, decision)
        timezone = course.timezone or person.timezone or registration.default_timezone
        tool_session = create_session(registration, course, person, claims, decision, timezone,
                                      message.get_launch_id())
        db.session.commit()
    except LaunchError as error:
        db.session.rollback()
        return error_page(error)
    code = issue_handoff(tool_session)
    _refresh_roster(course)
    endpoint = "my.viewing" if decision.level == "viewer" else "gallery.page"
    log.info("launch ok: registration=%s course=%s level=%s", registration.id, course.id, decision.level)
    response = redirect(url_for(endpoint, course_id=course.id, handoff=code), 303)
    message.apply_cookies(response)
    return response


def _refresh_roster(course) -> None:
    """A roster older than an hour is fetched again in the background (NRPS); a launch never waits for it
    and never fails because of it."""
    from lti_tool.jobs import Unavailable
    from lti_tool.roster import request_sync, roster_is_stale

    try:
        if current_app.config.get("ROSTER_SYNC_ON_LAUNCH", True) and roster_is_stale(course, utcnow()):
            request_sync(course.id)
    except Unavailable as exc:  # Redis is down: the next launch asks again
        log.warning("roster sync for course %s not queued: %s", course.id, exc.detail)
    except Exception:  # the launch itself succeeded; the settings page shows roster trouble
        log.exception("could not request a roster sync for course %s", course.id)


def canvas_error(code: str, description: str):
    title, hint = CANVAS_ERRORS.get(code[:64], ("Canvas could not start the tool", "Open the tool again from Canvas."))
    error = LaunchError(f"canvas_{code[:64]}", description[:500] or title, title=title, hint=hint, status=400)
    return error_page(error)


@bp.get("/jwks")
def jwks():
    response = jsonify(keys.published_jwks())
    response.cache_control.max_age = 300
    response.cache_control.public = True
    return response


@bp.get("/config.json")
def config_json():
    cfg = current_app.config
    return jsonify(developer_key_json(base_url(), cfg["TOOL_TITLE"], cfg["TOOL_ID"]))
