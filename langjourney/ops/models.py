"""The periodic tasks' state: one row per task, in the database so that a flushed Redis loses nothing."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from langjourney.db import UTCDateTime, utcnow
from langjourney.extensions import db


class PeriodicRun(db.Model):
    """The last run of one periodic task (:mod:`langjourney.ops.periodic`). ``started_at`` is also
    the claim: a process runs the task only after moving it forward with a conditional update."""

    __tablename__ = "periodic_run"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    runs: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"<PeriodicRun {self.name!r} started {self.started_at}>"
