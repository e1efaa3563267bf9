"""Creating, updating and removing platform registrations (used by the CLI and the dev platform)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select

from lti_tool.extensions import db
from lti_tool.models import Deployment, Registration

# Canvas Cloud: one issuer for every customer; login and keys on the sso host.
CANVAS_CLOUD = {
    "https://canvas.instructure.com": "https://sso.canvaslms.com",
    "https://canvas.beta.instructure.com": "https://sso.beta.canvaslms.com",
    "https://canvas.test.instructure.com": "https://sso.test.canvaslms.com",
}
LOOPBACK = ("127.0.0.1", "localhost", "::1")
HOST_PATTERN = re.compile(r"^(https?)://(\*\.)?[a-z0-9.-]+(:\d+)?$")


class RegistrationError(ValueError):
    pass


@dataclass
class RegistrationInput:
    issuer: str
    client_id: str
    deployment_ids: tuple[str, ...] = ()
    auth_login_url: str | None = None
    auth_token_url: str | None = None
    key_set_url: str | None = None
    key_set: dict | None = None
    title: str | None = None
    allowed_frame_hosts: tuple[str, ...] = ()
    unknown_deployment: str | None = None
    default_timezone: str | None = None
    is_dev_platform: bool = False
    player_partner_id: str | None = None      # Kaltura partnerId its players send in beacons
    anonymous_beacons: str | None = None      # "accept" or "refuse"


def _url(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    loopback = parts.hostname in LOOPBACK
    if parts.scheme not in ("https", "http") or not parts.hostname or (parts.scheme == "http" and not loopback):
        raise RegistrationError(f"{name} must be an https:// URL (http:// only on loopback), not {value!r}")
    if len(value) > 1000:
        raise RegistrationError(f"{name} is longer than 1000 characters")
    return value


def frame_host(value: str) -> str:
    host = value.strip().lower().rstrip("/")
    if "://" not in host:
        host = "https://" + host
    if not HOST_PATTERN.match(host):
        raise RegistrationError(f"allowed frame host {value!r} must look like https://canvas.example.edu or *.instructure.com")
    return host


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def upsert(data: RegistrationInput) -> tuple[Registration, bool]:
    """Create or update the registration (issuer, client_id); re-running never duplicates it.

    Raises RegistrationError with nothing changed when the input is not usable.
    """
    try:
        return _upsert(data)
    except RegistrationError:
        db.session.rollback()
        raise


def _upsert(data: RegistrationInput) -> tuple[Registration, bool]:
    issuer = _url(data.issuer.rstrip("/"), "issuer") if data.issuer else None
    client_id = (data.client_id or "").strip()
    if not issuer or not client_id or len(client_id) > 255:
        raise RegistrationError("an issuer URL and a client id (at most 255 characters) are required")
    deployments = [d.strip() for d in data.deployment_ids if d and d.strip()]
    if any(len(d) > 255 for d in deployments):
        raise RegistrationError("a deployment id is longer than 255 characters")
    if data.unknown_deployment not in (None, "reject", "accept"):
        raise RegistrationError("--unknown-deployment must be reject or accept")
    if data.anonymous_beacons not in (None, "accept", "refuse"):
        raise RegistrationError("--anonymous-beacons must be accept or refuse")
    if data.player_partner_id is not None and not (data.player_partner_id.isdigit() and len(data.player_partner_id) <= 32):
        raise RegistrationError("--player-partner-id must be the Kaltura partner id (digits)")

    sso = CANVAS_CLOUD.get(issuer)
    reg = db.session.scalar(select(Registration).where(Registration.issuer == issuer, Registration.client_id == client_id))
    created = reg is None
    if created:
        if not data.auth_token_url:
            raise RegistrationError(
                "--auth-token-url is required: your institution's Canvas host, e.g. https://canvas.example.edu/login/oauth2/token")
        reg = Registration(issuer=issuer, client_id=client_id)
        db.session.add(reg)

    reg.auth_login_url = _url(data.auth_login_url, "auth login URL") or reg.auth_login_url or (
        f"{sso}/api/lti/authorize_redirect" if sso else None)
    reg.auth_token_url = _url(data.auth_token_url, "auth token URL") or reg.auth_token_url
    reg.key_set_url = _url(data.key_set_url, "key set URL") or reg.key_set_url or (
        f"{sso}/api/lti/security/jwks" if sso else None)
    if data.key_set is not None:
        reg.key_set = data.key_set
    if not reg.auth_login_url:
        raise RegistrationError("--auth-login-url is required for a platform other than Canvas Cloud")
    if not reg.key_set_url and not reg.key_set:
        raise RegistrationError("--key-set-url is required for a platform other than Canvas Cloud")
    if data.title is not None:
        reg.title = data.title[:255]
    elif created:
        reg.title = "Canvas" if sso else urlsplit(issuer).hostname or issuer
    hosts = [frame_host(h) for h in data.allowed_frame_hosts]
    if hosts:
        reg.allowed_frame_hosts = sorted(set(hosts))
    elif created:
        defaults = {"https://*.instructure.com"} if sso else set()
        defaults.update(h for h in (_origin(reg.auth_token_url), _origin(reg.auth_login_url)) if h)
        reg.allowed_frame_hosts = sorted(defaults)
    if data.unknown_deployment:
        reg.unknown_deployment = data.unknown_deployment
    elif created:
        reg.unknown_deployment = "reject"
    if data.default_timezone:
        reg.default_timezone = data.default_timezone
    elif created:
        reg.default_timezone = "UTC"
    reg.is_dev_platform = data.is_dev_platform
    if data.player_partner_id is not None:
        taken = db.session.scalar(select(Registration.id).where(
            Registration.player_partner_id == data.player_partner_id, Registration.id != reg.id))
        if taken:
            raise RegistrationError(f"partner id {data.player_partner_id} already belongs to registration {taken}")
        reg.player_partner_id = data.player_partner_id
    if data.anonymous_beacons is not None:
        reg.allow_anonymous_beacons = data.anonymous_beacons == "accept"
    elif created:
        reg.allow_anonymous_beacons = True
    db.session.flush()

    known = {d.deployment_id for d in reg.deployments}
    for deployment_id in deployments:
        if deployment_id not in known:
            reg.deployments.append(Deployment(deployment_id=deployment_id, auto_registered=False))
            known.add(deployment_id)
    db.session.commit()
    return reg, created


def remove(issuer: str, client_id: str, deployment_id: str | None = None) -> str:
    reg = db.session.scalar(select(Registration).where(Registration.issuer == issuer.rstrip("/"),
                                                       Registration.client_id == client_id))
    if reg is None:
        raise RegistrationError(f"no registration for issuer {issuer} and client id {client_id}")
    if deployment_id:
        match = [d for d in reg.deployments if d.deployment_id == deployment_id]
        if not match:
            raise RegistrationError(f"deployment {deployment_id} is not registered for that client")
        db.session.delete(match[0])
        db.session.commit()
        return f"removed deployment {deployment_id}"
    db.session.delete(reg)
    db.session.commit()
    return f"removed registration {issuer} {client_id} and everything recorded under it"


def list_all() -> list[Registration]:
    return list(db.session.scalars(select(Registration).order_by(Registration.id)))
