"""Morphology-aware feedback with Vabamorf (EstNLTK), installed with the optional ``[morph]`` extra.

When a gap answer is the right word in the wrong form (expected *majja*, given *maja*), the
feedback names the expected case and number, or the expected verb form. Without EstNLTK,
:func:`form_feedback` returns ``None`` and the checker works without this feedback.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from .feedback import CASES, VERB_FORMS, Feedback

_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")
#: Vabamorf's short illative (aditiiv, *majja*) is an illative singular for the learner.
_FORM_ALIASES = {"adt": "sg ill"}


@lru_cache(maxsize=1)
def _vabamorf() -> Any:
    try:
        from estnltk.vabamorf.morf import Vabamorf
    except ImportError:
        return None
    return Vabamorf.instance()


def available() -> bool:
    """Whether EstNLTK's Vabamorf can be used here."""
    return _vabamorf() is not None


def words(text: str) -> list[str]:
    """Split ``text`` into words the way the morphological analysis sees them."""
    return _WORD.findall(text)


def _analyses(tokens: list[str], index: int, disambiguate: bool) -> list[tuple[str, str, str]]:
    result = _vabamorf().analyze(tokens, disambiguate=disambiguate, guess=True, propername=True)
    return [(a["lemma"].lower(), a["partofspeech"], _FORM_ALIASES.get(a["form"], a["form"]))
            for a in result[index]["analysis"]]


def _feedback_for(lemma: str, pos: str, form: str) -> Feedback:
    if pos == "V":
        if form in VERB_FORMS:
            return Feedback("wrong_form_verb", {"verb_form": form, "lemma": lemma})
        return Feedback("wrong_form", {"lemma": lemma})
    number, _, case = form.partition(" ")
    if number in ("sg", "pl") and case in CASES:
        return Feedback("wrong_form_noun", {"case": case, "number": number, "lemma": lemma})
    return Feedback("wrong_form", {"lemma": lemma})


def form_feedback(expected: str, given: str, context: list[str] | None = None,
                  index: int | None = None) -> Feedback | None:
    """Return wrong-form feedback when ``given`` has the lemma of ``expected`` but another form.

    ``context`` is the sentence as words with ``expected`` at position ``index``; when given,
    the expected word's analysis is disambiguated in that sentence. Returns ``None`` when
    EstNLTK is missing, either side is not a single word, the lemmas differ, or the given
    word can already have the expected form.
    """
    if not available() or len(words(expected)) != 1 or len(words(given)) != 1:
        return None
    given_analyses = _analyses(words(given), 0, disambiguate=False)
    if context is not None and index is not None:
        expected_analyses = _analyses(context, index, disambiguate=True)
    else:
        expected_analyses = _analyses(words(expected), 0, disambiguate=False)
    given_forms = {(lemma, form) for lemma, _, form in given_analyses}
    given_lemmas = {lemma for lemma, _ in given_forms}
    candidates = {(lemma, pos, form) for lemma, pos, form in expected_analyses
                  if lemma in given_lemmas and (lemma, form) not in given_forms}
    if not candidates or any((lemma, form) in given_forms for lemma, _, form in expected_analyses):
        return None
    if len({form for _, _, form in candidates}) > 1:
        return Feedback("wrong_form", {"lemma": sorted(candidates)[0][0]})
    return _feedback_for(*sorted(candidates)[0])
