"""Spelling: Estonian texts are extracted, hunspell et_EE and the allowlists decide."""

from __future__ import annotations

import re

import pytest

from exercises import spelling
from exercises.feedback import CASES, MESSAGES, NUMBERS, VERB_FORMS
from exercises.loader import load_content
from exercises.spelling import allowed, estonian_texts, spellcheck, tokenise

needs_hunspell = pytest.mark.skipif(not spelling.hunspell_available(),
                                    reason="hunspell or its et_EE dictionary (Debian myspell-et) is not installed")


def test_tokenise_skips_numbers_letters_and_endings():
    assert tokenise("Kell 10 läheb e-posti teel „Mari“ koju.") == ["Kell", "läheb", "e-posti", "teel", "Mari", "koju"]
    assert tokenise("sisseütlev kääne lõpuga -sse: Tallinnasse; omastav + d") == \
        ["sisseütlev", "kääne", "lõpuga", "Tallinnasse", "omastav"]


def test_allowed_accepts_capitalised_form_of_listed_word():
    allowlist = {"esmaspäeval", "Riho"}
    assert allowed("Esmaspäeval", allowlist)
    assert allowed("Riho", allowlist)
    assert not allowed("riho", allowlist)


def test_estonian_texts_cover_every_field_and_skip_other_languages(good_content):
    texts = {t.text for t in estonian_texts(good_content)}
    assert "Ma lähen majja ." in texts  # gap text with its first answer
    assert "majasse" in texts  # the other accepted answer
    assert "Tere, Riho! Kas sa tuled täna kinno?" in texts  # dialogue line without "Kadri:"
    assert "haugub" in texts and "bussiga" in texts and "Kiri on viisakas." in texts
    assert "Osasihitis: jooma + osastav kääne (kohvi)." in texts
    assert "Saan kuulates hakkama." in texts
    assert not any("Partial object" in t or "Частичный" in t for t in texts)


def test_estonian_texts_carry_their_line(good_content):
    where = {t.text: (t.path, t.line) for t in estonian_texts(good_content)}
    path, line = where["Kahjuks ei saa, mul on palju tööd."]
    assert path.endswith("placement/a2-listening.yaml") and line == 8
    path, line = where["kohvist"]
    assert line == 10


@needs_hunspell
def test_dictionary_encoding_is_read_from_the_aff_file():
    assert spelling.dictionary_encoding().upper().replace("-", "") == "ISO885915"


@needs_hunspell
def test_hunspell_knows_diacritics_and_rejects_misspellings():
    assert spelling.hunspell_unknown(["töö", "kõik", "šokolaad", "žürii", "koik", "Ωmega"]) == {"koik", "Ωmega"}


@needs_hunspell
def test_good_fixture_is_spelt_correctly(good_content):
    assert spellcheck(good_content) == []


@needs_hunspell
def test_misspelt_word_is_reported_and_allowlisted_name_accepted(content_copy):
    path = content_copy / "placement" / "a1-grammar.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("Järjesta sõnad.", "Järjesta sõnsd."),
                    encoding="utf-8")
    unknown = spellcheck(load_content(content_copy))
    assert [(u.word, u.count, u.line) for u in unknown] == [("sõnsd", 1, 36)]
    (content_copy / "allowlist" / "names.txt").write_text("esmaspäeval\n", encoding="utf-8")
    words = {u.word for u in spellcheck(load_content(content_copy))}
    assert words == {"sõnsd", "Riho"}


@needs_hunspell
def test_feedback_messages_are_correct_estonian():
    texts = [MESSAGES["et"][code] for code in MESSAGES["et"]]
    texts += [names["et"] for table in (CASES, NUMBERS, VERB_FORMS) for names in table.values()]
    allowlist = spelling.load_allowlist()
    words = {w for text in texts for w in tokenise(re.sub(r"\{\w+\}", " ", text)) if not allowed(w, allowlist)}
    assert spelling.hunspell_unknown(words) == set()
