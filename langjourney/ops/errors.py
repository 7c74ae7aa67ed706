"""Error pages in the user's language. A failed request never leaves half its changes behind."""
from __future__ import annotations

import logging

from babel.units import format_unit
from flask import Flask, render_template, request
from flask_babel import get_locale, gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from langjourney.extensions import db
from langjourney.ops.input import MAX_JSON_DEPTH, TooDeeplyNested, UnstorableText

log = logging.getLogger(__name__)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def _size(n_bytes: int) -> str:
    """A size for people, in their language: "128 kilobytes", "3 megabytes"."""
    if n_bytes >= 1024 * 1024:
        return format_unit(round(n_bytes / (1024 * 1024), 1), "digital-megabyte", locale=get_locale())
    return format_unit(max(1, round(n_bytes / 1024)), "digital-kilobyte", locale=get_locale())


def init_errors(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        db.session.rollback()
        return render_template("errors/error.html", code=400, title=_("The form expired"),
                               message=_("The form was open too long or was sent twice. Go back, "
                                         "reload the page and try again.")), 400

    @app.errorhandler(UnstorableText)
    def unstorable_text(error):
        db.session.rollback()
        message = _("What you sent contains a character that cannot be stored (a NUL character or a broken "
                    "one). Remove it and try again.")
        if _wants_json():
            return {"error": error.name, "description": message, "field": error.field}, 400
        return render_template("errors/error.html", code=400, title=_("Something is wrong with the request"),
                               message=message), 400

    @app.errorhandler(TooDeeplyNested)
    def too_deeply_nested(error):
        db.session.rollback()
        message = _("What you sent is nested more than %(n)d levels deep. Send a flatter body.", n=MAX_JSON_DEPTH)
        if _wants_json():
            return {"error": error.name, "description": message, "field": error.field}, 400
        return render_template("errors/error.html", code=400, title=_("Something is wrong with the request"),
                               message=message), 400

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error):
        """Raised before the body is read (its Content-Length), or as soon as a read passes the limit."""
        db.session.rollback()
        limit = request.max_content_length
        if _wants_json():
            return {"error": error.name, "description": f"The request body is larger than this endpoint accepts "
                    f"(at most {limit} bytes).", "limit": limit}, 413
        return render_template("errors/error.html", code=413, title=_("What you sent is too large"),
                               message=_("This page accepts at most %(size)s. Send a smaller file or a shorter "
                                         "text.", size=_size(limit))), 413

    @app.errorhandler(HTTPException)
    def http_error(error):
        db.session.rollback()
        if _wants_json():
            return {"error": error.name, "description": error.description}, error.code
        texts = {
            403: (_("Access denied"), _("You do not have permission to see this page.")),
            404: (_("Page not found"), _("The page you are looking for does not exist or has moved.")),
            405: (_("Not allowed"), _("This page cannot be used this way.")),
            429: (_("Too many requests"), _("Too many requests have come from your address in a short time. "
                                            "Wait a few minutes and try again.")),
        }
        title, message = texts.get(error.code, (_("Something is wrong with the request"),
                                                _("Go back and try again.")))
        return render_template("errors/error.html", code=error.code, title=title,
                               message=message), error.code

    @app.errorhandler(Exception)
    def server_error(error):
        db.session.rollback()
        log.exception("unhandled error")
        if _wants_json():
            return {"error": "Internal Server Error"}, 500
        return render_template("errors/error.html", code=500, title=_("Something went wrong"),
                               message=_("An error happened on our side and nothing was saved. "
                                         "Please try again in a moment.")), 500
