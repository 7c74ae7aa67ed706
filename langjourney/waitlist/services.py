"""Waitlists and the fair allocation of freed seats.

The database is the only source of truth; jobs are triggers. :func:`allocate` locks the course row,
counts live seats (active enrolments + open offers) and offers the free ones in policy order, so
running it twice, or on two workers at once, changes nothing the second time. State changes of
offers are conditional updates (``… WHERE status = 'open' AND expires_at > now``), so an accept
racing the expiry sweep has exactly one winner. Every decision writes an :class:`AllocationEvent`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, lru_cache
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import Iterator, NamedTuple
from zoneinfo import ZoneInfo

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Row, and_, bindparam, exists, func, insert, literal_column, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from langjourney.auth.models import User
from langjourney.courses import services as courses
from langjourney.courses.models import ACTIVE_STATUSES, Course, Enrolment, EnrolmentStatus
from langjourney.courses.rules import adaptation_cutoff, enrolment_problems
from langjourney.db import locked
from langjourney.errors import DomainError
from langjourney.extensions import db
from langjourney.jobs import enqueue
from langjourney.learners.models import LearnerProfile
from langjourney.waitlist.clock import now
from langjourney.waitlist.models import (
    ACTIVE_ENTRY, AllocationEvent, EntryStatus, Offer, OfferStatus, WaitlistEntry,
)
from langjourney.waitlist.policy import current_policy, lottery, tier_clause, tier_of

TALLINN = ZoneInfo("Europe/Tallinn")


# -- small pieces -----------------------------------------------------------------------------------

def _today():
    """Today in Estonia, on the waitlist's clock."""
    return now().astimezone(TALLINN).date()


def _event_row(kind: str, *, actor: str, learner_id=None, course_id=None, entry_id=None, offer_id=None,
               policy=None, tier=None, lottery_value=None, reason=None, detail=None,
               at: datetime | None = None) -> dict:
    """The columns of one :class:`AllocationEvent`."""
    return dict(at=at or now(), kind=kind, actor=actor, reason=reason, detail=detail, learner_id=learner_id,
                course_id=course_id, entry_id=entry_id, offer_id=offer_id,
                policy_version=policy.version if policy else None, tier=tier, lottery=lottery_value)


def log(kind: str, *, actor: str, learner_id=None, course_id=None, entry: WaitlistEntry | None = None,
        offer: Offer | None = None, policy=None, tier=None, lottery_value=None, reason=None,
        detail=None, at: datetime | None = None) -> AllocationEvent:
    event = AllocationEvent(**_event_row(
        kind, actor=actor, reason=reason, detail=detail, at=at, policy=policy, tier=tier, lottery_value=lottery_value,
        learner_id=learner_id or (entry.learner_id if entry else offer.learner_id if offer else None),
        course_id=course_id or (entry.course_id if entry else offer.course_id if offer else None),
        entry_id=entry.id if entry else (offer.entry_id if offer else None), offer_id=offer.id if offer else None))
    db.session.add(event)
    return event


def _trigger(course_id: int) -> None:
    from langjourney.waitlist import tasks

    enqueue(tasks.allocate, course_id)


# Statements that allocate() runs are built once per process (``@cache``, values as bind
# parameters): building a statement and computing its cache key costs SQLAlchemy more CPU than
# running it (0.3-1 ms against 0.1-0.3 ms), and allocate() runs a dozen.

@cache
def _live_seats_query():
    course_id = bindparam("course_id")
    enrolled = select(func.count()).select_from(Enrolment).where(
        Enrolment.course_id == course_id, Enrolment.status.in_(ACTIVE_STATUSES)).scalar_subquery()
    offered = select(func.count()).select_from(Offer).where(
        Offer.course_id == course_id, Offer.status == OfferStatus.OPEN).scalar_subquery()
    return select(enrolled + offered)


def live_seats(course_id: int) -> int:
    """Seats taken on the course: active enrolments plus open offers."""
    return db.session.scalar(_live_seats_query(), {"course_id": course_id})


