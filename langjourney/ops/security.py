"""Per-request plumbing: security headers, request ids and the access log line."""
from __future__ import annotations

import logging
import time
import uuid

from flask import Flask, g, request

from langjourney.auth.access import signed_in_user_id

log = logging.getLogger("langjourney.request")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def init_security(app: Flask) -> None:
    @app.before_request
    def start_timer():
        g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def add_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        headers["X-Request-Id"] = g.get("request_id", "")
        if app.config["SESSION_COOKIE_SECURE"]:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        user_id = signed_in_user_id()
        if user_id is not None:
            headers["Cache-Control"] = "no-store"  # personal pages stay out of shared caches
        log.info("%s %s %s", request.method, request.path, response.status_code, extra={
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2),
            "user_id": user_id,
        })
        return response
