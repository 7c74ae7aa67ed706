"""The provider API (``/api/v1/``): JSON for language schools that keep their own systems.

Authenticated by a provider's token (``Authorization: Bearer ljp_…``), hence exempt from CSRF.
Every route sees only the token's provider's courses and enrolments; errors are JSON 4xx with a
reason. Every answer that shows learners' data is written to the access log, naming the token; of an
enrolment that ended long ago the learner is no longer shown (``identifies_learner``). The OpenAPI
document at ``/api/v1/openapi.json`` describes every route (a test checks it).

A POST may carry an ``Idempotency-Key``: the answer to it (a success or a refusal) is stored with the
action, in the same transaction, and a repeat with the same key and the same request gets that answer
again (``Idempotent-Replayed: true``) without acting twice; the same key with another request is
refused (422). Keys are the provider's, and kept for 24 hours.
"""
from __future__ import annotations

import re

from flask import Blueprint, current_app, g, request
from flask_babel import force_locale

from langjourney.auth.services import log_reads
from langjourney.courses import services
from langjourney.courses.access import get_enrolment_or_404, identifies_learner
from langjourney.courses.models import COURSE_LEVELS, Course, Enrolment, EnrolmentStatus
from langjourney.db import positive_int
from langjourney.errors import DomainError
from langjourney.extensions import db
from langjourney.ops.limits import blueprint_body_kind

bp = Blueprint("api", __name__, url_prefix="/api/v1")
blueprint_body_kind(bp, "api")
PUBLIC_ENDPOINTS = {"api.openapi"}
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII: letters, digits, punctuation
REPLAYED_HEADER = "Idempotent-Replayed"


