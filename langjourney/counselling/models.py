"""A learner's request to talk to a language counsellor."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
