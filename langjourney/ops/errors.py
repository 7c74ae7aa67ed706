"""Error pages in the user's language. A failed request never leaves half its changes behind."""
from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from langjourney.extensions import db
from langjourney.ops.input import UnstorableText

log = logging.getLogger(__name__)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


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
