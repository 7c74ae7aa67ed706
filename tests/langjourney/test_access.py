"""Every route × every role: who gets the page, who is sent to sign in, who is refused."""
import pytest

from tests.fixtures.factories import UserFactory

ROLES = ["anonymous", "learner", "counsellor", "provider", "admin"]
PUBLIC = set(ROLES)
STAFF = {"counsellor", "provider", "admin"}

# endpoint -> (method, url, roles that get through)
ROUTES = {
    "main.index": ("GET", "/", PUBLIC),
    "main.healthz": ("GET", "/healthz", PUBLIC),
    "main.set_language": ("POST", "/language", PUBLIC),
    "main.staff_home": ("GET", "/staff", STAFF),
    "auth.login": ("GET", "/login", PUBLIC),
    "auth.register": ("GET", "/register", PUBLIC),
    "auth.reset_request": ("GET", "/reset", PUBLIC),
    "auth.reset_password": ("GET", "/reset/not-a-token", PUBLIC),
    "auth.logout": ("POST", "/logout", {"learner", "counsellor", "provider", "admin"}),
    "learners.home": ("GET", "/home", {"learner"}),
    "learners.profile": ("GET", "/profile", {"learner"}),
    "learners.staff_list": ("GET", "/staff/learners", {"counsellor", "admin"}),
    "learners.staff_view": ("GET", "/staff/learners/{learner}", {"counsellor", "admin"}),
    "admin.users": ("GET", "/admin/users", {"admin"}),
    "admin.create_user": ("GET", "/admin/users/new", {"admin"}),
    "admin.access_log": ("GET", "/admin/access-log", {"admin"}),
}


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    assert endpoints == set(ROUTES), "add new routes to ROUTES with the roles that may use them"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(ROUTES))
def test_access_matrix(client, auth, db_session, endpoint, role):
    method, url, allowed = ROUTES[endpoint]
    learner = UserFactory()
    if role != "anonymous":
        auth.login(role)
    response = client.open(url.format(learner=learner.id), method=method)
    if role in allowed:
        assert response.status_code in (200, 302), response.status_code
        if response.status_code == 302:
            assert "/login" not in response.location
    elif role == "anonymous":
        assert response.status_code == 302 and "/login" in response.location
    else:
        assert response.status_code == 403
        assert learner.email not in response.get_data(as_text=True)


def test_learner_loader_refuses_and_404s(client, auth, db_session):
    auth.login("counsellor")
    staff = UserFactory(admin=True)
    assert client.get(f"/staff/learners/{staff.id}").status_code == 404  # not a learner
    assert client.get("/staff/learners/999999").status_code == 404


def test_staff_view_of_learner_is_logged(client, auth, db_session):
    from sqlalchemy import select

    from langjourney.auth.models import AccessLog

    counsellor = auth.login("counsellor")
    learner = UserFactory(full_name="Jelena Ivanova")
    assert "Jelena Ivanova" in client.get(f"/staff/learners/{learner.id}").get_data(as_text=True)
    entry = db_session.scalar(select(AccessLog))
    assert (entry.staff_id, entry.learner_id, entry.action) == (counsellor.id, learner.id, "view profile")


def test_learner_sees_only_own_data(client, auth, db_session):
    me = auth.login("learner")
    other = UserFactory(full_name="Somebody Else")
    page = client.get("/home").get_data(as_text=True)
    assert me.full_name in page and "Somebody Else" not in page
    assert client.get(f"/staff/learners/{other.id}").status_code == 403
