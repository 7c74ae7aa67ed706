"""A learner registers, signs out and in, and switches among the four languages, with a keyboard."""
import re
import sqlite3

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_register_sign_in_and_switch_languages(live_server, e2e_env, page):
    page.goto(live_server + "/")
    assert page.get_attribute("html", "lang") == "en"

    # The skip link is the first thing the keyboard reaches.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"

    page.get_by_role("link", name="Register").first.click()
    page.get_by_label("Full name").fill("Olena Kovalenko")
    page.get_by_label("E-mail").fill("olena.e2e@example.com")
    page.get_by_label("Password", exact=True).fill("pikk-parool-123")
    page.get_by_label("Password again").fill("wrong-repeat-1")
    page.get_by_label("Mother tongue").select_option("uk")
    page.get_by_label("County").select_option("harju")
    page.get_by_label("Town or rural municipality").fill("Tallinn")
    page.get_by_label("Your status in Estonia").select_option("temporary_protection")
    page.get_by_label("Work").check()
    page.get_by_label("Monday, evening (17–21)").check()
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Create account").click()

    # A mistake: the error summary gets focus and links to the field.
    summary = page.locator("#error-summary")
    assert summary.is_visible()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    summary.get_by_role("link").first.click()
    assert page.evaluate("document.activeElement.id") == "password_confirm"
    page.get_by_label("Password", exact=True).fill("pikk-parool-123")
    page.get_by_label("Password again").fill("pikk-parool-123")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("status").first).to_contain_text("Follow the link")
    _confirm(page, live_server, e2e_env, "olena.e2e@example.com")
    assert "Olena Kovalenko" in page.inner_text("h1")

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("link", name="Sign in").first.click()
    page.get_by_label("E-mail").fill("olena.e2e@example.com")
    page.get_by_label("Password").fill("pikk-parool-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/home(#.*)?$"))

    expectations = {"ru": "Мой путь", "uk": "Мій шлях", "et": "Minu teekond", "en": "My journey"}
    for lang in ("ru", "uk", "et", "en"):
        page.locator("#lang-select").select_option(lang)
        page.locator(".lang-switcher button").click()
        expect(page.locator("html")).to_have_attribute("lang", lang)
        assert expectations[lang] in page.inner_text("nav")


def _confirm(page, live_server, env, email):
    """Follow the confirmation link mailed to ``email`` (the outbox row in the server's database)."""
    with sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///")) as db:
        body = db.execute("SELECT body FROM outbox_message WHERE recipient = ? ORDER BY id DESC",
                          (email,)).fetchone()[0]
    link = re.search(r"https?://[^/\s]+(/register/confirm/\S+)", body).group(1)
    page.goto(live_server + link)
    page.get_by_role("button", name="Confirm and sign in").click()
    expect(page).to_have_url(re.compile(r"/home(#.*)?$"))


def _register(page, live_server, env, email):
    page.goto(live_server + "/register")
    page.get_by_label("Full name").fill("Andrii Melnyk")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill("pikk-parool-123")
    page.get_by_label("Password again").fill("pikk-parool-123")
    page.get_by_label("Language of this service").select_option("en")
    page.get_by_label("Mother tongue").select_option("uk")
    page.get_by_label("County").select_option("ida-viru")
    page.get_by_label("Town or rural municipality").fill("Narva")
    page.get_by_label("Your status in Estonia").select_option("international_protection")
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Create account").click()
    _confirm(page, live_server, env, email)


def test_self_assessment_then_placement_test_by_keyboard(live_server, e2e_env, page):
    _register(page, live_server, e2e_env, "andrii.e2e@example.com")
    page.get_by_role("link", name="Assess your Estonian").click()
    for step in range(5):
        expect(page.locator("[aria-current=step]")).to_be_visible()
        page.get_by_label("Level A2", exact=True).check()
        page.get_by_role("button", name=re.compile("^(Next|Finish)$")).click()
    expect(page.locator("h1")).to_contain_text("self-assessment", ignore_case=True)
    page.get_by_role("link", name="Take the placement test").click()
    page.get_by_role("button", name="Start the test").click()

    for _ in range(31):
        if "/test/result/" in page.url:
            break
        if page.locator(".options input[type=radio]").count():
            page.locator("body").press("1")  # the keyboard shortcut picks the first option
            assert page.locator(".options input[type=radio]").first.is_checked()
        else:
            page.locator("#answer-0").fill("maja")
        page.locator("#answer-0").press("Enter")  # submits the form with its first button: Answer
        page.wait_for_load_state()
    expect(page).to_have_url(re.compile(r"/test/result/\d+$"))
    assert page.locator(".level-name").inner_text() in {"A1", "A2", "B1.1", "B1.2", "B2", "C1"}
    assert page.locator("svg.skill-chart[role=img]").count() == 1
    page.get_by_role("link", name="My journey").click()
    expect(page.locator(".next-step")).to_contain_text("See your result")
