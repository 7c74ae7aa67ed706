"""Checkers: every item type, normalisation, diacritic near misses and partial credit."""

from __future__ import annotations

import pytest

from exercises import checkers, morph
from exercises.checkers import check, diacritic_letter, normalise
from exercises.feedback import Feedback
from exercises.model import ITEM_TYPES, Explanation, Item

EXPLANATION = Explanation("Selgitus.", "Why.", "Почему.", "Чому.")


def make(item_type: str, **fields) -> Item:
    return Item(id="x-test", type=item_type, level="A1", skill="grammar", prompt="Vali.",
                explanation=EXPLANATION, **fields)


def codes(result) -> list[str]:
    return [f.code for f in result.feedback]


def test_every_type_has_a_checker():
    assert set(checkers.CHECKERS) == set(ITEM_TYPES)


@pytest.mark.parametrize("item_type", ["choice", "reading", "listening"])
def test_option_items(item_type):
    item = make(item_type, options=("kohv", "kohvi", "kohvist"), answer=1, passage="p1")
    assert check(item, 1).correct and check(item, 1).score == 1.0
    assert check(item, "1").correct
    wrong = check(item, 2)
    assert not wrong.correct and wrong.score == 0.0 and codes(wrong) == ["incorrect"]
    assert codes(check(item, None)) == ["not_answered"]
    assert codes(check(item, 7)) == ["invalid_answer"]
    assert codes(check(item, "kohvi")) == ["invalid_answer"]
    assert codes(check(item, True)) == ["invalid_answer"]


def test_normalise_whitespace_case_quotes_dashes():
    assert normalise("  Tere   PÄEVAST \u00a0") == "tere päevast"
    assert normalise("„Kalevipoeg“") == normalise('"Kalevipoeg"')
    assert normalise("e–post") == "e-post" == normalise("e—post")
    assert normalise("kohvi.") == "kohvi"
    assert normalise("Tallinn", keep_case=True) == "Tallinn"
    assert normalise("ka\u0308es") == "käes"  # decomposed ä


def test_gap_accepts_any_listed_answer_with_normalisation():
    item = make("gap", text="Ma lähen ___ .", answers=(("majja", "majasse"),))
    for given in ("majja", " Majasse ", "MAJJA.", ["majja"]):
        result = check(item, given)
        assert result.correct and result.score == 1.0 and codes(result) == ["correct"], given


def test_gap_typographic_quotes_in_answer():
    item = make("gap", text="Ta ütles ___ .", answers=(('"tere"',),))
    assert check(item, "„tere“").correct
    assert check(item, "«tere»").correct


@pytest.mark.parametrize("expected,given,letter", [
    ("kõik", "koik", "õ"),
    ("äri", "ari", "ä"),
    ("töö", "too", "ö"),
    ("süüa", "suua", "ü"),
    ("šokolaad", "sokolaad", "š"),
    ("šokolaad", "shokolaad", "š"),
    ("žürii", "zurii", "ž"),
    ("too", "töö", "o"),
])
def test_diacritic_near_miss(expected, given, letter):
    item = make("gap", text="___", answers=((expected,),))
    result = check(item, given)
    assert not result.correct and result.score == 0.0
    assert result.feedback == (Feedback("diacritic", {"letter": letter}),)


def test_diacritic_letter_ignores_other_mistakes():
    assert diacritic_letter("kõik", "kõik") is None
    assert diacritic_letter("kõik", "koike") is None
    assert diacritic_letter("töö", "tee") is None


def test_gap_partial_credit_and_per_gap_feedback():
    item = make("gap", text="Eile ___ ma poes ja ostsin ___ .", answers=(("käisin",), ("leiba",)))
    both = check(item, ["käisin", "leiba"])
    assert both.correct and both.score == 1.0
    half = check(item, ["kaisin", "saia"])
    assert not half.correct and half.score == 0.0
    assert half.feedback[0] == Feedback("diacritic", {"letter": "ä", "gap": 1})
    one = check(item, ["käisin", "saia"])
    assert not one.correct and one.score == 0.5
    assert one.feedback[0] == Feedback("partial", {"right": 1, "total": 2})
    assert one.feedback[1].params["gap"] == 2
    assert one.detail == {"gaps": [True, False]}
    assert codes(check(item, ["käisin"])) == ["invalid_answer"]
    assert codes(check(item, ["", ""])) == ["not_answered"]


def test_gap_wrong_word_without_morphology_is_incorrect():
    item = make("gap", text="Ma joon ___ .", answers=(("kohvi",),))
    assert codes(check(item, "teed")) == ["incorrect"]


def test_order():
    item = make("order", words=("lähen", "tööle", "Ma"),
                answers=(("Ma", "lähen", "tööle"), ("Tööle", "lähen", "ma")))
    assert check(item, ["Ma", "lähen", "tööle"]).correct
    assert check(item, "ma  lähen TÖÖLE").correct
    assert check(item, ["Tööle", "lähen", "ma"]).correct
    wrong = check(item, ["lähen", "Ma", "tööle"])
    assert not wrong.correct and codes(wrong) == ["wrong_order"]
    assert codes(check(item, ["Ma", "lähen"])) == ["incorrect"]
    assert codes(check(item, 3)) == ["invalid_answer"]


def test_match_partial_credit():
    item = make("match", pairs=(("koer", "haugub"), ("kass", "nurrub"), ("lehm", "ammub")))
    assert check(item, {"koer": "haugub", "kass": "nurrub", "lehm": "ammub"}).correct
    assert check(item, [["Koer", "haugub "], ["kass", "nurrub"], ["lehm", "ammub"]]).correct
    partial = check(item, {"koer": "haugub", "kass": "ammub", "lehm": "nurrub"})
    assert not partial.correct
    assert partial.score == pytest.approx(1 / 3)
    assert partial.feedback == (Feedback("partial", {"right": 1, "total": 3}),)
    assert partial.detail == {"pairs": [True, False, False]}
    assert codes(check(item, {"koer": "ammub"})) == ["incorrect"]
    assert codes(check(item, "koer")) == ["invalid_answer"]


def test_writing_is_kept_for_review():
    item = make("writing", rubric=("Kiri on viisakas.",), min_words=5)
    result = check(item, "Tere Mari! Tule homme külla.")
    assert result.scored is False and result.correct is False
    assert codes(result) == ["pending_review"]
    assert result.detail["words"] == 5
    short = check(item, "Tere Mari!")
    assert codes(short) == ["pending_review", "too_short"]
    assert short.feedback[1].params == {"words": 2, "min_words": 5}
    assert not item.scored


@pytest.mark.skipif(not morph.available(), reason="estnltk (the [morph] extra) is not installed")
def test_gap_names_the_expected_form():
    item = make("gap", text="Ma lähen ___ .", answers=(("majja", "majasse"),), hints=("maja",))
    result = check(item, "maja")
    assert result.feedback == (Feedback("wrong_form_noun", {"case": "ill", "number": "sg", "lemma": "maja"}),)


def test_gap_without_morphology_falls_back(monkeypatch):
    monkeypatch.setattr(morph, "available", lambda: False)
    item = make("gap", text="Ma lähen ___ .", answers=(("majja",),))
    assert codes(check(item, "maja")) == ["incorrect"]