def active_entries(learner: User) -> list[WaitlistEntry]:
    return list(db.session.scalars(select(WaitlistEntry).where(
        WaitlistEntry.learner_id == learner.id, WaitlistEntry.status.in_(ACTIVE_ENTRY))
        .order_by(WaitlistEntry.joined_at)))


def open_offer(learner: User) -> Offer | None:
    """The learner's live offer; one past its deadline is expired first (the embedded default has
    no scheduler, so expiry is also applied when an offer is read)."""
    offer = db.session.scalar(_open_offer_query(), {"learner_id": learner.id})
    if offer is not None and offer.expires_at <= now():
        expire_due(course_id=offer.course_id)
        return None
    return offer


@cache
def _open_offer_query():
    # Built once: the dashboard runs it on every visit, and building and keying it cost more than running it.
    return select(Offer).where(Offer.learner_id == bindparam("learner_id"), Offer.status == OfferStatus.OPEN)


# -- joining and leaving ---------------------------------------------------------------------------

def _mismatch_join_time(learner: User) -> datetime | None:
    """A learner sent back by a level mismatch keeps the join time of the seat they lost."""
    return db.session.scalar(
        select(func.min(WaitlistEntry.joined_at))
        .join(Enrolment, and_(Enrolment.learner_id == WaitlistEntry.learner_id,
                              Enrolment.course_id == WaitlistEntry.course_id))
        .where(WaitlistEntry.learner_id == learner.id, WaitlistEntry.status == EntryStatus.ACCEPTED,
               Enrolment.status == EnrolmentStatus.MISMATCH))


def join(learner: User, course: Course, *, tier_override: int | None = None) -> WaitlistEntry:
    """Put the learner on the course's waitlist (up to the policy's number of lists at one level)."""
    policy = current_policy()
    profile = learner.profile
    problems = [p for p in enrolment_problems(profile, course, courses.learner_enrolments(learner), _today())]
    if problems:
        raise DomainError(problems[0].message)
    entries = active_entries(learner)
    if any(e.course_id == course.id for e in entries):
        raise DomainError(_l("You are already on this course's waiting list."))
    if sum(e.level == course.level for e in entries) >= policy.max_waitlists:
        raise DomainError(_l("You can be on at most %(n)d waiting lists at one level. Leave one first.",
                             n=policy.max_waitlists))
    moment = now()
    joined_at = min(filter(None, [moment, _mismatch_join_time(learner)]))
    entry = WaitlistEntry(learner_id=learner.id, course_id=course.id, level=course.level, joined_at=joined_at,
                          tier_override=tier_override, created_at=moment)
    try:
        with db.session.begin_nested():
            db.session.add(entry)
    except IntegrityError:  # the same join, twice at once
        raise DomainError(_l("You are already on this course's waiting list.")) from None
    log("join", actor=f"learner:{learner.id}", entry=entry, policy=policy,
        tier=tier_of(policy, profile, _today(), tier_override), lottery_value=lottery(policy, entry.id),
        detail={"joined_at": joined_at.isoformat()})
    db.session.flush()
    _trigger(course.id)
    return entry


def _end_entry(entry: WaitlistEntry, status: EntryStatus) -> None:
    entry.status = status
    entry.ended_at = now()


def leave(learner: User, entry: WaitlistEntry) -> None:
    """The learner leaves a waitlist (an open offer from it is withdrawn too)."""
    if entry.learner_id != learner.id or entry.status not in ACTIVE_ENTRY:
        raise DomainError(_l("You are not on this waiting list."))
    cancel(learner, entry.course, reason="left the waiting list", entry_status=EntryStatus.LEFT)


