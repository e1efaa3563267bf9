"""The built-in dev platform: a Canvas-shaped LTI 1.3 platform for the demo and for newcomers.

It performs a real OIDC login and signs real RS256 id_tokens with its own key (stored encrypted
like the tool's), carrying the claims Canvas sends (reference/lti-canvas.md §2.3).
"""
from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import serialization
from flask import current_app
from sqlalchemy import select

from lti_tool.extensions import db
from lti_tool.launch.keys import new_key
from lti_tool.models import Registration, ToolKey
from lti_tool.registrations import RegistrationInput, upsert

CLIENT_ID = "10000000000001"
DEPLOYMENT_ID = "1:demo0000000000000000000000000000000000000"
LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
LTI = "https://purl.imsglobal.org/spec/lti/claim/"
KEY_STATUS = "dev-platform"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"

INSTRUCTOR = LIS + "membership#Instructor"
TA = LIS + "membership/Instructor#TeachingAssistant"
DESIGNER = LIS + "membership#ContentDeveloper"
LEARNER = LIS + "membership#Learner"
MENTOR = LIS + "membership#Mentor"
INST_ADMIN = LIS + "institution/person#Administrator"
INST_INSTRUCTOR = LIS + "institution/person#Instructor"
INST_STUDENT = LIS + "institution/person#Student"
USER = "http://purl.imsglobal.org/vocab/lti/system/person#User"


@dataclass(frozen=True)
class DemoCourse:
    key: str
    canvas_id: str
    label: str
    title: str

    @property
    def context_id(self) -> str:
        return hashlib.sha1(f"demo-course-{self.key}".encode()).hexdigest()


