"""Answer checking: a registry of pure functions ``check(item, given) -> Result``, one per item type.

Answers are compared after normalising Unicode, whitespace, typographic quotes and dashes,
and (where it does not matter) letter case. Diacritics are never ignored: *töö* is not *too*,
but a near miss on õ, ä, ö, ü, š or ž gets its own feedback.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from . import morph
from .feedback import Feedback
from .model import Item

GAP = re.compile(r"_{3,}")
_QUOTES = str.maketrans({c: '"' for c in "„“”«»‟″"} | {c: "'" for c in "‘’‚‛′`´"}
                        | {c: "-" for c in "‐‑‒–—―−"} | {"\u00a0": " ", "\u202f": " "})
_EDGE_PUNCTUATION = ".,;:!?…"
#: Estonian letters with diacritics and the plain letters they are often typed as.
_DIACRITICS = {"õ": "o", "ä": "a", "ö": "o", "ü": "u", "š": "s", "ž": "z"}
_FOLD = str.maketrans(_DIACRITICS | {k.upper(): v.upper() for k, v in _DIACRITICS.items()})


@dataclass(frozen=True)
class Result:
    """The outcome of checking one answer.

    ``score`` is in [0, 1] (partial credit for multi-gap and match items); ``correct`` is true
    only when everything is right. ``detail`` holds per-gap or per-pair outcomes. Writing is
    not scored automatically: ``scored`` is false and the text is kept for review.
    """

    correct: bool
    score: float
    feedback: tuple[Feedback, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)
    scored: bool = True


def normalise(text: str, *, keep_case: bool = False) -> str:
    """Normalise Unicode (NFC), typographic quotes and dashes, whitespace, edge punctuation and case."""
    text = unicodedata.normalize("NFC", str(text)).translate(_QUOTES)
    text = " ".join(text.split()).strip(_EDGE_PUNCTUATION + " ")
    return text if keep_case else text.casefold()


def diacritic_letter(expected: str, given: str) -> str | None:
    """Return the first expected letter that ``given`` misses only by a diacritic, else ``None``.

    Both strings should already be normalised. ``sh``/``zh`` typed for š/ž also count as a near miss.
    """
    if expected == given:
        return None
    if len(given) != len(expected):
        given = given.replace("sh", "š").replace("zh", "ž")
    if len(expected) != len(given) or expected.translate(_FOLD) != given.translate(_FOLD):
        return None
    differing = [e for e, g in zip(expected, given) if e != g]
    return differing[0] if differing else next(c for c in expected if c in "šžŠŽ")


_Checker = Callable[[Item, Any], Result]
CHECKERS: dict[str, _Checker] = {}


def register(item_type: str) -> Callable[[_Checker], _Checker]:
    """Decorator registering a checker for ``item_type``."""
    def wrap(func: _Checker) -> _Checker:
        CHECKERS[item_type] = func
        return func
    return wrap


def check(item: Item, given: Any) -> Result:
    """Check ``given`` against ``item`` with the checker registered for its type."""
    return CHECKERS[item.type](item, given)


def _blank(given: Any) -> bool:
    return given is None or (isinstance(given, str) and not given.strip()) or (
        isinstance(given, (list, tuple, dict)) and not any(
            str(v).strip() for v in (given.values() if isinstance(given, dict) else given)))


def _invalid() -> Result:
    return Result(False, 0.0, (Feedback("invalid_answer"),))


def _not_answered() -> Result:
    return Result(False, 0.0, (Feedback("not_answered"),))


def _whole(correct: bool) -> Result:
    return Result(correct, 1.0 if correct else 0.0, (Feedback("correct" if correct else "incorrect"),))


@register("choice")
@register("reading")
@register("listening")
def check_option(item: Item, given: Any) -> Result:
    """Single choice: ``given`` is the index of the chosen option (int or digit string)."""
    if _blank(given):
        return _not_answered()
    try:
        index = int(given)
    except (TypeError, ValueError):
        return _invalid()
    if isinstance(given, bool) or not 0 <= index < len(item.options):
        return _invalid()
    result = _whole(index == item.answer)
    return Result(result.correct, result.score, result.feedback, {"chosen": index, "answer": item.answer})


def _gap_context(item: Item, gap: int, expected: str) -> tuple[list[str], int]:
    parts = GAP.split(item.text or "")
    tokens: list[str] = []
    index = 0
    for number, part in enumerate(parts):
        tokens += morph.words(part)
        if number < len(item.answers):
            if number == gap:
                index = len(tokens)
            tokens += morph.words(expected if number == gap else item.answers[number][0])
    return tokens, index


def _check_gap(item: Item, gap: int, given: str) -> tuple[bool, Feedback | None]:
    accepted = item.answers[gap]
    answer = normalise(given)
    if not answer:
        return False, Feedback("not_answered")
    if answer in {normalise(a) for a in accepted}:
        return True, None
    for expected in accepted:
        letter = diacritic_letter(normalise(expected), answer)
        if letter:
            return False, Feedback("diacritic", {"letter": letter})
    tokens, index = _gap_context(item, gap, accepted[0])
    found = morph.form_feedback(accepted[0], normalise(given, keep_case=True), tokens, index)
    return False, found or Feedback("incorrect")


@register("gap")
def check_gap(item: Item, given: Any) -> Result:
    """Gap fill: ``given`` is one string per gap (a bare string for a one-gap item); partial credit."""
    if isinstance(given, str):
        given = [given]
    if _blank(given):
        return _not_answered()
    if not isinstance(given, (list, tuple)) or len(given) != len(item.answers) or not all(
            isinstance(g, str) or g is None for g in given):
        return _invalid()
    outcomes = [_check_gap(item, n, g or "") for n, g in enumerate(given)]
    right = sum(ok for ok, _ in outcomes)
    many = len(outcomes) > 1
    feedback = [Feedback(fb.code, {**fb.params, "gap": n + 1} if many else fb.params)
                for n, (_, fb) in enumerate(outcomes) if fb is not None]
    if right == len(outcomes):
        feedback = [Feedback("correct")]
    elif many and right:
        feedback.insert(0, Feedback("partial", {"right": right, "total": len(outcomes)}))
    detail = {"gaps": [ok for ok, _ in outcomes]}
    return Result(right == len(outcomes), right / len(outcomes), tuple(feedback), detail)


@register("order")
def check_order(item: Item, given: Any) -> Result:
    """Word order: ``given`` is the tokens in the learner's order (or one string of them); all or nothing."""
    if _blank(given):
        return _not_answered()
    if isinstance(given, str):
        tokens = [normalise(t) for t in given.split()]
    elif isinstance(given, (list, tuple)) and all(isinstance(t, str) for t in given):
        tokens = [normalise(t) for t in " ".join(given).split()]
    else:
        return _invalid()
    tokens = [t for t in tokens if t]
    accepted = [[normalise(t) for t in " ".join(order).split()] for order in item.answers]
    if tokens in accepted:
        return _whole(True)
    if sorted(tokens) == sorted(accepted[0]):
        return Result(False, 0.0, (Feedback("wrong_order"),))
    return _whole(False)


