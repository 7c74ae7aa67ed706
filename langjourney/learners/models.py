"""The learner's profile: who they are, where they live and when they can study."""
from __future__ import annotations

import enum
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from langjourney.auth.models import enum_column
from langjourney.db import UTCDateTime, utcnow
from langjourney.extensions import db


class LearnerStatus(str, enum.Enum):
    PERMANENT_RESIDENT = "permanent_resident"
    NEW_IMMIGRANT = "new_immigrant"
    INTERNATIONAL_PROTECTION = "international_protection"
    TEMPORARY_PROTECTION = "temporary_protection"
    RETURNEE = "returnee"
    ESTONIAN_ABROAD = "estonian_abroad"


STATUS_LABELS = {
    LearnerStatus.PERMANENT_RESIDENT: _l("Permanent resident"),
    LearnerStatus.NEW_IMMIGRANT: _l("New immigrant (first residence permit within the last 5 years)"),
    LearnerStatus.INTERNATIONAL_PROTECTION: _l("Beneficiary of international protection"),
    LearnerStatus.TEMPORARY_PROTECTION: _l("Beneficiary of temporary protection"),
    LearnerStatus.RETURNEE: _l("Returnee"),
    LearnerStatus.ESTONIAN_ABROAD: _l("Estonian living abroad"),
}

# The 15 counties of Estonia, keyed by a stable code.
COUNTIES = {
    "harju": _l("Harju County"),
    "hiiu": _l("Hiiu County"),
    "ida-viru": _l("Ida-Viru County"),
    "jogeva": _l("Jõgeva County"),
    "jarva": _l("Järva County"),
    "laane": _l("Lääne County"),
    "laane-viru": _l("Lääne-Viru County"),
    "polva": _l("Põlva County"),
    "parnu": _l("Pärnu County"),
    "rapla": _l("Rapla County"),
    "saare": _l("Saare County"),
    "tartu": _l("Tartu County"),
    "valga": _l("Valga County"),
    "viljandi": _l("Viljandi County"),
    "voru": _l("Võru County"),
}

MOTHER_TONGUES = {
    "ru": _l("Russian"),
    "uk": _l("Ukrainian"),
    "en": _l("English"),
    "be": _l("Belarusian"),
    "lv": _l("Latvian"),
    "lt": _l("Lithuanian"),
    "fi": _l("Finnish"),
    "de": _l("German"),
    "pl": _l("Polish"),
    "ar": _l("Arabic"),
    "fa": _l("Persian"),
    "tr": _l("Turkish"),
    "other": _l("Other language"),
}

GOALS = {
    "work": _l("Work"),
    "citizenship": _l("Citizenship exam"),
    "study": _l("Studies"),
    "daily_life": _l("Daily life"),
    "exam": _l("State proficiency exam"),
}

WEEKDAYS = {
    "mon": _l("Monday"),
    "tue": _l("Tuesday"),
    "wed": _l("Wednesday"),
    "thu": _l("Thursday"),
    "fri": _l("Friday"),
    "sat": _l("Saturday"),
    "sun": _l("Sunday"),
}
DAY_PARTS = {
    "morning": _l("morning (8–12)"),
    "afternoon": _l("afternoon (12–17)"),
    "evening": _l("evening (17–21)"),
}
AVAILABILITY_SLOTS = [f"{day}:{part}" for day in WEEKDAYS for part in DAY_PARTS]


class LearnerProfile(db.Model):
    """Profile data a learner gives at registration and may edit later."""

    __tablename__ = "learner_profile"
    __table_args__ = (
        CheckConstraint(
            "status <> 'new_immigrant' OR residence_permit_date IS NOT NULL",
            name="new_immigrant_has_permit_date",
        ),
        CheckConstraint("(level IS NULL) = (level_source IS NULL)", name="level_has_source"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    mother_tongue: Mapped[str] = mapped_column(String(16))
    county: Mapped[str] = mapped_column(String(16), index=True)
    town: Mapped[str] = mapped_column(String(100))
    status: Mapped[LearnerStatus] = mapped_column(enum_column(LearnerStatus, "learner_status"))
    residence_permit_date: Mapped[date | None] = mapped_column(Date)
    goals: Mapped[list[str]] = mapped_column(JSON, default=list)
    availability: Mapped[list[str]] = mapped_column(JSON, default=list)
    accepts_online: Mapped[bool] = mapped_column(default=True)
    # The learner's current level (A1, A2, B1.1, B1.2, B2, C1): set by a finished placement test or by
    # a counsellor (with a reason); what course matching and the waitlists use.
    level: Mapped[str | None] = mapped_column(String(8), index=True)
    level_source: Mapped[str | None] = mapped_column(String(16))  # "placement" | "counsellor"
    level_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    user = relationship("User", back_populates="profile")

    def __repr__(self) -> str:
        return f"<LearnerProfile user={self.user_id} {self.status.value} {self.county}>"


class LevelDecision(db.Model):
    """A counsellor or admin set the learner's level, and why (for instance after counselling, or
    after a course provider found the level wrong). The profile keeps the current level; these rows
    keep every decision."""

    __tablename__ = "level_decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(8))
    previous_level: Mapped[str | None] = mapped_column(String(8))
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    reason: Mapped[str] = mapped_column(String(500))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    decided_by = relationship("User", foreign_keys=[decided_by_id])

    def __repr__(self) -> str:
        return f"<LevelDecision learner={self.learner_id} {self.previous_level}->{self.level}>"
