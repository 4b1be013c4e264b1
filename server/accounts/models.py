"""Organisations, users, memberships and API tokens."""
from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models import IdMixin, TimestampMixin, UTCDateTime, utcnow


class OrgKind(str, enum.Enum):
    brand = "brand"
    factory = "factory"


class Role(str, enum.Enum):
    admin = "admin"
    brand_reviewer = "brand_reviewer"
    inspector = "inspector"
    factory_manager = "factory_manager"



class Organisation(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "organisations"

    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[OrgKind] = mapped_column(Enum(OrgKind, name="org_kind", native_enum=False, length=20))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    country: Mapped[str | None] = mapped_column(String(2))


class User(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A platform admin sets up organisations and sees every tenant; nobody else does.
    is_platform_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    locale: Mapped[str] = mapped_column(String(10), default="en")

    memberships: Mapped[list[Membership]] = relationship(back_populates="user", lazy="selectin",
                                                         cascade="all, delete-orphan")


class Membership(IdMixin, TimestampMixin, db.Model):
    """A user's role in one organisation. A user may belong to several organisations."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "organisation_id", "role"),)

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organisations.id", ondelete="CASCADE"),
                                                       index=True)
    role: Mapped[Role] = mapped_column(Enum(Role, name="role", native_enum=False, length=30))

    user: Mapped[User] = relationship(back_populates="memberships")
    organisation: Mapped[Organisation] = relationship(lazy="joined")


class ApiToken(IdMixin, db.Model):
    """A bearer token. Only the SHA-256 of the token is stored; the token itself is shown once."""

    __tablename__ = "api_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")


class LoginAttempt(IdMixin, db.Model):
    """Failed sign-ins, kept in the database so the rate limit holds across workers and machines."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_email_at", "email", "at"),
                      Index("ix_login_attempts_address_at", "address", "at"))

    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PasswordReset(IdMixin, db.Model):
    """A one-time password reset an admin started: only the SHA-256 of the emailed token is stored."""

    __tablename__ = "password_resets"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
