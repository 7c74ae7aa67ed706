import difflib
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from langjourney.auth import services
from langjourney.auth.forms import CONSENT_VERSION
from langjourney.auth.models import LoginFailure, RegistrationConsent, Role, User, UserSession
from langjourney.db import utcnow
from langjourney.extensions import db
from langjourney.learners.models import LearnerStatus
from langjourney.mail.models import OutboxMessage
from tests.fixtures.factories import PASSWORD, UserFactory, session_key

REGISTRATION = {
    "full_name": "Olena Kovalenko", "email": "Olena@Example.com", "password": "pikk-parool-123",
    "password_confirm": "pikk-parool-123", "locale": "uk", "mother_tongue": "uk", "county": "harju",
    "town": "Tallinn", "status": "temporary_protection", "goals": ["work", "daily_life"],
    "availability": ["mon:evening", "thu:evening"], "accepts_online": "y", "consent": "y",
}


def login(client, email, password):
    return client.post("/login", data={"email": email, "password": password})


def _link(mail, marker: str) -> str:
    return next(line for line in mail.body.splitlines() if marker in line).strip().split("langjourney.test", 1)[1]


def test_register_creates_learner_who_confirms_the_address_by_mail(client, db_session):
    response = client.post("/register", data=REGISTRATION)
    assert response.status_code == 302 and response.location.endswith("/login")
    user = db_session.scalar(select(User).where(User.email == "olena@example.com"))
    assert user.role is Role.LEARNER and user.locale == "uk" and user.email_confirmed_at is None
    assert user.profile.status is LearnerStatus.TEMPORARY_PROTECTION
    assert user.profile.availability == ["mon:evening", "thu:evening"]
    consent = db_session.scalar(select(RegistrationConsent).where(RegistrationConsent.user_id == user.id))
    assert consent.notice_version == CONSENT_VERSION and consent.locale == "en"
    assert consent.wording == "I agree that the foundation processes my data to place me on a course."
    assert utcnow() - consent.given_at < timedelta(minutes=1)
    mail = db_session.scalar(select(OutboxMessage).where(OutboxMessage.user_id == user.id))
    assert mail.locale == "uk" and mail.status.value == "sent"  # inline job, null backend
    assert "Olena Kovalenko" in mail.body
    assert client.get("/home").status_code == 302  # not signed in yet
    # Signing in before confirming says so, but only to whoever knows the password.
    page = login(client, "olena@example.com", "pikk-parool-123").get_data(as_text=True)
    assert "not active yet" in page
    assert "not active yet" not in login(client, "olena@example.com", "wrong-password!").get_data(as_text=True)
    path = _link(mail, "/register/confirm/")
    assert client.get(path).status_code == 200 and user.email_confirmed_at is None  # a scanner's GET
    response = client.post(path)
    assert response.status_code == 302 and response.location.endswith("/home")
    assert user.email_confirmed_at is not None
    assert client.get("/home").status_code == 200
    client.post("/logout")
    assert client.post(path).status_code == 302 and client.get("/home").status_code == 302  # once only
    assert login(client, "olena@example.com", "pikk-parool-123").status_code == 302


def test_register_answers_the_same_for_an_existing_address_and_mails_the_owner(client, db_session):
    owner = UserFactory(email="olena@example.com", locale="ru")
    db_session.commit()
    existing = client.post("/register", data=REGISTRATION, follow_redirects=True).get_data(as_text=True)
    new = client.post("/register", data={**REGISTRATION, "email": "someone.new@example.com"},
                      follow_redirects=True).get_data(as_text=True)

    def strip(page):  # the time-stamped CSRF token of the language switcher
        return re.sub(r'name="csrf_token" value="[^"]*"', "", page)

    assert strip(existing) == strip(new), "\n".join(difflib.unified_diff(
        strip(existing).splitlines(), strip(new).splitlines(), "existing", "new", lineterm=""))
    assert "already exists" not in existing
    assert db_session.scalar(select(func.count()).select_from(User)
                             .where(User.email == "olena@example.com")) == 1
    mail = db_session.scalar(select(OutboxMessage).where(OutboxMessage.user_id == owner.id))
    assert mail.locale == "ru" and "/reset" in mail.body and "/register/confirm/" not in mail.body
    assert owner.full_name in mail.body
    assert db_session.scalar(select(func.count()).select_from(RegistrationConsent)) == 1  # the new one's


