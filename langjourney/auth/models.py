"""Accounts, organisations, login throttling and the staff access log."""
from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from langjourney.db import UTCDateTime, utcnow
from langjourney.extensions import db


class Role(str, enum.Enum):
    LEARNER = "learner"
    COUNSELLOR = "counsellor"
    PROVIDER = "provider"
    ADMIN = "admin"

    @property
    def is_staff(self) -> bool:
        return self is not Role.LEARNER


def enum_column(enum_cls: type[enum.Enum], name: str) -> Enum:
    """A portable enum column storing the enum's values (a CHECK constraint, not a native type)."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class Provider(db.Model):
    """A course provider: a language school whose staff confirm enrolments."""

    __tablename__ = "provider"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    registry_code: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    staff: Mapped[list[User]] = relationship(back_populates="provider")


class User(UserMixin, db.Model):
    """Anyone who signs in. Learners have a :class:`LearnerProfile`; provider staff belong to a provider."""

    __tablename__ = "user"
    __table_args__ = (
        CheckConstraint(
            "(role = 'provider') = (provider_id IS NOT NULL)", name="provider_staff_have_provider"
        ),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        CheckConstraint("NOT is_provider_admin OR role = 'provider'", name="provider_admin_is_provider"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"), default=Role.LEARNER)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("provider.id"), index=True)
    locale: Mapped[str] = mapped_column(String(5), default="et")
    is_active: Mapped[bool] = mapped_column(default=True)
    # Provider staff who also manage their organisation's API tokens.
    is_provider_admin: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Bumped on every password change; part of reset tokens, so they die with the old password.
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # None until a self-registered learner follows the link mailed to the address (or resets the
    # password, which proves the same); staff accounts are created confirmed.
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=utcnow)

    provider: Mapped[Provider | None] = relationship(back_populates="staff")
    profile = relationship("LearnerProfile", back_populates="user", uselist=False)

    @property
    def is_staff(self) -> bool:
        return self.role.is_staff

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles

    # The sign-in this request runs under ("<user id>:<token>"), set by auth.sessions; Flask-Login
    # keeps it in the session and the remember cookie.
    session_key = None

    @property
    def is_authenticated(self) -> bool:
        # Flask-Login only makes a User the current user once the loader has accepted it (active, session
        # still valid). Answering without reading a column spares a reload of the row after a commit.
        return True

    def get_id(self) -> str | None:
        # Flask-Login keeps this in the session: the key of one sign-in's UserSession row, which
        # sign-out, "sign out everywhere", the idle timeout and a password change end.
        return self.session_key


class UserSession(db.Model):
    """One sign-in on one device, until it signs out, idles too long or its remember period ends.

    Only a hash of the token is stored: a copy of the database gives no one a working cookie.
    """

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    is_remembered: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Written at most once a minute (see auth.sessions.TOUCH_EVERY), not on every request.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RegistrationConsent(db.Model):
    """What a learner agreed to when registering, and when: the notice's version and its wording as
    shown to them, in their language."""

    __tablename__ = "registration_consent"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    notice_version: Mapped[str] = mapped_column(String(64))
    wording: Mapped[str] = mapped_column(String(1000))
    locale: Mapped[str] = mapped_column(String(5))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LoginFailure(db.Model):
    """One failed sign-in; recent rows throttle further attempts for that e-mail address."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_email_at", "email", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AccessLog(db.Model):
    """A staff member looked at a learner's data: who, whose, what and when. A read through the
    provider API names the token (``api_token_id``); ``staff_id`` is then the staff member who
    created that token."""

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    action: Mapped[str] = mapped_column(String(64))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    api_token_id: Mapped[int | None] = mapped_column(ForeignKey("api_token.id"))

    def __repr__(self) -> str:
        return f"<AccessLog {self.id} staff={self.staff_id} learner={self.learner_id} {self.action}>"
