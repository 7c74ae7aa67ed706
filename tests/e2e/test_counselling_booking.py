"""A counsellor publishes times by video call and a learner books one, in a real browser."""
import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import run_flask
from tests.e2e.test_learner_journey import _register

pytestmark = pytest.mark.e2e

LINK = "https://video.example.org/kati-kask"


def _sign_in(page, live_server, email, password):
    page.goto(live_server + "/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_counsellor_publishes_video_times_and_a_learner_books_one(live_server, e2e_env, page):
    run_flask(e2e_env, "users", "create", "--role", "counsellor", "--email", "kati.e2e@example.com",
              "--name", "Kati Kask", "--password", "pikk-parool-123", "--locale", "en")
    _sign_in(page, live_server, "kati.e2e@example.com", "pikk-parool-123")
    page.goto(live_server + "/staff/counselling/slots/new")
    page.get_by_label("Date").fill((date.today() + timedelta(days=3)).isoformat())
    page.get_by_label("Start of the first appointment").fill("10:00")
    page.get_by_label("Number of appointments in a row").fill("2")
    page.get_by_label("How the appointments take place").select_option("video")
    page.get_by_label("Video call link").fill("http://video.example.org/kati-kask")
    page.get_by_label("Russian").check()
    page.get_by_role("button", name="Publish").click()

    # The mistake is named in the error summary, which takes the focus and leads to the field.
    summary = page.locator("#error-summary")
    expect(summary).to_contain_text("starts with https://")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    summary.get_by_role("link").first.click()
    assert page.evaluate("document.activeElement.id") == "video_link"
    page.get_by_label("Video call link").fill(LINK)
    page.get_by_role("button", name="Publish").click()
    expect(page).to_have_url(re.compile(r"/staff/counselling/slots(#.*)?$"))
    expect(page.get_by_role("link", name=LINK)).to_have_count(2)
    page.get_by_role("button", name="Sign out").click()

    _register(page, live_server, e2e_env, "mykola.e2e@example.com")
    page.goto(live_server + "/counselling/appointments")
    expect(page.get_by_role("status").first).to_contain_text("2 free times")
    expect(page.get_by_role("link", name=LINK)).to_have_count(0)  # not before booking
    page.get_by_role("link", name=re.compile(r"^Book")).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Book a counselling appointment")
    expect(page.get_by_label("Language of the appointment")).to_have_value("ru")  # the only one offered
    page.get_by_label("What would you like to talk about? (optional)").fill("Which course after A2?")
    page.get_by_role("button", name="Book the appointment").click()

    expect(page.get_by_role("heading", name="Your appointment")).to_be_visible()
    expect(page.get_by_role("link", name=LINK)).to_have_attribute("href", LINK)
    expect(page.locator("main")).to_contain_text("Kati Kask")
    expect(page.locator("main")).to_contain_text("Which course after A2?")

    # The counsellor changes the link of the booked time; the learner's page shows the new one.
    page.get_by_role("button", name="Sign out").click()
    _sign_in(page, live_server, "kati.e2e@example.com", "pikk-parool-123")
    page.goto(live_server + "/staff/counselling/slots")
    page.get_by_role("link", name=re.compile(r"^Change the link")).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Video call link")
    expect(page.get_by_label("Video call link")).to_have_value(LINK)
    page.get_by_label("Video call link").fill(LINK + "-uus")
    page.get_by_role("button", name="Save the link").click()
    expect(page.locator("main")).to_contain_text("sent it by e-mail")
    expect(page.get_by_role("link", name=LINK + "-uus")).to_have_count(1)
    page.get_by_role("button", name="Sign out").click()
    _sign_in(page, live_server, "mykola.e2e@example.com", "pikk-parool-123")
    page.goto(live_server + "/counselling/appointments")
    expect(page.get_by_role("link", name=LINK + "-uus")).to_have_attribute("href", LINK + "-uus")
