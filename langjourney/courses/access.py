"""The loaders that decide who sees which course and enrolment: 404 for what is not yours to know
about, 403 for what your role may not do; and what a provider sees of a learner."""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import wraps

from flask import abort, current_app
from flask_login import current_user

from langjourney.auth.access import role_required
from langjourney.auth.models import Provider, Role
from langjourney.courses.models import ACTIVE_STATUSES, Course, Enrolment
from langjourney.db import utcnow
from langjourney.extensions import db


def identifies_learner(enrolment: Enrolment, now: datetime | None = None) -> bool:
    """Whether the enrolment's provider may see who its learner is (name, e-mail, the notes): while
    the seat is held (accepted, confirmed, the course under way), and for
    ``ENDED_ENROLMENT_VISIBLE_DAYS`` after it ended (completed, dropped out, level mismatch,
    cancelled). After that the provider still sees and counts the enrolment, but not the learner."""
    if enrolment.status in ACTIVE_STATUSES:
        return True
    ended_at = enrolment.ended_at or enrolment.updated_at  # (every ending sets ended_at)
    visible_for = timedelta(days=current_app.config["ENDED_ENROLMENT_VISIBLE_DAYS"])
    return ended_at > (now or utcnow()) - visible_for


def get_course_or_404(course_id: int, *, for_provider: bool = False) -> Course:
    """Load a course.

    ``for_provider``: the current user must be staff of the course's provider (another provider's
    course is a 404, as if it did not exist). Otherwise the public view: published courses for
    everyone; an unpublished one only for its provider's staff and admins.
    """
    course = db.session.get(Course, course_id)
    if course is None:
        abort(404)
    own = (current_user.is_authenticated and current_user.role is Role.PROVIDER
           and current_user.provider_id == course.provider_id)
    if for_provider:
        if not current_user.is_authenticated or current_user.role is not Role.PROVIDER:
            abort(403)
        if not own:
            abort(404)
    elif not course.is_published and not (own or (current_user.is_authenticated
                                                   and current_user.role is Role.ADMIN)):
        abort(404)
    return course


def get_enrolment_or_404(enrolment_id: int, provider: Provider | None = None, *,
                         identified: bool = False) -> Enrolment:
    """Load an enrolment on a course of ``provider`` (default: the current user's); else 404.
    ``identified``: also 404 if the provider may no longer see who the learner is
    (:func:`identifies_learner`)."""
    provider_id = provider.id if provider is not None else current_user.provider_id
    enrolment = db.session.get(Enrolment, enrolment_id)
    if enrolment is None or provider_id is None or enrolment.course.provider_id != provider_id:
        abort(404)
    if identified and not identifies_learner(enrolment):
        abort(404)
    return enrolment


def provider_admin_required(view):
    """Provider staff with the provider-admin flag (they manage API tokens)."""

    @role_required(Role.PROVIDER)
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_provider_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped
