"""Routes of the built-in dev platform. Registered only when DEV_PLATFORM_ENABLED; loopback clients only."""
from __future__ import annotations

import hashlib
import ipaddress
import time

import jwt
from flask import Blueprint, abort, current_app, g, jsonify, render_template, request, send_file

from lti_tool.exports import mail
from lti_tool.roster import MEMBERSHIP_MEDIA_TYPE

from . import names_roles, platform

bp = Blueprint("devplatform", __name__, url_prefix="/dev")
HINT_AUDIENCE = "dev-platform-message-hint"


@bp.before_request
def loopback_only():
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        abort(404)
    if not address.is_loopback:
        abort(404)
    # The platform's own pages (authorize, the course frame) are framed like Canvas's are.
    reg = platform.dev_registration()
    g.frame_hosts = list(reg.allowed_frame_hosts) if reg else []


def _hint_key() -> bytes:
    # A key of its own for message hints, derived from SECRET_KEY (full length for HS256).
    return hashlib.sha256(b"dev-platform-message-hint:" + current_app.config["SECRET_KEY"].encode()).digest()


def _base_url() -> str:
    """Where the tool is, as `flask demo setup --base-url` registered it (the issuer is BASE/dev)."""
    reg = platform.dev_registration()
    if reg is not None:
        return reg.issuer.removesuffix("/dev")
    return (current_app.config.get("PUBLIC_BASE_URL") or request.host_url).rstrip("/")


def _registration():
    reg = platform.dev_registration()
    if reg is None:
        abort(503, description="run `flask demo setup` first")
    return reg


@bp.get("/")
def index():
    reg = platform.dev_registration()
    # "Open inside the course page" starts on the other loopback name, so the course page and the
    # tool it frames are different sites, as Canvas and the tool are.
    frame_start = f"{platform.course_page_origin(_base_url())}/dev/start"
    return render_template("devplatform/index.html", courses=platform.COURSES, people=platform.PEOPLE,
                           ready=reg is not None, frame_start=frame_start, outbox=mail.outbox_dir() is not None)


@bp.post("/start")
def start():
    """Begin a launch as a demo person: a third-party initiated login, as Canvas posts it."""
    reg = _registration()
    person = platform.find_person(request.form.get("person", ""))
    course = platform.find_course(request.form.get("course", ""))
    if person is None or course is None or person.roles_in(course.key) is None:
        abort(400)
    hint = jwt.encode({"person": person.key, "course": course.key, "aud": HINT_AUDIENCE, "exp": int(time.time()) + 300},
                      _hint_key(), algorithm="HS256")
    base = _base_url()
    fields = {
        "iss": reg.issuer, "login_hint": person.sub, "client_id": reg.client_id,
        "target_link_uri": f"{base}/lti/launch?placement=course_navigation", "lti_message_hint": hint,
        "lti_deployment_id": platform.DEPLOYMENT_ID, "deployment_id": platform.DEPLOYMENT_ID,
        "canvas_environment": "prod", "canvas_region": "not_configured", "lti_storage_target": "post_message_forwarding",
    }
    if request.form.get("display") == "frame":
        g.frame_src = [base]
        # As Canvas shows a course navigation tool: the tool inside an iframe of the course page.
        return render_template("devplatform/frame.html", action=f"{base}/lti/login", fields=fields,
                               person=person, course=course)
    return render_template("devplatform/autopost.html", action=f"{base}/lti/login", fields=fields,
                           title=f"Signing in to the tool as {person.name}")


@bp.get("/authorize")
def authorize():
    """The platform's OIDC authorization endpoint: checks the request and posts a signed id_token back."""
    reg = _registration()
    args = request.args
    expected = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none",
                "client_id": reg.client_id, "redirect_uri": f"{_base_url()}/lti/launch"}
    wrong = [name for name, value in expected.items() if args.get(name) != value]
    if wrong or not args.get("nonce") or not args.get("state"):
        return render_template("devplatform/refused.html", reasons=wrong or ["nonce/state"]), 400
    try:
        hint = jwt.decode(args.get("lti_message_hint", ""), _hint_key(), algorithms=["HS256"],
                          audience=HINT_AUDIENCE)
    except jwt.InvalidTokenError:
        return render_template("devplatform/refused.html", reasons=["lti_message_hint"]), 400
    person, course = platform.find_person(hint["person"]), platform.find_course(hint["course"])
    if person is None or course is None or args.get("login_hint") != person.sub:
        return render_template("devplatform/refused.html", reasons=["login_hint"]), 400
    claims = platform.id_token_claims(reg, _base_url(), person, course, args["nonce"])
    fields = {"id_token": platform.sign(claims), "state": args["state"],
              "lti_storage_target": "post_message_forwarding"}
    return render_template("devplatform/autopost.html", action=expected["redirect_uri"], fields=fields,
                           title=f"Opening Media Analytics in {course.label}")


@bp.post("/login/oauth2/token")
def token():
    """The platform's OAuth 2 token endpoint: a bearer token for its services (Names and Role)."""
    reg = _registration()
    try:
        return jsonify(names_roles.issue_token(reg, request.form.to_dict()))
    except names_roles.ServiceRefused as refused:
        return jsonify(error=refused.error, error_description=refused.description), refused.status


@bp.get("/api/lti/courses/<canvas_id>/names_and_roles")
def names_and_roles(canvas_id: str):
    """A course's memberships (NRPS 2.0) for a bearer of the Names and Role scope."""
    _registration()
    course = next((c for c in platform.COURSES if c.canvas_id == canvas_id), None)
    if course is None:
        abort(404)
    try:
        names_roles.check_bearer(request.headers.get("Authorization", ""))
    except names_roles.ServiceRefused as refused:
        return jsonify(errors=[{"message": refused.description}]), refused.status
    response = jsonify(names_roles.container(_base_url(), course))
    response.mimetype = MEMBERSHIP_MEDIA_TYPE
    return response


@bp.get("/jwks")
def jwks():
    reg = _registration()
    return jsonify(reg.key_set)


@bp.get("/mail")
def outbox():
    """The demo's outbox: every email the tool sent (the demo has no mail server), newest first."""
    return render_template("devplatform/mail.html", messages=mail.outbox_messages(),
                           configured=mail.outbox_dir() is not None)


@bp.get("/mail/<name>")
def outbox_message(name: str):
    message = mail.outbox_message(name)
    if message is None:
        abort(404)
    return render_template("devplatform/mail_message.html", message=message)


@bp.get("/mail/<name>/raw")
def outbox_raw(name: str):
    """The message as sent (.eml), for a mail program."""
    path = mail.outbox_path(name)
    if path is None:
        abort(404)
    return send_file(path, mimetype="message/rfc822", as_attachment=True, download_name=name)