def cancel(learner: User, course: Course, *, actor: str | None = None, reason: str = "cancelled",
           entry_status: EntryStatus = EntryStatus.CANCELLED) -> bool:
    """Withdraw the learner from the course whatever they hold there: a waitlist place, an offer or
    a seat. Returns whether anything was held."""
    held = False
    moment = now()
    actor = actor or f"learner:{learner.id}"
    for offer in db.session.scalars(select(Offer).where(Offer.learner_id == learner.id, Offer.course_id == course.id,
                                                        Offer.status == OfferStatus.OPEN)):
        offer.status, offer.decided_at = OfferStatus.CANCELLED, moment
        held = True
    for entry in db.session.scalars(select(WaitlistEntry).where(
            WaitlistEntry.learner_id == learner.id, WaitlistEntry.course_id == course.id,
            WaitlistEntry.status.in_(ACTIVE_ENTRY))):
        _end_entry(entry, entry_status)
        held = True
    for enrolment in db.session.scalars(select(Enrolment).where(
            Enrolment.learner_id == learner.id, Enrolment.course_id == course.id,
            Enrolment.status.in_(ACTIVE_STATUSES))):
        enrolment.status, enrolment.ended_at = EnrolmentStatus.CANCELLED, moment
        held = True
    if held:
        log("cancel", actor=actor, learner_id=learner.id, course_id=course.id, reason=reason)
        db.session.flush()
        _trigger(course.id)
    return held


def give_up_seat(enrolment_id: int, learner: User) -> Enrolment:
    """The learner gives up a seat they accepted (or the school confirmed) before the course starts:
    the enrolment is cancelled and the seat offered to the next learner (:func:`cancel`)."""
    enrolment = locked(Enrolment, enrolment_id)  # a double click: the second finds it cancelled
    if enrolment is None or enrolment.learner_id != learner.id:
        raise DomainError(_l("You have no such seat."))
    if enrolment.status not in ACTIVE_STATUSES:
        raise DomainError(_l("This seat is no longer yours."))
    if _today() >= enrolment.course.start_date:
        raise DomainError(_l("The course has already started. If you cannot go on with it, tell the school: "
                             "they record it, and the seat is then offered to the next learner."))
    cancel(learner, enrolment.course, reason="the learner gave up the seat")
    return enrolment


# -- offers ----------------------------------------------------------------------------------------

def _decide(offer_id: int, learner_id: int, status: OfferStatus) -> Offer:
    """Close an open, unexpired offer of this learner; exactly one caller wins a race."""
    moment = now()
    result = db.session.execute(
        update(Offer).where(Offer.id == offer_id, Offer.learner_id == learner_id,
                            Offer.status == OfferStatus.OPEN, Offer.expires_at > moment)
        .values(status=status, decided_at=moment).execution_options(synchronize_session=False))
    offer = db.session.execute(select(Offer).where(Offer.id == offer_id)
                               .execution_options(populate_existing=True)).scalar_one_or_none()
    if result.rowcount != 1:
        if offer is None or offer.learner_id != learner_id:
            raise DomainError(_l("There is no such offer."))
        if offer.status is OfferStatus.OPEN or offer.status is OfferStatus.EXPIRED:
            raise DomainError(_l("This offer has expired, and the seat has been passed on."))
        if offer.status is OfferStatus.CANCELLED:
            raise DomainError(_l("This offer has been withdrawn."))
        raise DomainError(_l("This offer has already been answered."))
    return offer


def accept(offer_id: int, learner: User) -> Enrolment:
    """Accept an offer: the seat becomes an enrolment and the learner leaves their other waitlists at
    that level.

    The course row is locked before the offer is touched, in the order allocation and course edits
    take them (course, then offers): an accept racing a capacity cut has one winner, and neither
    waits on the other in a deadlock.
    """
    course_id = db.session.scalar(select(Offer.course_id).where(Offer.id == offer_id))
    if course_id is not None:
        courses.lock_course(course_id)
    offer = _decide(offer_id, learner.id, OfferStatus.ACCEPTED)
    # Refused (e.g. the enrolment deadline passed)? The caller rolls back, and the offer stays open.
    enrolment = courses.create_enrolment(learner, offer.course, today=_today())
    _end_entry(offer.entry, EntryStatus.ACCEPTED)
    for entry in active_entries(learner):
        if entry.level == offer.course.level:
            _end_entry(entry, EntryStatus.LEFT)
            log("leave", actor="system", entry=entry, reason="accepted a seat at this level")
            _trigger(entry.course_id)
    log("accept", actor=f"learner:{learner.id}", offer=offer)
    db.session.flush()
    return enrolment


def decline(offer_id: int, learner: User) -> Offer:
    """Decline an offer: the learner leaves that waitlist (other waitlists stay); the seat passes on."""
    offer = _decide(offer_id, learner.id, OfferStatus.DECLINED)
    _end_entry(offer.entry, EntryStatus.DECLINED)
    log("decline", actor=f"learner:{learner.id}", offer=offer)
    db.session.flush()
    _trigger(offer.course_id)
    return offer


def withdraw_offers_over_capacity(course: Course, *, actor: str) -> list[Offer]:
    """The course's capacity was lowered below its live seats (active enrolments and open offers):
    withdraw the open offers above the new capacity, the latest made first.

    The caller holds the course row lock (:func:`~langjourney.courses.services.update_course`), so
    no accept or allocation on the course runs meanwhile; a decline or an expiry at the same moment
    frees its seat anyway (the conditional update then skips that offer). Each learner keeps their
    place: their entry waits again with its original join time, so the next seat freed on the course
    is offered to them first. Each withdrawal writes a ``withdraw`` event with the reason and mails the
    learner in their language; the learner's other lists are re-run (they may be offered a seat there
    now that they hold no offer).
    """
    from langjourney.mail.services import queue_mail

    expire_due(course.id)  # an offer past its deadline frees its seat first (as allocate does)
    excess = live_seats(course.id) - course.capacity
    if excess <= 0:
        return []
    moment = now()
    reason = f"capacity lowered to {course.capacity}"
    withdrawn = []
    for offer_id in db.session.scalars(select(Offer.id).where(Offer.course_id == course.id,
                                                              Offer.status == OfferStatus.OPEN)
                                       .order_by(Offer.offered_at.desc(), Offer.id.desc()).limit(excess)).all():
        result = db.session.execute(
            update(Offer).where(Offer.id == offer_id, Offer.status == OfferStatus.OPEN)
            .values(status=OfferStatus.CANCELLED, decided_at=moment).execution_options(synchronize_session=False))
        if result.rowcount != 1:
            continue  # declined or expired a moment ago: that seat is free too
        offer = db.session.execute(select(Offer).where(Offer.id == offer_id)
                                   .execution_options(populate_existing=True)).scalar_one()
        offer.entry.status = EntryStatus.WAITING  # the same entry: the original join time
        log("withdraw", actor=actor, offer=offer, reason=reason,
            detail={"joined_at": offer.entry.joined_at.isoformat()})
        withdrawn.append(offer)
    db.session.flush()
    for offer in withdrawn:
        queue_mail(offer.learner, _l("The seat offered to you on “%(title)s” has been withdrawn", title=course.title),
                   "mail/offer_withdrawn.txt", course=course)
        for entry in active_entries(offer.learner):
            if entry.course_id != course.id:
                _trigger(entry.course_id)
    return withdrawn


@cache
def _due_offers_query(of_one_course: bool):
    stmt = select(Offer.id).where(Offer.status == OfferStatus.OPEN, Offer.expires_at <= bindparam("moment"))
    return stmt.where(Offer.course_id == bindparam("course_id")) if of_one_course else stmt


def expire_due(course_id: int | None = None) -> set[int]:
    """Expire open offers past their deadline; returns the courses that got a seat back."""
    moment = now()
    freed = set()
    for offer_id in db.session.scalars(_due_offers_query(course_id is not None),
                                       {"moment": moment, "course_id": course_id}).all():
        result = db.session.execute(
            update(Offer).where(Offer.id == offer_id, Offer.status == OfferStatus.OPEN, Offer.expires_at <= moment)
            .values(status=OfferStatus.EXPIRED, decided_at=moment).execution_options(synchronize_session=False))
        if result.rowcount != 1:
            continue  # accepted or declined a moment ago
        offer = db.session.execute(select(Offer).where(Offer.id == offer_id)
                                   .execution_options(populate_existing=True)).scalar_one()
        _end_entry(offer.entry, EntryStatus.EXPIRED)
        log("expire", actor="job", offer=offer, at=offer.expires_at)
        freed.add(offer.course_id)
    db.session.flush()
    for course in freed:
        _trigger(course)  # from allocate() itself, a second run that finds nothing more to do
    return freed


