"""The front page, the language switcher and the health check."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user
from sqlalchemy import text

from langjourney.auth.access import role_required
from langjourney.auth.models import Role
from langjourney.extensions import db
from langjourney.jobs import redis_connection
from langjourney.ops import periodic

bp = Blueprint("main", __name__)


def safe_next(target: str | None, default: str) -> str:
    """Only ever redirect to a path on this site. A target with a control character or whitespace
    (CR/LF would split the Location header; a tab or a backslash lets browsers read ``/\\evil``
    as another host) is refused too."""
    if target and target.isprintable() and not any(c.isspace() or c == "\\" for c in target):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return default


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("main.staff_home" if current_user.is_staff else "learners.home"))
    return render_template("main/index.html")


@bp.get("/staff")
@role_required(Role.COUNSELLOR, Role.PROVIDER, Role.ADMIN)
def staff_home():
    return render_template("main/staff_home.html")


@bp.post("/language")
def set_language():
    lang = request.form.get("lang", "")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
        if current_user.is_authenticated:
            current_user.locale = lang
            db.session.commit()
    return redirect(safe_next(request.form.get("next"), url_for("main.index")))


@bp.get("/healthz")
def healthz():
    """The database, Redis and each periodic task's last run (langjourney/ops/periodic.py); 503
    with the reason when one is down or a task is stale."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # the check reports, it must not fail the probe itself
        checks["database"] = f"error: {type(exc).__name__}"
    if current_app.config["REDIS_URL"]:
        try:
            redis_connection(current_app).ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    else:
        checks["redis"] = "not configured (jobs run inline)"
    healthy = all(v == "ok" or v.startswith("not configured") for v in checks.values())
    if not periodic.is_enabled(current_app):
        checks["periodic"] = "disabled (PERIODIC_SECONDS=0)"
    elif checks["database"] == "ok":
        try:
            fresh, checks["periodic"] = periodic.health(current_app)
        except Exception as exc:  # say, the migration that adds periodic_run has not run
            db.session.rollback()
            fresh, checks["periodic"] = False, f"error: {type(exc).__name__}"
        healthy = healthy and fresh
    return {"status": "ok" if healthy else "error", **checks}, 200 if healthy else 503
