"""Localisable feedback: checkers return a message key plus parameters, :func:`render` turns it into text.

Parameters named ``case``, ``number`` and ``verb_form`` hold grammatical codes and are
translated too, so "expected the illative (sisseütlev) singular" reads naturally in every locale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

DEFAULT_LOCALE = "en"


@dataclass(frozen=True)
class Feedback:
    """A message key and its parameters; ``gap`` (1-based) in params names the gap or pair it is about."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)


MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "correct": "Correct!",
        "incorrect": "Not quite.",
        "not_answered": "No answer was given.",
        "invalid_answer": "This answer could not be read.",
        "diacritic": "Almost: check the letter {letter}. In Estonian õ, ä, ö, ü, š and ž are different letters.",
        "wrong_form_noun": "Right word, wrong form: expected the {case} ({case_et}) {number}.",
        "wrong_form_verb": "Right word, wrong form: expected the {verb_form} ({verb_form_et}).",
        "wrong_form": "Right word, wrong form.",
        "partial": "{right} of {total} right.",
        "wrong_order": "The words are right, but the order is not.",
        "pending_review": "Saved. A teacher or counsellor will read your text.",
        "too_short": "Your text has {words} words; write at least {min_words}.",
        "gap": "Gap {gap}: {message}",
    },
    "et": {
        "correct": "Õige!",
        "incorrect": "Päris nii see ei ole.",
        "not_answered": "Vastust ei antud.",
        "invalid_answer": "Seda vastust ei saanud lugeda.",
        "diacritic": "Peaaegu: kontrolli tähte {letter}. Eesti keeles on õ, ä, ö, ü, š ja ž eraldi tähed.",
        "wrong_form_noun": "Õige sõna, kuid vale vorm. Õige vorm: {number} {case_et}.",
        "wrong_form_verb": "Õige sõna, kuid vale vorm. Õige vorm: {verb_form_et}.",
        "wrong_form": "Õige sõna, kuid vale vorm.",
        "partial": "Õigeid vastuseid {right}/{total}.",
        "wrong_order": "Sõnad on õiged, kuid järjekord mitte.",
        "pending_review": "Salvestatud. Õpetaja või nõustaja loeb su teksti läbi.",
        "too_short": "Su tekstis on {words} sõna; kirjuta vähemalt {min_words}.",
        "gap": "Lünk {gap}: {message}",
    },
    "ru": {
        "correct": "Правильно!",
        "incorrect": "Не совсем так.",
        "not_answered": "Ответ не дан.",
        "invalid_answer": "Не удалось прочитать ответ.",
        "diacritic": "Почти: проверьте букву {letter}. В эстонском õ, ä, ö, ü, š и ž — отдельные буквы.",
        "wrong_form_noun": "Слово верное, но форма другая: нужен {case} ({case_et}), {number}.",
        "wrong_form_verb": "Слово верное, но форма другая: нужна форма «{verb_form}» ({verb_form_et}).",
        "wrong_form": "Слово верное, но форма другая.",
        "partial": "Правильно {right} из {total}.",
        "wrong_order": "Слова верные, но порядок неправильный.",
        "pending_review": "Сохранено. Учитель или консультант прочитает ваш текст.",
        "too_short": "В вашем тексте {words} слов(а); напишите не меньше {min_words}.",
        "gap": "Пропуск {gap}: {message}",
    },
    "uk": {
        "correct": "Правильно!",
        "incorrect": "Не зовсім так.",
        "not_answered": "Відповіді не надано.",
        "invalid_answer": "Не вдалося прочитати відповідь.",
        "diacritic": "Майже: перевірте літеру {letter}. В естонській õ, ä, ö, ü, š і ž — окремі літери.",
        "wrong_form_noun": "Слово правильне, але форма інша: потрібен {case} ({case_et}), {number}.",
        "wrong_form_verb": "Слово правильне, але форма інша: потрібна форма «{verb_form}» ({verb_form_et}).",
        "wrong_form": "Слово правильне, але форма інша.",
        "partial": "Правильно {right} з {total}.",
        "wrong_order": "Слова правильні, але порядок неправильний.",
        "pending_review": "Збережено. Викладач або консультант прочитає ваш текст.",
        "too_short": "У вашому тексті {words} слів; напишіть щонайменше {min_words}.",
        "gap": "Пропуск {gap}: {message}",
    },
}