class Candidate(NamedTuple):
    """A waiting entry as the policy sees it: one lean row, not ORM objects (a course has some 150
    waiting entries and ``allocate`` offers two or three seats)."""

    entry_id: int
    learner_id: int
    joined_at: datetime
    tier: int
    lottery: str
    holds_offer: bool  # the learner holds an open offer (on any course)
    profile: Row  # the profile fields the rules read: level, status, residence_permit_date, county, mother_tongue

    @property
    def claim(self):
        return (self.tier, self.joined_at, self.lottery)


@lru_cache(maxsize=32)
def _waiting_query(tier_rules: str, default_tier: int):
    """The course's waiting entries sorted by tier and join time, with what the rules read; one
    statement per set of tier rules (the policy versions in use)."""
    entry, profile, offer = WaitlistEntry.__table__, LearnerProfile.__table__, Offer.__table__
    tier = tier_clause(json.loads(tier_rules), default_tier, profile, entry.c.tier_override).label("tier")
    # 'open' as a literal, not a bind parameter: then PostgreSQL answers this from the partial
    # index uq_offer_one_open_per_learner, one probe per entry, also in a prepared statement's
    # generic plan (with a parameter it scanned every open offer for every entry: 25-35 ms a call
    # at full size in the benchmark).
    holds_offer = exists().where(offer.c.learner_id == entry.c.learner_id,
                                 offer.c.status == literal_column(f"'{OfferStatus.OPEN.value}'"))
    return (select(entry.c.id, entry.c.learner_id, entry.c.joined_at, tier, holds_offer.label("holds_offer"),
                   profile.c.level, profile.c.status, profile.c.residence_permit_date, profile.c.county,
                   profile.c.mother_tongue)
            .join(profile, profile.c.user_id == entry.c.learner_id)  # joining a list took a level
            .where(entry.c.course_id == bindparam("course_id"), entry.c.status == EntryStatus.WAITING)
            .order_by(tier, entry.c.joined_at))


def ranked_candidates(course: Course, policy) -> Iterator[Candidate]:
    """The course's waiting entries in policy order: tier, then join time, then the lottery.

    The database sorts by tier (the rules as SQL, :func:`~langjourney.waitlist.policy.tier_clause`)
    and join time; entries tied on both are put in lottery order here, lazily: ``allocate`` looks
    only as far as it offers seats. (The rows are all fetched at once, so that what allocate
    writes meanwhile cannot reach a cursor still being read.)
    """
    rows = db.session.execute(_waiting_query(json.dumps(policy.tier_rules, sort_keys=True), policy.default_tier),
                              {"course_id": course.id, "cutoff": adaptation_cutoff(_today())}).all()
    for _, tied in groupby(rows, key=itemgetter(3, 2)):  # (tier, joined_at)
        yield from sorted((Candidate(row.id, row.learner_id, row.joined_at, row.tier, lottery(policy, row.id),
                                     bool(row.holds_offer), row) for row in tied), key=attrgetter("lottery"))


@cache
def _histories_query():
    return (select(Enrolment).options(joinedload(Enrolment.course))
            .where(Enrolment.learner_id.in_(bindparam("learner_ids", expanding=True))))


def enrolment_histories(learner_ids) -> dict[int, list[Enrolment]]:
    """Each learner's enrolments (any status, with their courses), in one query for all of them."""
    histories = {learner_id: [] for learner_id in learner_ids}
    if histories:
        for enrolment in db.session.scalars(_histories_query(), {"learner_ids": list(histories)}):
            histories[enrolment.learner_id].append(enrolment)
    return histories


