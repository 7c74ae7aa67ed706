"""The outbox: write a mail as a row in the current transaction; a job sends it after the commit."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, NamedTuple

from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy import and_, insert, or_, select

from langjourney.db import locked, utcnow
from langjourney.extensions import db
from langjourney.jobs import enqueue
from langjourney.mail.models import MailStatus, OutboxMessage

MAX_ATTEMPTS = 5
# The outbox sweep leaves a new mail this long to its own job, and retries a failed attempt after
# the n-th of these waits (the last one for every later attempt).
SWEEP_GRACE = timedelta(seconds=5)
RETRY_AFTER = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(minutes=30))


class Mail(NamedTuple):
    """One mail to queue: ``template`` rendered with ``context`` and the lazy ``subject``."""

    user: Any
    subject: Any
    template: str
    context: dict


def queue_mail(user, subject, template: str, **context) -> OutboxMessage:
    """Render ``template`` (and the lazy ``subject``) in the user's language and queue the mail."""
    message = OutboxMessage(**_outbox_row(Mail(user, subject, template, context)))
    db.session.add(message)
    db.session.flush()
    from langjourney.mail import tasks  # tasks import services; avoid the cycle at import time

    enqueue(tasks.send_mail, message.id)
    return message


def queue_mails(mails: list[Mail]) -> list[int]:
    """Queue several mails, each in its recipient's language, with one INSERT for all of them;
    returns the outbox rows' ids. (``user`` needs only ``id``, ``email``, ``locale`` and what the
    template reads.)"""
    table = OutboxMessage.__table__
    ids = db.session.scalars(insert(table).returning(table.c.id), [_outbox_row(mail) for mail in mails]).all()
    from langjourney.mail import tasks

    for message_id in ids:
        enqueue(tasks.send_mail, message_id)
    return ids


def _outbox_row(mail: Mail) -> dict:
    with force_locale(mail.user.locale):
        body = render_template(mail.template, user=mail.user, **mail.context)
        subject = str(mail.subject)
    return {"recipient": mail.user.email, "user_id": mail.user.id, "template": mail.template,
            "subject": subject, "body": body, "locale": mail.user.locale}


def send_message(message_id: int) -> OutboxMessage | None:
    """Send one pending mail, at most once even if two workers try at the same moment."""
    from langjourney.mail.backends import deliver

    message = locked(OutboxMessage, message_id)
    if message is None or message.status is not MailStatus.PENDING:
        return message
    message.attempts += 1
    message.last_attempt_at = utcnow()
    try:
        deliver(current_app._get_current_object(), message.recipient, message.subject, message.body)
    except Exception as exc:
        message.last_error = f"{type(exc).__name__}: {exc}"
        if message.attempts >= MAX_ATTEMPTS:
            message.status = MailStatus.FAILED
        db.session.flush()
        raise
    message.status = MailStatus.SENT
    message.sent_at = utcnow()
    message.last_error = None
    db.session.flush()
    return message


def stale_pending_ids(older_than: timedelta = timedelta(minutes=5)) -> list[int]:
    """Pending mails whose job seems lost (a flushed Redis, a dead worker)."""
    return list(db.session.scalars(
        select(OutboxMessage.id).where(OutboxMessage.status == MailStatus.PENDING,
                                       OutboxMessage.created_at < utcnow() - older_than)
        .order_by(OutboxMessage.id)))


def due_ids(now=None, limit: int = 500) -> list[int]:
    """Pending mails the outbox sweep should send now: never tried and older than
    :data:`SWEEP_GRACE` (their job was lost: a flushed Redis, a dead worker), or tried and failed
    longer ago than their :data:`RETRY_AFTER` wait (their retry was lost, or is late). Oldest first."""
    now = now or utcnow()
    never_tried = and_(OutboxMessage.attempts == 0, OutboxMessage.created_at <= now - SWEEP_GRACE)
    retry_due = or_(*(
        and_(OutboxMessage.attempts == attempts, OutboxMessage.last_attempt_at <= now - wait)
        for attempts, wait in enumerate(RETRY_AFTER, start=1)))
    later = and_(OutboxMessage.attempts > len(RETRY_AFTER), OutboxMessage.last_attempt_at <= now - RETRY_AFTER[-1])
    return list(db.session.scalars(
        select(OutboxMessage.id).where(OutboxMessage.status == MailStatus.PENDING,
                                       or_(never_tried, retry_due, later))
        .order_by(OutboxMessage.id).limit(limit)))
