"""POST /api/v1/events: our native JSON batch format, version 1."""
from __future__ import annotations

from flask import g, jsonify

from lti_tool.extensions import db
from lti_tool.ingest.pipeline import accept
from lti_tool.ingest.schema import InvalidEvent, batch_items, native_event

from . import bp, json_body, problem, token_required


def parse_native_batch(body) -> tuple[list, list[dict]]:
    """(events, errors): errors name each bad event's index and reason."""
    raw_events, errors = batch_items(body)
    if errors:
        return [], errors
    events = []
    for index, raw in enumerate(raw_events):
        try:
            events.append(native_event(raw))
        except InvalidEvent as exc:
            errors.append({"index": index, "reason": str(exc)})
    return events, errors


@bp.post("/events")
@token_required
def post_events():
    body, error = json_body()
    if error:
        return error
    events, errors = parse_native_batch(body)
    if errors:
        return problem(400, "the batch was rejected; nothing was stored", errors=errors[:100])
    try:
        result = accept(g.registration_id, events, "native")
    except Exception:
        db.session.rollback()
        raise
    return jsonify(result.as_dict())