#: Case codes (as Vabamorf writes them) -> names; "et" holds the Estonian term used in every locale.
CASES: dict[str, dict[str, str]] = {
    "n": {"et": "nimetav", "en": "nominative", "ru": "номинатив", "uk": "номінатив"},
    "g": {"et": "omastav", "en": "genitive", "ru": "генитив", "uk": "генітив"},
    "p": {"et": "osastav", "en": "partitive", "ru": "партитив", "uk": "партитив"},
    "ill": {"et": "sisseütlev", "en": "illative", "ru": "иллатив", "uk": "ілатив"},
    "in": {"et": "seesütlev", "en": "inessive", "ru": "инессив", "uk": "інесив"},
    "el": {"et": "seestütlev", "en": "elative", "ru": "элатив", "uk": "елатив"},
    "all": {"et": "alaleütlev", "en": "allative", "ru": "аллатив", "uk": "алатив"},
    "ad": {"et": "alalütlev", "en": "adessive", "ru": "адессив", "uk": "адесив"},
    "abl": {"et": "alaltütlev", "en": "ablative", "ru": "аблатив", "uk": "аблатив"},
    "tr": {"et": "saav", "en": "translative", "ru": "транслатив", "uk": "транслатив"},
    "ter": {"et": "rajav", "en": "terminative", "ru": "терминатив", "uk": "термінатив"},
    "es": {"et": "olev", "en": "essive", "ru": "эссив", "uk": "есив"},
    "ab": {"et": "ilmaütlev", "en": "abessive", "ru": "абессив", "uk": "абесив"},
    "kom": {"et": "kaasaütlev", "en": "comitative", "ru": "комитатив", "uk": "комітатив"},
}

NUMBERS: dict[str, dict[str, str]] = {
    "sg": {"et": "ainsuse", "en": "singular", "ru": "единственное число", "uk": "однина"},
    "pl": {"et": "mitmuse", "en": "plural", "ru": "множественное число", "uk": "множина"},
}

