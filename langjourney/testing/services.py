"""The placement test in the web: start or resume an attempt, show the next item, take an answer,
finish and score. The engine's state lives in the attempt row between requests."""
from __future__ import annotations

import copy
import csv
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

import placement
from exercises import checkers
from exercises.model import Item
from langjourney.auth.models import User
from langjourney.db import utcnow, write_phase
from langjourney.errors import DomainError, required_reason
from langjourney.extensions import db
from langjourney.content import content
from langjourney.testing.bank import attempt_bank, engine_bank, live_bank_version
from langjourney.testing.models import (
    AttemptStatus, PlacementAttempt, PlacementResponse, RetakePermission,
)

PAUSE_LIMIT = timedelta(hours=24)
RETAKE_INTERVAL = timedelta(days=30)


class StaleAnswer(DomainError):
    """The answer belongs to an item that is no longer the current one (double submit, back button)."""

    def __init__(self):
        super().__init__(_l("That page was out of date, so the answer was not recorded again. "
                            "Here is your current question."))


@dataclass(frozen=True)
class RetakeStatus:
    allowed: bool
    next_date: datetime | None = None


def open_attempt(learner: User, *, lock: bool = False) -> PlacementAttempt | None:
    """The learner's open attempt; one paused past the limit is closed and scored first."""
    attempt = db.session.scalar(_open_attempt_query(lock), {"learner_id": learner.id})
    if attempt is not None and _paused_too_long(attempt):
        write_phase()  # a request that began by reading reads the attempt again, under the write lock
        if _paused_too_long(attempt):
            _finish(attempt, AttemptStatus.EXPIRED)
        return None
    return attempt


@cache
def _open_attempt_query(lock: bool):
    """Built once: on the answer path, building and keying the statement costs more than running it."""
    stmt = select(PlacementAttempt).where(PlacementAttempt.learner_id == bindparam("learner_id"),
                                          PlacementAttempt.status == AttemptStatus.OPEN)
    return stmt.with_for_update() if lock else stmt


def _paused_too_long(attempt: PlacementAttempt) -> bool:
    return attempt.status is AttemptStatus.OPEN and utcnow() - attempt.last_activity_at > PAUSE_LIMIT


def attempts_of(learner: User) -> list[PlacementAttempt]:
    """The learner's attempts, newest first."""
    return list(db.session.scalars(_attempts_query(), {"learner_id": learner.id}))


@cache
def _attempts_query():
    # Built once: the dashboard runs it on every visit, and building and keying it cost more than running it.
    return (select(PlacementAttempt).where(PlacementAttempt.learner_id == bindparam("learner_id"))
            .order_by(PlacementAttempt.started_at.desc(), PlacementAttempt.id.desc()))


def last_closed_attempt(learner: User) -> PlacementAttempt | None:
    return db.session.scalar(
        select(PlacementAttempt)
        .where(PlacementAttempt.learner_id == learner.id, PlacementAttempt.status != AttemptStatus.OPEN)
        .order_by(PlacementAttempt.finished_at.desc(), PlacementAttempt.id.desc()).limit(1))


def _unused_permission(learner: User) -> RetakePermission | None:
    return db.session.scalar(select(RetakePermission).where(
        RetakePermission.learner_id == learner.id, RetakePermission.used_at.is_(None)).limit(1))


def retake_status(learner: User) -> RetakeStatus:
    """Whether the learner may start a new attempt now: at most one finished attempt per 30 days,
    unless a counsellor allowed another."""
    last = last_closed_attempt(learner)
    if last is None or utcnow() - last.finished_at >= RETAKE_INTERVAL:
        return RetakeStatus(True)
    if _unused_permission(learner) is not None:
        return RetakeStatus(True)
    return RetakeStatus(False, last.finished_at + RETAKE_INTERVAL)


def allow_retake(learner: User, counsellor: User, reason: str) -> RetakePermission:
    """A counsellor lets the learner take the test again before the 30 days are over."""
    permission = RetakePermission(learner_id=learner.id, granted_by_id=counsellor.id,
                                  reason=required_reason(reason))
    db.session.add(permission)
    db.session.flush()
    return permission


def start_attempt(learner: User, prior_level: str | None, seed: int | None = None) -> PlacementAttempt:
    """Resume the open attempt, or start a new one if the retake rules allow it.

    The new attempt avoids the items of the learner's last attempt and uses the live bank.
    """
    attempt = open_attempt(learner)
    if attempt is not None:
        return attempt
    status = retake_status(learner)
    if not status.allowed:
        raise DomainError(_l("You took the placement test less than 30 days ago. You can take it again "
                             "from %(date)s, or ask a counsellor.", date=format_date(status.next_date)))
    last = last_closed_attempt(learner)
    if last is not None and utcnow() - last.finished_at < RETAKE_INTERVAL:
        _unused_permission(learner).used_at = utcnow()
    seen = [r.item_id for r in last.responses] if last is not None else []
    version = live_bank_version()
    bank = engine_bank(version)
    if prior_level not in bank.levels:
        prior_level = None
    state = placement.start(bank, prior_level=prior_level, seen=seen, seed=seed)
    attempt = PlacementAttempt(learner_id=learner.id, bank_version_id=version.id, state=state,
                               prior_level=prior_level)
    try:
        with db.session.begin_nested():
            db.session.add(attempt)
    except IntegrityError:  # the same learner started one in another tab a moment ago
        return open_attempt(learner)
    return attempt


