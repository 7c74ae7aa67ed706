import re

import pytest
from sqlalchemy import func, select

from langjourney.auth.models import User
from tests.fixtures.factories import PASSWORD, UserFactory


@pytest.fixture
def csrf_client(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    return client


def _token(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


@pytest.mark.parametrize("url", ["/login", "/register", "/reset", "/language", "/logout", "/logout/everywhere",
                                 "/profile", "/admin/users/new"])
def test_post_without_csrf_token_is_refused(csrf_client, url):
    response = csrf_client.post(url, data={"email": "x@example.com", "lang": "ru"})
    assert response.status_code == 400


def test_post_with_csrf_token_works(csrf_client, db_session):
    UserFactory(email="mari@example.com")
    token = _token(csrf_client.get("/login").get_data(as_text=True))
    response = csrf_client.post("/login", data={"email": "mari@example.com", "password": PASSWORD,
                                                "csrf_token": token})
    assert response.status_code == 302


def test_security_headers(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in response.get_data(as_text=True)  # no inline script anywhere


def test_session_cookie_flags(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)
    UserFactory(email="mari@example.com")
    response = client.post("/login", data={"email": "mari@example.com", "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_no_half_written_rows_on_error(client, db_session, monkeypatch):
    """A crash in the middle of registration leaves nothing behind and shows the 500 page."""
    from langjourney.auth import views

    def boom(*args, **kwargs):
        raise RuntimeError("mail system down")

    monkeypatch.setattr(views, "queue_mail", boom)
    from tests.langjourney.test_auth import REGISTRATION

    response = client.post("/register", data=REGISTRATION)
    assert response.status_code == 500
    assert "nothing was saved" in response.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(User)) == 0
