"""The tool's RSA signing keys: generation, encryption at rest, rotation and the public JWKS.

Rotation never signs with a key that was not already published: `keygen` adds a *next* key that
the JWKS publishes, `rotate` promotes it to *current* and publishes a fresh *next*; the old current
key stays published as *previous* for a day so tokens it signed can still be checked.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import current_app
from jwcrypto.jwk import JWK
from sqlalchemy import select

from lti_tool.extensions import db
from lti_tool.models import ToolKey
from lti_tool.models.types import utcnow

PUBLISHED = ("next", "current", "previous")
PREVIOUS_KEY_GRACE = timedelta(days=1)


class KeyOperationError(Exception):
    """A key operation that cannot be done as asked (message is for the admin)."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_pem: str
    public_pem: str


def _passphrase() -> bytes:
    secret = current_app.config.get("KEY_ENCRYPTION_SECRET")
    if not secret:
        raise KeyOperationError("KEY_ENCRYPTION_SECRET is not set; it encrypts the tool's private keys")
    return secret.encode()


def public_jwk_for(private_key) -> dict:
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk = JWK.from_pem(public_pem)
    data = jwk.export_public(as_dict=True)
    data.update({"kid": jwk.thumbprint(), "alg": "RS256", "use": "sig"})
    return data


def new_key(status: str) -> ToolKey:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encrypted = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(_passphrase()),
    ).decode()
    jwk = public_jwk_for(private_key)
    key = ToolKey(
        kid=jwk["kid"],
        status=status,
        private_key_encrypted=encrypted,
        public_jwk=jwk,
        activated_at=utcnow() if status == "current" else None,
    )
    db.session.add(key)
    return key


def _by_status(status: str) -> list[ToolKey]:
    return list(db.session.scalars(select(ToolKey).where(ToolKey.status == status).order_by(ToolKey.id)))


def keygen() -> ToolKey:
    """Create the first (current) key, or the next key if a current one exists."""
    if not _by_status("current"):
        key = new_key("current")
    elif _by_status("next"):
        raise KeyOperationError("a next key is already published; run `flask lti rotate` to start signing with it")
    else:
        key = new_key("next")
    db.session.commit()
    return key


def rotate() -> ToolKey:
    """Promote the published next key to current and publish a fresh next key."""
    upcoming = _by_status("next")
    if not upcoming:
        raise KeyOperationError("no next key is published yet; run `flask lti keygen` and wait for platforms to see it")
    now = utcnow()
    for key in _by_status("previous"):
        if key.retired_at and now - key.retired_at > PREVIOUS_KEY_GRACE:
            db.session.delete(key)
    for key in _by_status("current"):
        key.status, key.retired_at = "previous", now
    promoted = upcoming[0]
    promoted.status, promoted.activated_at = "current", now
    new_key("next")
    db.session.commit()
    return promoted


def ensure_keys() -> None:
    """Used by the demo: make sure a current and a next key exist."""
    if not _by_status("current"):
        new_key("current")
    if not _by_status("next"):
        new_key("next")
    db.session.commit()


def published_jwks() -> dict:
    keys = db.session.scalars(select(ToolKey).where(ToolKey.status.in_(PUBLISHED)).order_by(ToolKey.id))
    return {"keys": [k.public_jwk for k in keys]}


def signing_key() -> SigningKey | None:
    """The current key, decrypted, or None when `flask lti keygen` has not been run."""
    current = _by_status("current")
    if not current:
        return None
    key = current[-1]
    private_key = serialization.load_pem_private_key(key.private_key_encrypted.encode(), _passphrase())
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return SigningKey(kid=key.kid, private_pem=private_pem, public_pem=public_pem)