def ineligibility(candidate: Candidate, course: Course, history: list[Enrolment]) -> str | None:
    """Why this waiting learner can't be offered a seat on the course now (a code), or None.
    ``history`` is the learner's enrolments (:func:`enrolment_histories`)."""
    if candidate.holds_offer:
        return "holds_offer"
    problems = enrolment_problems(candidate.profile, course, history, _today())
    return problems[0].code if problems else None


def _take_seats(candidates: list[Candidate], course: Course, policy, moment: datetime) -> dict[int, int | str]:
    """Offer a seat to each candidate, in two statements; returns, by entry id, the new offer's id or
    why there is none.

    A candidate misses out, without an error, when their entry stopped waiting since it was read
    (they left the list, which takes no course lock), or when they got an offer on another course at
    this very moment: the one open offer per learner index makes ``ON CONFLICT DO NOTHING`` wait for
    the other transaction and then skip the row, so no savepoint is needed.
    """
    waiting = set(db.session.scalars(_offered_entries_update(), {"entry_ids": [c.entry_id for c in candidates]}))
    outcome: dict[int, int | str] = {c.entry_id: "not_waiting" for c in candidates if c.entry_id not in waiting}
    rows = [{"entry_id": c.entry_id, "learner_id": c.learner_id, "course_id": course.id,
             "policy_version": policy.version, "status": OfferStatus.OPEN, "offered_at": moment,
             "expires_at": moment + timedelta(hours=policy.offer_hours)}
            # In learner order: two allocations inserting offers for the same two learners in
            # opposite orders would deadlock on the unique index.
            for c in sorted(candidates, key=attrgetter("learner_id")) if c.entry_id in waiting]
    if rows:
        outcome.update(db.session.execute(_offer_insert(db.session.get_bind().dialect.name), rows).all())
    lost = [entry_id for entry_id in waiting if entry_id not in outcome]
    if lost:  # back in the queue
        table = WaitlistEntry.__table__
        db.session.execute(update(table).where(table.c.id.in_(lost)).values(status=EntryStatus.WAITING))
        outcome.update(dict.fromkeys(lost, "holds_offer"))
    return outcome


@cache
def _offered_entries_update():
    table = WaitlistEntry.__table__
    return (update(table).where(table.c.id.in_(bindparam("entry_ids", expanding=True)),
                                table.c.status == EntryStatus.WAITING)
            .values(status=EntryStatus.OFFERED).returning(table.c.id))


@cache
def _offer_insert(dialect_name: str):
    """``INSERT … ON CONFLICT DO NOTHING RETURNING``: a row that would break a unique index is skipped."""
    table = Offer.__table__
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing().returning(table.c.entry_id, table.c.id)


def allocate(course_id: int) -> list[int]:
    """Offer the course's free seats to the best eligible waiting learners; returns the new offers'
    ids. Idempotent."""
    course = locked(Course, course_id)
    if course is None:
        return []
    expire_due(course_id)
    free = course.capacity - live_seats(course_id)
    if free <= 0 or not course.is_published:
        return []
    policy = current_policy()
    moment = now()
    candidates = ranked_candidates(course, policy)
    offers: dict[int, Candidate] = {}  # offer id -> candidate, in policy order
    skipped, events = [], []
    while len(offers) < free:
        # The next learners in policy order, up to as many not holding an offer as there are seats
        # left: their histories in one query, then their offers in one statement.
        batch, need = [], free - len(offers)
        for candidate in candidates:
            batch.append(candidate)
            need -= not candidate.holds_offer
            if need == 0:
                break
        if not batch:
            break
        histories = enrolment_histories({c.learner_id for c in batch if not c.holds_offer})
        reasons = {c.entry_id: ineligibility(c, course, histories.get(c.learner_id, [])) for c in batch}
        outcome = _take_seats([c for c in batch if reasons[c.entry_id] is None], course, policy, moment)
        for candidate in batch:
            result = reasons[candidate.entry_id] or outcome[candidate.entry_id]
            if isinstance(result, str):
                skipped.append({"entry": candidate.entry_id, "learner": candidate.learner_id, "reason": result})
                continue
            offers[result] = candidate
            events.append(_event_row(
                "offer", actor="job", learner_id=candidate.learner_id, course_id=course.id,
                entry_id=candidate.entry_id, offer_id=result, policy=policy, tier=candidate.tier,
                lottery_value=candidate.lottery, reason=f"free seat {len(offers)} of {free}",
                detail={"skipped": list(skipped), "joined_at": candidate.joined_at.isoformat()}))
    if offers:
        db.session.execute(insert(AllocationEvent.__table__), events)
        _queue_offer_mails(course, offers, moment + timedelta(hours=policy.offer_hours))
    return list(offers)


