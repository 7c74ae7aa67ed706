"""Courses offered by providers. The catalogue, matching and the provider portal build on this."""
from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, String, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from langjourney.auth.models import enum_column
from langjourney.db import UTCDateTime, utcnow
from langjourney.extensions import db

COURSE_LEVELS = ("A1", "A2", "B1.1", "B1.2", "B2", "C1")


class Programme(str, enum.Enum):
    RESIDENTS = "residents"  # language course for permanent residents and returnees
    ADAPTATION = "adaptation"  # adaptation-programme module for new immigrants


class Mode(str, enum.Enum):
    IN_PERSON = "in_person"
    ONLINE = "online"
    HYBRID = "hybrid"


class Course(db.Model):
    __tablename__ = "course"
    __table_args__ = (
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("end_date >= start_date", name="dates_ordered"),
        CheckConstraint("academic_hours > 0", name="hours_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(8), index=True)
    programme: Mapped[Programme] = mapped_column(enum_column(Programme, "programme"))
    mode: Mapped[Mode] = mapped_column(enum_column(Mode, "course_mode"))
    county: Mapped[str | None] = mapped_column(String(16))
    town: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(200))
    weekdays: Mapped[list[str]] = mapped_column(JSON, default=list)
    starts_at_time: Mapped[time] = mapped_column(Time)
    ends_at_time: Mapped[time] = mapped_column(Time)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    academic_hours: Mapped[int]
    capacity: Mapped[int] = mapped_column(default=20)
    support_language: Mapped[str | None] = mapped_column(String(5))
    enrolment_deadline: Mapped[date | None] = mapped_column(Date)
    is_published: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    provider = relationship("Provider")
