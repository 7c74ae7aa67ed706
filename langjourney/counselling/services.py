"""Counselling requests: a learner asks, a counsellor contacts them and marks the request handled."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from langjourney.auth.models import User
from langjourney.counselling.models import CounsellingRequest
from langjourney.db import locked, utcnow
from langjourney.errors import DomainError
from langjourney.extensions import db


def open_request(learner: User) -> CounsellingRequest | None:
    return db.session.scalar(select(CounsellingRequest).where(CounsellingRequest.learner_id == learner.id,
                                                              CounsellingRequest.handled_at.is_(None)))


def ask(learner: User, message: str, contact_times: str) -> CounsellingRequest:
    """Ask for counselling (one open request at a time)."""
    if open_request(learner) is not None:
        raise DomainError(_l("You have already asked for counselling. A counsellor will contact you."))
    request = CounsellingRequest(learner_id=learner.id, message=message.strip(), contact_times=contact_times.strip())
    try:
        with db.session.begin_nested():
            db.session.add(request)
    except IntegrityError:  # the same request, twice at once
        raise DomainError(_l("You have already asked for counselling. A counsellor will contact you.")) from None
    return request


def open_requests() -> list[CounsellingRequest]:
    """Open requests, oldest first."""
    return list(db.session.scalars(select(CounsellingRequest).where(CounsellingRequest.handled_at.is_(None))
                                   .order_by(CounsellingRequest.created_at, CounsellingRequest.id)))


def mark_handled(request_id: int, counsellor: User) -> None:
    request = locked(CounsellingRequest, request_id)
    if request is None:
        raise DomainError(_l("There is no such request."))
    if request.handled_at is None:  # a second click changes nothing
        request.handled_at = utcnow()
        request.handled_by_id = counsellor.id
        db.session.flush()