def warm_up() -> None:
    """Run allocate()'s statements once on ids that match nothing (the inserts aside), so that a
    worker compiles them before it forks its work horses (:func:`langjourney.jobs.warm_up` rolls
    back afterwards)."""
    locked(Course, 0)
    expire_due(0)
    live_seats(0)
    list(ranked_candidates(Course(id=0), current_policy()))
    enrolment_histories([0])
    db.session.execute(_offered_entries_update(), {"entry_ids": [0]})
    db.session.execute(_users_query(), {"user_ids": [0]})
    url_for("waitlist.offer_link", token=_token(0, 0), _external=True)


def reconcile() -> list[int]:
    """Expire overdue offers and list every course with a free seat and someone waiting (the
    periodic sweep that heals lost jobs, dead workers and a flushed Redis)."""
    expire_due()
    waiting = select(WaitlistEntry.course_id).where(WaitlistEntry.status == EntryStatus.WAITING).distinct()
    return [course.id for course in db.session.scalars(select(Course).where(Course.id.in_(waiting)))
            if course.is_published and course.capacity > live_seats(course.id)]


# -- signed links in offer mails ------------------------------------------------------------------

def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="offer-link")


def offer_token(offer: Offer) -> str:
    return _token(offer.id, offer.learner_id)


def _token(offer_id: int, learner_id: int) -> str:
    return _signer().dumps({"offer": offer_id, "learner": learner_id})


def offer_from_token(token: str) -> Offer | None:
    try:
        data = _signer().loads(token)
    except BadSignature:
        return None
    offer = db.session.get(Offer, data.get("offer")) if isinstance(data, dict) else None
    return offer if offer is not None and offer.learner_id == data.get("learner") else None


@cache
def _users_query():
    users = User.__table__
    return (select(users.c.id, users.c.email, users.c.locale, users.c.full_name)
            .where(users.c.id.in_(bindparam("user_ids", expanding=True))))


def _queue_offer_mails(course: Course, offers: dict[int, Candidate], expires_at: datetime) -> None:
    """The mail that tells each learner of their offer (outbox rows in the offers' transaction)."""
    from langjourney.mail.services import Mail, queue_mails

    learners = {user.id: user for user in db.session.execute(
        _users_query(), {"user_ids": list({c.learner_id for c in offers.values()})})}
    subject = _l("A seat is free for you: %(title)s", title=course.title)
    queue_mails([Mail(learners[c.learner_id], subject, "mail/offer.txt",
                      {"course": course, "expires_at": expires_at,
                       "link": url_for("waitlist.offer_link", token=_token(offer_id, c.learner_id), _external=True)})
                 for offer_id, c in offers.items()])


# -- what the learner sees -----------------------------------------------------------------------------

def learner_history(learner: User) -> list[tuple[datetime, str, str]]:
    """The learner's waiting-list milestones from the allocation log, oldest first: ``(at, kind,
    course title)`` for each join, offer, decline and expiry (for their journey's timeline)."""
    return [tuple(row) for row in db.session.execute(_history_query(), {"learner_id": learner.id})]


@cache
def _history_query():
    # Built once: the dashboard runs it on every visit, and building and keying it cost more than running it.
    return (select(AllocationEvent.at, AllocationEvent.kind, Course.title)
            .join(Course, Course.id == AllocationEvent.course_id)
            .where(AllocationEvent.learner_id == bindparam("learner_id"),
                   AllocationEvent.kind.in_(("join", "offer", "decline", "expire")))
            .order_by(AllocationEvent.at, AllocationEvent.id))


