"""Domain errors: services raise these with a reason the view can show the user."""
from __future__ import annotations


class DomainError(Exception):
    """A rule said no. ``message`` is a (lazily) translated sentence for the user; ``field`` names
    the form field it belongs to, if any."""

    def __init__(self, message, field: str | None = None):
        super().__init__(str(message))
        self.message = message
        self.field = field
