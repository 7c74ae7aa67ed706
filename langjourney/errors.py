"""Domain errors: services raise these with a reason the view can show the user."""
from __future__ import annotations


class DomainError(Exception):
    """A rule said no. ``message`` is a (lazily) translated sentence for the user; ``field`` names
    the form field it belongs to, if any."""

    def __init__(self, message, field: str | None = None):
        super().__init__(str(message))
        self.message = message
        self.field = field


REASON_MAX_LENGTH = 500


def required_reason(reason: str | None, field: str = "reason") -> str:
    """A staff member's reason for a decision, stripped; refused if empty or longer than the
    columns that keep reasons (500 characters)."""
    from flask_babel import lazy_gettext as _l

    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Give a reason."), field)
    if len(reason) > REASON_MAX_LENGTH:
        raise DomainError(_l("Write at most 500 characters."), field)
    return reason
