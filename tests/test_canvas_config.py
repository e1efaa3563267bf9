"""The developer key JSON Canvas reads, and the JWKS that verifies what the tool signs."""
from __future__ import annotations

import jwt

from lti_tool.launch import keys


def test_config_json_has_every_field_canvas_requires(client, db):
    data = client.get("/lti/config.json", base_url="https://tool.example.edu").get_json()
    assert data["title"] == "Media Analytics"
    assert data["description"]
    assert data["oidc_initiation_url"] == "https://tool.example.edu/lti/login"
    assert data["target_link_uri"] == "https://tool.example.edu/lti/launch"
    assert data["public_jwk_url"] == "https://tool.example.edu/lti/jwks"
    assert "public_jwk" not in data  # exactly one of public_jwk / public_jwk_url
    assert data["scopes"] == ["https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"]
    (ext,) = data["extensions"]
    assert ext["platform"] == "canvas.instructure.com"
    assert ext["domain"] == "tool.example.edu"
    assert ext["privacy_level"] == "public"
    (placement,) = ext["settings"]["placements"]
    assert placement["placement"] == "course_navigation"
    assert placement["message_type"] == "LtiResourceLinkRequest"
    assert placement["visibility"] == "admins"
    assert placement["default"] == "enabled" and placement["enabled"] is True
    assert placement["target_link_uri"].startswith("https://tool.example.edu/lti/launch")
    assert data["custom_fields"] == {
        "canvas_course_id": "$Canvas.course.id",
        "canvas_user_id": "$Canvas.user.id",
        "canvas_login_id": "$Canvas.user.loginId",
        "canvas_api_domain": "$Canvas.api.domain",
        "user_timezone": "$Person.address.timezone",
    }


def test_public_base_url_setting_wins_over_the_request_host(app, db, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "https://analytics.example.edu")
    data = app.test_client().get("/lti/config.json").get_json()
    assert data["oidc_initiation_url"] == "https://analytics.example.edu/lti/login"


def test_jwks_validates_a_token_the_tool_signs(client, tool_keys):
    published = client.get("/lti/jwks").get_json()
    assert {"keys"} == set(published)
    assert len(published["keys"]) == 2  # current and next
    for key in published["keys"]:
        assert key["alg"] == "RS256" and key["use"] == "sig" and key["kty"] == "RSA" and key["kid"]
        assert "d" not in key and "p" not in key  # public parts only
    signing = keys.signing_key()
    token = jwt.encode({"iss": "tool", "sub": "client"}, signing.private_pem, algorithm="RS256",
                       headers={"kid": signing.kid})
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in published["keys"] if k["kid"] == kid)
    public = jwt.PyJWK(jwk).key
    assert jwt.decode(token, public, algorithms=["RS256"])["sub"] == "client"


def test_rotation_publishes_before_signing(client, db):
    first = keys.keygen()
    assert first.status == "current"
    upcoming = keys.keygen()
    assert upcoming.status == "next"
    published = {k["kid"] for k in client.get("/lti/jwks").get_json()["keys"]}
    assert {first.kid, upcoming.kid} == published
    assert keys.signing_key().kid == first.kid  # the next key is published but does not sign yet
    promoted = keys.rotate()
    assert promoted.kid == upcoming.kid == keys.signing_key().kid
    after = {k["kid"] for k in client.get("/lti/jwks").get_json()["keys"]}
    assert first.kid in after  # the old key stays published for tokens it signed
    assert upcoming.kid in after and len(after) == 3  # plus a fresh next key


def test_private_keys_are_encrypted_at_rest(db, tool_keys):
    from sqlalchemy import select

    from lti_tool.models import ToolKey

    for key in db.session.scalars(select(ToolKey)):
        assert key.private_key_encrypted.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
