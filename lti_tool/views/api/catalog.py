"""PUT/GET /api/v1/entries/<id> and /api/v1/categories/<id>: the media catalog."""
from __future__ import annotations

from flask import g, jsonify

from lti_tool.extensions import db
from lti_tool.ingest.catalog import CatalogError, category_json, entry_json, upsert_category, upsert_entry
from lti_tool.models import find_category, find_entry

from . import bp, json_body, problem, token_required


@bp.put("/entries/<path:external_id>")
@token_required
def put_entry(external_id: str):
    body, error = json_body()
    if error:
        return error
    try:
        entry, created = upsert_entry(g.registration_id, external_id, body)
    except CatalogError as exc:
        return problem(exc.status, "the entry was not saved", fields=exc.errors)
    return jsonify(entry_json(entry)), 201 if created else 200


@bp.get("/entries/<path:external_id>")
@token_required
def get_entry(external_id: str):
    entry = find_entry(db.session, g.registration_id, external_id)
    if entry is None:
        return problem(404, "no such entry")
    return jsonify(entry_json(entry))


@bp.put("/categories/<path:external_id>")
@token_required
def put_category(external_id: str):
    body, error = json_body()
    if error:
        return error
    try:
        category, created = upsert_category(g.registration_id, external_id, body)
    except CatalogError as exc:
        return problem(exc.status, "the category was not saved", fields=exc.errors)
    return jsonify(category_json(category)), 201 if created else 200


@bp.get("/categories/<path:external_id>")
@token_required
def get_category(external_id: str):
    category = find_category(db.session, g.registration_id, external_id)
    if category is None:
        return problem(404, "no such category")
    return jsonify(category_json(category))