HISTORY_WEEKS = 8  # the recent past that estimates and the public figures look at
OUTCOME_KINDS = ("offer", "accept", "decline", "expire")
FREEING_KINDS = ("decline", "expire", "cancel")  # events that give a seat back


def _count_by_course(column, course_ids: list[int], *where) -> dict[int, int]:
    return dict(db.session.execute(
        select(column, func.count()).where(column.in_(course_ids), *where).group_by(column)).all())


def freed_seats(course_ids: list[int]) -> dict[int, int]:
    """Seats given back on each course in the last HISTORY_WEEKS weeks (courses with none are left out)."""
    return _count_by_course(AllocationEvent.course_id, course_ids, AllocationEvent.kind.in_(FREEING_KINDS),
                            AllocationEvent.at >= now() - timedelta(weeks=HISTORY_WEEKS))


class QueueFigures(NamedTuple):
    free: int  # seats free now (capacity less active enrolments and open offers)
    waiting: int  # learners on the waiting list now
    freed: int  # seats given back in the last HISTORY_WEEKS weeks


def queue_figures(courses: list[Course]) -> dict[int, QueueFigures]:
    """For each course, what a learner choosing where to wait wants to know (a few grouped queries
    for all of them)."""
    ids = [course.id for course in courses]
    if not ids:
        return {}
    taken = _count_by_course(Enrolment.course_id, ids, Enrolment.status.in_(ACTIVE_STATUSES))
    offered = _count_by_course(Offer.course_id, ids, Offer.status == OfferStatus.OPEN)
    waiting = _count_by_course(WaitlistEntry.course_id, ids, WaitlistEntry.status == EntryStatus.WAITING)
    freed = freed_seats(ids)
    return {course.id: QueueFigures(max(0, course.capacity - taken.get(course.id, 0) - offered.get(course.id, 0)),
                                    waiting.get(course.id, 0), freed.get(course.id, 0)) for course in courses}


def recent_outcomes(weeks: int = HISTORY_WEEKS) -> dict[str, int]:
    """How many seats were offered, accepted, declined and let expire in the last ``weeks`` weeks,
    from the allocation log (for the public page on how seats are offered)."""
    counts = dict(db.session.execute(
        select(AllocationEvent.kind, func.count()).where(AllocationEvent.kind.in_(OUTCOME_KINDS),
                                                         AllocationEvent.at >= now() - timedelta(weeks=weeks))
        .group_by(AllocationEvent.kind)).all())
    return {kind: counts.get(kind, 0) for kind in OUTCOME_KINDS}


@dataclass(frozen=True)
class Position:
    entry: WaitlistEntry
    position: int | None  # among eligible waiting learners; None when not waiting
    tier: int
    eligible_ahead: int
    weekly_freed: float
    estimated_weeks: float | None


def position(entry: WaitlistEntry) -> Position:
    """Where the learner stands on this waitlist, and an estimated wait from the course's history."""
    course = entry.course
    policy = current_policy()
    before, mine = [], None
    for candidate in ranked_candidates(course, policy):
        if candidate.entry_id == entry.id:
            mine = candidate
            break
        before.append(candidate)
    if mine is None:  # not waiting (an offer is open, or it has ended)
        return Position(entry, None, tier_of(policy, entry.learner.profile, _today(), entry.tier_override),
                        0, 0.0, None)
    histories = enrolment_histories({c.learner_id for c in before if not c.holds_offer})
    ahead = [c for c in before if ineligibility(c, course, histories.get(c.learner_id, [])) is None]
    weekly = freed_seats([course.id]).get(course.id, 0) / HISTORY_WEEKS
    estimate = (len(ahead) + 1) / weekly if weekly else None
    return Position(entry, len(ahead) + 1, mine.tier, len(ahead), weekly, estimate)