@dataclass(frozen=True)
class DemoPerson:
    key: str
    canvas_id: str
    given_name: str
    family_name: str
    role_label: str
    roles_by_course: tuple[tuple[str, tuple[str, ...]], ...]
    timezone: str = "America/Chicago"

    @property
    def sub(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo-person-{self.key}"))

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def email(self) -> str:
        return f"{self.given_name.lower()}.{self.family_name.lower()}@demo.example.edu"

    def roles_in(self, course_key: str) -> tuple[str, ...] | None:
        return dict(self.roles_by_course).get(course_key)


COURSES = (
    DemoCourse("bio101", "101", "BIO-101", "Introduction to Biology"),
    DemoCourse("hist210", "210", "HIST-210", "Modern World History"),
)
_BOTH = ("bio101", "hist210")
PEOPLE = (
    DemoPerson("teacher", "5001", "Ada", "Palmer", "Teacher",
               tuple((c, (INSTRUCTOR, INST_INSTRUCTOR, USER)) for c in _BOTH)),
    DemoPerson("ta", "5002", "Ben", "Okafor", "TA",
               (("bio101", (TA, INSTRUCTOR, INST_STUDENT, USER)),)),
    DemoPerson("designer", "5003", "Chloe", "Nguyen", "Designer",
               tuple((c, (DESIGNER, USER)) for c in _BOTH)),
    DemoPerson("student", "5004", "Dana", "Reyes", "Student",
               tuple((c, (LEARNER, INST_STUDENT, USER)) for c in _BOTH), timezone="America/New_York"),
    DemoPerson("observer", "5005", "Eli", "Park", "Observer",
               (("bio101", (MENTOR, USER)),)),
    DemoPerson("admin", "5006", "Farah", "Haddad", "Account admin",
               tuple((c, (INST_ADMIN, USER)) for c in _BOTH), timezone="Europe/London"),
)


def find_course(key: str) -> DemoCourse | None:
    return next((c for c in COURSES if c.key == key), None)


def find_person(key: str) -> DemoPerson | None:
    return next((p for p in PEOPLE if p.key == key), None)


def issuer_for(base_url: str) -> str:
    return base_url.rstrip("/") + "/dev"


def _platform_key() -> ToolKey | None:
    return db.session.scalar(select(ToolKey).where(ToolKey.status == KEY_STATUS))


def setup_dev_platform(base_url: str) -> Registration:
    """Create (or refresh) the platform key and the tool's registration of this platform."""
    key = _platform_key()
    if key is None:
        key = new_key(KEY_STATUS)
        db.session.flush()
    base = base_url.rstrip("/")
    existing = dev_registration()
    if existing is not None and existing.issuer != issuer_for(base):
        # The demo moved to another port: the same platform, so the same registration and its data.
        existing.issuer = issuer_for(base)
        existing.allowed_frame_hosts = list(_loopback_origins(base))
        db.session.flush()
    reg, _created = upsert(RegistrationInput(
        issuer=issuer_for(base), client_id=CLIENT_ID, deployment_ids=(DEPLOYMENT_ID,),
        auth_login_url=f"{base}/dev/authorize", auth_token_url=f"{base}/dev/login/oauth2/token",
        key_set={"keys": [key.public_jwk]}, title="Demo platform", allowed_frame_hosts=_loopback_origins(base),
        default_timezone="America/Chicago", is_dev_platform=True,
    ))
    return reg


def _loopback_origins(base: str) -> tuple[str, ...]:
    """The demo origin under both loopback names, so the platform can frame the tool cross-site."""
    origins = {base}
    for a, b in (("127.0.0.1", "localhost"), ("localhost", "127.0.0.1")):
        if f"//{a}:" in base or base.endswith(f"//{a}"):
            origins.add(base.replace(f"//{a}", f"//{b}"))
    return tuple(sorted(origins))


def course_page_origin(base: str) -> str:
    """Where the demo's course page is served: the tool's origin under the other loopback name
    (127.0.0.1 <-> localhost), a different site, so the tool in its iframe is cross-site as in Canvas.
    A base that is not a loopback name is returned as it is."""
    others = [origin for origin in _loopback_origins(base.rstrip("/")) if origin != base.rstrip("/")]
    return others[0] if others else base.rstrip("/")


def dev_registration() -> Registration | None:
    return db.session.scalar(select(Registration).where(Registration.is_dev_platform.is_(True)))


def sign(claims: dict) -> str:
    key = _platform_key()
    passphrase = current_app.config["KEY_ENCRYPTION_SECRET"].encode()
    private_key = serialization.load_pem_private_key(key.private_key_encrypted.encode(), passphrase)
    return jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": key.kid})


def memberships_url(base_url: str, course: DemoCourse) -> str:
    """Where the platform serves the course's memberships (Names and Role, devplatform/names_roles.py)."""
    return f"{base_url.rstrip('/')}/dev/api/lti/courses/{course.canvas_id}/names_and_roles"


def id_token_claims(reg: Registration, base_url: str, person: DemoPerson, course: DemoCourse, nonce: str) -> dict:
    now = int(time.time())
    base = base_url.rstrip("/")
    return {
        "iss": reg.issuer,
        "aud": reg.client_id,
        "azp": reg.client_id,
        "sub": person.sub,
        "nonce": nonce,
        "iat": now,
        "exp": now + 3600,
        LTI + "deployment_id": DEPLOYMENT_ID,
        LTI + "target_link_uri": f"{base}/lti/launch?placement=course_navigation",
        LTI + "message_type": "LtiResourceLinkRequest",
        LTI + "version": "1.3.0",
        LTI + "roles": list(person.roles_in(course.key) or ()),
        LTI + "resource_link": {"id": course.context_id, "title": course.title, "description": None},
        LTI + "context": {"id": course.context_id, "label": course.label, "title": course.title,
                          "type": [LIS + "course#CourseOffering"]},
        LTI + "tool_platform": {"guid": "demoPlatformGuid0000000000000000000000:canvas-lms",
                                "name": "Demo University", "version": "cloud", "product_family_code": "canvas"},
        LTI + "launch_presentation": {"document_target": "iframe", "return_url": f"{base}/dev/",
                                      "locale": "en", "height": 800, "width": 1000},
        "locale": "en",
        LTI + "custom": {
            "canvas_course_id": course.canvas_id,
            "canvas_user_id": person.canvas_id,
            "canvas_login_id": f"{person.given_name.lower()}{person.family_name.lower()[0]}",
            "canvas_api_domain": "127.0.0.1",
            "user_timezone": person.timezone,
        },
        "name": person.name,
        "given_name": person.given_name,
        "family_name": person.family_name,
        "email": person.email,
        LTI + "lis": {"person_sourcedid": f"SIS-{person.canvas_id}", "course_offering_sourcedid": f"SIS-{course.label}"},
        LTI + "lti11_legacy_user_id": hashlib.sha1(person.key.encode()).hexdigest(),
        # The platform offers Names and Role Provisioning (devplatform/names_roles.py), as Canvas does.
        NRPS_CLAIM: {"context_memberships_url": memberships_url(base, course), "service_versions": ["2.0"]},
        "https://www.instructure.com/placement": "course_navigation",
    }
