"""Tool keys, platform registrations and their deployments."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, relationship

from .types import Column, JSONType, UTCDateTime, db, utcnow


class ToolKey(db.Model):
    """An RSA key the tool signs with. `status`: next (published, not signing), current, previous."""

    __tablename__ = "tool_key"

    id: Mapped[int] = Column(primary_key=True)
    kid: Mapped[str] = Column(String(100), unique=True)
    status: Mapped[str] = Column(String(20), index=True)
    # PKCS#8 PEM encrypted with KEY_ENCRYPTION_SECRET; never stored in the clear.
    private_key_encrypted: Mapped[str] = Column(Text)
    public_jwk: Mapped[dict] = Column(JSONType)
    created_at: Mapped[datetime] = Column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = Column(UTCDateTime, nullable=True)
    retired_at: Mapped[datetime | None] = Column(UTCDateTime, nullable=True)


class Registration(db.Model):
    """One LTI registration (issuer + client_id): the tenant."""

    __tablename__ = "registration"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = Column(primary_key=True)
    issuer: Mapped[str] = Column(String(255))
    client_id: Mapped[str] = Column(String(255))
    title: Mapped[str] = Column(String(255), default="")
    auth_login_url: Mapped[str] = Column(String(1000))
    auth_token_url: Mapped[str] = Column(String(1000))
    auth_audience: Mapped[str | None] = Column(String(1000), nullable=True)
    key_set_url: Mapped[str | None] = Column(String(1000), nullable=True)
    # An inline JWKS, used instead of key_set_url (the built-in dev platform).
    key_set: Mapped[dict | None] = Column(JSONType, nullable=True)
    allowed_frame_hosts: Mapped[list] = Column(JSONType, default=list)
    # What a launch from an unregistered deployment of this client gets: "reject" or "accept".
    unknown_deployment: Mapped[str] = Column(String(10), default="reject")
    default_timezone: Mapped[str] = Column(String(64), default="UTC")
    is_dev_platform: Mapped[bool] = Column(default=False)
    # Player beacons (Kava): the Kaltura partner id players of this registration send, and whether
    # beacons without a player token (anonymous viewers) are accepted.
    player_partner_id: Mapped[str | None] = Column(String(32), nullable=True, unique=True)
    allow_anonymous_beacons: Mapped[bool] = Column(default=True)
    created_at: Mapped[datetime] = Column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = Column(UTCDateTime, default=utcnow, onupdate=utcnow)

    deployments: Mapped[list["Deployment"]] = relationship(
        back_populates="registration", cascade="all, delete-orphan", order_by="Deployment.id"
    )


class Deployment(db.Model):
    __tablename__ = "deployment"
    __table_args__ = (UniqueConstraint("registration_id", "deployment_id"),)

    id: Mapped[int] = Column(primary_key=True)
    registration_id: Mapped[int] = Column(ForeignKey("registration.id", ondelete="CASCADE"), index=True)
    deployment_id: Mapped[str] = Column(String(255))
    # True when recorded by a launch under the registration's "accept" setting.
    auto_registered: Mapped[bool] = Column(default=False)
    created_at: Mapped[datetime] = Column(UTCDateTime, default=utcnow)

    registration: Mapped[Registration] = relationship(back_populates="deployments")
