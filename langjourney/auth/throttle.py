"""Throttles that slow an attacker down and never lock anyone out.

Sign-in failures are kept as :class:`LoginFailure` rows (e-mail, client address, time) for
``LOGIN_FAILURE_WINDOW_MINUTES``. Three limits apply, none of them a lock that the right password
from somewhere else cannot pass:

- **one account from one client**: after ``LOGIN_MAX_FAILURES`` failures in the window that client
  waits ``LOGIN_BACKOFF_SECONDS`` after its last failure before the next try, twice as long after
  each further failure, at most the window. Another client is not slowed by it at all.
- **one account from all clients** (an attacker on many addresses): after the generous
  ``LOGIN_ACCOUNT_MAX_FAILURES`` the same backoff applies to every client *except a browser that has
  signed in to this account before* (it holds a signed "known device" cookie). So the owner on their
  own device is never held up, and an attacker gets a few guesses an hour however many addresses they
  have. An owner on a new device can reset the password, which clears the failures.
- **one client over all accounts** (spraying made-up addresses): Flask-Limiter, ``RATELIMIT_LOGIN``
  failed sign-ins per client, answered 429; it slows that client only.

Password-reset and registration-notice mails are capped per client (``RATELIMIT_RESET``, Flask-Limiter)
and per address (``MAILS_PER_ADDRESS``), so no one can flood an inbox. The client is
``request.remote_addr``, which ProxyFix sets from ``X-Forwarded-For`` only for ``PROXY_FIX_X_FOR``
trusted proxies (see :func:`init_throttle`).
"""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask, Response, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer
from limits import parse
from sqlalchemy import func, select
from werkzeug.middleware.proxy_fix import ProxyFix

from langjourney.auth.models import LoginFailure
from langjourney.db import utcnow
from langjourney.extensions import db, limiter

log = logging.getLogger(__name__)

DEVICE_COOKIE = "lj_device"
_DEVICES_KEPT = 5


def login_delay(email: str, remote_addr: str | None, known_device: bool) -> timedelta | None:
    """How long this client must still wait before trying ``email`` again; None if it may try now."""
    config = current_app.config
    window = timedelta(minutes=config["LOGIN_FAILURE_WINDOW_MINUTES"])
    recent = (LoginFailure.email == email, LoginFailure.at >= utcnow() - window)
    waits = []
    pair_count, pair_last = db.session.execute(
        select(func.count(), func.max(LoginFailure.at)).where(*recent, LoginFailure.remote_addr == remote_addr)
    ).one()
    waits.append(_backoff(pair_count, pair_last, config["LOGIN_MAX_FAILURES"], window))
    if not known_device:
        account_count, account_last = db.session.execute(
            select(func.count(), func.max(LoginFailure.at)).where(*recent)).one()
        waits.append(_backoff(account_count, account_last, config["LOGIN_ACCOUNT_MAX_FAILURES"], window))
    wait = max(waits)
    return wait if wait > timedelta(0) else None


def _backoff(failures: int, last, free: int, window: timedelta) -> timedelta:
    if failures < free or last is None:
        return timedelta(0)
    doublings = min(failures - free, 20)  # past the window anyway; keeps the number small
    delay = min(timedelta(seconds=current_app.config["LOGIN_BACKOFF_SECONDS"] * 2 ** doublings), window)
    return last + delay - utcnow()


def record_failure(email: str, remote_addr: str | None) -> None:
    db.session.add(LoginFailure(email=email, remote_addr=remote_addr))
    db.session.flush()


def mail_allowed(kind: str, address: str) -> bool:
    """Count one ``kind`` of mail (``"reset"``, ``"register"``) to ``address``; False once the
    address has had ``MAILS_PER_ADDRESS`` of them."""
    try:
        return limiter.limiter.hit(parse(current_app.config["MAILS_PER_ADDRESS"]), "mail", kind, address)
    except Exception:  # the counter's storage (Redis) is down: a reset link matters more than the cap
        log.warning("mail cap not counted: rate-limit storage unavailable", exc_info=True)
        return True


def failed_sign_in(response: Response) -> bool:
    """A sign-in POST that did not sign in (the form again, not a redirect): what RATELIMIT_LOGIN counts."""
    return response.status_code == 200


def submitted(response: Response) -> bool:
    """A form POST that was accepted (a redirect): what RATELIMIT_RESET counts for registrations."""
    return response.status_code == 302


def login_limit() -> str:
    return current_app.config["RATELIMIT_LOGIN"]


def reset_limit() -> str:
    return current_app.config["RATELIMIT_RESET"]


# -- the known-device cookie ------------------------------------------------------------------------

def _device_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="known-device")


def known_devices() -> list[int]:
    """Ids of the accounts that have signed in from this browser (from its signed cookie)."""
    try:
        ids = _device_serializer().loads(request.cookies.get(DEVICE_COOKIE, ""))
    except BadSignature:
        return []
    return [i for i in ids if isinstance(i, int)] if isinstance(ids, list) else []


def remember_device(response: Response, user_id: int) -> None:
    """Mark this browser as one that ``user_id`` has signed in from."""
    ids = [user_id] + [i for i in known_devices() if i != user_id][:_DEVICES_KEPT - 1]
    config = current_app.config
    response.set_cookie(DEVICE_COOKIE, _device_serializer().dumps(ids), max_age=365 * 24 * 3600,
                        secure=config["SESSION_COOKIE_SECURE"], httponly=True, samesite="Lax")


def init_throttle(app: Flask) -> None:
    """Trust ``X-Forwarded-For`` from ``PROXY_FIX_X_FOR`` proxies (0: none; behind one TLS proxy: 1),
    and keep Flask-Limiter's counts in Redis when there is one (in memory otherwise)."""
    if app.config["PROXY_FIX_X_FOR"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_FIX_X_FOR"])
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"] or "memory://")
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "langjourney-limits")
    # A Redis outage must not stop sign-in: the limiter then counts in memory.
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    limiter.init_app(app)
