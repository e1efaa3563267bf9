"""pylti1p3, hardened per reference/lti-canvas.md §5.

pylti1p3 keeps the protocol flow; these subclasses replace the checks it does loosely: RS256 only,
keys by kid with one JWKS refetch on a miss, aud/azp, iat/exp with leeway, single-use nonces and
id_tokens, state bound to the browser by a Partitioned cookie, and storage shared by every process.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time

import jwt
import requests
from flask import current_app, request
from jwcrypto.jwk import JWK
from pylti1p3.actions import Action
from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskOIDCLogin
from pylti1p3.cookie import CookieService
from pylti1p3.exception import LtiException
from pylti1p3.launch_data_storage.base import LaunchDataStorage
from pylti1p3.session import SessionService

from lti_tool.store import get_store

from .errors import CookiesBlocked, InvalidToken, UnknownDeployment, UnknownPlatform
from .tool_conf import find_registration

log = logging.getLogger(__name__)

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
SUPPORTED_MESSAGE_TYPES = ("LtiResourceLinkRequest",)


class StoreLaunchDataStorage(LaunchDataStorage):
    """pylti1p3 storage over our store. No session-id cookie: the iframe may not keep one."""

    _session_cookie_name = ""

    def __init__(self) -> None:
        super().__init__()
        self.store = get_store()

    def can_set_keys_expiration(self) -> bool:
        return True

    def get_value(self, key):
        return self.store.get(self._prepare_key(key))

    def set_value(self, key, value, exp=None):
        self.store.set(self._prepare_key(key), value, int(exp or current_app.config["LTI_LOGIN_TTL"]))

    def check_value(self, key) -> bool:
        return self.get_value(key) is not None

    def pop_value(self, key):
        return self.store.pop(self._prepare_key(key))


class ToolSessionService(SessionService):
    def save_nonce(self, nonce: str) -> None:
        self.data_storage.set_value(self._get_key("nonce", nonce), True, current_app.config["LTI_LOGIN_TTL"])

    def check_nonce(self, nonce: str) -> bool:
        # Deleted atomically on first use: a replayed nonce finds nothing.
        return bool(self.data_storage.pop_value(self._get_key("nonce", nonce)))

    def check_state_is_valid(self, state: str, id_token_hash: str) -> bool:
        # pylti1p3 would accept a re-POST of a validated (state, id_token); we never do.
        return False

    def set_state_valid(self, state: str, id_token_hash: str) -> None:
        return None


class PartitionedCookieService(CookieService):
    """State cookie: Secure; SameSite=None; Partitioned; HttpOnly; scoped to /lti."""

    def __init__(self, request) -> None:
        self._request = request
        self._to_set: dict[str, tuple[str, int | None]] = {}

    def _key(self, name: str) -> str:
        return f"{self._cookie_prefix}-{name}"

    def get_cookie(self, name: str):
        return self._request.get_cookie(self._key(name))

    def set_cookie(self, name, value, exp=3600):
        self._to_set[self._key(name)] = (str(value), exp)

    def has_state_cookies(self) -> bool:
        return any(name.startswith(self._key("state-")) for name in request.cookies)

    def clear_cookie(self, name: str) -> None:
        self._to_set[self._key(name)] = ("", 0)

    def update_response(self, response) -> None:
        secure = current_app.config["COOKIE_SECURE"]
        for key, (value, max_age) in self._to_set.items():
            response.set_cookie(
                key, value, max_age=max_age, path="/lti", secure=secure, httponly=True,
                samesite="None" if secure else "Lax", partitioned=secure,
            )


def _services(request):
    storage = StoreLaunchDataStorage()
    session_service = ToolSessionService(request)
    session_service.set_data_storage(storage)
    return storage, session_service, PartitionedCookieService(request)


class ToolOIDCLogin(FlaskOIDCLogin):
    def __init__(self, request, tool_conf) -> None:
        storage, session_service, cookies = _services(request)
        super().__init__(request, tool_conf, session_service=session_service, cookie_service=cookies,
                         launch_data_storage=storage)

    def validate_oidc_login(self):
        iss = self._get_request_param("iss")
        login_hint = self._get_request_param("login_hint")
        if not iss or not login_hint:
            raise InvalidToken("login_params_missing", "The login request must include iss and login_hint.",
                               status=400)
        client_id = self._get_request_param("client_id")
        registration = self._tool_config.find_registration_by_params(
            iss, client_id, action=Action.OIDC_LOGIN, request=self._request
        )
        if not registration:
            raise UnknownPlatform(
                "unknown_issuer",
                f"No registration matches issuer {iss} and client id {client_id or '(none sent)'}.",
                admin_command=register_command(iss, client_id, self._get_request_param("deployment_id")),
            )
        return registration

    def authorize_url(self, launch_url: str) -> str:
        return self._prepare_redirect_url(launch_url)

    def apply_cookies(self, response) -> None:
        self._cookie_service.update_response(response)


class ToolMessageLaunch(FlaskMessageLaunch):
    def __init__(self, request, tool_conf) -> None:
        storage, session_service, cookies = _services(request)
        super().__init__(request, tool_conf, session_service=session_service, cookie_service=cookies,
                         launch_data_storage=storage)
        self._store = get_store()
        self._config = current_app.config
        self._client_id: str | None = None

    # -- the flow -------------------------------------------------------------------------------
    def validate(self):
        try:
            result = super().validate()
        except (InvalidToken, UnknownPlatform, UnknownDeployment, CookiesBlocked):
            raise
        except LtiException as exc:  # anything pylti1p3 itself refused
            raise InvalidToken("invalid_launch", str(exc)) from exc
        self._cookie_service.clear_cookie(self._get_request_param("state"))
        return result

    def apply_cookies(self, response) -> None:
        self._cookie_service.update_response(response)

    def get_client_id(self) -> str:
        if self._client_id is None:
            body = self._jwt.get("body", {})
            aud, azp = body.get("aud"), body.get("azp")
            if isinstance(aud, list):
                # An audience list must name the intended client in azp (OIDC core §2).
                if not azp or azp not in aud:
                    raise InvalidToken("azp_missing", "The token's audience is a list without a matching azp claim.")
                self._client_id = azp
            elif isinstance(aud, str) and aud:
                if azp is not None and azp != aud:
                    raise InvalidToken("azp_mismatch", "The token's azp does not match its audience.")
                self._client_id = aud
            else:
                raise InvalidToken("aud_missing", "The token has no audience.")
        return self._client_id

    # -- each check -----------------------------------------------------------------------------
    def validate_state(self):
        state = self._get_request_param("state")
        if not state:
            raise InvalidToken("state_missing", "The launch did not carry the state sent at login.", status=400)
        cookie = self._cookie_service.get_cookie(state)
        if not cookie and self._cookie_service.has_state_cookies():
            raise InvalidToken("state_mismatch", "The launch's state does not match this browser's login.")
        if not cookie:
            raise CookiesBlocked(
                "state_cookie_missing",
                "The sign-in cookie set a moment ago did not come back: the browser blocks cookies in this "
                "frame, or the launch took longer than the login allows.",
            )
        if cookie != state:
            raise InvalidToken("state_mismatch", "The launch's state does not match this browser's login.")
        return self

    def validate_jwt_format(self):
        id_token = self._get_request_param("id_token")
        if not id_token:
            raise InvalidToken("id_token_missing", "The launch did not include an id_token.", status=400)
        if len(id_token) > self._config["LTI_MAX_ID_TOKEN_BYTES"]:
            raise InvalidToken("id_token_too_large", "The id_token is larger than any launch needs.", status=413)
        parts = id_token.split(".")
        if len(parts) != 3:
            raise InvalidToken("id_token_malformed", "The id_token is not a signed JWT.")
        try:
            header = json.loads(self.urlsafe_b64decode(parts[0]))
            body = json.loads(self.urlsafe_b64decode(parts[1]))
        except Exception as exc:  # noqa: BLE001 - any decoding failure is the same user-facing error
            raise InvalidToken("id_token_malformed", "The id_token cannot be decoded.") from exc
        if not isinstance(header, dict) or not isinstance(body, dict):
            raise InvalidToken("id_token_malformed", "The id_token's header or body is not a JSON object.")
        if header.get("alg") != "RS256":
            raise InvalidToken("alg_not_allowed", f"Tokens signed with {header.get('alg')!r} are refused; only RS256 is accepted.")
        if not header.get("kid"):
            raise InvalidToken("kid_missing", "The id_token's header names no key (kid).")
        self._jwt = {"header": header, "body": body}
        return self

    def validate_nonce(self):
        nonce = self._jwt["body"].get("nonce")
        if not nonce or not isinstance(nonce, str):
            raise InvalidToken("nonce_missing", "The id_token has no nonce.")
        token_hash = hashlib.sha256(self._get_request_param("id_token").encode()).hexdigest()
        if not self._store.add(f"lti-idtoken-{token_hash}", 1, self._config["SESSION_LIFETIME"]):
            raise InvalidToken("id_token_replayed", "This launch was already used; a launch works once.")
        if not self._session_service.check_nonce(nonce):
            raise InvalidToken("nonce_invalid", "The nonce was already used or was never issued by this tool.")
        return self

    def validate_registration(self):
        iss = self._jwt["body"].get("iss")
        if not iss or not isinstance(iss, str):
            raise InvalidToken("iss_missing", "The id_token names no issuer.")
        client_id = self.get_client_id()
        self._registration = self._tool_config.find_registration_by_params(
            iss, client_id, action=Action.MESSAGE_LAUNCH, request=self._request, jwt_body=self._jwt["body"]
        )
        if not self._registration:
            raise UnknownPlatform(
                "unknown_issuer", f"No registration matches issuer {iss} and client id {client_id}.",
                admin_command=register_command(iss, client_id, self._jwt["body"].get(LTI + "deployment_id")),
            )
        return self

    def validate_jwt_signature(self):
        public_key, _alg = self.get_public_key()
        try:
            jwt.decode(
                self._get_request_param("id_token"), public_key, algorithms=["RS256"],
                audience=self.get_client_id(), issuer=self._registration.get_issuer(),
                leeway=self._config["LTI_JWT_LEEWAY"],
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token_expired", "The launch token has expired.") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidToken("iat_in_future", "The launch token was issued in the future; check the clocks.") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("wrong_audience", "The launch token is meant for another client.") from exc
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("bad_signature", "The launch token's signature does not verify.") from exc
        except jwt.InvalidTokenError as exc:
            raise InvalidToken("invalid_token", f"The launch token is invalid: {exc}.") from exc
        return self

    def validate_deployment(self):
        body = self._jwt["body"]
        deployment_id = body.get(LTI + "deployment_id")
        if not deployment_id or not isinstance(deployment_id, str):
            raise InvalidToken("deployment_id_missing", "The launch names no deployment.")
        found = self._tool_config.find_deployment_by_params(
            body["iss"], deployment_id, self.get_client_id(), action=Action.MESSAGE_LAUNCH
        )
        if not found:
            raise UnknownDeployment(
                "unknown_deployment",
                f"Deployment {deployment_id} of client {self.get_client_id()} is not registered.",
                admin_command=register_command(body["iss"], self.get_client_id(), deployment_id, existing=True),
            )
        return self

    def validate_message(self):
        body = self._jwt["body"]
        version = body.get(LTI + "version")
        if version != "1.3.0":
            raise InvalidToken("wrong_version", f"LTI version {version!r} is not supported; 1.3.0 is.")
        message_type = body.get(LTI + "message_type")
        if not message_type:
            raise InvalidToken("message_type_missing", "The launch has no message type.")
        if message_type not in SUPPORTED_MESSAGE_TYPES:
            raise InvalidToken("unsupported_message_type", f"Message type {message_type!r} is not supported here.")
        if not body.get("sub") or not isinstance(body.get("sub"), str):
            raise InvalidToken("sub_missing", "The launch does not identify the user (sub).")
        roles = body.get(LTI + "roles")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise InvalidToken("roles_missing", "The launch has no roles claim.")
        link = body.get(LTI + "resource_link")
        if not isinstance(link, dict) or not link.get("id"):
            raise InvalidToken("resource_link_missing", "The launch has no resource link id.")
        context = body.get(LTI + "context")
        if not isinstance(context, dict) or not context.get("id"):
            raise InvalidToken("context_missing", "The tool was launched outside a course; open it from a course.")
        return super().validate_message()

    def save_launch_data(self):
        self._session_service.set_launch_data_lifetime(self._config["SESSION_LIFETIME"])
        self._session_service.save_launch_data(self._launch_id, self._jwt["body"])
        return self

    # -- platform keys --------------------------------------------------------------------------
    def get_public_key(self):
        kid = self._jwt["header"]["kid"]
        key_set = self._registration.get_key_set()
        url = self._registration.get_key_set_url()
        if not key_set:
            if not url or not url.startswith(("https://", "http://")):
                raise UnknownPlatform("no_key_set", "The registration has no key set URL.")
            key_set = self._fetch_jwks(url, refresh=False)
        jwk = _find_key(key_set, kid)
        if jwk is None and url and not self._registration.get_key_set():
            jwk = _find_key(self._fetch_jwks(url, refresh=True), kid)
        if jwk is None:
            raise InvalidToken("unknown_kid", f"The platform publishes no key with id {kid}.")
        if jwk.get("alg", "RS256") != "RS256" or jwk.get("kty") != "RSA":
            raise InvalidToken("alg_not_allowed", "The platform key is not an RS256 key.")
        try:
            return JWK(**jwk).export_to_pem().decode(), "RS256"
        except Exception as exc:  # noqa: BLE001
            raise InvalidToken("bad_platform_key", "The platform's key cannot be read.") from exc

    def _fetch_jwks(self, url: str, refresh: bool) -> dict:
        cache_key = "jwks-" + hashlib.sha256(url.encode()).hexdigest()
        if not refresh:
            cached = self._store.get(cache_key)
            if cached:
                return cached
        elif not self._store.add(cache_key + "-refetch", 1, 5):
            # A refetch happened moments ago: do not let random kids hammer the platform.
            return self._store.get(cache_key) or {"keys": []}
        started = time.monotonic()
        try:
            with requests.get(url, timeout=5, stream=True) as resp:
                resp.raise_for_status()
                raw = resp.raw.read(self._config["LTI_JWKS_MAX_BYTES"] + 1, decode_content=True)
        except requests.RequestException as exc:
            raise UnknownPlatform("jwks_unreachable", f"The platform's key set at {url} could not be fetched: {exc}.") from exc
        if len(raw) > self._config["LTI_JWKS_MAX_BYTES"]:
            raise UnknownPlatform("jwks_too_large", f"The platform's key set at {url} is larger than allowed.")
        try:
            key_set = json.loads(raw)
            assert isinstance(key_set, dict) and isinstance(key_set.get("keys"), list)
        except (ValueError, AssertionError) as exc:
            raise UnknownPlatform("jwks_invalid", f"The platform's key set at {url} is not a JWKS document.") from exc
        self._store.set(cache_key, key_set, self._config["LTI_JWKS_CACHE_SECONDS"])
        log.info("fetched JWKS %s (%d keys) in %.0f ms", url, len(key_set["keys"]), (time.monotonic() - started) * 1000)
        return key_set


def _find_key(key_set: dict | None, kid: str) -> dict | None:
    for key in (key_set or {}).get("keys", []):
        if isinstance(key, dict) and key.get("kid") == kid:
            return key
    return None


def register_command(iss: str, client_id: str | None, deployment_id: str | None, existing: bool = False) -> str:
    parts = ["flask lti register", f"--issuer {iss}", f"--client-id {client_id or 'CLIENT_ID'}"]
    parts.append(f"--deployment-id {deployment_id or 'DEPLOYMENT_ID'}")
    if not existing and find_registration(iss, client_id) is None:
        parts.append("--auth-token-url https://YOUR-CANVAS-HOST/login/oauth2/token")
    return " ".join(parts)
