"""Text that the database cannot store is refused at the door: every query string, form and JSON
body, before any view runs.

PostgreSQL refuses a NUL character in text, and a string with half of a UTF-16 surrogate pair (JSON
can carry one: ``"\\ud800"``) cannot be encoded for it at all. Either used to reach a service and
fail there, a 500 after the work was done. No one types these; they come from pasted binary, broken
clients or probes, so the request is answered 400 with a reason instead of each form re-rendering.

JSON is walked without recursion and no deeper than :data:`MAX_JSON_DEPTH` levels: no form of ours
nests that deep, and a deeper body (thousands of ``[``) used to end in a ``RecursionError``, a 500 on
any URL. The body has been held to its size limit before this guard reads it (``ops.limits``).
"""
from __future__ import annotations

from collections.abc import Iterator

from flask import Flask, request
from werkzeug.exceptions import BadRequest


MAX_JSON_DEPTH = 64


class UnstorableText(BadRequest):
    """A request carried text that cannot be stored; ``field`` names where."""

    def __init__(self, field: str):
        super().__init__()
        self.field = field


class TooDeeplyNested(BadRequest):
    """A JSON body nested deeper than :data:`MAX_JSON_DEPTH`; ``field`` names where."""

    def __init__(self, field: str):
        super().__init__()
        self.field = field


def storable(text: str) -> bool:
    """Whether the database can store ``text``: no NUL character, and valid Unicode throughout."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_strings(value, path: str = "") -> Iterator[tuple[str, str]]:
    """Every key and string in a JSON value, each with where it is; deeper than allowed is refused."""
    pending = [(value, path, 1)]
    while pending:
        value, path, depth = pending.pop()
        if isinstance(value, str):
            yield path, value
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth > MAX_JSON_DEPTH:
            raise TooDeeplyNested(path or "body")
        if isinstance(value, dict):
            for key in value:
                yield path or "body", key
            items = [(item, f"{path}.{key}" if path else key) for key, item in value.items()]
        else:
            items = [(item, path) for item in value]
        pending.extend((item, where, depth + 1) for item, where in reversed(items))


def _json_body():
    try:
        return request.get_json(silent=True)
    except RecursionError:  # the standard library's parser gives up at about 1,000 levels
        raise TooDeeplyNested("body") from None


def _texts() -> Iterator[tuple[str, str]]:
    for source in (request.args, request.form):
        for name, value in source.items(multi=True):
            yield name, name
            yield name, value
    if request.is_json:
        yield from _json_strings(_json_body())


def init_input_checks(app: Flask) -> None:
    @app.before_request
    def refuse_unstorable_text():
        for field, text in _texts():
            if not storable(text):
                raise UnstorableText(field)
