"""Mail jobs. Each owns its transaction and is safe to run twice."""
from __future__ import annotations

from datetime import timedelta

from langjourney.extensions import db
from langjourney.mail import services


def send_mail(message_id: int) -> None:
    """Send one outbox mail."""
    try:
        services.send_message(message_id)
    except Exception:
        db.session.commit()  # keep the attempt count and error, then let RQ retry
        raise
    db.session.commit()


def sweep_outbox() -> int:
    """The periodic outbox sweep: send the mails whose job was lost and retry those whose retry is
    due; returns how many were tried. Each mail is sent at most once however many sweepers and jobs
    try it at the same time (see :func:`services.send_message`)."""
    ids = services.due_ids()
    db.session.rollback()
    return _send_each(ids)


def resend_stale(minutes: int = 5) -> int:
    """Send mails left pending by a lost job (``flask outbox resend``); returns how many were tried."""
    ids = services.stale_pending_ids(timedelta(minutes=minutes))
    db.session.rollback()
    return _send_each(ids)


def _send_each(ids: list[int]) -> int:
    failed = []
    for message_id in ids:
        try:
            send_mail(message_id)
        except Exception:
            failed.append(message_id)  # the error is on the row; the others still get their turn
    if failed:
        raise RuntimeError(f"sending outbox mails {failed} failed")
    return len(ids)
