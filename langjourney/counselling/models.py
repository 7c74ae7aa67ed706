"""Counselling: a learner's request to talk to a counsellor, and appointments — the times counsellors
publish (slots) and the learners' bookings of them."""
from __future__ import annotations

import enum
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from langjourney.auth.models import enum_column
from langjourney.db import UTCDateTime, utcnow
from langjourney.extensions import db


class CounsellingRequest(db.Model):
    __tablename__ = "counselling_request"
    __table_args__ = (
        # One open request per learner.
        Index("uq_counselling_request_one_open", "learner_id", unique=True,
              sqlite_where=text("handled_at IS NULL"), postgresql_where=text("handled_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    message: Mapped[str] = mapped_column(Text)
    contact_times: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    learner = relationship("User", foreign_keys=[learner_id])


class AppointmentMode(str, enum.Enum):
    IN_PERSON = "in_person"
    PHONE = "phone"
    VIDEO = "video"


MODE_LABELS = {AppointmentMode.IN_PERSON: _l("In person"), AppointmentMode.PHONE: _l("By phone"),
               AppointmentMode.VIDEO: _l("By video call")}
# The languages a counsellor can counsel in: the service's own four.
COUNSELLING_LANGUAGES = ("et", "en", "ru", "uk")
LANGUAGE_LABELS = {"et": _l("Estonian"), "en": _l("English"), "ru": _l("Russian"), "uk": _l("Ukrainian")}
LANGUAGE_BITS = {code: 1 << i for i, code in enumerate(COUNSELLING_LANGUAGES)}


def language_mask(languages) -> int:
    """The languages as a bit mask (et = 1): what the learners' language filter compares."""
    return sum(LANGUAGE_BITS[code] for code in set(languages or ()))


class CounsellingSlot(db.Model):
    """A time a counsellor offers for one appointment. Cancelled slots are kept (with their bookings)
    so the learner's history stays whole."""

    __tablename__ = "counselling_slot"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="times_ordered"),
        CheckConstraint("mode <> 'in_person' OR place IS NOT NULL", name="place_when_in_person"),
        CheckConstraint("language_mask > 0 AND language_mask < 16", name="language_mask_range"),
        CheckConstraint("(cancelled_at IS NULL) = (cancelled_by_id IS NULL)", name="cancel_has_author"),
        CheckConstraint("video_link IS NULL OR mode = 'video'", name="video_link_when_video"),
        # The learners' list: live slots by start time.
        Index("ix_counselling_slot_starts_at", "starts_at"),
        # A counsellor's own slots, and the overlap check when publishing.
        Index("ix_counselling_slot_counsellor_starts_at", "counsellor_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    counsellor_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    mode: Mapped[AppointmentMode] = mapped_column(enum_column(AppointmentMode, "appointment_mode"))
    place: Mapped[str | None] = mapped_column(String(200))
    # Where the learner joins an appointment by video call; only the booked learner is shown it.
    video_link: Mapped[str | None] = mapped_column(String(500))
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    language_mask: Mapped[int] = mapped_column(SmallInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    cancel_reason: Mapped[str | None] = mapped_column(String(300))

    counsellor = relationship("User", foreign_keys=[counsellor_id])

    @validates("languages")
    def _keep_mask(self, key, value):
        self.language_mask = language_mask(value)
        return [code for code in COUNSELLING_LANGUAGES if code in (value or ())]

    @property
    def minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)

    def __repr__(self) -> str:
        return f"<CounsellingSlot {self.id} counsellor={self.counsellor_id} {self.starts_at:%Y-%m-%d %H:%M}Z>"


class CounsellingBooking(db.Model):
    """A learner's booking of a slot. A cancelled booking stays as history and frees the slot."""

    __tablename__ = "counselling_booking"
    __table_args__ = (
        # One live booking per slot: of two learners booking at the same moment, one gets it.
        Index("uq_counselling_booking_one_per_slot", "slot_id", unique=True,
              sqlite_where=text("cancelled_at IS NULL"), postgresql_where=text("cancelled_at IS NULL")),
        CheckConstraint("(cancelled_at IS NULL) = (cancelled_by_id IS NULL)", name="cancel_has_author"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("counselling_slot.id"), index=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    # The language of the appointment, one of the slot's.
    language: Mapped[str] = mapped_column(String(5))
    note: Mapped[str | None] = mapped_column(String(500))
    # Where the counsellor calls, for appointments by phone.
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # When the reminder mail was queued (at most one per booking).
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    slot: Mapped[CounsellingSlot] = relationship()
    learner = relationship("User", foreign_keys=[learner_id])

    @property
    def is_cancelled_by_learner(self) -> bool:
        return self.cancelled_by_id is not None and self.cancelled_by_id == self.learner_id

    def __repr__(self) -> str:
        return f"<CounsellingBooking {self.id} slot={self.slot_id} learner={self.learner_id}>"
