"""Morphology feedback with Vabamorf (skipped without the [morph] extra)."""

from __future__ import annotations

import pytest

from exercises import morph
from exercises.feedback import Feedback, render

pytestmark = pytest.mark.skipif(not morph.available(), reason="estnltk (the [morph] extra) is not installed")


def test_illative_expected():
    feedback = morph.form_feedback("majja", "maja")
    assert feedback == Feedback("wrong_form_noun", {"case": "ill", "number": "sg", "lemma": "maja"})
    assert render(feedback, "en") == "Right word, wrong form: expected the illative (sisseütlev) singular."


def test_context_disambiguates_the_expected_form():
    assert morph.form_feedback("kohvi", "kohv", ["Ma", "joon", "kohvi"], 2) == \
        Feedback("wrong_form_noun", {"case": "p", "number": "sg", "lemma": "kohv"})
    assert morph.form_feedback("maju", "maja", ["Ma", "näen", "maju"], 2).params["number"] == "pl"


def test_verb_forms():
    assert morph.form_feedback("läheb", "lähen", ["Ta", "läheb", "koju"], 1) == \
        Feedback("wrong_form_verb", {"verb_form": "b", "lemma": "minema"})
    assert morph.form_feedback("minna", "minema").params["verb_form"] == "da"


def test_no_form_feedback_for_other_words_or_equivalent_forms():
    assert morph.form_feedback("töö", "too") is None
    assert morph.form_feedback("majja", "majasse") is None
    assert morph.form_feedback("majja", "lähen koju") is None
