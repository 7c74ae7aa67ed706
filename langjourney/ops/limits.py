"""How large a request body may be, by what the request is for; a larger one is answered 413 before
its body is read.

Without a limit any anonymous request could make a web process read and keep hundreds of megabytes
(and the input guard parsed any JSON body before routing and authentication). Each endpoint has a
*kind* of body, the limit of its kind is set on the request (Werkzeug enforces
``request.max_content_length`` on every read), and a body that says it is larger is refused before a
byte of it is read. Endpoints say nothing unless they take more than a form: a view is decorated with
``@body_kind("csv_import")``, a blueprint is given one with :func:`blueprint_body_kind`.
"""
from __future__ import annotations

from flask import Blueprint, Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

# kind -> the setting that holds its limit in bytes (defaults in langjourney.config)
BODY_LIMITS = {
    "form": "MAX_FORM_BYTES",  # every page's forms, and any endpoint that declares nothing
    "api": "MAX_API_BYTES",  # the provider API's JSON
    "csv_import": "MAX_CSV_IMPORT_BYTES",  # a provider's course CSV, with the form around it
    "recording": "MAX_RECORDING_BYTES",  # a learner's spoken answer (the speaking exam's uploads)
}
DEFAULT_KIND = "form"


def body_kind(kind: str):
    """Give a view the body limit of ``kind`` (one of :data:`BODY_LIMITS`)."""
    if kind not in BODY_LIMITS:
        raise ValueError(f"unknown body kind {kind!r}; one of {', '.join(BODY_LIMITS)}")

    def decorate(view):
        view.body_kind = kind
        return view

    return decorate


def blueprint_body_kind(bp: Blueprint, kind: str) -> None:
    """Give every view of ``bp`` the body limit of ``kind``, unless a view says otherwise."""
    body_kind(kind)(bp)


def request_body_limit() -> int:
    """The body limit, in bytes, of the request being handled (an unknown URL gets the default)."""
    view = current_app.view_functions.get(request.endpoint)
    kind = (getattr(view, "body_kind", None)
            or getattr(current_app.blueprints.get(request.blueprint), "body_kind", None) or DEFAULT_KIND)
    return current_app.config[BODY_LIMITS[kind]]


def init_request_limits(app: Flask) -> None:
    if app.config["MAX_CONTENT_LENGTH"] is None:  # the default also holds for a read before the hook
        app.config["MAX_CONTENT_LENGTH"] = app.config[BODY_LIMITS[DEFAULT_KIND]]

    def limit_request_body():
        limit = request_body_limit()
        request.max_content_length = limit  # every read of the body stops here (Werkzeug)
        if request.content_length is not None:
            if request.content_length > limit:
                raise RequestEntityTooLarge()
        elif "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            # A body without a length shows its size only as it is read: read it now, up to one byte
            # past the limit (a read that reaches the limit stops there without an error), so that it
            # is refused here and not cut short or refused by whichever hook or view reads it first.
            request.max_content_length = limit + 1
            too_large = len(request.get_data(cache=True)) > limit
            request.max_content_length = limit
            if too_large:
                raise RequestEntityTooLarge()

    # First of all hooks: Flask-WTF's CSRF check reads the form, the input guard the JSON.
    app.before_request_funcs.setdefault(None, []).insert(0, limit_request_body)