@register("match")
def check_match(item: Item, given: Any) -> Result:
    """Matching: ``given`` maps each left to a right (dict, or list of [left, right]); partial credit."""
    if _blank(given):
        return _not_answered()
    if isinstance(given, (list, tuple)):
        if not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in given):
            return _invalid()
        given = dict(given)
    if not isinstance(given, dict):
        return _invalid()
    chosen = {normalise(str(k)): normalise(str(v)) for k, v in given.items() if k is not None and v is not None}
    outcomes = [chosen.get(normalise(left)) == normalise(right) for left, right in item.pairs]
    right = sum(outcomes)
    total = len(outcomes)
    if right == total:
        feedback: tuple[Feedback, ...] = (Feedback("correct"),)
    elif right:
        feedback = (Feedback("partial", {"right": right, "total": total}),)
    else:
        feedback = (Feedback("incorrect"),)
    return Result(right == total, right / total, feedback, {"pairs": outcomes})


@register("writing")
def check_writing(item: Item, given: Any) -> Result:
    """Short writing: not scored; the text is kept for a teacher or counsellor, with its word count."""
    if _blank(given):
        return Result(False, 0.0, (Feedback("not_answered"),), scored=False)
    if not isinstance(given, str):
        return Result(False, 0.0, (Feedback("invalid_answer"),), scored=False)
    count = len(morph.words(given))
    feedback = [Feedback("pending_review")]
    if item.min_words and count < item.min_words:
        feedback.append(Feedback("too_short", {"words": count, "min_words": item.min_words}))
    return Result(False, 0.0, tuple(feedback), {"words": count, "text": given}, scored=False)

