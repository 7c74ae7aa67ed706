"""Retention: what is kept, for how long, and the prune that removes the rest.

* A mail's subject and body (they carry reset and offer links) are cleared
  ``MAIL_BODY_RETENTION_DAYS`` after it was sent, or after it was queued if it failed for good;
  a pending mail is never touched. The row stays: recipient, user, template, status, attempts and
  times answer "was the learner told, and when".
* ``access_log`` rows go after ``ACCESS_LOG_RETENTION_DAYS`` (a learner may ask who read their data
  for a year back), ``login_failure`` rows after ``LOGIN_FAILURE_RETENTION_DAYS``, and API idempotency
  keys (their stored answers name learners) once their 24 hours are over.

Work goes in batches of ids, each one short statement, and the caller may commit between batches
(``between_batches``) so that pruning a large table never holds its locks for long.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Callable

from flask import current_app
from sqlalchemy import delete, select, update

from langjourney.auth.models import AccessLog, LoginFailure, UserSession
from langjourney.courses.models import ApiIdempotencyKey
from langjourney.courses.services import IDEMPOTENCY_KEY_LIFETIME
from langjourney.extensions import db
from langjourney.mail.models import MailStatus, OutboxMessage

BATCH_SIZE = 1000


@dataclass(frozen=True)
class PruneCounts:
    """What one prune did: mails whose subject and body were cleared, rows deleted per table."""

    mail_bodies_cleared: int = 0
    access_log_deleted: int = 0
    login_failures_deleted: int = 0
    idempotency_keys_deleted: int = 0
    sign_ins_deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _in_batches(batch_ids, act, batch_size: int, between_batches: Callable[[], None] | None) -> int:
    """Run ``act(ids)`` on batches of ``batch_ids(after, limit)`` (ids in order, above ``after``)
    until a batch comes back short. Each batch starts after the last one's highest id, so it never
    walks again over rows already done (nor, on PostgreSQL, over their dead index entries)."""
    total, after = 0, 0
    while True:
        ids = list(db.session.scalars(batch_ids(after, batch_size)))
        if ids:
            act(ids)
            db.session.flush()
            total, after = total + len(ids), ids[-1]
            if between_batches is not None:
                between_batches()
        if len(ids) < batch_size:
            return total


def _delete_older(model, column, cutoff: datetime, batch_size: int, between_batches) -> int:
    # Oldest first by id: old rows sit at the start of the primary key, so each batch is a short
    # scan of it (no index on the timestamp, which every sign-in and portal view would pay for).
    return _in_batches(lambda after, n: select(model.id).where(model.id > after, column < cutoff)
                       .order_by(model.id).limit(n),
                       lambda ids: db.session.execute(delete(model).where(model.id.in_(ids))),
                       batch_size, between_batches)


def _clear_mail_bodies(cutoff: datetime, batch_size: int, between_batches) -> int:
    settled = ((OutboxMessage.status == MailStatus.SENT) & (OutboxMessage.sent_at < cutoff)) | \
        ((OutboxMessage.status == MailStatus.FAILED) & (OutboxMessage.created_at < cutoff))
    return _in_batches(
        lambda after, n: select(OutboxMessage.id).where(OutboxMessage.id > after, settled,
                                                        OutboxMessage.body.is_not(None))
        .order_by(OutboxMessage.id).limit(n),
        lambda ids: db.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                                       .values(subject=None, body=None)
                                       .execution_options(synchronize_session=False)),
        batch_size, between_batches)


def prune(now: datetime, *, batch_size: int = BATCH_SIZE,
          between_batches: Callable[[], None] | None = None) -> PruneCounts:
    """Clear old mail bodies and delete old access-log rows, sign-in failures, idempotency keys and ended sign-ins,
    by the retention periods in the config (relative to ``now``). Flushes; ``between_batches`` (e.g.
    ``db.session.commit``) is called after each batch. Safe to run twice: the second run finds nothing."""
    config = current_app.config
    days = timedelta(days=1)
    return PruneCounts(
        mail_bodies_cleared=_clear_mail_bodies(now - config["MAIL_BODY_RETENTION_DAYS"] * days,
                                               batch_size, between_batches),
        access_log_deleted=_delete_older(AccessLog, AccessLog.at,
                                         now - config["ACCESS_LOG_RETENTION_DAYS"] * days,
                                         batch_size, between_batches),
        login_failures_deleted=_delete_older(LoginFailure, LoginFailure.at,
                                             now - config["LOGIN_FAILURE_RETENTION_DAYS"] * days,
                                             batch_size, between_batches),
        idempotency_keys_deleted=_delete_older(ApiIdempotencyKey, ApiIdempotencyKey.created_at,
                                               now - IDEMPOTENCY_KEY_LIFETIME, batch_size, between_batches),
        # A sign-in ends REMEMBER_DAYS after it began whatever else happens (auth.sessions); its row
        # is then only a record of a device that no cookie can use any more.
        sign_ins_deleted=_delete_older(UserSession, UserSession.created_at,
                                       now - config["REMEMBER_DAYS"] * days, batch_size, between_batches),
    )