def test_owner_notices_are_capped_per_address(app, client, db_session):
    owner = UserFactory(email="olena@example.com")
    app.config["MAILS_PER_ADDRESS"] = "3 per hour"
    try:
        for _ in range(5):
            assert client.post("/register", data=REGISTRATION).status_code == 302
    finally:
        app.config["MAILS_PER_ADDRESS"] = "10000 per minute"
    assert db_session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.user_id == owner.id)) == 3


def test_password_reset_confirms_an_unconfirmed_address(client, db_session):
    client.post("/register", data=REGISTRATION)
    user = db_session.scalar(select(User).where(User.email == "olena@example.com"))
    client.post("/reset", data={"email": "olena@example.com"})
    mail = db_session.scalars(select(OutboxMessage).where(OutboxMessage.user_id == user.id)
                              .order_by(OutboxMessage.id.desc())).first()
    client.post(_link(mail, "/reset/"), data={"password": "uus-parool-2026", "password_confirm": "uus-parool-2026"})
    assert user.email_confirmed_at is not None
    assert login(client, "olena@example.com", "uus-parool-2026").status_code == 302


def test_bad_confirmation_links_are_refused(app, client, db_session):
    user = UserFactory()
    user.email_confirmed_at = None
    db_session.commit()
    token = services.make_confirmation_token(user)
    assert client.post(f"/register/confirm/{token[:-2]}xx").status_code == 302
    app.config["CONFIRM_EMAIL_MAX_AGE"] = -1
    try:
        assert client.post(f"/register/confirm/{token}").status_code == 302
    finally:
        app.config["CONFIRM_EMAIL_MAX_AGE"] = 7 * 24 * 3600
    assert user.email_confirmed_at is None and client.get("/home").status_code == 302


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


def _from(app, addr: str):
    """A test client whose requests come from ``addr``."""
    other = app.test_client()
    other.environ_base.update(HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR=addr)
    return other


def test_failures_from_one_client_slow_that_client_with_backoff(app, client, db_session):
    UserFactory(email="mari@example.com")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert "wrong" in login(client, "mari@example.com", "nope-nope-nope").get_data(as_text=True)
    page = login(client, "mari@example.com", PASSWORD).get_data(as_text=True)
    assert "Too many failed sign-in attempts. Please try again in 30 seconds" in page
    assert client.get("/home").status_code == 302  # this client waits, though the password was right
    # The right password from another client is not held up by the attacker's failures.
    owner = _from(app, "198.51.100.7")
    assert login(owner, "mari@example.com", PASSWORD).status_code == 302
    # The wait passes (no lock): the first client may try again, and one more failure doubles it.
    db_session.execute(update(LoginFailure).values(at=utcnow() - timedelta(seconds=31)))
    assert "wrong" in login(client, "mari@example.com", "nope-nope-nope").get_data(as_text=True)
    assert "try again in 1 minute" in login(client, "mari@example.com", PASSWORD).get_data(as_text=True)
    db_session.execute(update(LoginFailure).values(at=utcnow() - timedelta(seconds=61)))
    assert login(client, "mari@example.com", PASSWORD).status_code == 302
    assert db_session.scalar(select(func.count()).select_from(LoginFailure)) == 0  # this client's go


def test_throttling_applies_to_unknown_addresses_too(client, db_session, app):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        login(client, "ghost@example.com", "nope-nope-nope")
    with pytest.raises(services.LoginThrottled):
        services.authenticate("ghost@example.com", "whatever", "127.0.0.1")
    assert services.authenticate("ghost@example.com", "whatever", "198.51.100.7") is None


def test_attack_from_many_addresses_slows_new_devices_not_the_owners(app, client, db_session):
    owner = UserFactory(email="mari@example.com")
    assert login(client, "mari@example.com", PASSWORD).status_code == 302  # the owner's own browser
    client.post("/logout")
    for n in range(app.config["LOGIN_ACCOUNT_MAX_FAILURES"]):
        db_session.add(LoginFailure(email="mari@example.com", remote_addr=f"203.0.113.{n}"))
    db_session.commit()
    newcomer = _from(app, "198.51.100.7")
    assert "Too many failed sign-in attempts" in login(newcomer, "mari@example.com", PASSWORD).get_data(
        as_text=True)
    assert login(client, "mari@example.com", PASSWORD).status_code == 302
    # A forged device cookie earns nothing.
    forger = _from(app, "198.51.100.8")
    forger.set_cookie("lj_device", f"[{owner.id}].forged", domain="langjourney.test")
    assert login(forger, "mari@example.com", PASSWORD).status_code == 200


