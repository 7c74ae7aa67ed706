"""The waitlist's notion of "now". Replaying a scenario runs the real services on scenario time."""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from langjourney.db import utcnow

_frozen: ContextVar[datetime | None] = ContextVar("waitlist_now", default=None)


def now() -> datetime:
    """The current UTC time, or the time frozen by :func:`frozen_at`."""
    return _frozen.get() or utcnow()


@contextmanager
def frozen_at(moment: datetime):
    """Run the enclosed code (and the inline jobs it triggers) at ``moment``."""
    token = _frozen.set(moment)
    try:
        yield
    finally:
        _frozen.reset(token)
