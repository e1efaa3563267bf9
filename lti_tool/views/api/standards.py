"""Standard feeds: IMS Caliper envelopes (POST/GET /api/v1/caliper) and xAPI statements
(POST /api/v1/xapi/statements).

Both refuse a request whole when any event in it is invalid (400, each bad item's index and
reason, nothing stored), as the native /events route does; ignored items are never an error.
"""
from __future__ import annotations

from flask import current_app, g, jsonify

from lti_tool.extensions import db
from lti_tool.ingest.caliper import SUPPORTED_VERSIONS, UnsupportedDataVersion, envelope_to_events
from lti_tool.ingest.pipeline import accept
from lti_tool.ingest.xapi import as_statement_list, statement_id, statements_to_events

from . import bp, json_body, problem, token_required

XAPI_VERSION = "1.0.3"


def _accept(events: list, source: str, ignored: int):
    """Store a validated batch; the database is left untouched when storing fails."""
    try:
        return accept(g.registration_id, events, source, ignored=ignored)
    except Exception:
        db.session.rollback()
        raise


@bp.post("/caliper")
@token_required
def post_caliper():
    """One Caliper envelope -> 200 {"accepted", "duplicates", "ignored"} (415, 400, 422 per Caliper)."""
    body, error = json_body()
    if error:
        return error
    try:
        events, ignored, errors = envelope_to_events(g.registration_id, body)
    except UnsupportedDataVersion as exc:
        return problem(422, str(exc))
    if errors:
        return problem(400, "the envelope was rejected; nothing was stored", errors=errors[:100])
    return jsonify(_accept(events, "caliper", ignored).as_dict())


@bp.get("/caliper")
@token_required
def caliper_config():
    """The Caliper endpoint's configuration, as the Caliper HTTP binding describes it."""
    return jsonify({
        "caliper_maximum_payload_size": current_app.config["INGEST_MAX_BYTES"],
        "caliper_supported_versions": list(SUPPORTED_VERSIONS),
        "caliper_supported_extensions": {},
    })


@bp.post("/xapi/statements")
@token_required
def post_xapi_statements():
    """A statement or a list -> 200 with the list of statement ids, as an LRS answers.

    The counts are in headers: X-Ingest-Accepted, X-Ingest-Duplicates, X-Ingest-Ignored. A statement
    without an id gets a UUID derived from its content, so sending it again is a duplicate.
    """
    body, error = json_body()
    if error:
        return error
    statements, errors = as_statement_list(body)
    if not errors:
        events, ignored, errors = statements_to_events(g.registration_id, statements)
    if errors:
        return problem(400, "the statements were rejected; nothing was stored", errors=errors[:100])
    result = _accept(events, "xapi", ignored)
    response = jsonify([statement_id(s) for s in statements])
    response.headers.update({
        "X-Experience-API-Version": XAPI_VERSION,
        "X-Ingest-Accepted": str(result.accepted),
        "X-Ingest-Duplicates": str(result.duplicates),
        "X-Ingest-Ignored": str(result.ignored),
    })
    return response
