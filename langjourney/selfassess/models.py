"""The learner's self-assessment on the CEFR "I can" grid."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

from langjourney.db import UTCDateTime, utcnow
from langjourney.extensions import db


class SelfAssessment(db.Model):
    """One per learner, saved after every step so leaving and returning resumes where they were.

    ``ratings`` maps each grid skill (listening, reading, spoken_interaction, spoken_production,
    writing) to the level the learner chose (A1..C1) or ``"none"`` (not yet A1).
    """

    __tablename__ = "self_assessment"

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), unique=True)
    ratings: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    step: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    learner = relationship("User")
