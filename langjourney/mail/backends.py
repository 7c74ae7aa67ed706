"""Ways to deliver a mail, picked by ``MAIL_BACKEND``: smtp, console (development) or null."""
from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import Flask

log = logging.getLogger(__name__)


def _build(app: Flask, recipient: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = app.config["MAIL_DEFAULT_SENDER"]
    msg["To"] = recipient
    msg["Subject"] = subject
    msg.set_content(body)
    return msg


def deliver(app: Flask, recipient: str, subject: str, body: str) -> None:
    """Deliver one mail with the configured backend; raises on failure."""
    backend = app.config["MAIL_BACKEND"]
    if backend == "null":
        return
    if backend == "console":
        log.info("mail to %s: %s\n%s", recipient, subject, body)
        return
    if backend != "smtp":
        raise ValueError(f"unknown MAIL_BACKEND {backend!r}")
    with smtplib.SMTP(app.config["MAIL_SERVER"], app.config["MAIL_PORT"], timeout=30) as smtp:
        if app.config["MAIL_USE_TLS"]:
            smtp.starttls()
        if app.config["MAIL_USERNAME"]:
            smtp.login(app.config["MAIL_USERNAME"], app.config["MAIL_PASSWORD"])
        smtp.send_message(_build(app, recipient, subject, body))
