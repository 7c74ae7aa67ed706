"""The loaders that decide who sees which course and enrolment: 404 for what is not yours to know
about, 403 for what your role may not do."""
from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user

from langjourney.auth.access import role_required
from langjourney.auth.models import Provider, Role
from langjourney.courses.models import Course, Enrolment
from langjourney.extensions import db


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


def get_enrolment_or_404(enrolment_id: int, provider: Provider | None = None) -> Enrolment:
    """Load an enrolment on a course of ``provider`` (default: the current user's); else 404."""
    provider_id = provider.id if provider is not None else current_user.provider_id
    enrolment = db.session.get(Enrolment, enrolment_id)
    if enrolment is None or provider_id is None or enrolment.course.provider_id != provider_id:
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
