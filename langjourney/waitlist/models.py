"""Waitlists, offers of freed seats, the versioned allocation policy and the allocation log."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from langjourney.auth.models import enum_column
from langjourney.db import UTCDateTime, utcnow
from langjourney.extensions import db


class AllocationPolicy(db.Model):
    """One version of the fairness policy. Changing the policy adds a version; the newest is in force.

    ``tier_rules`` is a list of ``{"tier": n, "when": {...}}``; the first rule whose conditions all hold
    gives the learner's priority tier (lower first), else ``default_tier``. Conditions:
    ``adaptation_window`` (bool: within 5 years of the first residence permit, or under protection),
    ``status``, ``county`` and ``mother_tongue`` (lists of values).
    """

    __tablename__ = "allocation_policy"
    __table_args__ = (CheckConstraint("offer_hours > 0", name="offer_hours_positive"),
                      CheckConstraint("max_waitlists > 0", name="max_waitlists_positive"))

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    offer_hours: Mapped[int] = mapped_column(default=48)
    max_waitlists: Mapped[int] = mapped_column(default=3)
    tier_rules: Mapped[list] = mapped_column(JSON, default=list)
    default_tier: Mapped[int] = mapped_column(default=2)
    lottery_seed: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EntryStatus(str, enum.Enum):
    WAITING = "waiting"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    LEFT = "left"  # the learner left, or accepted a seat elsewhere at that level
    CANCELLED = "cancelled"


ACTIVE_ENTRY = (EntryStatus.WAITING, EntryStatus.OFFERED)


class WaitlistEntry(db.Model):
    __tablename__ = "waitlist_entry"
    __table_args__ = (
        Index("uq_waitlist_entry_one_active", "learner_id", "course_id", unique=True,
              sqlite_where=text("status IN ('waiting', 'offered')"),
              postgresql_where=text("status IN ('waiting', 'offered')")),
        Index("ix_waitlist_entry_course_status", "course_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(String(8))
    status: Mapped[EntryStatus] = mapped_column(enum_column(EntryStatus, "entry_status"),
                                                default=EntryStatus.WAITING)
    # The join time that orders the queue; a learner sent back by a level mismatch keeps the old one.
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())
    tier_override: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    learner = relationship("User")
    course = relationship("Course")


class OfferStatus(str, enum.Enum):
    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Offer(db.Model):
    """A freed seat offered to one learner until ``expires_at``."""

    __tablename__ = "offer"
    __table_args__ = (
        # One live offer per learner, and per waitlist entry.
        Index("uq_offer_one_open_per_learner", "learner_id", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
        Index("uq_offer_one_open_per_entry", "entry_id", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
        Index("ix_offer_course_status", "course_id", "status"),
        Index("ix_offer_status_expires", "status", "expires_at"),
        CheckConstraint("expires_at > offered_at", name="expires_after_offer"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("waitlist_entry.id", ondelete="CASCADE"))
    learner_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    policy_version: Mapped[int]
    status: Mapped[OfferStatus] = mapped_column(enum_column(OfferStatus, "offer_status"),
                                                default=OfferStatus.OPEN)
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    entry = relationship("WaitlistEntry")
    learner = relationship("User")
    course = relationship("Course")


class AllocationEvent(db.Model):
    """Every decision: who, what, why, under which policy version, with which lottery value."""

    __tablename__ = "allocation_event"
    __table_args__ = (Index("ix_allocation_event_course_at", "course_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))  # join offer accept decline expire withdraw cancel confirm leave ...
    learner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("course.id", ondelete="SET NULL"))
    entry_id: Mapped[int | None]
    offer_id: Mapped[int | None]
    policy_version: Mapped[int | None]
    tier: Mapped[int | None]
    lottery: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))  # "learner:12", "provider:3", "job", "system"
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict | None] = mapped_column(JSON)