def test_one_client_spraying_addresses_is_limited_alone(app, client, db_session):
    """The real per-client limit (Flask-Limiter): 30 failed sign-ins from one address in 15 minutes."""
    from langjourney.config import load_config

    UserFactory(email="admin@example.com", admin=True)
    real = load_config(Path(app.instance_path), env={"SECRET_KEY": "x"})["RATELIMIT_LOGIN"]
    assert real == "30 per 15 minutes"
    app.config["RATELIMIT_LOGIN"] = real
    try:
        for n in range(30):
            assert login(client, f"made-up-{n}@example.com", "nope-nope-nope").status_code == 200
        refused = login(client, "made-up-x@example.com", "nope-nope-nope")
        assert refused.status_code == 429
        assert "Too many requests" in refused.get_data(as_text=True)
        ru = client.post("/login", data={"email": "a@example.com", "password": "x"},
                         headers={"Accept-Language": "ru"})
        assert ru.status_code == 429 and "Слишком много запросов" in ru.get_data(as_text=True)
        assert login(_from(app, "198.51.100.7"), "admin@example.com", PASSWORD).status_code == 302
    finally:
        app.config["RATELIMIT_LOGIN"] = "10000 per minute"


def test_successful_sign_ins_do_not_count_against_the_client_limit(app, client, db_session):
    UserFactory(email="mari@example.com")
    app.config["RATELIMIT_LOGIN"] = "2 per 15 minutes"
    try:
        for _ in range(4):
            assert login(client, "mari@example.com", PASSWORD).status_code == 302
            client.post("/logout")
    finally:
        app.config["RATELIMIT_LOGIN"] = "10000 per minute"


def test_client_limit_counts_in_redis_when_configured(app, db_url, redis_url):
    """With REDIS_URL the per-client counts live in Redis, so all web processes share them."""
    import redis

    from langjourney import create_app
    from langjourney.extensions import limiter
    from tests.fixtures.app import base_config

    shared = create_app(base_config(db_url, REDIS_URL=redis_url, RATELIMIT_LOGIN="2 per 15 minutes"))
    try:
        limiter.reset()
        first, second = shared.test_client(), shared.test_client()  # two "processes", one address
        assert login(first, "ghost-1@example.com", "nope-nope-nope").status_code == 200
        assert login(second, "ghost-2@example.com", "nope-nope-nope").status_code == 200
        assert login(first, "ghost-3@example.com", "nope-nope-nope").status_code == 429
        assert any(b"langjourney-limits" in key for key in redis.Redis.from_url(redis_url).keys("*"))
    finally:
        limiter.reset()
        with shared.app_context():
            from sqlalchemy import delete

            db.session.execute(delete(LoginFailure))
            db.session.commit()
            db.engine.dispose()
        limiter.init_app(app)  # back to the session app's (in-memory) storage


@pytest.mark.parametrize("x_for, expected", [(0, "127.0.0.1"), (1, "203.0.113.9")])
def test_forwarded_for_is_trusted_only_for_configured_proxies(db_url, app, x_for, expected):
    from langjourney import create_app
    from langjourney.extensions import limiter
    from tests.fixtures.app import base_config

    proxied = create_app(base_config(db_url, PROXY_FIX_X_FOR=x_for))
    try:
        response = proxied.test_client().post("/login", data={"email": "ghost@example.com", "password": "x"},
                                              headers={"X-Forwarded-For": "203.0.113.9"})
        assert response.status_code == 200
        with proxied.app_context():
            assert db.session.scalars(select(LoginFailure.remote_addr)).all() == [expected]
    finally:
        with proxied.app_context():
            from sqlalchemy import delete

            db.session.execute(delete(LoginFailure))
            db.session.commit()
            db.engine.dispose()
        limiter.init_app(app)


def test_reset_mails_are_capped_per_address_and_per_client(app, client, db_session):
    user = UserFactory(email="mari@example.com")
    app.config.update(MAILS_PER_ADDRESS="3 per hour", RATELIMIT_RESET="10 per hour")
    try:
        for _ in range(6):
            assert client.post("/reset", data={"email": "mari@example.com"}).status_code == 302
        assert db_session.scalar(select(func.count()).select_from(OutboxMessage)
                                 .where(OutboxMessage.user_id == user.id)) == 3
        for n in range(4):
            assert client.post("/reset", data={"email": f"other-{n}@example.com"}).status_code == 302
        assert client.post("/reset", data={"email": "x@example.com"}).status_code == 429
    finally:
        app.config.update(MAILS_PER_ADDRESS="10000 per minute", RATELIMIT_RESET="10000 per minute")


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
    def strip(page):  # the time-stamped CSRF token of the language switcher
        return re.sub(r'name="csrf_token" value="[^"]*"', "", page)

    known_page, unknown_page = strip(known.get_data(as_text=True)), strip(unknown.get_data(as_text=True))
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


