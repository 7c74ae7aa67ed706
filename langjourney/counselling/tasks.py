"""Counselling jobs: each owns its transaction and is safe to run twice or at once."""
from __future__ import annotations

from langjourney.counselling import services
from langjourney.extensions import db


def remind_appointments() -> int:
    """Queue the reminder mails of appointments in the next 24 hours; returns how many."""
    sent = services.send_reminders()
    db.session.commit()
    return sent
