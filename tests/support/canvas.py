"""A platform that plays Canvas over loopback HTTP: JWKS (with rotation), and signed id_tokens.

It signs real RS256 JWTs with its own RSA keys and serves its JWKS from a real HTTP server, so the
tool's launch validation runs exactly as against Canvas. Claims follow reference/lti-canvas.md §2.3.

LTI Advantage services (§3): an OAuth2 token endpoint that verifies the tool's client assertion
(RS256 against the tool's published keys, iss = sub = client id, aud = the token URL, exp, iat,
single-use jti, grant and assertion types, scope), and a Names and Role memberships endpoint that
pages with Canvas-style `Link` headers whose URLs are mixed-case and must be requested exactly.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
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
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
NRPS_MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
NRPS_COURSE = "1"  # the Canvas course id the memberships endpoint serves
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
    # -- LTI Advantage services ----------------------------------------------------------------
    # The tool's public keys, as the developer key holds them (public_jwk, or its JWKS URL's content).
    tool_jwks: dict | None = None
    granted_scopes: tuple = (NRPS_SCOPE,)
    token_lifetime: int = 3600                                  # expires_in, seconds
    token_requests: list = field(default_factory=list)         # accepted: {"header", "claims", "scope"}
    token_refusals: list = field(default_factory=list)         # refused: "<error>: <why>"
    nrps_members: list = field(default_factory=list)           # the course's memberships, in order
    nrps_page_size: int = 50
    nrps_requests: list = field(default_factory=list)          # (raw request URI, status answered)
    # page number -> (status, headers, body) served instead of the real page (malformed answers)
    nrps_page_overrides: dict = field(default_factory=dict)
    # Revoke every issued token just before this page is first served (the next request gets 401).
    revoke_tokens_before_page: int | None = None
    _tokens: dict = field(default_factory=dict)                # access token -> (expires at, scopes)
    _jtis: set = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the HTTP side -------------------------------------------------------------------------
    def wsgi(self, environ, start_response):
        request = Request(environ)
        if request.path == "/api/lti/security/jwks":
            self.jwks_requests += 1
            body = json.dumps({"keys": [k.jwk() for k in self.keys]})
            return Response(body, mimetype="application/json")(environ, start_response)
        if request.path == "/login/oauth2/token" and request.method == "POST":
            with self._lock:
                return self._token_endpoint(request)(environ, start_response)
        if request.path.lower().startswith(f"/api/lti/courses/{NRPS_COURSE}/names_and_roles"):
            with self._lock:
                return self._memberships(request, environ)(environ, start_response)
        return Response("not found", status=404)(environ, start_response)

    def _token_endpoint(self, request: Request) -> Response:
        form = request.form

        def refuse(error: str, why: str, status: int = 400) -> Response:
            self.token_refusals.append(f"{error}: {why}")
            return Response(json.dumps({"error": error, "error_description": why}), status=status,
                            mimetype="application/json")

        if form.get("grant_type") != "client_credentials":
            return refuse("unsupported_grant_type", f"grant_type {form.get('grant_type')!r}")
        if form.get("client_assertion_type") != JWT_BEARER:
            return refuse("invalid_request", f"client_assertion_type {form.get('client_assertion_type')!r}")
        assertion = form.get("client_assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.InvalidTokenError as exc:
            return refuse("invalid_client", f"assertion is not a JWT: {exc}", 401)
        if header.get("alg") != "RS256":
            return refuse("invalid_client", f"alg {header.get('alg')!r}", 401)
        jwk = next((k for k in (self.tool_jwks or {}).get("keys", []) if k.get("kid") == header.get("kid")), None)
        if jwk is None:
            return refuse("invalid_client", f"no tool key with kid {header.get('kid')!r}", 401)
        try:
            claims = jwt.decode(assertion, jwt.PyJWK(jwk).key, algorithms=["RS256"], audience=self.token_url,
                                options={"require": ["iss", "sub", "aud", "iat", "exp", "jti"]}, leeway=5)
        except jwt.InvalidTokenError as exc:
            return refuse("invalid_client", f"assertion rejected: {exc}", 401)
        if claims["iss"] != self.client_id or claims["sub"] != self.client_id:
            return refuse("invalid_client", f"iss {claims['iss']!r} / sub {claims['sub']!r} is not the client id", 401)
        if claims["exp"] - claims["iat"] > 3600:
            return refuse("invalid_client", "assertion lives longer than an hour", 401)
        if claims["jti"] in self._jtis:
            return refuse("invalid_client", f"jti {claims['jti']!r} was used before", 401)
        self._jtis.add(claims["jti"])
        scopes = form.get("scope", "").split()
        if not scopes or not set(scopes) <= set(self.granted_scopes):
            return refuse("invalid_scope", f"scope {form.get('scope')!r}")
        token = secrets.token_urlsafe(24)
        self._tokens[token] = (time.time() + self.token_lifetime, set(scopes))
        self.token_requests.append({"header": header, "claims": claims, "scope": form["scope"]})
        return Response(json.dumps({"access_token": token, "token_type": "Bearer",
                                    "expires_in": self.token_lifetime, "scope": " ".join(scopes)}),
                        mimetype="application/json")

    def _memberships(self, request: Request, environ) -> Response:
        # The URI exactly as the tool sent it: a lower-cased or re-encoded page URL is a different page.
        raw = environ.get("REQUEST_URI") or environ.get("RAW_URI") or request.full_path
        page = self._page_number(raw)

        def answer(response: Response) -> Response:
            self.nrps_requests.append((raw, response.status_code))
            return response

        if page is None:
            return answer(Response("no such page", status=404))
        if page == self.revoke_tokens_before_page:
            self.revoke_tokens_before_page = None
            self._tokens.clear()
        bearer = request.headers.get("Authorization", "")
        token = self._tokens.get(bearer[7:]) if bearer.startswith("Bearer ") else None
        if token is None or token[0] < time.time() or NRPS_SCOPE not in token[1]:
            return answer(Response(json.dumps({"errors": [{"message": "Invalid access token"}]}), status=401,
                                   mimetype="application/json", headers={"WWW-Authenticate": "Bearer"}))
        if NRPS_MEDIA_TYPE not in request.headers.get("Accept", ""):
            return answer(Response("not acceptable", status=406))
        if page in self.nrps_page_overrides:
            status, headers, body = self.nrps_page_overrides[page]
            return answer(Response(body, status=status, headers=headers))
        size = self.nrps_page_size
        last = max(1, -(-len(self.nrps_members) // size))
        links = [f'<{self.nrps_page_url(page)}>; rel="current"']
        if page < last:
            links.append(f'<{self.nrps_page_url(page + 1)}>; rel="next"')
        links += [f'<{self.nrps_page_url(1)}>; rel="first"', f'<{self.nrps_page_url(last)}>; rel="last"']
        body = {"id": self.base_url + raw,
                "context": {"id": self.context_id("course-a"), "label": "COURSE-A", "title": "Course course-a"},
                "members": self.nrps_members[(page - 1) * size:page * size]}
        return answer(Response(json.dumps(body), mimetype=NRPS_MEDIA_TYPE, headers={"Link": ",".join(links)}))

    def _page_number(self, raw: str) -> int | None:
        if raw == f"/api/lti/courses/{NRPS_COURSE}/names_and_roles":
            return 1
        for page in range(1, max(2, -(-len(self.nrps_members) // self.nrps_page_size) + 1)):
            if self.base_url + raw == self.nrps_page_url(page):
                return page
        return None

    @property
    def jwks_url(self) -> str:
        return self.base_url + "/api/lti/security/jwks"

    @property
    def auth_login_url(self) -> str:
        return self.base_url + "/api/lti/authorize_redirect"

    @property
    def token_url(self) -> str:
        return self.base_url + "/login/oauth2/token"

    @property
    def nrps_url(self) -> str:
        """context_memberships_url as the launch claim carries it."""
        return self.base_url + f"/api/lti/courses/{NRPS_COURSE}/names_and_roles"

    def nrps_page_url(self, page: int) -> str:
        """Canvas paging links; mixed case on purpose, so only the URL exactly as sent finds the page."""
        return self.base_url + f"/api/lti/courses/{NRPS_COURSE}/Names_And_Roles?Page={page}&PER_page={self.nrps_page_size}"

    def nrps_claim(self) -> dict:
        return {NRPS_CLAIM: {"context_memberships_url": self.nrps_url, "service_versions": ["2.0"]}}

    def member(self, person: str, status: str = "Active", roles: list | None = None, **fields) -> dict:
        """A membership as Canvas's NRPS lists it, for the same person `claims()` describes."""
        given, family = person.replace("_", " ").title(), "Tester"
        member = {"status": status, "name": f"{given} {family}", "given_name": given, "family_name": family,
                  "email": f"{person}@test.edu", "lis_person_sourcedid": f"SIS-{person}", "user_id": self.sub(person),
                  "roles": [r for r in (ROLES.get(person, ROLES["student"]) if roles is None else roles)
                            if "/membership" in r]}
        member.update(fields)
        return member

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
