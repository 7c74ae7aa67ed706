"""Queries about learners for staff, and the level decisions counsellors make."""
from __future__ import annotations

from functools import cache

from flask import url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, or_, select

from langjourney.auth.models import Role, User
from langjourney.courses.models import COURSE_LEVELS
from langjourney.db import utcnow
from langjourney.errors import DomainError, required_reason
from langjourney.extensions import db
from langjourney.learners.models import LearnerProfile, LevelDecision

PAGE_SIZE = 50


def search_learners(query: str = "", page: int = 1) -> tuple[list[User], int]:
    """Learners whose name or e-mail contains ``query``, a page at a time, with the total count."""
    stmt = select(User).where(User.role == Role.LEARNER)
    if query:
        pattern = f"%{query.strip().lower()}%"
        stmt = stmt.where(or_(func.lower(User.full_name).like(pattern), User.email.like(pattern)))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    users = list(db.session.scalars(
        stmt.order_by(User.full_name, User.id).limit(PAGE_SIZE).offset((max(page, 1) - 1) * PAGE_SIZE)))
    return users, total


def set_level(learner: User, staff: User, level: str, reason: str) -> LevelDecision:
    """A counsellor or admin sets the learner's level (course matching and the waitlists use it from
    now on), with a reason that is kept with the decision. The learner is told by e-mail."""
    from langjourney.mail.services import queue_mail

    if staff.role not in (Role.COUNSELLOR, Role.ADMIN):
        raise DomainError(_l("Only a counsellor or an admin can set a learner's level."))
    if level not in COURSE_LEVELS:
        raise DomainError(_l("Choose a level: %(levels)s.", levels=", ".join(COURSE_LEVELS)), "level")
    reason = required_reason(reason)
    profile = db.session.scalar(  # two staff members at once: one after the other, each seeing the last
        select(LearnerProfile).where(LearnerProfile.user_id == learner.id)
        .with_for_update().execution_options(populate_existing=True))
    if profile is None:
        raise DomainError(_l("This learner has not filled in their profile yet."))
    now = utcnow()
    decision = LevelDecision(learner_id=learner.id, level=level, previous_level=profile.level,
                             decided_by_id=staff.id, reason=reason, decided_at=now)
    profile.level, profile.level_source, profile.level_set_at = level, "counsellor", now
    db.session.add(decision)
    db.session.flush()
    queue_mail(learner, _l("Your Estonian level is %(level)s", level=level), "mail/level_set.txt",
               level=level, courses_link=url_for("courses.my_matches", _external=True))
    return decision


def level_decisions(learner: User) -> list[LevelDecision]:
    """The learner's level decisions, newest first."""
    return list(db.session.scalars(_decisions_query(), {"learner_id": learner.id}))


@cache
def _decisions_query():
    # Built once: the dashboard runs it on every visit, and building and keying it cost more than running it.
    return (select(LevelDecision).where(LevelDecision.learner_id == bindparam("learner_id"))
            .order_by(LevelDecision.decided_at.desc(), LevelDecision.id.desc()))
