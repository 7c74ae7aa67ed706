import difflib
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from langjourney.auth import services
from langjourney.auth.models import LoginFailure, Role, User
from langjourney.db import utcnow
from langjourney.extensions import db
from langjourney.learners.models import LearnerStatus
from langjourney.mail.models import OutboxMessage
from tests.fixtures.factories import PASSWORD, UserFactory

REGISTRATION = {
    "full_name": "Olena Kovalenko", "email": "Olena@Example.com", "password": "pikk-parool-123",
    "password_confirm": "pikk-parool-123", "locale": "uk", "mother_tongue": "uk", "county": "harju",
    "town": "Tallinn", "status": "temporary_protection", "goals": ["work", "daily_life"],
    "availability": ["mon:evening", "thu:evening"], "accepts_online": "y", "consent": "y",
}


def login(client, email, password):
    return client.post("/login", data={"email": email, "password": password})


def test_register_creates_learner_with_profile_and_welcome_mail(client, db_session):
    response = client.post("/register", data=REGISTRATION)
    assert response.status_code == 302 and response.location.endswith("/home")
    user = db_session.scalar(select(User).where(User.email == "olena@example.com"))
    assert user.role is Role.LEARNER and user.locale == "uk"
    assert user.profile.status is LearnerStatus.TEMPORARY_PROTECTION
    assert user.profile.availability == ["mon:evening", "thu:evening"]
    mail = db_session.scalar(select(OutboxMessage).where(OutboxMessage.user_id == user.id))
    assert mail.locale == "uk" and mail.status.value == "sent"  # inline job, null backend
    assert "Olena Kovalenko" in mail.body
    assert client.get("/home").status_code == 200


@pytest.mark.parametrize("change, field, message", [
    ({"email": "not-an-address"}, "email", "valid e-mail"),
    ({"password": "short", "password_confirm": "short"}, "password", "at least 10"),
    ({"password_confirm": "something-else-1"}, "password_confirm", "do not match"),
    ({"status": "new_immigrant"}, "residence_permit_date", "first residence permit"),
    ({"status": "new_immigrant", "residence_permit_date": "2999-01-01"}, "residence_permit_date", "future"),
    ({"county": "atlantis"}, "county", "Not a valid choice"),
    ({"consent": ""}, "consent", "agree"),
    ({"town": ""}, "town", "required"),
])
def test_register_rejects_bad_input_and_writes_nothing(client, db_session, change, field, message):
    data = {**REGISTRATION, "locale": "en", **change}
    response = client.post("/register", data=data, headers={"Accept-Language": "en"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="error-summary"' in page and f'href="#{field}"' in page
    assert message in page
    assert db_session.scalar(select(func.count()).select_from(User)) == 0


def test_register_duplicate_email(client, db_session):
    UserFactory(email="olena@example.com")
    db_session.commit()
    response = client.post("/register", data=REGISTRATION, headers={"Accept-Language": "en"})
    assert "already exists" in response.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(User)) == 1


def test_login_and_logout(client, db_session):
    user = UserFactory(email="mari@example.com")
    response = login(client, "MARI@example.com ", PASSWORD)
    assert response.status_code == 302
    assert user.last_login_at is not None
    assert client.get("/home").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/home").status_code == 302


def test_login_does_not_reveal_which_accounts_exist(client, db_session):
    UserFactory(email="mari@example.com")
    wrong_password = login(client, "mari@example.com", "wrong-password!").get_data(as_text=True)
    unknown_email = login(client, "nobody@example.com", "wrong-password!").get_data(as_text=True)
    def strip(page):  # the e-mail echoed back, and the time-stamped CSRF token of the language switcher
        page = page.replace("mari@example.com", "").replace("nobody@example.com", "")
        return re.sub(r'name="csrf_token" value="[^"]*"', "", page)

    assert strip(wrong_password) == strip(unknown_email)


def test_login_next_only_redirects_within_site(client, db_session):
    UserFactory(email="mari@example.com")
    response = client.post("/login?next=https://evil.example/x",
                           data={"email": "mari@example.com", "password": PASSWORD})
    assert response.location in ("/", "http://langjourney.test/")


def test_throttling_after_repeated_failures(client, db_session, app):
    UserFactory(email="mari@example.com")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert "wrong" in login(client, "mari@example.com", "nope-nope-nope").get_data(as_text=True)
    page = login(client, "mari@example.com", PASSWORD).get_data(as_text=True)
    assert "Too many failed sign-in attempts" in page or "Liiga palju" in page
    assert client.get("/home").status_code == 302  # still signed out, though the password was right
    # The window passes.
    db_session.execute(update(LoginFailure).values(at=utcnow() - timedelta(hours=1)))
    assert login(client, "mari@example.com", PASSWORD).status_code == 302
    assert db_session.scalar(select(func.count()).select_from(LoginFailure)) == 0


def test_throttling_applies_to_unknown_addresses_too(client, db_session, app):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        login(client, "ghost@example.com", "nope-nope-nope")
    with pytest.raises(services.LoginThrottled):
        services.authenticate("ghost@example.com", "whatever", None)


def test_password_reset_flow(client, db_session):
    user = UserFactory(email="mari@example.com", locale="ru")
    response = client.post("/reset", data={"email": "mari@example.com"})
    assert response.status_code == 302
    mail = db_session.scalar(select(OutboxMessage).where(OutboxMessage.user_id == user.id))
    assert mail.locale == "ru"
    link = next(line for line in mail.body.splitlines() if "/reset/" in line).strip()
    path = link.split("langjourney.test", 1)[1]
    assert client.get(path).status_code == 200
    response = client.post(path, data={"password": "uus-parool-2026", "password_confirm": "uus-parool-2026"})
    assert response.status_code == 302
    assert login(client, "mari@example.com", PASSWORD).status_code == 200  # old password refused
    assert login(client, "mari@example.com", "uus-parool-2026").status_code == 302
    client.post("/logout")
    # The link works only once.
    assert client.get(path).status_code == 302


def test_password_reset_does_not_reveal_accounts(client, db_session):
    UserFactory(email="mari@example.com")
    known = client.post("/reset", data={"email": "mari@example.com"}, follow_redirects=True)
    unknown = client.post("/reset", data={"email": "nobody@example.com"}, follow_redirects=True)
    known_page, unknown_page = known.get_data(as_text=True), unknown.get_data(as_text=True)
    assert known_page == unknown_page, "\n".join(difflib.unified_diff(
        known_page.splitlines(), unknown_page.splitlines(), "known", "unknown", lineterm=""))
    assert db_session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_tampered_or_expired_reset_token_refused(client, db_session, app):
    user = UserFactory()
    token = services.make_reset_token(user)
    assert services.user_for_reset_token(token) == user
    assert services.user_for_reset_token(token[:-2] + "xx") is None
    app.config["PASSWORD_RESET_MAX_AGE"] = -1
    try:
        assert services.user_for_reset_token(token) is None
    finally:
        app.config["PASSWORD_RESET_MAX_AGE"] = 7200


def test_password_change_ends_other_sessions(client, db_session, auth):
    user = auth.login("learner")
    assert client.get("/home").status_code == 200
    services.set_password(user, "another-password-1")
    db.session.commit()
    assert client.get("/home").status_code == 302


def test_passwords_are_scrypt_hashes(db_session):
    user = services.register_learner("a@example.com", "pikk-parool-123", services.ProfileData(
        full_name="A", locale="et", mother_tongue="ru", county="harju", town="Tallinn",
        status=LearnerStatus.RETURNEE))
    assert user.password_hash.startswith("scrypt:")


def test_profile_edit(client, db_session, auth):
    user = auth.login("learner")
    page = client.get("/profile").get_data(as_text=True)
    assert 'value="Narva"' in page
    data = {**REGISTRATION, "full_name": "Uus Nimi", "town": "Jõhvi", "county": "ida-viru", "locale": "ru"}
    assert client.post("/profile", data=data).status_code == 302
    assert user.full_name == "Uus Nimi" and user.profile.town == "Jõhvi" and user.locale == "ru"


def test_profile_edit_bad_input_changes_nothing(client, db_session, auth):
    user = auth.login("learner")
    data = {**REGISTRATION, "town": "Jõhvi", "status": "new_immigrant", "residence_permit_date": ""}
    assert client.post("/profile", data=data).status_code == 200
    db_session.expire_all()
    assert user.profile.town == "Narva"


def test_users_create_command(app, db_session):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "--email", "Kati@Example.com", "--name", "Kati Kask",
                                 "--role", "provider", "--provider", "Keelekool OÜ", "--password",
                                 "pikk-parool-123"])
    assert result.exit_code == 0, result.output
    user = db_session.scalar(select(User).where(User.email == "kati@example.com"))
    assert user.role is Role.PROVIDER and user.provider.name == "Keelekool OÜ"
    again = runner.invoke(args=["users", "create", "--email", "kati@example.com", "--name", "K",
                                "--role", "admin", "--password", "pikk-parool-123"])
    assert again.exit_code != 0 and "Error:" in again.output  # the message is in the default language, et
    no_org = runner.invoke(args=["users", "create", "--email", "p@example.com", "--name", "P",
                                 "--role", "provider", "--password", "pikk-parool-123"])
    assert no_org.exit_code != 0


