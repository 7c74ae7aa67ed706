"""Allocation jobs: each takes ids, owns its transaction, and is safe to run twice or at once."""
from __future__ import annotations

import logging

from langjourney.extensions import db
from langjourney.waitlist import services

log = logging.getLogger(__name__)


def allocate(course_id: int) -> int:
    """Offer the course's free seats; returns how many offers were made."""
    offers = services.allocate(course_id)
    db.session.commit()
    return len(offers)


def reconcile() -> int:
    """The periodic sweep: expire overdue offers, then allocate every course with a free seat and
    someone waiting, each in its own transaction. A periodic task (langjourney/ops/periodic.py)."""
    course_ids = services.reconcile()
    db.session.commit()
    made = 0
    for course_id in course_ids:
        made += allocate(course_id)
    return made
