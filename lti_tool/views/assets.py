"""Front-end assets served by the tool itself: htmx from the pinned npm package, never a CDN."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, send_file

bp = Blueprint("assets", __name__)
ROOT = Path(__file__).resolve().parents[2]


@bp.get("/assets/htmx.min.js")
def htmx_js():
    path = Path(current_app.config["HTMX_JS_PATH"] or ROOT / "node_modules/htmx.org/dist/htmx.min.js")
    if not path.is_file():
        current_app.logger.error("htmx is not installed at %s; run the setup (npm ci)", path)
        abort(404)
    return send_file(path, mimetype="text/javascript", max_age=86400)
