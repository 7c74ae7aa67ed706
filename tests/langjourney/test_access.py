"""Every route × every role: who gets the page, who is sent to sign in, who is refused."""
import pytest

from langjourney.testing import services
from tests.fixtures.factories import UserFactory

ROLES = ["anonymous", "learner", "counsellor", "provider", "admin"]
PUBLIC = set(ROLES)
STAFF = {"counsellor", "provider", "admin"}

# endpoint -> (method, url, roles that get through[, the statuses they get instead of 200/302])
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
    "learners.allow_retake": ("POST", "/staff/learners/{learner}/allow-retake", {"counsellor", "admin"}),
    "selfassess.resume": ("GET", "/self-assessment/", {"learner"}),
    "selfassess.answer": ("GET", "/self-assessment/step/1", {"learner"}),
    "selfassess.summary": ("GET", "/self-assessment/summary", {"learner"}),
    "testing.start_page": ("GET", "/test/", {"learner"}),
    "testing.start": ("POST", "/test/start", {"learner"}),
    "testing.item": ("GET", "/test/item", {"learner"}),
    "testing.answer": ("POST", "/test/answer", {"learner"}),
    "testing.finish": ("POST", "/test/finish", {"learner"}),
    # No test in progress: the audio of no item may be fetched.
    "testing.audio": ("GET", "/test/audio/a1-l-01.wav", {"learner"}, {404}),
    "testing.result": ("GET", "/test/result/{attempt}", {"counsellor", "admin"}),
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
    method, url, allowed, *statuses = ROUTES[endpoint]
    learner = UserFactory()
    attempt = services.start_attempt(learner, None)
    services.finish_early(attempt)  # someone else's finished attempt
    db_session.commit()
    if role != "anonymous":
        auth.login(role)
    response = client.open(url.format(learner=learner.id, attempt=attempt.id), method=method)
    if role in allowed:
        assert response.status_code in (statuses[0] if statuses else {200, 302}), response.status_code
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
    assert (entry.staff_id, entry.learner_id, entry.action) == (counsellor.id, learner.id, "view profile, self-assessment and tests")


def test_learner_sees_only_own_data(client, auth, db_session):
    me = auth.login("learner")
    other = UserFactory(full_name="Somebody Else")
    page = client.get("/home").get_data(as_text=True)
    assert me.full_name in page and "Somebody Else" not in page
    assert client.get(f"/staff/learners/{other.id}").status_code == 403