def test_admin_creates_staff_account(client, db_session, auth):
    auth.login("admin")
    response = client.post("/admin/users/new", data={
        "email": "nou@example.com", "full_name": "Nõustaja", "role": "counsellor", "provider": "",
        "password": "pikk-parool-123", "password_confirm": "pikk-parool-123"})
    assert response.status_code == 302
    assert db_session.scalar(select(User).where(User.email == "nou@example.com")).role is Role.COUNSELLOR
    response = client.post("/admin/users/new", data={
        "email": "p@example.com", "full_name": "P", "role": "provider", "provider": "",
        "password": "pikk-parool-123", "password_confirm": "pikk-parool-123"})
    assert response.status_code == 200
    assert db_session.scalar(select(User).where(User.email == "p@example.com")) is None


@pytest.mark.parametrize("target", ["/home%0D%0ASet-Cookie:%20evil=1", "/home%0ALocation:%20//evil.example",
                                    "/home%09x", "/%5Cevil.example"])
def test_login_next_with_control_characters_goes_home(client, db_session, target):
    UserFactory(email="mari@example.com")
    response = client.post(f"/login?next={target}", data={"email": "mari@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response.location in ("/", "http://langjourney.test/")
    assert "evil" not in response.headers.get("Set-Cookie", "")


@pytest.mark.parametrize("target", ["/home\r\nSet-Cookie: evil=1", "/courses\nx", "/\\evil.example"])
def test_language_next_with_control_characters_goes_home(client, db_session, target):
    response = client.post("/language", data={"lang": "ru", "next": target})
    assert response.status_code == 302
    assert response.location in ("/", "http://langjourney.test/")
    assert client.post("/language", data={"lang": "ru", "next": "/courses?level=A2"}).location.endswith(
        "/courses?level=A2")
