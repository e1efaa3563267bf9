"""The JSON API under /api/v1: ingest feeds, catalog, player tokens (and later reports).

Every route authenticates with a registration's bearer token (`token_required`) or, for player
beacons, with the signed player token the tool minted; errors are JSON a client can act on.
"""
from __future__ import annotations

import functools

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from lti_tool.extensions import db
from lti_tool.ingest.schema import InvalidEvent, load_json
from lti_tool.ingest.tokens import authenticate
from lti_tool.models.types import utcnow
from lti_tool.store import get_store

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def problem(status: int, message: str, **details):
    """An error response: {"error": message, ...details} with the status."""
    response = jsonify({"error": message, **details})
    response.status_code = status
    return response


@bp.before_request
def _api_limits():
    request.max_content_length = current_app.config["INGEST_MAX_BYTES"]


def api_error(code: int, description: str):
    """Errors under /api/ are JSON, whichever layer raised them."""
    db.session.rollback()
    messages = {413: f"the request is larger than {current_app.config['INGEST_MAX_BYTES']} bytes",
                500: "something went wrong on our side; nothing was stored"}
    return problem(code, messages.get(code, description))


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    return api_error(error.code or 500, error.description or error.name)


def token_required(view):
    """A live bearer token of a registration, within its rate limit; sets g.registration_id."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        token, reason = authenticate(request.headers.get("Authorization"))
        if token is None or reason:
            return problem(401, reason or "unauthorized")
        limit = current_app.config["INGEST_RATE_LIMIT_PER_MINUTE"]
        window = int(utcnow().timestamp() // 60)
        count = get_store().incr(f"rate-{token.id}-{window}", 70)   # None while Redis is down: fail open
        if count is not None and count > limit:
            response = problem(429, f"more than {limit} requests in a minute for this token; slow down")
            response.headers["Retry-After"] = str(60 - int(utcnow().timestamp()) % 60)
            return response
        now = utcnow()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            token.last_used_at = now  # at most once a minute: not a write per request
            db.session.commit()
        g.ingest_token = token
        g.registration_id = token.registration_id
        return view(*args, **kwargs)

    wrapped.token_protected = True
    return wrapped


def json_body(max_items: int | None = None):
    """The request's JSON object, or a (response) for the caller to return."""
    if not request.is_json:
        return None, problem(415, "send Content-Type: application/json")
    try:
        return load_json(request.get_data(cache=True)), None
    except InvalidEvent as exc:
        return None, problem(400, f"the body cannot be read: {exc}")


from . import catalog, events, kava, standards  # noqa: E402,F401  (routes register on bp)
from . import openapi  # noqa: E402,F401
from . import reports  # noqa: E402,F401
