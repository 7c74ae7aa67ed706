"""Queries about learners for staff."""
from __future__ import annotations

from sqlalchemy import func, or_, select

from langjourney.auth.models import Role, User
from langjourney.extensions import db

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
