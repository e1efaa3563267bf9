"""Every known bad launch is refused with a page a person can act on, and nothing is saved."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from lti_tool.models import Course, Deployment, Enrollment, Person, PersonAlias, ToolSession

from .support.canvas import LTI, PlatformKey

SAVED = (Course, Person, PersonAlias, Enrollment, ToolSession)


def assert_nothing_saved(db):
    for model in SAVED:
        assert db.session.scalar(select(func.count()).select_from(model)) == 0, model.__name__
    assert db.session.scalar(select(func.count(Deployment.id))) == 1


def assert_refused(response, status, code, db, text=None):
    assert response.status_code == status, response.text
    assert f"<code>{code}</code>" in response.text
    assert "Traceback" not in response.text
    assert "What to do" in response.text
    if text:
        assert text in response.text
    assert response.headers.get("Location") is None
    assert_nothing_saved(db)


def drop(name):
    def mutate(claims):
        claims.pop(name)
    return mutate


def setting(name, value):
    def mutate(claims):
        claims[name] = value
    return mutate


@pytest.mark.parametrize(
    "mutate, code",
    [
        (drop("sub"), "sub_missing"),
        (drop(LTI + "roles"), "roles_missing"),
        (drop(LTI + "deployment_id"), "deployment_id_missing"),
        (drop(LTI + "message_type"), "message_type_missing"),
        (drop(LTI + "version"), "wrong_version"),
        (drop(LTI + "resource_link"), "resource_link_missing"),
        (drop(LTI + "context"), "context_missing"),
        (drop("nonce"), "nonce_missing"),
        (drop("exp"), "invalid_token"),
        (drop("iat"), "invalid_token"),
        (setting(LTI + "version", "1.1.0"), "wrong_version"),
        (setting(LTI + "message_type", "LtiDeepLinkingRequest"), "unsupported_message_type"),
        (setting(LTI + "message_type", "NotAMessage"), "unsupported_message_type"),
        (setting(LTI + "resource_link", {"title": "no id"}), "resource_link_missing"),
        (setting(LTI + "roles", "Instructor"), "roles_missing"),
    ],
)
def test_missing_or_wrong_claims_are_refused(lti, db, mutate, code):
    assert_refused(lti.launch("teacher", claims=mutate), 401, code, db)


def test_token_without_kid_is_refused(lti, db):
    assert_refused(lti.launch(sign={"headers": {}}), 401, "kid_missing", db)


def test_unknown_kid_is_refused_after_one_refetch(lti, db, canvas):
    stranger = PlatformKey.new("not-published")
    response = lti.launch(sign={"key": stranger})
    assert_refused(response, 401, "unknown_kid", db)
    assert canvas.jwks_requests == 2  # the first fetch and one refetch on the miss, no more


def test_rotated_platform_key_is_found_by_one_refetch(lti, db, canvas):
    assert lti.launch().status_code == 303  # caches the JWKS
    assert canvas.jwks_requests == 1
    rotated = PlatformKey.new("2026-12-01T00:00:00Z")
    canvas.keys = [rotated, *canvas.keys]
    response = lti.launch(sign={"key": rotated})
    assert response.status_code == 303, response.text
    assert canvas.jwks_requests == 2


def test_jwks_is_cached_between_launches(lti, canvas):
    for _ in range(3):
        assert lti.launch().status_code == 303
    assert canvas.jwks_requests == 1


def test_expired_token_is_refused(lti, db):
    now = int(time.time())
    response = lti.launch(claims=lambda c: c.update(iat=now - 7200, exp=now - 3600))
    assert_refused(response, 401, "token_expired", db)


def test_iat_in_the_future_beyond_leeway_is_refused(lti, db):
    now = int(time.time())
    response = lti.launch(claims=lambda c: c.update(iat=now + 600, exp=now + 4200))
    assert_refused(response, 401, "iat_in_future", db)


def test_small_clock_skew_is_accepted(lti):
    now = int(time.time())
    assert lti.launch(claims=lambda c: c.update(iat=now + 20)).status_code == 303


def test_wrong_audience_is_refused(lti, db):
    response = lti.launch(claims=lambda c: c.update(aud="99999", azp="99999"))
    assert_refused(response, 403, "unknown_issuer", db)


def test_audience_list_must_carry_azp(lti, db, canvas):
    response = lti.launch(claims=lambda c: (c.update(aud=[canvas.client_id, "other"]), c.pop("azp")))
    assert_refused(response, 401, "azp_missing", db)


def test_audience_list_with_matching_azp_is_accepted(lti, canvas):
    response = lti.launch(claims=lambda c: c.update(aud=["other", canvas.client_id], azp=canvas.client_id))
    assert response.status_code == 303


def test_azp_naming_another_client_is_refused(lti, db, canvas):
    response = lti.launch(claims=lambda c: c.update(aud=[canvas.client_id, "other"], azp="other"))
    assert_refused(response, 403, "unknown_issuer", db)


def test_replayed_nonce_is_refused(lti, db, canvas, client):
    first = lti.login("teacher")
    params = canvas.auth_params(first.location)
    claims = canvas.claims("teacher", params["nonce"])
    assert client.post("/lti/launch", data={"id_token": canvas.sign(claims), "state": params["state"]}).status_code == 303
    db.session.rollback()
    for model in SAVED:  # start from nothing again so the refusal below is seen to save nothing
        db.session.query(model).delete()
    db.session.commit()
    # A fresh login (new state cookie) carrying a new token that reuses the spent nonce.
    second = canvas.auth_params(lti.login("teacher").location)
    claims = canvas.claims("teacher", params["nonce"])
    claims["iat"] += 1
    response = client.post("/lti/launch", data={"id_token": canvas.sign(claims), "state": second["state"]})
    assert_refused(response, 401, "nonce_invalid", db)


def test_replayed_id_token_is_refused(lti, db, canvas, client):
    params = canvas.auth_params(lti.login("teacher").location)
    token = canvas.sign(canvas.claims("teacher", params["nonce"]))
    assert client.post("/lti/launch", data={"id_token": token, "state": params["state"]}).status_code == 303
    for model in SAVED:
        db.session.query(model).delete()
    db.session.commit()
    # The attacker replays the same POST with the state cookie restored.
    client.set_cookie(f"lti1p3-{params['state']}", params["state"], path="/lti")
    response = client.post("/lti/launch", data={"id_token": token, "state": params["state"]})
    assert_refused(response, 401, "id_token_replayed", db)


def test_nonce_never_issued_is_refused(lti, db):
    response = lti.launch(claims=lambda c: c.update(nonce="made-up-nonce"))
    assert_refused(response, 401, "nonce_invalid", db)


def test_missing_state_is_refused(lti, db):
    assert_refused(lti.launch(state=False), 400, "state_missing", db)


def test_mismatched_state_is_refused(lti, db):
    assert_refused(lti.launch(state="state-forged"), 401, "state_mismatch", db)


def test_state_cookie_blocked_offers_a_new_tab(lti, db, client):
    response = lti.login("teacher")
    params = lti.canvas.auth_params(response.location)
    for cookie in list(client._cookies.values()):
        client.delete_cookie(cookie.key, domain=cookie.domain, path=cookie.path)
    token = lti.canvas.sign(lti.canvas.claims("teacher", params["nonce"]))
    response = client.post("/lti/launch", data={"id_token": token, "state": params["state"]})
    assert_refused(response, 400, "state_cookie_missing", db, text="new tab")


def test_unknown_issuer_is_refused_with_what_to_register(lti, db):
    response = lti.launch(claims=lambda c: c.update(iss="https://evil.example"))
    assert_refused(response, 403, "unknown_issuer", db, text="flask lti register")


def test_unknown_issuer_at_login_is_refused(client, canvas, registration):
    response = client.post("/lti/login", data=canvas.login_params(iss="https://unknown.example"))
    assert response.status_code == 403
    assert "flask lti register --issuer https://unknown.example" in response.text


def test_login_without_login_hint_is_refused(client, canvas, registration):
    response = client.post("/lti/login", data=canvas.login_params(login_hint=None))
    assert response.status_code == 400
    assert "login_hint" in response.text


def test_login_refuses_a_foreign_target_link_uri(client, canvas, registration):
    response = client.post("/lti/login", data=canvas.login_params(target_link_uri="https://evil.example/steal"))
    assert response.status_code == 400
    assert "foreign_target_link_uri" in response.text


def test_unknown_deployment_is_refused_with_the_command(lti, db, canvas):
    response = lti.launch(claims=setting(LTI + "deployment_id", "99:unregistered"))
    assert_refused(response, 403, "unknown_deployment", db,
                   text=f"flask lti register --issuer {canvas.issuer} --client-id {canvas.client_id} --deployment-id 99:unregistered")


def test_unknown_deployment_is_recorded_when_the_registration_accepts(lti, db, registration):
    registration.unknown_deployment = "accept"
    db.session.commit()
    response = lti.launch(claims=setting(LTI + "deployment_id", "99:new-install"))
    assert response.status_code == 303
    recorded = db.session.scalar(select(Deployment).where(Deployment.deployment_id == "99:new-install"))
    assert recorded.auto_registered


def test_alg_none_is_refused(lti, db, canvas):
    def unsigned(claims):
        return canvas.unsigned(claims, {"alg": "none", "kid": canvas.keys[0].kid})
    assert_refused(lti.launch(token=unsigned), 401, "alg_not_allowed", db)


def test_hs256_is_refused(lti, db, canvas):
    import jwt

    def hmac_signed(claims):
        return jwt.encode(claims, "a-shared-secret-that-is-long-enough-for-hs256", algorithm="HS256",
                          headers={"kid": canvas.keys[0].kid})
    assert_refused(lti.launch(token=hmac_signed), 401, "alg_not_allowed", db)


def test_tampered_signature_is_refused(lti, db, canvas):
    import base64
    import json

    def tampered(claims):
        header, body, signature = canvas.sign(claims).split(".")
        payload = json.loads(base64.urlsafe_b64decode(body + "=="))
        payload["sub"] = canvas.sub("admin")
        forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
        return f"{header}.{forged}.{signature}"
    assert_refused(lti.launch(token=tampered), 401, "bad_signature", db)


@pytest.mark.parametrize("token, code, status", [
    ("not-a-jwt", "id_token_malformed", 401),
    ("a.b.c", "id_token_malformed", 401),
    ("x" * 70000, "id_token_too_large", 413),
])
def test_malformed_or_oversized_tokens_are_refused(lti, db, token, code, status):
    assert_refused(lti.launch(token=lambda claims: token), status, code, db)


def test_missing_id_token_is_refused(lti, db, client, canvas):
    params = canvas.auth_params(lti.login().location)
    response = client.post("/lti/launch", data={"state": params["state"]})
    assert_refused(response, 400, "id_token_missing", db)


@pytest.mark.parametrize("roles", [
    [],
    ["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor"],
    ["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student"],
    ["http://purl.imsglobal.org/vocab/lti/system/person#User"],
])
def test_role_without_course_access_is_refused(lti, db, roles):
    response = lti.launch(claims=setting(LTI + "roles", roles))
    assert response.status_code == 403
    assert "not available for your role" in response.text
    assert_nothing_saved(db)


@pytest.mark.parametrize("error, title", [
    ("login_required", "Canvas could not confirm that you are signed in"),
    ("launch_no_longer_valid", "This launch link has expired"),
    ("unauthorized_client", "Canvas refused this tool"),
    ("something_new", "Canvas could not start the tool"),
])
def test_canvas_error_posts_show_what_to_do(client, registration, db, error, title):
    response = client.post("/lti/launch", data={"error": error, "error_description": "desc", "state": "state-x"})
    assert response.status_code == 400
    assert title in response.text
    assert "What to do" in response.text
    assert_nothing_saved(db)


def test_launch_page_may_be_framed_by_registered_hosts_only(client, registration):
    response = client.post("/lti/launch", data={"error": "login_required"})
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://canvas.test.edu" in csp
    assert "X-Frame-Options" not in response.headers


def test_oversized_login_and_launch_bodies_are_refused(client, canvas, registration, db):
    huge = "x" * (2 * 1024 * 1024)
    assert client.post("/lti/login", data=canvas.login_params(lti_message_hint=huge)).status_code == 413
    response = client.post("/lti/launch", data={"id_token": huge, "state": "state-x"})
    assert response.status_code == 413
    assert_nothing_saved(db)


def test_replayed_login_gets_a_fresh_state_and_nonce(lti, canvas):
    first = canvas.auth_params(lti.login().location)
    second = canvas.auth_params(lti.login().location)
    assert first["state"] != second["state"] and first["nonce"] != second["nonce"]
