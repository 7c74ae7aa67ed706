"""Four languages: locale choice, and catalogs that are complete and current."""
import subprocess
import sys

import pytest
from babel.messages.pofile import read_po

from langjourney.config import LANGUAGES, PROJECT_ROOT

TRANSLATIONS = PROJECT_ROOT / "translations"


def _catalog(language):
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh, locale=language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_complete_and_not_fuzzy(language):
    catalog = _catalog(language)
    problems = []
    for message in catalog:
        if not message.id:
            continue
        if message.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            problems.append(f"untranslated: {message.id!r}")
    assert not problems, f"{language}: " + "; ".join(problems)


def test_catalogs_hold_every_message_in_the_code(tmp_path):
    """Fails when `flask translate update` was not run after UI strings changed."""
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
                    "-k", "_l", "-o", str(pot), "langjourney"], cwd=PROJECT_ROOT, check=True,
                   capture_output=True)
    with open(pot, "rb") as fh:
        wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}
    for language in LANGUAGES:
        have = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalog(language) if m.id}
        missing = wanted - have
        assert not missing, f"{language} lacks {sorted(missing)[:5]}…: run `flask translate update`"


@pytest.mark.parametrize("header, expected", [
    ("ru-RU,ru;q=0.9,en;q=0.5", "ru"), ("uk", "uk"), ("en-GB", "en"), ("de-DE", "et"), ("", "et")])
def test_locale_from_accept_language(client, header, expected):
    page = client.get("/login", headers={"Accept-Language": header}).get_data(as_text=True)
    assert f'<html lang="{expected}">' in page


def test_switcher_kept_in_session_and_beats_browser(client):
    client.post("/language", data={"lang": "uk", "next": "/login"})
    page = client.get("/login", headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert '<html lang="uk">' in page


def test_user_setting_beats_switcher(client, auth):
    auth.login("learner", locale="ru")
    with client.session_transaction() as session:
        session["lang"] = "en"
    assert '<html lang="ru">' in client.get("/home").get_data(as_text=True)


def test_switcher_saves_signed_in_users_choice(client, auth):
    user = auth.login("learner", locale="ru")
    client.post("/language", data={"lang": "et"})
    assert user.locale == "et"


def test_switcher_ignores_unknown_language_and_foreign_next(client):
    response = client.post("/language", data={"lang": "xx", "next": "https://evil.example/"})
    assert response.status_code == 302 and "evil" not in response.location


@pytest.mark.parametrize("language, text", [
    ("et", "Logi sisse"), ("ru", "Войти"), ("uk", "Увійти"), ("en", "Sign in")])
def test_pages_are_translated(client, language, text):
    page = client.get("/login", headers={"Accept-Language": language}).get_data(as_text=True)
    assert text in page


@pytest.mark.parametrize("language", LANGUAGES)
def test_error_pages_in_users_language(client, language):
    english = client.get("/no-such-page", headers={"Accept-Language": "en"}).get_data(as_text=True)
    page = client.get("/no-such-page", headers={"Accept-Language": language})
    assert page.status_code == 404
    assert f'<html lang="{language}">' in page.get_data(as_text=True)
    if language != "en":
        assert "Page not found" in english and "Page not found" not in page.get_data(as_text=True)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("message", ["Starts on %(date)s.", "Enrolment for this course closed on %(date)s.",
                                     "You asked for counselling on %(date)s. A counsellor will contact you.",
                                     "The learner can take the test again from %(date)s."])
def test_a_date_at_the_end_of_a_sentence_ends_it_once(app, language, message):
    """Russian and Ukrainian dates end in "г." / "р.", which also ends the sentence."""
    from datetime import date

    from flask_babel import force_locale, format_date, gettext

    with app.test_request_context(), force_locale(language):
        text = gettext(message, date=format_date(date(2027, 5, 17)))
    assert ".." not in text and text.rstrip().endswith(".")
