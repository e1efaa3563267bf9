"""POST /api/v1/room-events: live room events in our native JSON batch format, version 1."""
from __future__ import annotations

from flask import g, jsonify

from lti_tool.extensions import db
from lti_tool.ingest.rooms import RejectedBatch, accept_room_events, parse_room_batch

from . import bp, json_body, problem, token_required

REJECTED = "the batch was rejected; nothing was stored"


@bp.post("/room-events")
@token_required
def post_room_events():
    body, error = json_body()
    if error:
        return error
    events, errors = parse_room_batch(body)
    if errors:
        return problem(400, REJECTED, errors=errors[:100])
    try:
        result = accept_room_events(g.registration_id, events)
    except RejectedBatch as rejected:
        db.session.rollback()
        return problem(400, REJECTED, errors=rejected.errors[:100])
    except Exception:
        db.session.rollback()
        raise
    return jsonify(result.as_dict())
