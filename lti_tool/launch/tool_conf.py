"""A database-backed pylti1p3 ToolConf: many client_ids per issuer, several deployments per client."""
from __future__ import annotations

import typing as t

from pylti1p3.actions import Action
from pylti1p3.deployment import Deployment as LtiDeployment
from pylti1p3.registration import Registration as LtiRegistration
from pylti1p3.tool_config import ToolConfAbstract
from sqlalchemy import select

from lti_tool.extensions import db
from lti_tool.models import Deployment, Registration

from . import keys


def find_registration(issuer: str, client_id: str | None) -> Registration | None:
    query = select(Registration).where(Registration.issuer == issuer)
    if client_id:
        return db.session.scalar(query.where(Registration.client_id == client_id))
    # A platform that omits client_id at login: only unambiguous when the issuer has one client.
    matches = list(db.session.scalars(query.limit(2)))
    return matches[0] if len(matches) == 1 else None


class DbToolConf(ToolConfAbstract):
    def __init__(self, with_signing_key: bool = False) -> None:
        super().__init__()
        self.with_signing_key = with_signing_key
        self.last_registration: Registration | None = None

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(self, iss, *args, **kwargs):  # pragma: no cover - never used
        return None

    def find_deployment(self, iss, deployment_id):  # pragma: no cover - never used
        return None

    def find_registration_by_params(self, iss: str, client_id: str, *args, **kwargs):
        row = find_registration(iss, client_id)
        self.last_registration = row
        if row is None:
            return None
        return to_lti_registration(row, with_signing_key=self.with_signing_key)

    def find_deployment_by_params(self, iss: str, deployment_id: str, client_id: str, *args, **kwargs):
        row = find_registration(iss, client_id)
        if row is None or not deployment_id:
            return None
        found = db.session.scalar(
            select(Deployment).where(
                Deployment.registration_id == row.id, Deployment.deployment_id == deployment_id
            )
        )
        if found is None and row.unknown_deployment == "accept" and kwargs.get("action") == Action.MESSAGE_LAUNCH:
            # Recorded with the launch's own commit, so a refused launch records nothing.
            found = Deployment(registration=row, deployment_id=deployment_id, auto_registered=True)
            db.session.add(found)
        return None if found is None else LtiDeployment().set_deployment_id(found.deployment_id)

    def get_jwks(self, iss: t.Optional[str] = None, client_id: t.Optional[str] = None, **kwargs):
        return keys.published_jwks()


def to_lti_registration(row: Registration, with_signing_key: bool = False) -> LtiRegistration:
    reg = (
        LtiRegistration()
        .set_issuer(row.issuer)
        .set_client_id(row.client_id)
        .set_auth_login_url(row.auth_login_url)
        .set_auth_token_url(row.auth_token_url)
        .set_key_set_url(row.key_set_url)
        .set_key_set(row.key_set)
    )
    if row.auth_audience:
        reg.set_auth_audience(row.auth_audience)
    if with_signing_key:
        signing = keys.signing_key()
        if signing is not None:
            reg.set_tool_private_key(signing.private_pem).set_tool_public_key(signing.public_pem)
    return reg