# -- sign-ins that end -------------------------------------------------------------------------------

def _cookies(client) -> dict[str, str]:
    return {cookie.key: cookie.value for cookie in client._cookies.values()}


def _client_with(app, cookies: dict[str, str]):
    other = app.test_client()
    other.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    for name, value in cookies.items():
        other.set_cookie(name, value, domain="langjourney.test")
    return other


def test_cookie_captured_before_sign_out_no_longer_opens_home(app, client, db_session):
    UserFactory(email="mari@example.com")
    assert login(client, "mari@example.com", PASSWORD).status_code == 302
    captured = _cookies(client)
    assert _client_with(app, captured).get("/home").status_code == 200
    client.post("/logout")
    response = _client_with(app, captured).get("/home")
    assert response.status_code == 302 and "/login" in response.location
    assert db_session.scalar(select(func.count()).select_from(UserSession)) == 0


def test_remember_cookie_alone_is_refused_after_sign_out(app, client, db_session):
    UserFactory(email="mari@example.com")
    client.post("/login", data={"email": "mari@example.com", "password": PASSWORD, "remember": "y"})
    remember = {"remember_token": _cookies(client)["remember_token"]}
    assert _client_with(app, remember).get("/home").status_code == 200  # the cookie alone signs in
    expires = next(c for c in client._cookies.values() if c.key == "remember_token").expires
    assert timedelta(days=29) < expires - utcnow() <= timedelta(days=30, minutes=1)
    client.post("/logout")
    assert _client_with(app, remember).get("/home").status_code == 302


def test_sign_out_everywhere_ends_another_clients_session(app, client, db_session):
    UserFactory(email="mari@example.com")
    login(client, "mari@example.com", PASSWORD)
    laptop = app.test_client()
    login(laptop, "mari@example.com", PASSWORD)
    assert "Sign out everywhere" in client.get("/profile").get_data(as_text=True)
    assert client.post("/logout/everywhere").status_code == 302
    assert laptop.get("/home").status_code == 302
    assert client.get("/home").status_code == 302


def test_sign_out_ends_only_that_sign_in(app, client, db_session):
    UserFactory(email="mari@example.com")
    login(client, "mari@example.com", PASSWORD)
    laptop = app.test_client()
    login(laptop, "mari@example.com", PASSWORD)
    client.post("/logout")
    assert laptop.get("/home").status_code == 200


@pytest.mark.parametrize("role, idle, remember, ends", [
    ("counsellor", timedelta(minutes=31), False, True),
    ("counsellor", timedelta(minutes=31), True, True),   # staff: remembered or not
    ("counsellor", timedelta(minutes=20), False, False),
    ("learner", timedelta(hours=13), False, True),
    ("learner", timedelta(hours=11), False, False),
    ("learner", timedelta(days=3), True, False),          # "keep me signed in on this device"
])
def test_idle_sign_in_expires(client, db_session, role, idle, remember, ends):
    user = UserFactory(**({"counsellor": True} if role == "counsellor" else {}))
    key = session_key(user, remember=remember)
    with client.session_transaction() as session:
        session["_user_id"], session["_fresh"] = key, True
    db_session.execute(update(UserSession).values(last_seen_at=utcnow() - idle))
    db_session.commit()
    page = "/staff" if role == "counsellor" else "/home"
    response = client.get(page)
    assert (response.status_code == 302 and "/login" in response.location) is ends
    if not ends:  # a request moves the last-seen time on
        assert db_session.scalar(select(UserSession.last_seen_at)) > utcnow() - timedelta(minutes=1)


def test_sign_in_ends_after_the_remember_period(client, db_session):
    user = UserFactory()
    key = session_key(user, remember=True)
    with client.session_transaction() as session:
        session["_user_id"] = key
    db_session.execute(update(UserSession).values(created_at=utcnow() - timedelta(days=31)))
    db_session.commit()
    assert client.get("/home").status_code == 302


def test_forged_session_keys_are_refused(client, db_session):
    user = UserFactory()
    key = session_key(user)
    other = UserFactory()
    for forged in (f"{other.id}:{key.split(':', 1)[1]}", f"{user.id}:x", f"{user.id}", "x:y", "",
                   f"{user.id}:{int(user.password_changed_at.timestamp())}"):  # the old form
        with client.session_transaction() as session:
            session["_user_id"] = forged
        assert client.get("/home").status_code == 302, forged
