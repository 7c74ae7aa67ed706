"""Configuration, read from the environment once, in :func:`load_config`.

Everything has a default that needs nothing installed (the *embedded default*): SQLite in
``instance/`` and jobs run inline. Production sets ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL``.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("et", "en", "ru", "uk")


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key(instance_path: Path) -> str:
    """Return the secret key kept in ``instance/secret_key``, generating it on first run."""
    path = instance_path / "secret_key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must not write two different keys.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def load_config(instance_path: Path, env: dict[str, str] | None = None) -> dict:
    """Build the Flask config mapping from ``env`` (default: ``os.environ``)."""
    env = dict(os.environ if env is None else env)
    debug = _bool(env.get("FLASK_DEBUG"), False)
    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'langjourney.sqlite3'}"
    return {
        "SECRET_KEY": env.get("SECRET_KEY") or _secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": env.get("REDIS_URL") or None,
        "RQ_QUEUE": env.get("RQ_QUEUE", "langjourney"),
        # Periodic work (langjourney/ops/periodic.py): the sweeps' period in seconds; 0 turns it off.
        "PERIODIC_SECONDS": int(env.get("PERIODIC_SECONDS", "60")),
        # Mail: "console" logs mails (development), "smtp" sends them, "null" drops them (tests).
        "MAIL_BACKEND": env.get("MAIL_BACKEND", "console"),
        "MAIL_SERVER": env.get("MAIL_SERVER", "localhost"),
        "MAIL_PORT": int(env.get("MAIL_PORT", "25")),
        "MAIL_USERNAME": env.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": _bool(env.get("MAIL_USE_TLS"), False),
        "MAIL_DEFAULT_SENDER": env.get("MAIL_DEFAULT_SENDER", "LangJourney <noreply@keeleteekond.example>"),
        # Where the service is reached: links in mails sent by background jobs are built from these.
        "SERVER_NAME": env.get("SERVER_NAME") or "127.0.0.1:5000",
        "PREFERRED_URL_SCHEME": env.get("PREFERRED_URL_SCHEME") or ("http" if debug else "https"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(env.get("SESSION_COOKIE_SECURE"), not debug),
        "REMEMBER_COOKIE_HTTPONLY": True,
        # A sign-in ends after this many days in any case ("keep me signed in" lasts as long).
        "REMEMBER_DAYS": int(env.get("REMEMBER_DAYS", "30")),
        # ... and after this long without a request: staff always, learners unless kept signed in.
        "SESSION_IDLE_MINUTES_STAFF": int(env.get("SESSION_IDLE_MINUTES_STAFF", "30")),
        "SESSION_IDLE_MINUTES_LEARNER": int(env.get("SESSION_IDLE_MINUTES_LEARNER", str(12 * 60))),
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _bool(env.get("SESSION_COOKIE_SECURE"), not debug),
        "WTF_CSRF_ENABLED": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "et",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Tallinn",
        "BABEL_TRANSLATION_DIRECTORIES": str(PROJECT_ROOT / "translations"),
        "LANGUAGES": LANGUAGES,
        # Sign-in throttling (langjourney/auth/throttle.py): failures per account and client before
        # the backoff, and per account from all clients; the first wait, doubling; the window.
        "LOGIN_MAX_FAILURES": int(env.get("LOGIN_MAX_FAILURES", "5")),
        "LOGIN_ACCOUNT_MAX_FAILURES": int(env.get("LOGIN_ACCOUNT_MAX_FAILURES", "50")),
        "LOGIN_BACKOFF_SECONDS": int(env.get("LOGIN_BACKOFF_SECONDS", "30")),
        "LOGIN_FAILURE_WINDOW_MINUTES": int(env.get("LOGIN_FAILURE_WINDOW_MINUTES", "15")),
        # Request bodies, by kind (langjourney.ops.limits): a larger one is answered 413 unread.
        "MAX_FORM_BYTES": int(env.get("MAX_FORM_BYTES", str(128 * 1024))),
        "MAX_API_BYTES": int(env.get("MAX_API_BYTES", str(128 * 1024))),
        "MAX_CSV_IMPORT_BYTES": int(env.get("MAX_CSV_IMPORT_BYTES", str(3 * 1024 * 1024))),
        "MAX_RECORDING_BYTES": int(env.get("MAX_RECORDING_BYTES", str(16 * 1024 * 1024))),
        # Flask-Limiter, per client address: failed sign-ins; password-reset and registration requests.
        "RATELIMIT_LOGIN": env.get("RATELIMIT_LOGIN", "30 per 15 minutes"),
        "RATELIMIT_RESET": env.get("RATELIMIT_RESET", "10 per hour"),
        # Reset links and "someone tried to register with your address" notices, per address.
        "MAILS_PER_ADDRESS": env.get("MAILS_PER_ADDRESS", "3 per hour"),
        # How many proxies in front set X-Forwarded-For (behind one TLS proxy: 1); 0 trusts none.
        "PROXY_FIX_X_FOR": int(env.get("PROXY_FIX_X_FOR", "0")),
        "PASSWORD_RESET_MAX_AGE": int(env.get("PASSWORD_RESET_MAX_AGE", str(2 * 3600))),
        # How long the link that confirms a new registrant's address works (seconds).
        "CONFIRM_EMAIL_MAX_AGE": int(env.get("CONFIRM_EMAIL_MAX_AGE", str(7 * 24 * 3600))),
        # Retention (README, "Data kept and for how long"): days a sent mail keeps its subject and body,
        # an access-log row and a failed sign-in are kept; days after an enrolment ended that its
        # provider still sees who the learner was.
        "MAIL_BODY_RETENTION_DAYS": int(env.get("MAIL_BODY_RETENTION_DAYS", "7")),
        "ACCESS_LOG_RETENTION_DAYS": int(env.get("ACCESS_LOG_RETENTION_DAYS", "365")),
        "LOGIN_FAILURE_RETENTION_DAYS": int(env.get("LOGIN_FAILURE_RETENTION_DAYS", "30")),
        "ENDED_ENROLMENT_VISIBLE_DAYS": int(env.get("ENDED_ENROLMENT_VISIBLE_DAYS", "90")),
        # Synthesised listening audio (python -m exercises audio writes here too).
        "AUDIO_CACHE_DIR": env.get("LANGJOURNEY_AUDIO_DIR") or str(instance_path / "audio"),
        "LOG_FORMAT": env.get("LOG_FORMAT", "json"),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
    }
