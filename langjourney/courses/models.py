"""Courses offered by providers, their enrolments, the change log of published courses, the
providers' API tokens and the responses kept for their API idempotency keys."""
from __future__ import annotations

import enum
from datetime import date, datetime, time

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON, CheckConstraint, Date, ForeignKey, Index, SmallInteger, String, Text, Time, UniqueConstraint, text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from langjourney.auth.models import enum_column
from langjourney.db import UTCDateTime, utcnow
from langjourney.extensions import db

COURSE_LEVELS = ("A1", "A2", "B1.1", "B1.2", "B2", "C1")
LEVEL_RANK = {level: rank for rank, level in enumerate(COURSE_LEVELS)}
# Typical academic hours by level (a default in the form, not a rule).
TYPICAL_HOURS = {"A1": 100, "A2": 150, "B1.1": 120, "B1.2": 130, "B2": 140, "C1": 140}
WEEKDAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_BITS = {day: 1 << i for i, day in enumerate(WEEKDAY_CODES)}
SUPPORT_LANGUAGES = {"ru": _l("Russian"), "uk": _l("Ukrainian"), "en": _l("English"),
                     "none": _l("Estonian only")}


class Programme(str, enum.Enum):
    RESIDENTS = "residents"  # language course for permanent residents and returnees
    ADAPTATION = "adaptation"  # adaptation-programme module for new immigrants


PROGRAMME_LABELS = {
    Programme.RESIDENTS: _l("Language course for permanent residents and returnees"),
    Programme.ADAPTATION: _l("Adaptation programme module for new immigrants"),
}


class Mode(str, enum.Enum):
    IN_PERSON = "in_person"
    ONLINE = "online"
    HYBRID = "hybrid"


MODE_LABELS = {Mode.IN_PERSON: _l("In person"), Mode.ONLINE: _l("Online"), Mode.HYBRID: _l("Hybrid")}


class EnrolmentStatus(str, enum.Enum):
    ACCEPTED = "accepted"  # the learner accepted a seat; the provider has yet to confirm
    CONFIRMED = "confirmed"
    MISMATCH = "mismatch"  # the provider found the level wrong after the first lesson
    DROPPED_OUT = "dropped_out"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


ENROLMENT_STATUS_LABELS = {
    EnrolmentStatus.ACCEPTED: _l("Accepted, awaiting confirmation"),
    EnrolmentStatus.CONFIRMED: _l("Confirmed"),
    EnrolmentStatus.MISMATCH: _l("Level mismatch"),
    EnrolmentStatus.DROPPED_OUT: _l("Dropped out"),
    EnrolmentStatus.COMPLETED: _l("Completed"),
    EnrolmentStatus.CANCELLED: _l("Cancelled"),
}
# A learner holds a seat in these states ("at most one language course at a time")...
ACTIVE_STATUSES = (EnrolmentStatus.ACCEPTED, EnrolmentStatus.CONFIRMED)
# ...and has taken the course's level in these ("a level once").
LEVEL_TAKEN_STATUSES = (*ACTIVE_STATUSES, EnrolmentStatus.COMPLETED)


def _sql_in(statuses) -> str:
    return "status IN (" + ", ".join(f"'{s.value}'" for s in statuses) + ")"


def weekday_mask(weekdays) -> int:
    """The weekdays as a bit mask (Monday = 1): what the catalogue's weekday filter compares."""
    return sum(WEEKDAY_BITS[day] for day in set(weekdays or ()))


class Course(db.Model):
    """A course a provider offers. Published (``is_published``) once an admin has approved it."""

    __tablename__ = "course"
    __table_args__ = (
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("end_date >= start_date", name="dates_ordered"),
        CheckConstraint("academic_hours > 0", name="hours_positive"),
        CheckConstraint("ends_at_time > starts_at_time", name="times_ordered"),
        CheckConstraint("mode = 'online' OR (county IS NOT NULL AND town IS NOT NULL)",
                        name="place_unless_online"),
        CheckConstraint("weekday_mask > 0 AND weekday_mask < 128", name="weekday_mask_range"),
        CheckConstraint("NOT is_published OR approved_at IS NOT NULL", name="published_is_approved"),
        CheckConstraint("(returned_at IS NULL) = (return_reason IS NULL)", name="return_has_reason"),
        # The catalogue: published courses by start date, then by place.
        Index("ix_course_published_start", "is_published", "start_date", "id"),
        Index("ix_course_published_level_start", "is_published", "level", "start_date"),
        Index("ix_course_county", "county"),
        Index("ix_course_town", "town"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(8), index=True)
    programme: Mapped[Programme] = mapped_column(enum_column(Programme, "programme"))
    # Learner statuses (LearnerStatus values) the course is open to; empty = everyone.
    eligible_statuses: Mapped[list[str]] = mapped_column(JSON, default=list)
    mode: Mapped[Mode] = mapped_column(enum_column(Mode, "course_mode"))
    county: Mapped[str | None] = mapped_column(String(16))
    town: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(200))
    weekdays: Mapped[list[str]] = mapped_column(JSON, default=list)
    weekday_mask: Mapped[int] = mapped_column(SmallInteger, default=0)
    starts_at_time: Mapped[time] = mapped_column(Time)
    ends_at_time: Mapped[time] = mapped_column(Time)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    academic_hours: Mapped[int]
    capacity: Mapped[int] = mapped_column(default=20)
    support_language: Mapped[str | None] = mapped_column(String(5))
    enrolment_deadline: Mapped[date | None] = mapped_column(Date)
    is_published: Mapped[bool] = mapped_column(default=False)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # An admin sent the course back to its provider with what to change (it waits for approval again
    # once the provider has edited it).
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    returned_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    return_reason: Mapped[str | None] = mapped_column(String(500))
    # A change to a published course that waits for an admin's approval: the proposed values of the
    # fields learners chose the course for (field -> value as text, lists as lists); the course's own
    # columns keep the approved values, which the public sees meanwhile.
    pending_change: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    pending_change_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pending_change_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    provider = relationship("Provider")
    pending_change_by = relationship("User", foreign_keys=[pending_change_by_id])

    @validates("weekdays")
    def _keep_mask(self, key, value):
        self.weekday_mask = weekday_mask(value)
        return list(value or [])

    @property
    def day_part(self) -> str:
        """morning, afternoon or evening, by the start time (the learners' availability slots)."""
        if self.starts_at_time.hour < 12:
            return "morning"
        return "afternoon" if self.starts_at_time.hour < 17 else "evening"

    @property
    def slots(self) -> list[str]:
        """The course's sessions as availability slots (``mon:evening``)."""
        return [f"{day}:{self.day_part}" for day in WEEKDAY_CODES if day in self.weekdays]

    def __repr__(self) -> str:
        return f"<Course {self.id} {self.level} {self.town or self.mode.value} {self.start_date}>"


