"""Every page each kind of user reaches by following links, checked in Chromium by axe-core against
the WCAG 2.1 A and AA rules, on the demo data; and the front pages in all four languages.

axe finds what a program can find (names, roles, contrast, language, structure, ARIA); keyboard
paths and error focus are covered by the other browser tests.
"""
from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest
from axe_playwright_python.base import AXE_SCRIPT  # the package carries axe-core

from tests.e2e.conftest import run_flask, serve

pytestmark = pytest.mark.e2e

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PASSWORD = "keeleteekond-demo"  # every demo account's
ROLES = {
    "learner": "learner001@example.com",
    "counsellor": "counsellor1@example.com",
    "provider": "provider1@example.com",
    "admin": "admin@example.com",
}
PAGES_PER_ROLE = 45
# Not pages: files, the health check, and links that only switch the language or leave the site.
SKIP = re.compile(r"/static/|/healthz|\.csv$|/export|/download")


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("a11y") / "demo.sqlite3"


@pytest.fixture(scope="module")
def demo_server(demo_db, e2e_env):
    """The app on its own SQLite database with the demo data, as ``make run`` serves it."""
    env = {**e2e_env, "DATABASE_URL": f"sqlite:///{demo_db}"}
    run_flask(env, "db", "upgrade")
    run_flask(env, "demo", "load")
    yield from serve(env)


def _violations(page) -> list[str]:
    page.evaluate(AXE_SCRIPT)
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, "
                           "resultTypes: ['violations']})", TAGS)
    return [f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(str(n['target']) for n in v['nodes'][:3])}"
            for v in result["violations"]]


def _shape(url: str) -> str:
    """Pages that differ only in their ids are one page for this check."""
    return re.sub(r"\d+", "N", urlsplit(url).path)


def _links(page, base: str) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]:not([download])", "links => links.map(a => a.href)")
    found = []
    for href in hrefs:
        url = urldefrag(urljoin(page.url, href)).url
        if url.startswith(base) and not SKIP.search(url):
            found.append(url)
    return found


def _crawl(page, base: str, start: str) -> dict[str, list[str]]:
    """Visit pages breadth-first from ``start``, one of each shape; return each page's problems."""
    queue, seen, problems = [base + start], set(), {}
    while queue and len(problems) < PAGES_PER_ROLE:
        url = queue.pop(0)
        if _shape(url) in seen:
            continue
        seen.add(_shape(url))
        response = page.goto(url)
        issues = [] if response.ok else [f"HTTP {response.status}"]
        problems[url] = issues + _violations(page)
        queue.extend(_links(page, base))
    return problems


def _sign_in(page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"^(?!.*/login)"))


def _report(problems: dict[str, list[str]]) -> str:
    return "\n".join(f"{url}\n  " + "\n  ".join(issues) for url, issues in problems.items() if issues)


def test_public_pages_in_every_language(demo_server, browser):
    for locale in ("et", "en", "ru", "uk"):
        context = browser.new_context(locale=locale)
        page = context.new_page()
        problems = _crawl(page, demo_server, "/")
        context.close()
        assert len(problems) >= 4, problems
        assert not _report(problems), f"in {locale}:\n{_report(problems)}"


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_page_a_user_reaches(demo_server, browser, role):
    context = browser.new_context(locale="et")
    page = context.new_page()
    _sign_in(page, demo_server, ROLES[role])
    problems = _crawl(page, demo_server, "/")
    context.close()
    assert len(problems) >= 5, problems
    assert not _report(problems), _report(problems)


def test_pages_behind_forms(demo_server, demo_db, browser):
    """Pages that no link reaches: a waiting list joined, the seat offer behind the mail's signed
    link, the self-assessment, a placement test item, a form sent back with errors; each checked
    after what leads to it."""
    context = browser.new_context(locale="et")
    page = context.new_page()
    problems = {}

    def check(expected_path: str) -> None:
        assert urlsplit(page.url).path.startswith(expected_path), page.url
        problems[page.url] = _violations(page)

    _sign_in(page, demo_server, "learner005@example.com")  # a level, no seat
    page.goto(demo_server + "/courses/matches")
    page.locator("main a[href^='/courses/']").first.click()
    page.locator("form[action$='/waitlist'] button").click()
    check("/waitlists")
    assert page.locator("main .offer").count() == 1  # the course had a free seat
    with sqlite3.connect(demo_db) as db:  # the offer mail, in the outbox
        body = db.execute("SELECT body FROM outbox_message WHERE recipient = 'learner005@example.com' "
                          "ORDER BY id DESC").fetchone()[0]
    link = re.search(r"https?://\S+/offers/link/\S+", body).group(0)  # made for SERVER_NAME's host
    page.goto(demo_server + urlsplit(link).path)
    check("/offers/link/")
    assert page.locator("form[action*='/accept'] button").count() == 1
    page.goto(demo_server + "/self-assessment/")
    check("/self-assessment/step/")
    page.goto(demo_server + "/test/")
    check("/test/")
    page.locator("form[action$='/test/start'] button").click()
    check("/test/item")
    page.get_by_role("button", name=re.compile("Välju|Sign out|Logi välja", re.I)).first.click()

    _sign_in(page, demo_server, ROLES["provider"])
    page.goto(demo_server + "/provider/courses/new")
    page.locator("main form button[type=submit]").first.click()  # empty: the error summary
    check("/provider/courses/new")
    assert page.locator("#error-summary").count() == 1
    context.close()
    assert not _report(problems), _report(problems)
