"""The one place that decides who may see what: a role decorator and the learner loader."""
from __future__ import annotations

from functools import wraps

from flask import abort, g, request
from flask_login import current_user
from sqlalchemy import inspect

from langjourney.auth.models import Role, User
from langjourney.auth.services import log_access
from langjourney.auth.sessions import user_for_session
from langjourney.extensions import db, login_manager


@login_manager.user_loader
def load_user(session_key: str) -> User | None:
    """The user of a live sign-in (from the session or the remember cookie); see auth.sessions."""
    return user_for_session(session_key)


def signed_in_user_id() -> int | None:
    """The id of the user signed in on this request, if anything has loaded them; never a query
    (after a commit the user row is expired, and reading ``current_user.id`` would reload it)."""
    user = g.get("_login_user")  # where Flask-Login keeps the request's user
    if user is None or not user.is_authenticated:
        return None
    return inspect(user).identity[0]


def role_required(*roles: Role):
    """Let signed-in users with one of ``roles`` through; others are sent to sign in (anonymous)
    or refused with 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = roles
        return wrapped

    return decorator


STAFF_WHO_SEE_LEARNERS = (Role.COUNSELLOR, Role.ADMIN)


def get_learner_or_404(user_id: int, action: str) -> User:
    """Load a learner for the current user: the learner themselves, or a counsellor or admin (whose
    view is written to the access log). Anyone else gets 403; an unknown id 404."""
    learner = db.session.get(User, user_id)
    if learner is None or learner.role is not Role.LEARNER:
        abort(404)
    if current_user.id == learner.id:
        return learner
    if current_user.role not in STAFF_WHO_SEE_LEARNERS:
        abort(403)
    log_access(current_user, learner, action, request.remote_addr)
    return learner