#: Verb form codes (as Vabamorf writes them) -> names.
VERB_FORMS: dict[str, dict[str, str]] = {
    "ma": {"et": "ma-tegevusnimi", "en": "ma-infinitive", "ru": "ma-инфинитив", "uk": "ma-інфінітив"},
    "da": {"et": "da-tegevusnimi", "en": "da-infinitive", "ru": "da-инфинитив", "uk": "da-інфінітив"},
    "mas": {"et": "ma-tegevusnime seesütlev (-mas)", "en": "-mas form of the ma-infinitive",
            "ru": "форма на -mas", "uk": "форма на -mas"},
    "mast": {"et": "ma-tegevusnime seestütlev (-mast)", "en": "-mast form of the ma-infinitive",
             "ru": "форма на -mast", "uk": "форма на -mast"},
    "maks": {"et": "ma-tegevusnime saav (-maks)", "en": "-maks form of the ma-infinitive",
             "ru": "форма на -maks", "uk": "форма на -maks"},
    "mata": {"et": "ma-tegevusnime ilmaütlev (-mata)", "en": "-mata form of the ma-infinitive",
             "ru": "форма на -mata", "uk": "форма на -mata"},
    "n": {"et": "oleviku ainsuse 1. pööre", "en": "present tense, 1st person singular",
          "ru": "настоящее время, 1-е лицо ед. числа", "uk": "теперішній час, 1-ша особа однини"},
    "d": {"et": "oleviku ainsuse 2. pööre", "en": "present tense, 2nd person singular",
          "ru": "настоящее время, 2-е лицо ед. числа", "uk": "теперішній час, 2-га особа однини"},
    "b": {"et": "oleviku ainsuse 3. pööre", "en": "present tense, 3rd person singular",
          "ru": "настоящее время, 3-е лицо ед. числа", "uk": "теперішній час, 3-тя особа однини"},
    "me": {"et": "oleviku mitmuse 1. pööre", "en": "present tense, 1st person plural",
           "ru": "настоящее время, 1-е лицо мн. числа", "uk": "теперішній час, 1-ша особа множини"},
    "te": {"et": "oleviku mitmuse 2. pööre", "en": "present tense, 2nd person plural",
           "ru": "настоящее время, 2-е лицо мн. числа", "uk": "теперішній час, 2-га особа множини"},
    "vad": {"et": "oleviku mitmuse 3. pööre", "en": "present tense, 3rd person plural",
            "ru": "настоящее время, 3-е лицо мн. числа", "uk": "теперішній час, 3-тя особа множини"},
    "sin": {"et": "lihtmineviku ainsuse 1. pööre", "en": "simple past, 1st person singular",
            "ru": "простое прошедшее, 1-е лицо ед. числа", "uk": "простий минулий, 1-ша особа однини"},
    "sid": {"et": "lihtmineviku ainsuse 2. või mitmuse 3. pööre",
            "en": "simple past, 2nd person singular or 3rd person plural",
            "ru": "простое прошедшее, 2-е лицо ед. или 3-е лицо мн. числа",
            "uk": "простий минулий, 2-га особа однини або 3-тя особа множини"},
    "s": {"et": "lihtmineviku ainsuse 3. pööre", "en": "simple past, 3rd person singular",
          "ru": "простое прошедшее, 3-е лицо ед. числа", "uk": "простий минулий, 3-тя особа однини"},
    "sime": {"et": "lihtmineviku mitmuse 1. pööre", "en": "simple past, 1st person plural",
             "ru": "простое прошедшее, 1-е лицо мн. числа", "uk": "простий минулий, 1-ша особа множини"},
    "site": {"et": "lihtmineviku mitmuse 2. pööre", "en": "simple past, 2nd person plural",
             "ru": "простое прошедшее, 2-е лицо мн. числа", "uk": "простий минулий, 2-га особа множини"},
    "nud": {"et": "nud-kesksõna", "en": "active past participle (-nud)",
            "ru": "причастие прошедшего времени на -nud", "uk": "дієприкметник минулого часу на -nud"},
    "tud": {"et": "tud-kesksõna", "en": "passive past participle (-tud)",
            "ru": "страдательное причастие на -tud", "uk": "пасивний дієприкметник на -tud"},
    "takse": {"et": "umbisikulise tegumoe olevik", "en": "impersonal present",
              "ru": "безличная форма, настоящее время", "uk": "безособова форма, теперішній час"},
    "ti": {"et": "umbisikulise tegumoe lihtminevik", "en": "impersonal past",
           "ru": "безличная форма, прошедшее время", "uk": "безособова форма, минулий час"},
    "o": {"et": "käskiva kõneviisi ainsuse 2. pööre", "en": "imperative, 2nd person singular",
          "ru": "повелительное наклонение, 2-е лицо ед. числа", "uk": "наказовий спосіб, 2-га особа однини"},
    "ge": {"et": "käskiva kõneviisi mitmuse 2. pööre", "en": "imperative, 2nd person plural",
           "ru": "повелительное наклонение, 2-е лицо мн. числа", "uk": "наказовий спосіб, 2-га особа множини"},
    "ks": {"et": "tingiv kõneviis", "en": "conditional", "ru": "условное наклонение", "uk": "умовний спосіб"},
    "des": {"et": "des-vorm", "en": "gerund (-des form)", "ru": "деепричастие на -des", "uk": "дієприслівник на -des"},
    "neg": {"et": "eitav vorm", "en": "negative form", "ru": "отрицательная форма", "uk": "заперечна форма"},
}

_TERMS = {"case": CASES, "number": NUMBERS, "verb_form": VERB_FORMS}


def _localised_params(params: Mapping[str, Any], locale: str) -> dict[str, Any]:
    values = dict(params)
    for key, table in _TERMS.items():
        code = params.get(key)
        if code in table:
            values[key] = table[code][locale]
            values[f"{key}_et"] = table[code]["et"]
    return values


def render(feedback: Feedback, locale: str = DEFAULT_LOCALE) -> str:
    """Return the text of ``feedback`` in ``locale`` (et, en, ru or uk; anything else falls back to en)."""
    locale = locale if locale in MESSAGES else DEFAULT_LOCALE
    messages = MESSAGES[locale]
    params = _localised_params(feedback.params, locale)
    template = messages.get(feedback.code, messages["incorrect"])
    message = template.format_map(_Missing(params))
    if "gap" in params:
        message = messages["gap"].format(gap=params["gap"], message=message)
    return message


class _Missing(dict):
    """format_map helper that leaves unknown placeholders visible instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"

