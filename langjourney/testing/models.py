"""Placement test attempts in the web: the bank versions, attempts and every response."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from langjourney.auth.models import enum_column
from langjourney.db import UTCDateTime, utcnow
from langjourney.extensions import db


class BankVersion(db.Model):
    """An item bank in the placement engine's format. Exactly one is live; older ones are kept,
    and every attempt records the version that placed it."""

    __tablename__ = "bank_version"
    __table_args__ = (
        Index("uq_bank_version_one_live", "is_live", unique=True,
              sqlite_where=text("is_live"), postgresql_where=text("is_live")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    bank: Mapped[dict] = mapped_column(JSON, deferred=True)  # large: read only when a bank is loaded
    source: Mapped[str] = mapped_column(String(16))  # "content" | "calibration"
    note: Mapped[str | None] = mapped_column(Text)
    is_live: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AttemptStatus(str, enum.Enum):
    OPEN = "open"
    FINISHED = "finished"
    EXPIRED = "expired"  # paused longer than allowed: closed and scored on what was answered


class PlacementAttempt(db.Model):
    __tablename__ = "placement_attempt"
    __table_args__ = (
        # One open attempt per learner, whatever two browser tabs try.
        Index("uq_placement_attempt_one_open", "learner_id", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
        CheckConstraint("seq >= 0", name="seq_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    bank_version_id: Mapped[int] = mapped_column(ForeignKey("bank_version.id"))
    status: Mapped[AttemptStatus] = mapped_column(enum_column(AttemptStatus, "attempt_status"),
                                                  default=AttemptStatus.OPEN)
    state: Mapped[dict] = mapped_column(JSON)
    # How many answers are recorded; the page of the next item carries it, so a stale or repeated
    # submission is recognised.
    seq: Mapped[int] = mapped_column(default=0)
    prior_level: Mapped[str | None] = mapped_column(String(8))
    item_shown_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    level: Mapped[str | None] = mapped_column(String(8))
    theta: Mapped[float | None]
    sem: Mapped[float | None]
    result: Mapped[dict | None] = mapped_column(JSON)

    bank_version = relationship("BankVersion")
    learner = relationship("User")
    responses: Mapped[list[PlacementResponse]] = relationship(
        back_populates="attempt", order_by="PlacementResponse.seq")


class PlacementResponse(db.Model):
    __tablename__ = "placement_response"
    __table_args__ = (UniqueConstraint("attempt_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("placement_attempt.id", ondelete="CASCADE"))
    seq: Mapped[int]
    item_id: Mapped[str] = mapped_column(String(64), index=True)
    answer: Mapped[str] = mapped_column(Text)
    correct: Mapped[bool]
    time_ms: Mapped[int | None]
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    attempt: Mapped[PlacementAttempt] = relationship(back_populates="responses")


class RetakePermission(db.Model):
    """A counsellor lets a learner take the test again before the 30 days are over."""

    __tablename__ = "retake_permission"

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    granted_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
