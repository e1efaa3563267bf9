"""Signed download links: the link alone opens the file (it is read in a mail client, outside the
LMS and without a session), for EXPORT_LINK_MAX_AGE seconds (7 days).

The token is the export's id signed with SECRET_KEY and a salt of its own, so a value signed for
anything else in the tool is not a download link. Never log a token.
"""
from __future__ import annotations

from flask import current_app, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SALT = "lti_tool.exports.download-link"


class LinkExpired(Exception):
    """The signature is good but older than the allowed age."""


class LinkInvalid(Exception):
    """Not a link this tool signed for a download (tampered, truncated, or signed for something else)."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def sign(export_id: str) -> str:
    return _serializer().dumps({"export": export_id})


def download_url(export_id: str, base_url: str) -> str:
    """The absolute download link under `base_url`, the tool's origin as the person reached it (kept
    with the export: a worker has no request to take it from)."""
    with current_app.test_request_context(base_url=base_url):
        return url_for("exports.download", token=sign(export_id), _external=True)


def verify(token: str) -> str:
    """The export id the token names; LinkExpired or LinkInvalid otherwise."""
    try:
        data = _serializer().loads(token, max_age=current_app.config["EXPORT_LINK_MAX_AGE"])
    except SignatureExpired as exc:
        raise LinkExpired() from exc
    except BadSignature as exc:
        raise LinkInvalid() from exc
    if not isinstance(data, dict) or not isinstance(data.get("export"), str):
        raise LinkInvalid()
    return data["export"]
