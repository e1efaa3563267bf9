"""Ingest/report tokens: one registration each, stored as a SHA-256 hash, sent as `Authorization: Bearer`."""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from lti_tool.extensions import db
from lti_tool.models import IngestToken, Registration
from lti_tool.models.types import utcnow

PREFIX = "mat_"


class TokenError(ValueError):
    pass


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(registration_id: int, name: str = "") -> tuple[IngestToken, str]:
    """A new token; the secret is returned once and only its hash is kept."""
    if db.session.get(Registration, registration_id) is None:
        raise TokenError(f"no registration with id {registration_id}; see `flask lti list`")
    if len(name) > 100:
        raise TokenError("the name is longer than 100 characters")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = IngestToken(registration_id=registration_id, name=name, token_hash=_hash(secret), prefix=secret[:12])
    db.session.add(token)
    db.session.commit()
    return token, secret


def revoke(token_id: int) -> IngestToken:
    token = db.session.get(IngestToken, token_id)
    if token is None:
        raise TokenError(f"no token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.commit()
    return token


def list_tokens(registration_id: int | None = None) -> list[IngestToken]:
    query = select(IngestToken).order_by(IngestToken.id)
    if registration_id:
        query = query.where(IngestToken.registration_id == registration_id)
    return list(db.session.scalars(query))


def authenticate(header: str | None) -> tuple[IngestToken | None, str | None]:
    """(token, None) for a live token, else (None, reason) or (revoked token, reason)."""
    if not header:
        return None, "missing bearer token"
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret or len(secret) > 200:
        return None, "the Authorization header must be 'Bearer <token>'"
    token = db.session.scalar(select(IngestToken).where(IngestToken.token_hash == _hash(secret.strip())))
    if token is None:
        return None, "unknown token"
    if token.revoked_at is not None:
        return token, "this token was revoked"
    return token, None
