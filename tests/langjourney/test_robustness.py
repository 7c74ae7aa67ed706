"""Bad input never ends in a 500: each kind of demo user follows the links to every kind of page,
and every form found on the way is sent odd values in every field (and in its choices)."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from sqlalchemy import select

from langjourney.auth.models import User
from langjourney.demo.data import load_demo
from tests.fixtures.factories import session_key

ODD_VALUES = ["x" * 100_000, "-1", "99999999999999999999", "1e309", "NaN", "0", "9999-12-31", "0001-01-01",
              "2027-02-30", "25:61", "<script>alert(1)</script>", " ", "ä" * 300, "[{", "http://",
              "https://" + "a" * 3000, "a\x00b"]
USERS = [None, "learner005@example.com", "learner001@example.com", "counsellor1@example.com", "provider1@example.com",
         "admin@example.com"]
BASE = "http://localhost"


class _Page(HTMLParser):
    """The links of a page and its POST forms, with their fields (name, kind, value)."""

    def __init__(self, html: str):
        super().__init__()
        self.links, self.forms, self._form, self._select = [], [], None, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form" and (a.get("method") or "").lower() == "post":
            self._form = {"action": a.get("action") or "", "fields": []}
            self.forms.append(self._form)
        elif self._form is not None and a.get("name") and tag in ("input", "textarea", "select"):
            field = [a["name"], a.get("type", "text") if tag == "input" else tag, a.get("value", "")]
            self._form["fields"].append(field)
            self._select = field if tag == "select" else None
        elif tag == "option" and self._select is not None and not self._select[2]:
            self._select[2] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def _shape(path: str) -> str:
    return re.sub(r"\d+", "N", urlsplit(path).path)


def _local(path: str, href: str) -> str | None:
    url = urljoin(BASE + path, href).split("#")[0]
    return url[len(BASE):] if url.startswith(BASE + "/") else None


def _odd_posts(form: dict, odd: str) -> list[dict]:
    """Every typed field odd; then every field, choices and hidden ones too."""
    typed = {name: odd if kind in ("text", "textarea", "email", "password", "number", "date", "time", "url",
                                   "search", "tel") else value
             for name, kind, value in form["fields"] if kind != "file"}
    return [typed, dict.fromkeys(typed, odd)]


def test_odd_input_in_every_form_never_ends_in_a_500(app, client, db_session):
    app.config["WTF_CSRF_ENABLED"] = False  # the forms are sent as a script would, without a page's token
    load_demo()
    db_session.commit()
    failures, forms_sent = [], set()
    for email in USERS:
        with client.session_transaction() as session:
            session.clear()
            if email is not None:  # None: someone not signed in
                user = db_session.scalar(select(User).where(User.email == email))
                session["_user_id"], session["_fresh"] = session_key(user), True
        queue, seen = ["/", "/register", "/login", "/reset"], set()
        while queue:
            path = queue.pop(0)
            if _shape(path) in seen or re.search(r"/static/|\.csv$|/logout|/language", path):
                continue
            seen.add(_shape(path))
            response = client.get(path)
            if response.status_code in (301, 302, 303):
                queue.append(_local(path, response.location) or "/")
                continue
            assert response.status_code < 500, (email, path)
            if response.mimetype != "text/html":
                continue
            page = _Page(response.get_data(as_text=True))
            queue.extend(filter(None, (_local(path, href) for href in page.links)))
            for form in page.forms:
                action = _local(path, form["action"] or path)
                if action is None or re.search(r"/logout|/language", action) or (email, _shape(action)) in forms_sent:
                    continue
                forms_sent.add((email, _shape(action)))
                for odd in ODD_VALUES:
                    for data in _odd_posts(form, odd):
                        if client.post(action, data=data).status_code >= 500:
                            failures.append((email, action, odd[:20], sorted(data)))
    assert len(forms_sent) >= 20, sorted(forms_sent)
    assert not failures
