"""Allocation jobs: each takes ids, owns its transaction, and is safe to run twice or at once."""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app

from langjourney.extensions import db
from langjourney.waitlist import services

log = logging.getLogger(__name__)
RECONCILE_EVERY = timedelta(minutes=1)
RECONCILE_JOB_ID = "langjourney-waitlist-reconcile"


def allocate(course_id: int) -> int:
    """Offer the course's free seats; returns how many offers were made."""
    offers = services.allocate(course_id)
    db.session.commit()
    return len(offers)


def reconcile() -> int:
    """The periodic sweep: expire overdue offers, then allocate every course with a free seat and
    someone waiting, each in its own transaction. Schedules its next run when a worker runs it."""
    course_ids = services.reconcile()
    db.session.commit()
    made = 0
    for course_id in course_ids:
        made += allocate(course_id)
    schedule_reconcile()
    return made


def schedule_reconcile() -> None:
    """Put the next sweep on RQ's scheduler (one pending sweep at most: a fixed job id)."""
    if not current_app.config["REDIS_URL"]:
        return
    from langjourney.jobs import get_queue, run

    get_queue(current_app).enqueue_in(RECONCILE_EVERY, run, f"{__name__}.reconcile",
                                      job_id=RECONCILE_JOB_ID, job_timeout=300)
