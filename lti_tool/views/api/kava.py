"""Kava player beacons (GET|POST /api/v1/kava) and the player tokens they carry (POST /api/v1/player-tokens).

A beacon is answered as Kaltura's analytics service answers it, 200 {"time": Unix seconds,
"viewEventsEnabled": true}, whether it was stored, a duplicate or an event type we ignore; only
bad input is refused (4xx, nothing stored). Players post from the course's pages, another origin,
so beacon responses allow any origin (no credentials are involved: the viewer is in the `ks`).

This route is the Kava format's own (ingest/formats.py): a player sends beacons without a bearer
token, across origins, one by one and maybe through the beacon queue, unlike the batch routes the
registry sets up. Storing one runs the format's step after accept like every other path.

The same beacon is answered wherever a player configuration can point: `plugins.kava.serviceUrl` names
the whole URL (`/api/v1/kava`), while the player's `provider.env.analyticsServiceUrl` names a host
(or a path) to which the player appends `/api_v3/index.php`, as it does for Kaltura's own analytics:
so `/api_v3/index.php` and `/api/v1/kava/api_v3/index.php` are served too. Every answer on these
paths carries the CORS headers, errors included (also those Flask raises: 405, 413, 500), or the
browser would show the player nothing but a network error.
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException
from sqlalchemy.exc import SQLAlchemyError

from lti_tool.extensions import db
from lti_tool.ingest import beacon_queue, player_tokens
from lti_tool.ingest.kava import (
    PARAMS_READ, SOURCE, UnknownRegistration, beacon_to_event, check_registration, parse_beacon, partner_registration,
)
from lti_tool.ingest.pipeline import accept
from lti_tool.ingest.schema import InvalidEvent, load_json, text as checked_text
from lti_tool.launch.session import current_viewer
from lti_tool.models.types import utcnow
from lti_tool.outages import database_unavailable

from . import api_error, bp, json_body, problem, token_required

# A beacon is a few hundred bytes; nothing a player sends comes near these.
MAX_BEACON_BYTES = 64 * 1024
MAX_BEACON_PARAMS = 300
MAX_USER_AGENT = 1000
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}


def _scalar_text(value) -> str | None:
    """A JSON body value as the query-string text a GET beacon would carry; None for objects and lists."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def beacon_params():
    """(params, None) from the query string merged with a form or JSON body, or (None, response).

    The Kaltura player puts service, action, eventType, partnerId, entryId and sessionId in the URL
    and the rest in a JSON body; when both carry a parameter, the URL wins.
    """
    if (request.content_length or 0) > MAX_BEACON_BYTES:
        return None, problem(413, f"a beacon is larger than {MAX_BEACON_BYTES} bytes")
    request.max_content_length = MAX_BEACON_BYTES
    params = request.args.to_dict()
    body: dict[str, str] = {}
    if request.method == "POST":
        if request.is_json:
            try:
                raw = load_json(request.get_data(cache=True))
            except InvalidEvent as exc:
                return None, problem(400, f"the body cannot be read: {exc}")
            if not isinstance(raw, dict):
                return None, problem(400, "the body must be a JSON object")
            for name, value in raw.items():
                text = _scalar_text(value)
                if text is None and value is not None and name in PARAMS_READ:
                    return None, problem(400, f"{name} must be a string or a number")
                if text is not None:
                    body[name] = text
        elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            body = request.form.to_dict()
        elif request.get_data():
            return None, problem(415, "send the beacon as a query string, a form or a JSON object")
    for name, value in body.items():
        params.setdefault(name, value)
    if len(params) > MAX_BEACON_PARAMS:
        return None, problem(400, f"a beacon has at most {MAX_BEACON_PARAMS} parameters")
    return params, None


def beacon_viewer(params: dict[str, str]):
    """((registration id, user or None), None) for whom a beacon counts, or (None, response).

    With a `ks`, its registration and user (401 when it is not valid); without one, the
    registration whose players send this `partnerId`, for an anonymous viewer (404 when none, 403
    when it refuses anonymous beacons). A `userId` parameter is never trusted.
    """
    ks = params.get("ks")
    if ks:
        try:
            registration_id, user = player_tokens.verify(ks)
        except player_tokens.PlayerTokenError as exc:
            return None, problem(401, str(exc))
        if beacon_queue.enabled():
            # The token was signed for its registration; should that be deleted since, the drain parks
            # the beacon with that reason. Queueing needs no database, so it survives a database outage.
            return (registration_id, user), None
        try:
            check_registration(registration_id)
        except UnknownRegistration:
            return None, problem(401, "the player token's registration no longer exists")
        return (registration_id, user), None
    partner_id = params.get("partnerId")
    if not partner_id:
        return None, problem(400, "partnerId is required without a player token (ks)")
    try:
        checked_text(partner_id, "partnerId", limit=32)
    except InvalidEvent as exc:
        return None, problem(400, str(exc))
    found = partner_registration(partner_id)
    if found is None:
        return None, problem(404, "unknown partnerId")
    if not found.allow_anonymous_beacons:
        return None, problem(403, "this partnerId accepts beacons with a player token (ks) only")
    return (found.id, None), None


