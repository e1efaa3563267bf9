"""GET /api/v1/caliper: the Caliper endpoint's configuration, as the Caliper HTTP binding describes it.

Caliper envelopes and xAPI statements are posted to the routes of the format registry
(ingest/formats.py, views/api/events.py).
"""
from __future__ import annotations

from flask import current_app, jsonify

from lti_tool.ingest.caliper import SUPPORTED_VERSIONS

from . import bp, token_required


@bp.get("/caliper")
@token_required
def caliper_config():
    """The Caliper endpoint's configuration, as the Caliper HTTP binding describes it."""
    return jsonify({
        "caliper_maximum_payload_size": current_app.config["INGEST_MAX_BYTES"],
        "caliper_supported_versions": list(SUPPORTED_VERSIONS),
        "caliper_supported_extensions": {},
    })
