"""The ingest routes of the format registry (ingest/formats.py): POST /api/v1<path> for each format
with `http` (native events, Caliper, xAPI, live room events).

Every one authenticates with a bearer token and takes a JSON body, accepted whole or refused whole:
the format's `parse_http` reads it (RefusedRequest: its status, message and each bad item's index
and reason, nothing stored), the format stores it, and its `http.reply` shapes the answer (the
counts, unless the format answers as its standard says, e.g. xAPI's statement ids).
"""
from __future__ import annotations

from flask import g, jsonify

from lti_tool.extensions import db
from lti_tool.ingest.formats import Format, with_http
from lti_tool.ingest.pipeline import accept
from lti_tool.ingest.rooms import accept_room_events
from lti_tool.ingest.schema import RefusedRequest

from . import bp, json_body, problem, token_required


def _store(fmt: Format, items: list, ignored: int):
    """Store a parsed batch as its kind of events; the database is left untouched when storing fails."""
    try:
        if fmt.source is None:
            return accept_room_events(g.registration_id, items)
        return accept(g.registration_id, items, fmt.source, ignored=ignored)
    except Exception:
        db.session.rollback()
        raise


def _ingest(fmt: Format):
    """The view of one format's route."""

    def view():
        body, error = json_body()
        if error:
            return error
        try:
            items, ignored = fmt.parse_http(g.registration_id, body)
            result = _store(fmt, items, ignored)
        except RefusedRequest as refused:
            details = {"errors": refused.errors[:100]} if refused.errors is not None else {}
            return problem(refused.status, refused.message, **details)
        payload, headers = fmt.http.reply(body, result)
        response = jsonify(payload)
        response.headers.update(headers)
        return response

    view.__name__ = view.__qualname__ = f"post_{fmt.name}"
    view.__doc__ = fmt.http.summary
    return token_required(view)


for _format in with_http():
    bp.add_url_rule(_format.http.path, view_func=_ingest(_format), methods=["POST"])
