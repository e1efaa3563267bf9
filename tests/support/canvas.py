"""A platform that plays Canvas over loopback HTTP: JWKS (with rotation), and signed id_tokens.

It signs real RS256 JWTs with its own RSA keys and serves its JWKS from a real HTTP server, so the
tool's launch validation runs exactly as against Canvas. Claims follow reference/lti-canvas.md §2.3.
"""
from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK
from werkzeug.wrappers import Request, Response

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
LTI = "https://purl.imsglobal.org/spec/lti/claim/"
ROLES = {
    "teacher": [LIS + "membership#Instructor", LIS + "institution/person#Instructor"],
    "ta": [LIS + "membership/Instructor#TeachingAssistant", LIS + "membership#Instructor"],
    "designer": [LIS + "membership#ContentDeveloper"],
    "student": [LIS + "membership#Learner", LIS + "institution/person#Student"],
    "observer": [LIS + "membership#Mentor"],
    "admin": [LIS + "institution/person#Administrator"],
    "institution_instructor_only": [LIS + "institution/person#Instructor"],
}


@dataclass
class PlatformKey:
    kid: str
    private_key: object

    @classmethod
    def new(cls, kid: str | None = None) -> "PlatformKey":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid or time.strftime("%Y-%m-%dT%H:%M:%SZ") + "-" + uuid.uuid4().hex[:6], key)

    def jwk(self) -> dict:
        pem = self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        data = JWK.from_pem(pem).export_public(as_dict=True)
        data.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return data


@dataclass
class FakeCanvas:
    issuer: str = "https://canvas.instructure.com"
    client_id: str = "10000000000042"
    deployment_id: str = "7:8865aa05b4b79b64a91a86042e43af5ea8ae79eb"
    keys: list = field(default_factory=lambda: [PlatformKey.new()])
    jwks_requests: int = 0
    base_url: str = ""

    # -- the HTTP side -------------------------------------------------------------------------
    def wsgi(self, environ, start_response):
        request = Request(environ)
        if request.path == "/api/lti/security/jwks":
            self.jwks_requests += 1
            body = json.dumps({"keys": [k.jwk() for k in self.keys]})
            return Response(body, mimetype="application/json")(environ, start_response)
        return Response("not found", status=404)(environ, start_response)

    @property
    def jwks_url(self) -> str:
        return self.base_url + "/api/lti/security/jwks"

    @property
    def auth_login_url(self) -> str:
        return self.base_url + "/api/lti/authorize_redirect"

    @property
    def token_url(self) -> str:
        return self.base_url + "/login/oauth2/token"

    # -- the protocol side ---------------------------------------------------------------------
    def login_params(self, person: str = "teacher", **overrides) -> dict:
        params = {
            "iss": self.issuer, "login_hint": self.sub(person), "client_id": self.client_id,
            "target_link_uri": "http://localhost/lti/launch?placement=course_navigation",
            "lti_message_hint": "eyJhbGciOiJIUzI1NiJ9.e30.hint", "deployment_id": self.deployment_id,
            "canvas_region": "us-east-1", "canvas_environment": "prod",
            "lti_storage_target": "post_message_forwarding",
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    @staticmethod
    def sub(person: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"canvas-test-{person}"))

    @staticmethod
    def context_id(course: str) -> str:
        return hashlib.sha1(course.encode()).hexdigest()

    def claims(self, person: str, nonce: str, course: str = "course-a", roles: list | None = None, **extra) -> dict:
        now = int(time.time())
        given, family = person.replace("_", " ").title(), "Tester"
        claims = {
            "iss": self.issuer, "aud": self.client_id, "azp": self.client_id, "sub": self.sub(person),
            "nonce": nonce, "iat": now, "exp": now + 3600,
            LTI + "deployment_id": self.deployment_id,
            LTI + "target_link_uri": "http://localhost/lti/launch?placement=course_navigation",
            LTI + "message_type": "LtiResourceLinkRequest", LTI + "version": "1.3.0",
            LTI + "roles": ROLES[person] if roles is None else roles,
            LTI + "resource_link": {"id": self.context_id(course), "title": course.title(), "description": None},
            LTI + "context": {"id": self.context_id(course), "label": course.upper(), "title": f"Course {course}",
                              "type": [LIS + "course#CourseOffering"]},
            LTI + "tool_platform": {"guid": "CeADzK7hYmVbX0j:canvas-lms", "name": "Test University",
                                    "version": "cloud", "product_family_code": "canvas"},
            LTI + "launch_presentation": {"document_target": "iframe", "return_url": "https://canvas.test/x",
                                          "locale": "en", "height": 400, "width": 800},
            LTI + "custom": {"canvas_course_id": "4242", "canvas_user_id": str(abs(hash(person)) % 100000),
                             "canvas_login_id": f"{person}@test.edu", "canvas_api_domain": "canvas.test.edu",
                             "user_timezone": "America/Chicago"},
            "name": f"{given} {family}", "given_name": given, "family_name": family, "email": f"{person}@test.edu",
            LTI + "lis": {"person_sourcedid": f"SIS-{person}", "course_offering_sourcedid": f"SIS-{course}"},
            "https://www.instructure.com/placement": "course_navigation",
        }
        claims.update(extra)
        return claims

    def sign(self, claims: dict, key: PlatformKey | None = None, headers: dict | None = None,
             algorithm: str = "RS256") -> str:
        key = key or self.keys[0]
        hdrs = {"kid": key.kid}
        if headers is not None:
            hdrs = headers
        return jwt.encode(claims, key.private_key, algorithm=algorithm, headers=hdrs)

    @staticmethod
    def unsigned(claims: dict, header: dict) -> str:
        def part(obj):
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
        return f"{part(header)}.{part(claims)}."

    @staticmethod
    def auth_params(location: str) -> dict:
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