class InvalidInput(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def _locale() -> str:
    return request.accept_languages.best_match(current_app.config["LANGUAGES"]) or "en"


@bp.before_request
def authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    api_token = services.live_api_token(token.strip()) if scheme.lower() == "bearer" and token else None
    if api_token is None:
        db.session.rollback()
        return ({"error": "Unauthorized", "description": "A valid provider API token is required "
                 "(Authorization: Bearer <token>)."}, 401, {"WWW-Authenticate": "Bearer"})
    g.api_token, g.api_provider = api_token, api_token.provider
    return None


def _log_reads(learner_ids, action: str) -> None:
    """The token read these learners' data: to the access log, in the answer's transaction."""
    log_reads(g.api_token.created_by_id, learner_ids, action, request.remote_addr, api_token_id=g.api_token.id)


@bp.before_request
def answer_repeats():
    """A POST with an ``Idempotency-Key`` that has been answered before gets that answer again."""
    if request.method != "POST" or IDEMPOTENCY_HEADER not in request.headers:
        return None
    key = request.headers[IDEMPOTENCY_HEADER]
    if not IDEMPOTENCY_KEY.fullmatch(key):
        db.session.rollback()
        return {"error": "Bad Request", "description": f"{IDEMPOTENCY_HEADER} must be 1 to 255 visible ASCII "
                "characters (letters, digits and punctuation; no spaces).", "field": IDEMPOTENCY_HEADER}, 400
    g.idempotent = services.idempotent_request(g.api_provider.id, key, request.method, request.path,
                                               request.get_data())
    stored = services.stored_response(g.idempotent)
    return _replay(stored) if stored is not None else None


def _replay(stored):
    """The stored answer to a repeated request, or a refusal if the key was used for another request."""
    if stored.fingerprint == g.idempotent.fingerprint:
        answer = stored.response, stored.status_code, {REPLAYED_HEADER: "true"}
        learner = stored.response.get("learner")
        if isinstance(learner, dict) and learner.get("id"):  # the answer shows a learner's data again
            _log_reads([learner["id"]], "api " + _ACTIONS.get(request.endpoint, "enrolment"))
    else:
        answer = {"error": "Unprocessable Entity", "description": f"This {IDEMPOTENCY_HEADER} has been used for a "
                  f"different request ({stored.method} {stored.path} with other data). Send each new request "
                  "with a new key.", "field": IDEMPOTENCY_HEADER}, 422
    db.session.commit()  # only the token's last use and the access log
    return answer


@bp.errorhandler(DomainError)
def domain_error(error: DomainError):
    db.session.rollback()
    with force_locale(_locale()):
        description = str(error.message)
    status = 422 if error.field else 409
    return _done({"error": "Unprocessable Entity" if status == 422 else "Conflict", "description": description,
                  "field": error.field}, status)


@bp.errorhandler(InvalidInput)
def invalid_input(error: InvalidInput):
    db.session.rollback()
    return _done({"error": "Unprocessable Entity", "description": error.message, "field": error.field}, 422)


def _course_json(course: Course) -> dict:
    return {"id": course.id, "title": course.title, "level": course.level, "programme": course.programme.value,
            "eligible_statuses": course.eligible_statuses, "mode": course.mode.value, "county": course.county,
            "town": course.town, "address": course.address, "weekdays": course.weekdays,
            "starts_at": course.starts_at_time.strftime("%H:%M"), "ends_at": course.ends_at_time.strftime("%H:%M"),
            "start_date": course.start_date.isoformat(), "end_date": course.end_date.isoformat(),
            "academic_hours": course.academic_hours, "capacity": course.capacity,
            "support_language": course.support_language,
            "enrolment_deadline": course.enrolment_deadline.isoformat() if course.enrolment_deadline else None,
            "is_published": course.is_published}


def _iso(value):
    return value.isoformat() if value is not None else None


# The access log's action for each route that answers with learners' data.
_ACTIONS = {"api.list_enrolments": "list enrolments", "api.get_enrolment": "view enrolment",
            "api.confirm": "confirm enrolment", "api.mismatch": "report mismatch",
            "api.complete": "record completion", "api.drop_out": "record drop-out"}


def _enrolment_answer(enrolment: Enrolment):
    """One enrolment as the answer, its reading logged."""
    answer = _enrolment_json(enrolment)
    if answer["learner"] is not None:
        _log_reads([enrolment.learner_id], "api " + _ACTIONS[request.endpoint])
    return _done(answer)


def _enrolment_json(enrolment: Enrolment) -> dict:
    """An enrolment; the learner (and the notes) only while the provider may see who it is
    (:func:`identifies_learner`), else ``null``."""
    shown = identifies_learner(enrolment)
    return {"id": enrolment.id, "course_id": enrolment.course_id,
            "learner": {"id": enrolment.learner_id, "name": enrolment.learner.full_name,
                        "email": enrolment.learner.email} if shown else None,
            "status": enrolment.status.value, "level": enrolment.level,
            "accepted_at": _iso(enrolment.accepted_at), "confirm_by": _iso(enrolment.confirm_by),
            "confirmed_at": _iso(enrolment.confirmed_at), "ended_at": _iso(enrolment.ended_at),
            "attendance_percent": enrolment.attendance_percent, "final_test_result": enrolment.final_test_result,
            "mismatch_level": enrolment.mismatch_level, "note": enrolment.note if shown else None}


def _body() -> dict:
    if not request.data:
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("body", "The request body must be a JSON object.")
    return body


def _string(body: dict, name: str, choices=None) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or (choices and value not in choices):
        raise InvalidInput(name, f"{name} must be " + (f"one of {', '.join(choices)}" if choices else "a string") + ".")
    return value


def _percent(body: dict, name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():  # JSON does not tell 92 from 92.0
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise InvalidInput(name, f"{name} must be a whole number from 0 to 100.")
    return value


def _done(payload: dict, status: int = 200):
    """Commit the action (or only the token's last use; after a refusal, nothing) and answer.

    Under an ``Idempotency-Key`` the answer is stored in the same transaction. If a concurrent request
    with the same key has committed first, this request's action is undone and that one's answer given.
    """
    idempotent = g.get("idempotent")
    if idempotent is not None:
        try:
            services.store_response(idempotent, status, payload)
        except services.IdempotencyKeyTaken:
            db.session.rollback()
            return _replay(services.stored_response(idempotent))
    db.session.commit()
    return payload, status


@bp.get("/courses")
def list_courses():
    courses = db.session.scalars(db.select(Course).where(Course.provider_id == g.api_provider.id)
                                 .order_by(Course.start_date, Course.id))
    return _done({"courses": [_course_json(c) for c in courses]})


@bp.get("/enrolments")
def list_enrolments():
    try:
        course_id = None if request.args.get("course_id") is None else positive_int(request.args["course_id"])
    except ValueError:
        raise InvalidInput("course_id", "course_id must be a course's id: a whole number from 1.") from None
    status = request.args.get("status")
    if status is not None and status not in {s.value for s in EnrolmentStatus}:
        raise InvalidInput("status", "status must be one of " + ", ".join(s.value for s in EnrolmentStatus) + ".")
    enrolments = services.provider_enrolments(g.api_provider.id, course_id,
                                              EnrolmentStatus(status) if status else None)
    answers = [_enrolment_json(e) for e in enrolments]
    _log_reads([a["learner"]["id"] for a in answers if a["learner"] is not None], "api " + _ACTIONS[request.endpoint])
    return _done({"enrolments": answers})


@bp.get("/enrolments/<int:enrolment_id>")
def get_enrolment(enrolment_id: int):
    return _enrolment_answer(get_enrolment_or_404(enrolment_id, g.api_provider))


@bp.post("/enrolments/<int:enrolment_id>/confirm")
def confirm(enrolment_id: int):
    enrolment = get_enrolment_or_404(enrolment_id, g.api_provider)
    body = _body()
    try:
        services.confirm_enrolment(enrolment, _string(body, "note"))
    except services.AlreadyConfirmed:
        pass  # a retry (e.g. after a lost response) gets the same answer; nothing is confirmed twice
    return _enrolment_answer(enrolment)


@bp.post("/enrolments/<int:enrolment_id>/mismatch")
def mismatch(enrolment_id: int):
    enrolment = get_enrolment_or_404(enrolment_id, g.api_provider)
    body = _body()
    services.report_mismatch(enrolment, _string(body, "suggested_level", COURSE_LEVELS), _string(body, "note"))
    return _enrolment_answer(enrolment)


def _outcome(enrolment_id: int, status: EnrolmentStatus):
    enrolment = get_enrolment_or_404(enrolment_id, g.api_provider)
    body = _body()
    services.record_outcome(enrolment, status, _percent(body, "attendance_percent"),
                            _percent(body, "final_test_result"), _string(body, "note"))
    return _enrolment_answer(enrolment)


@bp.post("/enrolments/<int:enrolment_id>/completion")
def complete(enrolment_id: int):
    return _outcome(enrolment_id, EnrolmentStatus.COMPLETED)


@bp.post("/enrolments/<int:enrolment_id>/drop-out")
def drop_out(enrolment_id: int):
    return _outcome(enrolment_id, EnrolmentStatus.DROPPED_OUT)


@bp.get("/openapi.json")
def openapi():
    from langjourney.courses.openapi import document

    return document()
