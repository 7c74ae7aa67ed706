"""Accounts: registration, authentication with throttling, password reset and staff creation."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import current_app
from flask_babel import format_timedelta
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, insert, select
from werkzeug.security import check_password_hash, generate_password_hash

from langjourney.auth.models import AccessLog, LoginFailure, Provider, RegistrationConsent, Role, User
from langjourney.auth import throttle
from langjourney.auth.sessions import end_all_sessions
from langjourney.db import utcnow
from langjourney.errors import DomainError
from langjourney.extensions import db
from langjourney.learners.models import LearnerProfile, LearnerStatus

PASSWORD_METHOD = "scrypt"
MIN_PASSWORD_LENGTH = 10
# Compared against when the e-mail is unknown, so a miss costs as much time as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method=PASSWORD_METHOD)


@dataclass(frozen=True)
class ProfileData:
    """What a learner tells about themselves (registration and profile edit)."""

    full_name: str
    locale: str
    mother_tongue: str
    county: str
    town: str
    status: LearnerStatus
    residence_permit_date: date | None = None
    goals: list[str] = field(default_factory=list)
    availability: list[str] = field(default_factory=list)
    accepts_online: bool = True


class EmailNotConfirmed(DomainError):
    def __init__(self):
        super().__init__(_l("Your account is not active yet. Follow the link in the mail we sent you when you "
                            "registered, or reset your password to activate it."))


class LoginThrottled(DomainError):
    def __init__(self, wait: timedelta):
        shown = timedelta(seconds=math.ceil(wait.total_seconds()))  # "1 minute", not "60 seconds"
        super().__init__(_l("Too many failed sign-in attempts. Please try again in %(time)s, or reset your "
                            "password.", time=format_timedelta(shown, threshold=1, add_direction=False)))
        self.wait = wait


def normalise_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def get_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def _check_new_profile(data: ProfileData) -> None:
    if data.status is LearnerStatus.NEW_IMMIGRANT:
        if data.residence_permit_date is None:
            raise DomainError(_l("Enter the date of your first residence permit."), "residence_permit_date")
    if data.residence_permit_date and data.residence_permit_date > date.today():
        raise DomainError(_l("The residence permit date cannot be in the future."), "residence_permit_date")


def _apply_profile(user: User, data: ProfileData) -> None:
    _check_new_profile(data)
    user.full_name = data.full_name.strip()
    user.locale = data.locale
    profile = user.profile or LearnerProfile(user=user)
    profile.mother_tongue = data.mother_tongue
    profile.county = data.county
    profile.town = data.town.strip()
    profile.status = data.status
    profile.residence_permit_date = (
        data.residence_permit_date if data.status is LearnerStatus.NEW_IMMIGRANT else None
    )
    profile.goals = list(data.goals)
    profile.availability = list(data.availability)
    profile.accepts_online = data.accepts_online
    db.session.add(profile)


@dataclass(frozen=True)
class Consent:
    """The consent checkbox as the registrant saw it: the notice's version, its wording, the language."""

    notice_version: str
    wording: str
    locale: str


def register_learner(email: str, password: str, data: ProfileData, consent: Consent | None = None) -> User | None:
    """Create a learner account with its profile and consent, its address not yet confirmed
    (:func:`make_confirmation_token`). When the address already has an account nothing changes and
    None is returned: the caller tells the owner, and the registrant sees the same answer either way
    (the password is hashed in both cases, so the time taken does not tell either)."""
    email = normalise_email(email)
    _check_new_profile(data)
    password_hash = hash_password(password)
    if get_user_by_email(email) is not None:
        return None
    user = User(email=email, password_hash=password_hash, role=Role.LEARNER,
                full_name=data.full_name.strip(), locale=data.locale)
    db.session.add(user)
    _apply_profile(user, data)
    db.session.flush()
    user.email_confirmed_at = None  # (the column's default, for every other way to make a user, confirms)
    if consent is not None:
        db.session.add(RegistrationConsent(user_id=user.id, notice_version=consent.notice_version,
                                           wording=consent.wording, locale=consent.locale))
    db.session.flush()
    return user


def _confirmation_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="confirm-email")


def make_confirmation_token(user: User) -> str:
    """A signed token that confirms this user's e-mail address, until it expires."""
    return _confirmation_serializer().dumps({"uid": user.id})


def user_for_confirmation_token(token: str) -> User | None:
    """The unconfirmed user a valid, unexpired confirmation token belongs to; None otherwise."""
    try:
        data = _confirmation_serializer().loads(token, max_age=current_app.config["CONFIRM_EMAIL_MAX_AGE"])
    except BadSignature:
        return None
    user = db.session.get(User, data.get("uid")) if isinstance(data, dict) else None
    if user is None or not user.is_active or user.email_confirmed_at is not None:
        return None
    return user


def confirm_email(user: User) -> None:
    """The owner of the address has followed the link: the account may now sign in."""
    user.email_confirmed_at = utcnow()
    db.session.flush()


