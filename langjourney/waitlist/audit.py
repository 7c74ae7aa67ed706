"""Replaying the allocation log against the policy versions, to prove the allocation fair."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from langjourney.courses.models import ACTIVE_STATUSES, Course, CourseChange, Enrolment
from langjourney.extensions import db
from langjourney.waitlist.models import AllocationEvent, AllocationPolicy, Offer, OfferStatus
from langjourney.waitlist.policy import lottery

SEAT_ENDS = {"drop_out", "dropped_out", "mismatch"}


@dataclass
class _Course:
    waiting: dict[int, tuple] = field(default_factory=dict)  # entry id -> (claim, learner id)
    open_offers: dict[int, int] = field(default_factory=dict)  # offer id -> learner id
    seats: set[int] = field(default_factory=set)  # learners holding a seat


def _capacity_at(course: Course, changes: list[CourseChange], at: datetime) -> int:
    capacity = int(changes[0].old_value) if changes else course.capacity
    for change in changes:
        if change.at <= at:
            capacity = int(change.new_value)
    return capacity


def audit() -> list[str]:
    """Every violation found: a better claim passed over, capacity exceeded, two live offers.

    Event kinds replayed: join, offer, accept, decline, expire, withdraw (an offer ended by a capacity
    cut; the learner waits again), cancel, leave and the ends of seats."""
    problems: list[str] = []
    policies = {p.version: p for p in db.session.scalars(select(AllocationPolicy))}
    courses = {c.id: c for c in db.session.scalars(select(Course))}
    changes = defaultdict(list)
    for change in db.session.scalars(select(CourseChange).where(CourseChange.field == "capacity")
                                     .order_by(CourseChange.at, CourseChange.id)):
        changes[change.course_id].append(change)
    state: dict[int, _Course] = defaultdict(_Course)
    live_offer: dict[int, int] = {}  # learner -> offer id
    offered: dict[int, tuple] = {}  # offer id -> (entry id, claim): a withdrawn offer's entry waits again
    tiers: dict[int, int] = {}

    for e in db.session.scalars(select(AllocationEvent).order_by(AllocationEvent.at, AllocationEvent.id)):
        c = state[e.course_id] if e.course_id is not None else None
        where = f"event {e.id} ({e.kind} at {e.at.isoformat()}, course {e.course_id}, learner {e.learner_id})"
        if e.kind == "join":
            tiers[e.entry_id] = e.tier
            joined = datetime.fromisoformat(e.detail["joined_at"]) if e.detail else e.at
            c.waiting[e.entry_id] = ((e.tier, joined, e.lottery), e.learner_id)
        elif e.kind == "offer":
            policy = policies.get(e.policy_version)
            if policy is not None and e.lottery != lottery(policy, e.entry_id):
                problems.append(f"{where}: lottery value does not match policy version {e.policy_version}")
            joined = datetime.fromisoformat(e.detail["joined_at"])
            claim = (e.tier, joined, e.lottery)
            skipped = {s["entry"] for s in (e.detail or {}).get("skipped", [])}
            for entry_id, (other, learner) in c.waiting.items():
                if entry_id != e.entry_id and other < claim and entry_id not in skipped:
                    problems.append(f"{where}: learner {learner} (entry {entry_id}) had a better claim "
                                    f"and waited without an offer")
            if e.learner_id in live_offer:
                problems.append(f"{where}: learner already held live offer {live_offer[e.learner_id]}")
            live_offer[e.learner_id] = e.offer_id
            offered[e.offer_id] = (e.entry_id, claim)
            c.waiting.pop(e.entry_id, None)
            c.open_offers[e.offer_id] = e.learner_id
            course = courses.get(e.course_id)
            if course is not None:
                taken = len(c.open_offers) + len(c.seats)
                capacity = _capacity_at(course, changes[e.course_id], e.at)
                if taken > capacity:
                    problems.append(f"{where}: {taken} seats taken, capacity {capacity}")
        elif e.kind in ("accept", "decline", "expire"):
            c.open_offers.pop(e.offer_id, None)
            if live_offer.get(e.learner_id) == e.offer_id:
                del live_offer[e.learner_id]
            c.waiting.pop(e.entry_id, None)
            if e.kind == "accept":
                c.seats.add(e.learner_id)
        elif e.kind == "withdraw":  # capacity lowered: the offer ends, the learner waits again as before
            c.open_offers.pop(e.offer_id, None)
            if live_offer.get(e.learner_id) == e.offer_id:
                del live_offer[e.learner_id]
            if e.offer_id in offered:
                entry_id, claim = offered[e.offer_id]
                c.waiting[entry_id] = (claim, e.learner_id)
        elif e.kind in ("cancel", "leave"):
            for entry_id in [k for k, (_, learner) in c.waiting.items() if learner == e.learner_id
                             and (e.entry_id is None or k == e.entry_id)]:
                del c.waiting[entry_id]
            if e.kind == "cancel":
                for offer_id in [k for k, learner in c.open_offers.items() if learner == e.learner_id]:
                    del c.open_offers[offer_id]
                    live_offer.pop(e.learner_id, None)
                c.seats.discard(e.learner_id)
        elif e.kind in SEAT_ENDS or e.kind == "completed":
            c.seats.discard(e.learner_id)

    # The database as it stands, too.
    for course in courses.values():
        held = db.session.scalar(select(db.func.count()).select_from(Enrolment).where(
            Enrolment.course_id == course.id, Enrolment.status.in_(ACTIVE_STATUSES)))
        offered = db.session.scalar(select(db.func.count()).select_from(Offer).where(
            Offer.course_id == course.id, Offer.status == OfferStatus.OPEN))
        if held + offered > course.capacity:
            problems.append(f"course {course.id}: {held + offered} live seats, capacity {course.capacity}")
    return problems
