"""Feedback messages exist in et, en, ru and uk and render with their parameters."""

from __future__ import annotations

import pytest

from exercises.feedback import CASES, MESSAGES, NUMBERS, VERB_FORMS, Feedback, render
from exercises.model import LOCALES


def test_every_message_in_every_locale():
    assert set(MESSAGES) == set(LOCALES)
    for locale in LOCALES:
        assert MESSAGES[locale].keys() == MESSAGES["en"].keys(), locale
    for table in (CASES, NUMBERS, VERB_FORMS):
        for code, names in table.items():
            assert set(names) == set(LOCALES), code


@pytest.mark.parametrize("locale,text", [
    ("en", "Almost: check the letter õ."),
    ("et", "Peaaegu: kontrolli tähte õ."),
    ("ru", "Почти: проверьте букву õ."),
    ("uk", "Майже: перевірте літеру õ."),
])
def test_render_diacritic(locale, text):
    assert render(Feedback("diacritic", {"letter": "õ"}), locale).startswith(text)


def test_render_wrong_form_in_four_languages():
    feedback = Feedback("wrong_form_noun", {"case": "ill", "number": "sg"})
    assert render(feedback, "en") == "Right word, wrong form: expected the illative (sisseütlev) singular."
    assert render(feedback, "et") == "Õige sõna, kuid vale vorm. Õige vorm: ainsuse sisseütlev."
    assert "иллатив (sisseütlev), единственное число" in render(feedback, "ru")
    assert "ілатив (sisseütlev), однина" in render(feedback, "uk")
    verb = Feedback("wrong_form_verb", {"verb_form": "da"})
    assert render(verb, "en") == "Right word, wrong form: expected the da-infinitive (da-tegevusnimi)."


def test_render_gap_prefix_and_fallbacks():
    assert render(Feedback("incorrect", {"gap": 2}), "et") == "Lünk 2: Päris nii see ei ole."
    assert render(Feedback("correct"), "fr") == "Correct!"
    assert render(Feedback("partial", {"right": 1}), "en") == "1 of {total} right."