def update_profile(user: User, data: ProfileData) -> None:
    """Replace a learner's profile data."""
    _apply_profile(user, data)
    db.session.flush()


def authenticate(email: str, password: str, remote_addr: str | None,
                 known_devices: list[int] = ()) -> User | None:
    """Return the user for these credentials, or None (recording the failure).

    Raises :class:`LoginThrottled` while this client must wait before trying this account again
    (see :mod:`langjourney.auth.throttle`; ``known_devices`` are the accounts this browser has signed
    in to before), before looking at the password, and :class:`EmailNotConfirmed` for the right
    password of an account whose address is not confirmed yet. Unknown e-mails and wrong passwords
    look the same to the caller.
    """
    email = normalise_email(email)
    user = get_user_by_email(email)
    wait = throttle.login_delay(email, remote_addr, known_device=user is not None and user.id in known_devices)
    if wait is not None:
        raise LoginThrottled(wait)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
    elif user.is_active and check_password_hash(user.password_hash, password):
        if user.email_confirmed_at is None:  # said only to whoever knows the password
            raise EmailNotConfirmed()
        db.session.execute(delete(LoginFailure).where(LoginFailure.email == email,
                                                      LoginFailure.remote_addr == remote_addr))
        user.last_login_at = utcnow()
        db.session.flush()
        return user
    throttle.record_failure(email, remote_addr)
    return None


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def make_reset_token(user: User) -> str:
    """A signed token that resets this user's password once, until it expires."""
    return _reset_serializer().dumps({"uid": user.id, "pc": int(user.password_changed_at.timestamp())})


def user_for_reset_token(token: str) -> User | None:
    """The user a valid, unexpired, unused reset token belongs to; None otherwise."""
    try:
        data = _reset_serializer().loads(token, max_age=current_app.config["PASSWORD_RESET_MAX_AGE"])
    except BadSignature:
        return None
    user = db.session.get(User, data.get("uid")) if isinstance(data, dict) else None
    if user is None or not user.is_active or int(user.password_changed_at.timestamp()) != data.get("pc"):
        return None
    return user


def set_password(user: User, password: str) -> None:
    """Change the password; this also invalidates reset tokens and ends every sign-in of the user."""
    user.password_hash = hash_password(password)
    # Whole seconds, +1 past the old stamp, so tokens and sessions issued this second die too.
    stamp = utcnow().replace(microsecond=0)
    if user.password_changed_at and stamp <= user.password_changed_at:
        stamp = user.password_changed_at.replace(microsecond=0) + timedelta(seconds=1)
    user.password_changed_at = stamp
    if user.email_confirmed_at is None:  # the reset link reached the address: as good as confirming
        user.email_confirmed_at = stamp
    end_all_sessions(user)
    db.session.execute(delete(LoginFailure).where(LoginFailure.email == user.email))
    db.session.flush()


def create_user(email: str, password: str, full_name: str, role: Role,
                provider: Provider | None = None, locale: str = "et") -> User:
    """Create a staff account (counsellor, provider staff or admin)."""
    email = normalise_email(email)
    if role is Role.LEARNER:
        raise DomainError(_l("Learners register themselves."), "role")
    if (role is Role.PROVIDER) != (provider is not None):
        raise DomainError(_l("Provider staff must belong to a provider, and only they."), "provider")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(_l("The password must be at least %(n)d characters long.", n=MIN_PASSWORD_LENGTH),
                          "password")
    if get_user_by_email(email) is not None:
        raise DomainError(_l("An account with this e-mail address already exists."), "email")
    user = User(email=email, password_hash=hash_password(password), full_name=full_name.strip(),
                role=role, provider=provider, locale=locale)
    db.session.add(user)
    db.session.flush()
    return user


def get_or_create_provider(name: str) -> Provider:
    provider = db.session.scalar(select(Provider).where(Provider.name == name))
    if provider is None:
        provider = Provider(name=name)
        db.session.add(provider)
        db.session.flush()
    return provider


def log_access(staff: User, learner: User, action: str, remote_addr: str | None) -> None:
    """Record that a staff member viewed a learner's data."""
    db.session.add(AccessLog(staff_id=staff.id, learner_id=learner.id, action=action,
                             remote_addr=remote_addr))
    db.session.flush()


def log_reads(staff_id: int, learner_ids, action: str, remote_addr: str | None,
              api_token_id: int | None = None) -> None:
    """Record that staff (or an API token, created by ``staff_id``) read the data of these learners:
    one row per learner, all in one INSERT statement (per 1,000 learners)."""
    at = utcnow()
    rows = [{"staff_id": staff_id, "learner_id": learner_id, "action": action, "remote_addr": remote_addr,
             "api_token_id": api_token_id, "at": at} for learner_id in dict.fromkeys(learner_ids)]
    if rows:
        # With RETURNING, SQLAlchemy sends the rows as one multi-row INSERT whose compiled form it
        # caches; ``insert().values(rows)`` would be compiled anew for every request (~30 ms for 100).
        table = AccessLog.__table__
        db.session.execute(insert(table).returning(table.c.id), rows)
