"""`flask ingest token …` and `flask analytics rebuild`."""
from __future__ import annotations

from sqlalchemy import select

from lti_tool.models import IngestToken


def test_create_list_revoke(runner, db, registration):
    created = runner.invoke(args=["ingest", "token", "create", "--registration", str(registration.id), "--name", "kaltura"])
    assert created.exit_code == 0 and "mat_" in created.output
    secret = created.output.split(": ", 1)[1].split()[0]
    token = db.session.scalar(select(IngestToken))
    assert token.token_hash != secret and secret not in token.token_hash and token.prefix == secret[:12]
    listing = runner.invoke(args=["ingest", "token", "list"]).output
    assert "kaltura" in listing and "active" in listing and secret not in listing
    assert "revoked token" in runner.invoke(args=["ingest", "token", "revoke", str(token.id)]).output
    assert "revoked" in runner.invoke(args=["ingest", "token", "list", "--registration", str(registration.id)]).output


def test_bad_input(runner, db, registration):
    unknown = runner.invoke(args=["ingest", "token", "create", "--registration", "9999"])
    assert unknown.exit_code == 1 and "no registration with id 9999" in unknown.output
    assert runner.invoke(args=["ingest", "token", "create", "--registration", "abc"]).exit_code == 2
    long_name = runner.invoke(args=["ingest", "token", "create", "--registration", str(registration.id), "--name", "n" * 101])
    assert long_name.exit_code == 1 and "longer than 100" in long_name.output
    assert runner.invoke(args=["ingest", "token", "revoke", "4242"]).exit_code == 1
    assert db.session.scalar(select(IngestToken)) is None
    assert "no tokens" in runner.invoke(args=["ingest", "token", "list"]).output


def test_rebuild_on_an_empty_database(runner, db):
    result = runner.invoke(args=["analytics", "rebuild", "--since", "2026-01-01"])
    assert result.exit_code == 0 and "rebuilt 0 plays" in result.output
    assert runner.invoke(args=["analytics", "rebuild", "--since", "yesterday"]).exit_code == 2
