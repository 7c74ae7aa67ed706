"""The OpenAPI 3.1 document of the provider API. A test checks that it and the routes agree."""
from __future__ import annotations

from langjourney.courses.models import COURSE_LEVELS, EnrolmentStatus, Mode, Programme
from langjourney.db import MAX_ID

_ERROR = {"type": "object", "required": ["error", "description"],
          "properties": {"error": {"type": "string"}, "description": {"type": "string"},
                         "field": {"type": ["string", "null"]},
                         "limit": {"type": "integer", "description": "the largest body accepted, in bytes (413)"}}}
_NULLABLE_STR = {"type": ["string", "null"]}
_PERCENT = {"type": ["integer", "null"], "minimum": 0, "maximum": 100}
_ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}

_COURSE = {"type": "object", "properties": {
    "id": {"type": "integer"}, "title": {"type": "string"}, "level": {"enum": list(COURSE_LEVELS)},
    "programme": {"enum": [p.value for p in Programme]}, "eligible_statuses": {"type": "array", "items": {"type": "string"}},
    "mode": {"enum": [m.value for m in Mode]}, "county": _NULLABLE_STR, "town": _NULLABLE_STR, "address": _NULLABLE_STR,
    "weekdays": {"type": "array", "items": {"enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}},
    "starts_at": {"type": "string", "example": "17:30"}, "ends_at": {"type": "string", "example": "19:00"},
    "start_date": {"type": "string", "format": "date"}, "end_date": {"type": "string", "format": "date"},
    "academic_hours": {"type": "integer"}, "capacity": {"type": "integer"},
    "support_language": {"enum": ["ru", "uk", "en", None]},
    "enrolment_deadline": {"type": ["string", "null"], "format": "date"}, "is_published": {"type": "boolean"}}}
_ENROLMENT = {"type": "object", "properties": {
    "id": {"type": "integer"}, "course_id": {"type": "integer"},
    "learner": {"type": ["object", "null"], "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                                            "email": {"type": "string"}},
                "description": "null (and the note too) once the enrolment ended more than the configured "
                               "period ago (90 days by default): the enrolment is still listed, its learner no "
                               "longer shown"},
    "status": {"enum": [s.value for s in EnrolmentStatus]}, "level": {"enum": list(COURSE_LEVELS)},
    "accepted_at": {"type": "string", "format": "date-time"}, "confirm_by": {"type": "string", "format": "date"},
    "confirmed_at": {"type": ["string", "null"], "format": "date-time"},
    "ended_at": {"type": ["string", "null"], "format": "date-time"},
    "attendance_percent": _PERCENT, "final_test_result": _PERCENT,
    "mismatch_level": {"enum": [*COURSE_LEVELS, None]}, "note": _NULLABLE_STR}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _ref_parameter(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {"401": _json(_ref("Error"), "Missing, unknown or revoked token"),
           "404": _json(_ref("Error"), "No such enrolment of your organisation")}
_ACTION_ERRORS = {**_ERRORS, "409": _json(_ref("Error"), "The enrolment's status does not allow this"),
                  "422": _json(_ref("Error"), "Invalid input (the field is named), or an Idempotency-Key "
                                              "already used for a different request")}
_ID = [{"name": "enrolment_id", "in": "path", "required": True, "schema": _ID_SCHEMA}]

_IDEMPOTENCY = (
    "Send an `Idempotency-Key` header (1 to 255 visible ASCII characters, e.g. a UUID) with a POST to make "
    "retrying it safe: the first answer (a success, or a refusal with 409 or 422) is stored with the change "
    "itself, and a repeat with the same key and the same request (method, path and JSON body) gets that "
    "answer again with `Idempotent-Replayed: true`, changing nothing, even when the two arrive at once. The "
    "same key with a different request is refused with 422; a malformed key with 400. Keys belong to your "
    "organisation, not to one token, and expire 24 hours after first use. Answers that never reached the "
    "action (401, 404, server errors) are not stored.")
_KEY_PARAMETER = {"name": "Idempotency-Key", "in": "header", "required": False, "description": _IDEMPOTENCY,
                  "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}}
_REPLAYED = {"Idempotent-Replayed": {"description": "`true` when this is the stored answer to an earlier request "
                                                    "with the same Idempotency-Key",
                                     "schema": {"enum": ["true"]}}}


def _replayable(response: dict) -> dict:
    return {**response, "headers": _REPLAYED}


def _action(summary: str, body: dict) -> dict:
    return {"post": {"summary": summary, "parameters": [*_ID, _ref_parameter("IdempotencyKey")],
                     "requestBody": {"required": False, "content": {"application/json": {"schema": body}}},
                     "responses": {"200": _replayable(_json(_ref("Enrolment"), "The enrolment after the change")),
                                   "400": _json(_ref("Error"), "A malformed Idempotency-Key, text that cannot be "
                                                "stored, or JSON nested deeper than 64 levels"),
                                   "413": _json(_ref("Error"), "The body is larger than the API accepts "
                                                "(answered before it is read or the token is checked)"),
                                   **_ACTION_ERRORS, "409": _replayable(_ACTION_ERRORS["409"]),
                                   "422": _replayable(_ACTION_ERRORS["422"])}}}


def document() -> dict:
    """The OpenAPI document (a fresh dict each call)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "LangJourney provider API", "version": "1.0.0",
                 "description": "For course providers: your courses and enrolments. Create a token on the "
                                "provider portal's API tokens page (provider admins) and send it as "
                                "`Authorization: Bearer <token>`.\n\n" + _IDEMPOTENCY},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": _ERROR, "Course": _COURSE, "Enrolment": _ENROLMENT},
            "parameters": {"IdempotencyKey": _KEY_PARAMETER},
        },
        "paths": {
            "/courses": {"get": {"summary": "List your organisation's courses", "responses": {
                "200": _json({"type": "object", "properties": {"courses": {"type": "array", "items": _ref("Course")}}},
                             "Your courses"), "401": _ERRORS["401"]}}},
            "/enrolments": {"get": {
                "summary": "List enrolments on your courses with their status",
                "parameters": [{"name": "course_id", "in": "query", "schema": _ID_SCHEMA},
                               {"name": "status", "in": "query",
                                "schema": {"enum": [s.value for s in EnrolmentStatus]}}],
                "responses": {"200": _json({"type": "object", "properties": {
                    "enrolments": {"type": "array", "items": _ref("Enrolment")}}}, "Enrolments"),
                    "401": _ERRORS["401"], "422": _ACTION_ERRORS["422"]}}},
            "/enrolments/{enrolment_id}": {"get": {
                "summary": "One enrolment", "parameters": _ID,
                "responses": {"200": _json(_ref("Enrolment"), "The enrolment"), **_ERRORS}}},
            "/enrolments/{enrolment_id}/confirm": _action(
                "Confirm an accepted enrolment (idempotent: confirming a confirmed enrolment answers 200 and changes nothing)",
                {"type": "object", "properties": {"note": {"type": "string"}}}),
            "/enrolments/{enrolment_id}/mismatch": _action(
                "Report a level mismatch after the course has started: the learner goes back to counselling",
                {"type": "object", "properties": {"suggested_level": {"enum": list(COURSE_LEVELS)},
                                                  "note": {"type": "string"}}}),
            "/enrolments/{enrolment_id}/completion": _action(
                "Mark a confirmed enrolment completed (needs more than 80 % attendance and the final test result)",
                {"type": "object", "required": ["attendance_percent", "final_test_result"],
                 "properties": {"attendance_percent": _PERCENT, "final_test_result": _PERCENT,
                                "note": {"type": "string"}}}),
            "/enrolments/{enrolment_id}/drop-out": _action(
                "Mark a drop-out", {"type": "object", "properties": {
                    "attendance_percent": _PERCENT, "final_test_result": _PERCENT, "note": {"type": "string"}}}),
            "/openapi.json": {"get": {"summary": "This document", "security": [],
                                      "responses": {"200": {"description": "The OpenAPI document"}}}},
        },
    }
