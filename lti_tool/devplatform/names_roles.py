"""The dev platform's Names and Role Provisioning Service (NRPS 2.0), as Canvas offers it.

Launches carry the NRPS claim naming `/dev/api/lti/courses/<canvas id>/names_and_roles`; the tool
gets a bearer token from `/dev/login/oauth2/token` with a client assertion signed by its own key (a
client_credentials grant, reference/lti-canvas.md §3) and reads the course's memberships. The roster
is the demo seed's people of the course (seed 1, the one `flask demo seed` uses) and a few students
who enrolled late and never opened anything, so a synced roster shows people as "not viewed".
"""
from __future__ import annotations

import hashlib
import time
from datetime import date

import jwt
from flask import current_app

from lti_tool.launch import keys
from lti_tool.models import Registration
from lti_tool.roster import ASSERTION_TYPE, NRPS_SCOPE as SCOPE
from lti_tool.store import get_store

from .platform import COURSES, INST_STUDENT, LEARNER, USER, DemoCourse, DemoPerson, memberships_url
from .seed import DEFAULT_SEED, plan_world

TOKEN_AUDIENCE = "dev-platform-nrps"
TOKEN_LIFETIME = 3600            # seconds an access token is valid
ASSERTION_LEEWAY = 60            # seconds of clock skew accepted on the tool's assertion

_LATE = {"bio101": ("Gus", "Iris", "Jonah"), "hist210": ("Kira", "Leo", "Mona")}
# Students on the Canvas roster who never launched the tool nor watched anything (not in the seed).
LATE_ENROLLED = tuple(
    DemoPerson(f"late-{course.key}-{number}", f"{course.canvas_id}9{number:03d}", given, "Latecomer", "Student",
               ((course.key, (LEARNER, INST_STUDENT, USER)),))
    for course in COURSES for number, given in enumerate(_LATE[course.key], start=1)
)


class ServiceRefused(Exception):
    """A token request or roster read the platform refuses; `error` is the OAuth error code."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def _token_key() -> bytes:
    # A key of its own for access tokens, derived from SECRET_KEY (full length for HS256).
    return hashlib.sha256(b"dev-platform-nrps-token:" + current_app.config["SECRET_KEY"].encode()).digest()


def issue_token(reg: Registration, form: dict) -> dict:
    """Check a client_credentials request (grant, assertion type, the tool's signed assertion, scope)
    and answer with a bearer token for the scopes asked; ServiceRefused says what was wrong."""
    if form.get("grant_type") != "client_credentials":
        raise ServiceRefused("unsupported_grant_type", "grant_type must be client_credentials")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise ServiceRefused("invalid_request", "client_assertion_type must be the JWT bearer type")
    _check_assertion(reg, form.get("client_assertion", ""))
    scopes = sorted(set(form.get("scope", "").split()))
    if scopes != [SCOPE]:
        raise ServiceRefused("invalid_scope", "this platform grants only the Names and Role scope")
    now = int(time.time())
    token = jwt.encode({"aud": TOKEN_AUDIENCE, "scope": SCOPE, "iat": now, "exp": now + TOKEN_LIFETIME},
                       _token_key(), algorithm="HS256")
    return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "scope": SCOPE}


def _check_assertion(reg: Registration, assertion: str) -> None:
    """RS256 with one of the tool's published keys; iss = sub = client id; aud = the token URL;
    exp and iat; a jti used once."""
    try:
        kid = jwt.get_unverified_header(assertion).get("kid")
        jwk = next(k for k in keys.published_jwks()["keys"] if k.get("kid") == kid)
        claims = jwt.decode(assertion, jwt.PyJWK(jwk).key, algorithms=["RS256"], audience=reg.auth_token_url,
                            leeway=ASSERTION_LEEWAY, options={"require": ["iss", "sub", "exp", "iat", "jti"]})
    except (jwt.InvalidTokenError, StopIteration) as exc:
        raise ServiceRefused("invalid_client", f"the client assertion was not accepted ({exc or 'unknown kid'})",
                             401) from exc
    if claims["iss"] != reg.client_id or claims["sub"] != reg.client_id:
        raise ServiceRefused("invalid_client", "iss and sub must be the client id", 401)
    if not get_store().add(f"dev-platform-jti:{claims['jti']}", "1", TOKEN_LIFETIME):
        raise ServiceRefused("invalid_client", "this client assertion was used before", 401)


def check_bearer(header: str) -> None:
    """A valid access token for the Names and Role scope, or ServiceRefused (401)."""
    token = header[7:] if header.startswith("Bearer ") else ""
    try:
        claims = jwt.decode(token, _token_key(), algorithms=["HS256"], audience=TOKEN_AUDIENCE)
    except jwt.InvalidTokenError as exc:
        raise ServiceRefused("invalid_token", "Invalid access token", 401) from exc
    if claims.get("scope") != SCOPE:
        raise ServiceRefused("insufficient_scope", "the token is not for the Names and Role scope", 401)


def container(base_url: str, course: DemoCourse) -> dict:
    """The course's membership container, in one page: its active members with their course roles."""
    world = plan_world(DEFAULT_SEED, date.today())
    people = [(p.sub, p.name, p.given_name, p.family_name, p.email, p.canvas_id, dict(p.courses)[course.key])
              for p in world.enrolled(course.key)]
    people += [(p.sub, p.name, p.given_name, p.family_name, p.email, p.canvas_id, p.roles_in(course.key))
               for p in LATE_ENROLLED if p.roles_in(course.key)]
    members = []
    for sub, name, given, family, email, canvas_id, roles in people:
        course_roles = [role for role in roles if "/membership" in role]
        if course_roles:  # an account admin is not a member of the course
            members.append({"status": "Active", "name": name, "given_name": given, "family_name": family,
                            "email": email, "user_id": sub, "lis_person_sourcedid": f"SIS-{canvas_id}",
                            "roles": course_roles})
    return {"id": memberships_url(base_url, course),
            "context": {"id": course.context_id, "label": course.label, "title": course.title},
            "members": members}

