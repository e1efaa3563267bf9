"""Signed player tokens (`ks`): who is watching, for players that send Kava beacons to us.

A player token is a compact JWT (HS256) with the claims `reg` (registration id), `user` (a person
reference "kind:value", see schema.USER_KINDS), `iat` and `exp` (Unix seconds). The signing key is
derived from SECRET_KEY, so a token cannot be mistaken for anything else the app signs and
leaking one key does not reveal the other. Nothing is stored: a token is valid until it expires.
"""
from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta, timezone

import jwt
from flask import current_app

from .schema import InvalidEvent, user_ref

ALGORITHM = "HS256"
DEFAULT_TTL_SECONDS = 24 * 3600
MAX_TTL_SECONDS = 7 * 24 * 3600
# No token we mint is longer than this; anything longer is not ours.
MAX_TOKEN_CHARS = 2000
CLAIMS = ("reg", "user", "iat", "exp")
# Tokens this process verified, until they expire: a player sends its token with every beacon, so
# its signature is checked once, not with each (keyed by the signing key too: tests build apps with
# other secrets in one process). Emptied when it holds this many.
MAX_VERIFIED = 20_000
_verified: dict[tuple[bytes, str], tuple[int, str, int]] = {}


class PlayerTokenError(ValueError):
    """A token that cannot be minted or accepted; the message says why (safe to show a client)."""


def _signing_key() -> bytes:
    """32 bytes derived from SECRET_KEY for player tokens only."""
    secret = current_app.config["SECRET_KEY"]
    if isinstance(secret, str):
        secret = secret.encode()
    return hashlib.sha256(b"player-token:" + secret).digest()


def _check_ttl(ttl_seconds) -> int:
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int):
        raise PlayerTokenError("ttl must be a whole number of seconds")
    if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise PlayerTokenError(f"ttl must be between 1 and {MAX_TTL_SECONDS} seconds (7 days)")
    return ttl_seconds


def _check_user(user) -> str:
    try:
        checked = user_ref(user)
    except InvalidEvent as exc:
        raise PlayerTokenError(str(exc)) from exc
    if checked is None:
        raise PlayerTokenError("user is required")
    return checked


def _check_registration(registration_id) -> int:
    if isinstance(registration_id, bool) or not isinstance(registration_id, int) or registration_id < 1:
        raise PlayerTokenError("the registration id must be a positive integer")
    return registration_id


def mint(registration_id: int, user: str, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> tuple[str, datetime]:
    """A player token for `user` of a registration, valid `ttl_seconds` (1 s to 7 days).

    Returns (ks, expires_at) with expires_at an aware UTC datetime, whole seconds.
    """
    registration_id = _check_registration(registration_id)
    user = _check_user(user)
    ttl_seconds = _check_ttl(ttl_seconds)
    issued = datetime.now(timezone.utc).replace(microsecond=0)
    expires_at = issued + timedelta(seconds=ttl_seconds)
    claims = {"reg": registration_id, "user": user, "iat": int(issued.timestamp()),
              "exp": int(expires_at.timestamp())}
    return jwt.encode(claims, _signing_key(), algorithm=ALGORITHM), expires_at


def verify(ks: str) -> tuple[int, str]:
    """(registration id, user) of a valid player token; PlayerTokenError for an expired, tampered
    or malformed one."""
    if not isinstance(ks, str) or not ks or len(ks) > MAX_TOKEN_CHARS:
        raise PlayerTokenError("the player token is malformed")
    key = _signing_key()
    known = _verified.get((key, ks))
    if known is not None and known[2] > time.time():  # as PyJWT has it: expired once exp <= now
        return known[0], known[1]
    registration_id, user, expires = _verify(ks, key)
    if len(_verified) >= MAX_VERIFIED:
        _verified.clear()
    _verified[(key, ks)] = (registration_id, user, expires)
    return registration_id, user


def _verify(ks: str, key: bytes) -> tuple[int, str, int]:
    try:
        claims = jwt.decode(ks, key, algorithms=[ALGORITHM], options={"require": list(CLAIMS)})
    except jwt.ExpiredSignatureError as exc:
        raise PlayerTokenError("the player token has expired") from exc
    except jwt.InvalidSignatureError as exc:
        raise PlayerTokenError("the player token's signature is not valid") from exc
    except jwt.DecodeError as exc:
        raise PlayerTokenError("the player token is malformed") from exc
    except jwt.InvalidTokenError as exc:
        raise PlayerTokenError(f"the player token is not valid: {exc}") from exc
    if claims["exp"] - claims["iat"] > MAX_TTL_SECONDS:
        raise PlayerTokenError("the player token lives longer than 7 days")
    try:
        return _check_registration(claims["reg"]), _check_user(claims["user"]), int(claims["exp"])
    except PlayerTokenError as exc:
        raise PlayerTokenError(f"the player token's claims are not valid: {exc}") from exc