def current_item(attempt: PlacementAttempt) -> Item | None:
    """The item to show now (the same one again on a reload), or None when the test is over."""
    if attempt.status is not AttemptStatus.OPEN:
        return None
    state = copy.deepcopy(attempt.state)
    bank = attempt_bank(attempt)
    item_id = placement.next_item(state, bank)
    if item_id is None:
        _finish(attempt, AttemptStatus.FINISHED, state)
        return None
    if state != attempt.state:
        attempt.state = state
        attempt.item_shown_at = utcnow()
        db.session.flush()
    return content().item(item_id)


def answer(attempt: PlacementAttempt, seq: int, given) -> bool:
    """Check and record the answer to the current item. Returns whether the test is now over.

    ``seq`` is the number of answers recorded when the item was shown; any other value (a double
    submit, the back button, a second tab) raises :class:`StaleAnswer` and records nothing. The new
    state is computed from the attempt as read and written by one conditional update (``… WHERE
    seq = :seq``), so of two submits racing with the same ``seq`` exactly one is recorded; the
    caller rolls back on :class:`StaleAnswer`.
    """
    if attempt.status is not AttemptStatus.OPEN or seq != attempt.seq or attempt.state["pending"] is None:
        raise StaleAnswer()
    attempt_id, shown_at = attempt.id, attempt.item_shown_at
    state = attempt.state  # changed in place: a lost race rolls back, which expires the attempt
    bank = attempt_bank(attempt)
    item = content().item(state["pending"])
    outcome = checkers.check(item, given)
    now = utcnow()
    placement.record(state, item.id, outcome.correct, bank)
    over = placement.next_item(state, bank) is None  # chooses the next item, or ends the test
    elapsed = int((now - shown_at).total_seconds() * 1000) if shown_at else None
    changes = {"seq": seq + 1, "last_activity_at": now, "state": state, "item_shown_at": now}
    record, store = _answer_statements()
    write_phase()
    connection = db.session.connection()
    if connection.execute(record, {"attempt_id": attempt_id, "old_seq": seq, "open": AttemptStatus.OPEN,
                                   **{f"new_{key}": value for key, value in changes.items()}}).rowcount != 1:
        raise StaleAnswer()
    connection.execute(store, {"attempt_id": attempt_id, "seq": seq, "item_id": item.id, "answer": _as_text(given),
                               "correct": outcome.correct, "time_ms": elapsed, "answered_at": now})
    for key, value in changes.items():  # what was written, without reading the row back
        set_committed_value(attempt, key, value)
    if over:
        _finish(attempt, AttemptStatus.FINISHED, state)
    return over


@cache
def _answer_statements():
    """The two writes of an answer, built once, on the tables (no ORM bookkeeping): the conditional
    update of the attempt (``… WHERE seq = :old_seq``) and the insert of the response."""
    attempt = PlacementAttempt.__table__
    record = (attempt.update()
              .where(attempt.c.id == bindparam("attempt_id"), attempt.c.seq == bindparam("old_seq"),
                     attempt.c.status == bindparam("open", type_=attempt.c.status.type))
              .values({column: bindparam(f"new_{column}", type_=attempt.c[column].type)
                       for column in ("seq", "last_activity_at", "state", "item_shown_at")}))
    return record, PlacementResponse.__table__.insert()


def _as_text(given) -> str:
    if isinstance(given, (list, tuple)):
        return " | ".join(str(g) for g in given)
    return "" if given is None else str(given)


def _finish(attempt: PlacementAttempt, status: AttemptStatus, state: dict | None = None) -> None:
    """Score the attempt on what was answered and set the learner's level from it."""
    state = state if state is not None else copy.deepcopy(attempt.state)
    outcome = placement.result(state, attempt_bank(attempt))
    attempt.state = state
    attempt.status = status
    attempt.finished_at = utcnow()
    attempt.result = outcome
    if attempt.seq:
        attempt.level, attempt.theta, attempt.sem = outcome["level"], outcome["theta"], outcome["sem"]
        learner = db.session.get(User, attempt.learner_id)
        if learner.profile is not None:
            learner.profile.level = attempt.level
            learner.profile.level_source = "placement"
            learner.profile.level_set_at = attempt.finished_at
    db.session.flush()


def finish_early(attempt: PlacementAttempt) -> None:
    """Close an open attempt now and score it on what was answered."""
    if attempt.status is AttemptStatus.OPEN:
        _finish(attempt, AttemptStatus.FINISHED)


def export_responses(path: str) -> int:
    """Write every stored response as ``learner_id,item_id,correct`` (the calibration format)."""
    rows = db.session.execute(
        select(PlacementAttempt.learner_id, PlacementResponse.item_id, PlacementResponse.correct)
        .join(PlacementResponse.attempt).order_by(PlacementResponse.id))
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["learner_id", "item_id", "correct"])
        for learner_id, item_id, correct in rows:
            writer.writerow([learner_id, item_id, int(correct)])
            count += 1
    return count
