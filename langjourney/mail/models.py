"""The e-mail outbox: a mail is a row first; a job sends it after the transaction commits."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from langjourney.auth.models import enum_column
from langjourney.db import UTCDateTime, utcnow
from langjourney.extensions import db


class MailStatus(str, enum.Enum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(db.Model):
    """One mail. Once it is settled (sent, or failed for good) and some days old, the retention prune
    clears its subject and body (reset and offer links); the row stays, saying who was told what kind
    of mail (``template``) and when."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        CheckConstraint("status <> 'pending' OR (subject IS NOT NULL AND body IS NOT NULL)",
                        name="pending_has_content"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    # The template the mail was rendered from (``mail/offer.txt``): what kind of mail it was.
    template: Mapped[str | None] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(String(255))  # None once cleared by the retention prune
    body: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(5))
    status: Mapped[MailStatus] = mapped_column(
        enum_column(MailStatus, "mail_status"), default=MailStatus.PENDING, index=True
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.template} user={self.user_id} {self.status.value}>"