# The Kava form of Kaltura's API path, answered at the root (a host given as analyticsServiceUrl).
root_bp = Blueprint("kava_root", __name__)
KAVA_PATHS = frozenset({"/api/v1/kava", "/api/v1/kava/api_v3/index.php", "/api_v3/index.php"})


@bp.after_app_request
def _kava_cors(response):
    """CORS on every answer of a Kava path, whichever layer made it."""
    if request.path in KAVA_PATHS:
        response.headers.update(CORS_HEADERS)
    return response


@root_bp.errorhandler(HTTPException)
def _root_http_error(error: HTTPException):
    return api_error(error.code or 500, error.description or error.name)


@bp.route("/kava", methods=["GET", "POST", "OPTIONS"])
@bp.route("/kava/api_v3/index.php", methods=["GET", "POST", "OPTIONS"], endpoint="kava_beacon_v3")
def kava_beacon():
    """One Kava beacon -> 200 {"time", "viewEventsEnabled"}; 4xx {"error"} and nothing stored."""
    if request.method == "OPTIONS":
        return current_app.response_class(status=204)
    try:
        return _track_event()
    except SQLAlchemyError as exc:
        if not database_unavailable(exc):
            raise
        db.session.rollback()
        return _unavailable("the database cannot be reached")


root_bp.add_url_rule("/api_v3/index.php", "kava_beacon", kava_beacon, methods=["GET", "POST", "OPTIONS"])


def _unavailable(why: str):
    """503: the beacon was not stored or queued (not acknowledged); the player may send it again."""
    response = problem(503, f"{why}; the beacon was not stored, send it again later")
    response.headers["Retry-After"] = "5"
    return response


def _track_event():
    received_at = utcnow()
    params, error = beacon_params()
    if error:
        return error
    if params.get("service", "analytics") != "analytics" or params.get("action", "trackEvent") != "trackEvent":
        return problem(400, "only service=analytics&action=trackEvent is served here")
    viewer, error = beacon_viewer(params)
    if error:
        return error
    registration_id, user = viewer
    user_agent = (request.headers.get("User-Agent") or "")[:MAX_USER_AGENT] or None
    if beacon_queue.enabled():
        try:
            parse_beacon(params)  # what can be checked without the session's state is checked now
        except InvalidEvent as exc:
            return problem(400, str(exc))
        try:
            beacon_queue.enqueue(registration_id, params, received_at=received_at, ip=request.remote_addr,
                                 user_agent=user_agent, user=user)
        except beacon_queue.QueueUnavailable:
            return _unavailable("the beacon queue (Redis) cannot be reached")
        return jsonify({"time": int(received_at.timestamp()), "viewEventsEnabled": True})
    try:
        event = beacon_to_event(registration_id, params, received_at=received_at, ip=request.remote_addr,
                                user_agent=user_agent, user=user)
        if event is not None:
            accept(registration_id, [event], SOURCE)
    except InvalidEvent as exc:
        db.session.rollback()
        return problem(400, str(exc))
    except Exception:
        db.session.rollback()
        raise
    return jsonify({"time": int(received_at.timestamp()), "viewEventsEnabled": True})


def _ttl(body: dict):
    """(seconds, None) from the body's optional "ttl", or (None, response)."""
    ttl = body.get("ttl", player_tokens.DEFAULT_TTL_SECONDS)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= player_tokens.MAX_TTL_SECONDS:
        return None, problem(400, f"ttl must be a whole number of seconds from 1 to {player_tokens.MAX_TTL_SECONDS}")
    return ttl, None


def _issue(registration_id: int, user, ttl: int):
    try:
        ks, expires_at = player_tokens.mint(registration_id, user, ttl)
    except player_tokens.PlayerTokenError as exc:
        return problem(400, str(exc))
    return jsonify({"ks": ks, "expires_at": expires_at.isoformat()})


@bp.post("/player-tokens")
def post_player_token():
    """A player token: for a server (bearer ingest token; body {"user", "ttl"?}) any person of its
    registration, for a browser (X-Session-Token) the person of its LTI session. 401 for neither."""
    if request.headers.get("Authorization"):
        return _server_player_token()
    viewer = current_viewer()
    if viewer is None:
        return problem(401, "send a bearer ingest token, or the X-Session-Token of an LTI session")
    body = {}
    if request.get_data():
        body, error = json_body()
        if error:
            return error
        if not isinstance(body, dict):
            return problem(400, "the body must be a JSON object")
    ttl, error = _ttl(body)
    if error:
        return error
    session = viewer.session
    return _issue(session.registration_id, f"sub:{session.person.subject}", ttl)


@token_required
def _server_player_token():
    body, error = json_body()
    if error:
        return error
    if not isinstance(body, dict):
        return problem(400, "the body must be a JSON object")
    if "user" not in body:
        return problem(400, 'user is required, e.g. "sub:<LTI subject>" or "canvas:<user id>"')
    ttl, error = _ttl(body)
    if error:
        return error
    return _issue(g.registration_id, body["user"], ttl)
