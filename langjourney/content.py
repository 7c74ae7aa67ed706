"""The exercise content (items, passages, the self-assessment grid), parsed once per process."""
from __future__ import annotations

import functools

from exercises.loader import load_content
from exercises.model import Content


@functools.cache
def content() -> Content:
    """All of ``exercises/content``, parsed on first use (not at import: it takes a moment)."""
    return load_content()