class CourseChange(db.Model):
    """A change to a field of a published course: who, what (old and new value as text), when. A
    change that waited for approval is logged when the admin approves it, by the staff member who made it."""

    __tablename__ = "course_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(String(500))
    new_value: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    course = relationship("Course")
    changed_by = relationship("User")

    def __repr__(self) -> str:
        return f"<CourseChange course={self.course_id} {self.field} {self.old_value}->{self.new_value}>"


class Enrolment(db.Model):
    """A learner's seat on a course, from acceptance to completion (or not)."""

    __tablename__ = "enrolment"
    __table_args__ = (
        # At most one active language course per learner.
        Index("uq_enrolment_one_active_course", "learner_id", unique=True,
              sqlite_where=text(_sql_in(ACTIVE_STATUSES)),
              postgresql_where=text(_sql_in(ACTIVE_STATUSES))),
        # A level is taken once (active or completed; a drop-out, mismatch or cancellation frees it).
        Index("uq_enrolment_level_once", "learner_id", "level", unique=True,
              sqlite_where=text(_sql_in(LEVEL_TAKEN_STATUSES)),
              postgresql_where=text(_sql_in(LEVEL_TAKEN_STATUSES))),
        Index("ix_enrolment_status_confirm_by", "status", "confirm_by"),
        CheckConstraint("attendance_percent IS NULL OR attendance_percent BETWEEN 0 AND 100",
                        name="attendance_range"),
        CheckConstraint("final_test_result IS NULL OR final_test_result BETWEEN 0 AND 100",
                        name="final_test_range"),
        CheckConstraint("status <> 'confirmed' OR confirmed_at IS NOT NULL", name="confirmed_has_time"),
        CheckConstraint("status <> 'completed' OR (attendance_percent IS NOT NULL "
                        "AND final_test_result IS NOT NULL)", name="completed_has_results"),
        CheckConstraint("(override_reason IS NULL) = (override_by_id IS NULL)", name="override_has_author"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id"), index=True)
    # The course's level when the seat was accepted: the "a level once" index needs it on this row.
    level: Mapped[str] = mapped_column(String(8))
    status: Mapped[EnrolmentStatus] = mapped_column(enum_column(EnrolmentStatus, "enrolment_status"),
                                                    default=EnrolmentStatus.ACCEPTED)
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    confirm_by: Mapped[date] = mapped_column(Date)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)
    attendance_percent: Mapped[int | None] = mapped_column(SmallInteger)
    final_test_result: Mapped[int | None] = mapped_column(SmallInteger)  # percent of the final test
    mismatch_level: Mapped[str | None] = mapped_column(String(8))  # the level the provider suggests
    # Staff let the learner take a level below one already taken: who and why.
    override_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    override_reason: Mapped[str | None] = mapped_column(String(500))
    reminded_on: Mapped[date | None] = mapped_column(Date)  # last overdue reminder (once a day)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    learner = relationship("User", foreign_keys=[learner_id])
    course = relationship("Course")

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def __repr__(self) -> str:
        return f"<Enrolment {self.id} learner={self.learner_id} course={self.course_id} {self.status.value}>"


class ApiToken(db.Model):
    """A provider's API token. Only its SHA-256 hash is kept; the token is shown once."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))  # shown in lists so people can tell tokens apart
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    provider = relationship("Provider")
    created_by = relationship("User")

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} {self.prefix}… provider={self.provider_id}>"


class ApiIdempotencyKey(db.Model):
    """The response to a provider API request sent with an ``Idempotency-Key`` header, so that a
    repeat with the same key gets the same answer and changes nothing. Keys belong to the provider
    (not to one of its tokens) and are kept for 24 hours.

    The row is written in the transaction of the request's action, so the unique key lets only one
    of two concurrent requests with the same key commit; the other is undone and answered with the
    first one's response."""

    __tablename__ = "api_idempotency_key"
    __table_args__ = (UniqueConstraint("provider_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the method, path and JSON body
    status_code: Mapped[int] = mapped_column(SmallInteger)
    response: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<ApiIdempotencyKey {self.id} provider={self.provider_id} {self.method} {self.path} {self.status_code}>"
