"""`flask lti …` commands: keys and registrations, including bad input that changes nothing."""
from __future__ import annotations

from sqlalchemy import func, select

from lti_tool.models import Deployment, Registration, ToolKey

CANVAS = "https://canvas.instructure.com"


def lti(runner, *args):
    return runner.invoke(args=["lti", *args])


def count(db, model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_keygen_then_next_then_refuses_a_third(runner, db):
    assert "created current key" in lti(runner, "keygen").output
    assert "created next key" in lti(runner, "keygen").output
    result = lti(runner, "keygen")
    assert result.exit_code == 1 and "a next key is already published" in result.output
    assert count(db, ToolKey) == 2


def test_rotate_without_a_next_key_is_refused(runner, db):
    lti(runner, "keygen")
    result = lti(runner, "rotate")
    assert result.exit_code == 1 and "no next key" in result.output
    lti(runner, "keygen")
    assert "now signing with" in lti(runner, "rotate").output
    assert len(lti(runner, "keys").output.split()) == 3


def test_register_canvas_cloud_uses_its_endpoints(runner, db):
    result = lti(runner, "register", "--issuer", CANVAS, "--client-id", "10000000000077",
                 "--deployment-id", "1:abc", "--deployment-id", "2:def",
                 "--auth-token-url", "https://canvas.example.edu/login/oauth2/token")
    assert result.exit_code == 0, result.output
    assert "registered" in result.output and "2 deployment(s)" in result.output
    reg = db.session.scalar(select(Registration))
    assert reg.auth_login_url == "https://sso.canvaslms.com/api/lti/authorize_redirect"
    assert reg.key_set_url == "https://sso.canvaslms.com/api/lti/security/jwks"
    assert reg.auth_token_url == "https://canvas.example.edu/login/oauth2/token"
    assert "https://*.instructure.com" in reg.allowed_frame_hosts
    assert "https://canvas.example.edu" in reg.allowed_frame_hosts
    assert reg.unknown_deployment == "reject"


def test_register_beta_issuer_uses_beta_sso(runner, db):
    lti(runner, "register", "--issuer", "https://canvas.beta.instructure.com", "--client-id", "1",
        "--auth-token-url", "https://canvas.beta.example.edu/login/oauth2/token")
    reg = db.session.scalar(select(Registration))
    assert reg.auth_login_url == "https://sso.beta.canvaslms.com/api/lti/authorize_redirect"


def test_rerunning_register_updates_instead_of_duplicating(runner, db):
    base = ["register", "--issuer", CANVAS, "--client-id", "10000000000077", "--deployment-id", "1:abc",
            "--auth-token-url", "https://canvas.example.edu/login/oauth2/token"]
    lti(runner, *base)
    result = lti(runner, "register", "--issuer", CANVAS, "--client-id", "10000000000077",
                 "--deployment-id", "1:abc", "--deployment-id", "3:new", "--title", "Renamed",
                 "--allowed-frame-host", "canvas.example.edu", "--unknown-deployment", "accept")
    assert result.exit_code == 0 and "updated" in result.output
    assert count(db, Registration) == 1
    assert {d.deployment_id for d in db.session.scalars(select(Deployment))} == {"1:abc", "3:new"}
    reg = db.session.scalar(select(Registration))
    assert reg.title == "Renamed" and reg.unknown_deployment == "accept"
    assert reg.allowed_frame_hosts == ["https://canvas.example.edu"]


def test_many_client_ids_per_issuer(runner, db):
    for client_id in ("111", "222"):
        lti(runner, "register", "--issuer", CANVAS, "--client-id", client_id,
            "--auth-token-url", f"https://c{client_id}.example.edu/login/oauth2/token")
    assert count(db, Registration) == 2
    listing = lti(runner, "list").output
    assert "client 111" in listing and "client 222" in listing


def test_register_bad_input_changes_nothing(runner, db):
    cases = [
        (["--issuer", CANVAS, "--client-id", "1"], "--auth-token-url is required"),
        (["--issuer", "https://moodle.example.edu", "--client-id", "1",
          "--auth-token-url", "https://moodle.example.edu/token"], "--auth-login-url is required"),
        (["--issuer", CANVAS, "--client-id", "1", "--auth-token-url", "http://canvas.example.edu/token"],
         "must be an https:// URL"),
        (["--issuer", "not a url", "--client-id", "1", "--auth-token-url", "https://x.edu/t"], "issuer must be"),
        (["--issuer", CANVAS, "--client-id", "1", "--auth-token-url", "https://x.edu/t",
          "--allowed-frame-host", "javascript:alert(1)"], "allowed frame host"),
        (["--issuer", CANVAS, "--client-id", "x" * 300, "--auth-token-url", "https://x.edu/t"], "at most 255"),
        (["--issuer", CANVAS, "--client-id", "1", "--auth-token-url", "https://x.edu/t",
          "--deployment-id", "d" * 300], "longer than 255"),
        (["--issuer", CANVAS, "--client-id", "1", "--auth-token-url", "https://x.edu/" + "t" * 1000],
         "longer than 1000"),
    ]
    for args, message in cases:
        result = lti(runner, "register", *args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)
    assert lti(runner, "register", "--client-id", "1").exit_code == 2  # click: missing --issuer
    db.session.rollback()
    assert count(db, Registration) == 0 and count(db, Deployment) == 0


def test_remove_a_deployment_then_the_registration(runner, db):
    lti(runner, "register", "--issuer", CANVAS, "--client-id", "1", "--deployment-id", "1:a",
        "--deployment-id", "2:b", "--auth-token-url", "https://x.edu/login/oauth2/token")
    assert "removed deployment 1:a" in lti(runner, "remove", "--issuer", CANVAS, "--client-id", "1",
                                           "--deployment-id", "1:a").output
    assert count(db, Deployment) == 1
    missing = lti(runner, "remove", "--issuer", CANVAS, "--client-id", "1", "--deployment-id", "9:z")
    assert missing.exit_code == 1 and "is not registered" in missing.output
    unconfirmed = runner.invoke(args=["lti", "remove", "--issuer", CANVAS, "--client-id", "1"], input="n\n")
    assert unconfirmed.exit_code == 1 and count(db, Registration) == 1
    assert "removed registration" in lti(runner, "remove", "--issuer", CANVAS, "--client-id", "1", "--yes").output
    assert count(db, Registration) == 0 and count(db, Deployment) == 0
    unknown = lti(runner, "remove", "--issuer", CANVAS, "--client-id", "1", "--yes")
    assert unknown.exit_code == 1 and "no registration" in unknown.output


def test_list_with_nothing_registered_says_what_to_do(runner, db):
    assert "flask lti register" in lti(runner, "list").output


def test_register_player_beacon_settings(runner, db):
    base = ["register", "--issuer", CANVAS, "--client-id", "1", "--auth-token-url", "https://x.edu/login/oauth2/token"]
    assert lti(runner, *base, "--player-partner-id", "2370711", "--anonymous-beacons", "refuse").exit_code == 0
    reg = db.session.scalar(select(Registration))
    assert reg.player_partner_id == "2370711" and reg.allow_anonymous_beacons is False
    assert "player partner id: 2370711; anonymous beacons: refused" in lti(runner, "list").output
    bad = lti(runner, *base, "--player-partner-id", "abc")
    assert bad.exit_code == 1 and "digits" in bad.output
    other = ["register", "--issuer", CANVAS, "--client-id", "2", "--auth-token-url", "https://y.edu/login/oauth2/token"]
    taken = lti(runner, *other, "--player-partner-id", "2370711")
    assert taken.exit_code == 1 and "already belongs to registration" in taken.output
    db.session.rollback()
    assert count(db, Registration) == 1
