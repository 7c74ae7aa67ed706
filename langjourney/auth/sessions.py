"""Sign-ins that end: one :class:`UserSession` row per sign-in, checked on every signed-in request.

Flask-Login keeps ``"<user id>:<token>"`` (``User.get_id()``) in the session cookie and, with "keep me
signed in", in the remember cookie; the database keeps only the token's SHA-256. Deleting the row
ends that sign-in wherever its cookies are: sign-out deletes one, "sign out everywhere" and a
password change delete all of a user's rows. A sign-in also ends

- after ``REMEMBER_DAYS`` whatever happens (the remember cookie lasts as long);
- for staff, after ``SESSION_IDLE_MINUTES_STAFF`` without a request, remembered or not;
- for learners, after ``SESSION_IDLE_MINUTES_LEARNER`` without a request, unless they chose to stay
  signed in on that device.

The check is the one query the loader made before (the user row, now joined with the session row);
``last_seen_at`` is written at most once per :data:`TOUCH_EVERY`, after the response is built.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import cache

from flask import Flask, current_app, g
from sqlalchemy import and_, bindparam, delete, or_, select, update

from langjourney.auth.models import Role, User, UserSession
from langjourney.db import utcnow
from langjourney.extensions import db

TOUCH_EVERY = timedelta(minutes=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User, remember: bool = False) -> str:
    """Open a sign-in for ``user`` and return its key (also set as ``user.session_key``, which
    Flask-Login's ``login_user`` stores). The user's sign-ins that have already expired go."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    idle = UserSession.last_seen_at < now - _idle_limit(user.role, is_remembered=False)
    if not user.role.is_staff:
        idle = and_(idle, UserSession.is_remembered.is_(False))
    db.session.execute(delete(UserSession).where(
        UserSession.user_id == user.id, or_(UserSession.created_at < now - _lifetime(), idle)))
    db.session.add(UserSession(user_id=user.id, token_hash=_hash(token), is_remembered=remember))
    db.session.flush()
    user.session_key = f"{user.id}:{token}"
    return user.session_key


def end_session(key: str | None) -> None:
    """End one sign-in (sign-out); an unknown or already ended key is no error."""
    parsed = _parse(key)
    if parsed is not None:
        db.session.execute(delete(UserSession).where(UserSession.token_hash == _hash(parsed[1])))
        db.session.flush()


def end_all_sessions(user: User) -> int:
    """End every sign-in of ``user`` on every device; returns how many there were."""
    result = db.session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    db.session.flush()
    return result.rowcount


def user_for_session(key: str) -> User | None:
    """The active user whose live sign-in ``key`` is, or None (unknown, ended or expired key)."""
    parsed = _parse(key)
    if parsed is None:
        return None
    row = db.session.execute(_session_query(), {"id": parsed[0], "hash": _hash(parsed[1])}).first()
    if row is None:
        return None
    user, session_id, is_remembered, created_at, last_seen_at = row
    now = utcnow()
    if not user.is_active or created_at < now - _lifetime():
        return None
    if last_seen_at < now - _idle_limit(user.role, is_remembered):
        return None
    if last_seen_at < now - TOUCH_EVERY:
        g._session_to_touch = session_id
    user.session_key = key
    return user


def _parse(key: str | None) -> tuple[int, str] | None:
    user_id, _, token = (key or "").partition(":")
    if not user_id.isdigit() or len(user_id) > 18 or not token:
        return None
    return int(user_id), token


@cache
def _session_query():
    """Built once: this runs in every signed-in request, and building and keying the statement
    costs more than running it."""
    return (select(User, UserSession.id, UserSession.is_remembered, UserSession.created_at,
                   UserSession.last_seen_at)
            .join(UserSession, UserSession.user_id == User.id)
            .where(User.id == bindparam("id"), UserSession.token_hash == bindparam("hash")))


def _lifetime() -> timedelta:
    return timedelta(days=current_app.config["REMEMBER_DAYS"])


def _idle_limit(role: Role, is_remembered: bool) -> timedelta:
    config = current_app.config
    if role.is_staff:
        return timedelta(minutes=config["SESSION_IDLE_MINUTES_STAFF"])
    if is_remembered:
        return _lifetime()
    return timedelta(minutes=config["SESSION_IDLE_MINUTES_LEARNER"])


def _touch(session_id: int, now: datetime) -> None:
    db.session.execute(update(UserSession).where(UserSession.id == session_id).values(last_seen_at=now))


def init_sessions(app: Flask) -> None:
    """The remember cookie lasts as long as a sign-in may; the last-seen time of a sign-in that is
    due is written once the response is built."""
    app.config["REMEMBER_COOKIE_DURATION"] = timedelta(days=app.config["REMEMBER_DAYS"])

    @app.after_request
    def touch_session(response):
        session_id = g.pop("_session_to_touch", None)
        if session_id is not None:
            # Whatever the view left uncommitted would be rolled back at teardown anyway; it must
            # not be committed with this write.
            db.session.rollback()
            _touch(session_id, utcnow())
            db.session.commit()
        return response
