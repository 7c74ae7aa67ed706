"""Course jobs. Each owns its transaction and is safe to run twice."""
from __future__ import annotations

from datetime import date

from langjourney.courses import services
from langjourney.extensions import db


def remind_overdue_confirmations(today: str | None = None) -> int:
    """Remind providers of enrolments they have not confirmed in time (once a day per enrolment).

    ``today`` (ISO date) is for tests and catch-up runs; default: today in Estonia.
    """
    mails = services.remind_overdue(date.fromisoformat(today) if today else None)
    db.session.commit()
    return mails
