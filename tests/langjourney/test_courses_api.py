"""The provider API: tokens (hash only, revocable), ownership on every route, the actions, JSON
errors, and an OpenAPI document that matches the routes."""
import re

import pytest
from sqlalchemy import select

from langjourney.auth.models import User
from langjourney.courses.models import ApiToken, EnrolmentStatus
from langjourney.courses.services import create_api_token, hash_token
from tests.fixtures.factories import CourseFactory, EnrolmentFactory, UserFactory
from tests.langjourney.test_access import API_ROUTES


@pytest.fixture
def school(db_session):
    """A provider admin's token, a started course of that provider and an accepted seat on it."""
    admin = UserFactory(provider_staff=True, is_provider_admin=True)
    _row, token = create_api_token(admin, "Kooli süsteem")
    course = CourseFactory(provider=admin.provider, started=True)
    enrolment = EnrolmentFactory(course=course, learner=UserFactory(profile__level="A2",
                                                                    profile__level_source="placement"))
    db_session.commit()
    return {"token": token, "course": course, "enrolment": enrolment, "provider": admin.provider}


def bearer(token):
    return {"Authorization": f"Bearer {token}", "Accept-Language": "en"}


def test_only_the_hash_is_stored(db_session, school):
    row = db_session.scalar(select(ApiToken))
    assert row.token_hash == hash_token(school["token"]) and school["token"] not in (row.token_hash, row.prefix)
    assert school["token"].startswith(row.prefix)


@pytest.mark.parametrize("endpoint", sorted(e for e in API_ROUTES if e != "api.openapi"))
@pytest.mark.parametrize("auth_header", [None, "Bearer nonsense", "Basic dXNlcjpwYXNz", "revoked"])
def test_every_api_route_needs_a_live_token(client, db_session, school, endpoint, auth_header):
    method, url = API_ROUTES[endpoint]
    if auth_header == "revoked":
        db_session.scalar(select(ApiToken)).revoked_at = db_session.scalar(select(ApiToken)).created_at
        db_session.commit()
        auth_header = f"Bearer {school['token']}"
    headers = {"Authorization": auth_header} if auth_header else {}
    response = client.open(url.format(enrolment=school["enrolment"].id), method=method, headers=headers, json={})
    assert response.status_code == 401 and response.json["error"] == "Unauthorized"


@pytest.mark.parametrize("endpoint", sorted(e for e in API_ROUTES if "{enrolment}" in API_ROUTES[e][1]))
def test_another_providers_enrolment_is_404(client, db_session, school, endpoint):
    method, url = API_ROUTES[endpoint]
    theirs = EnrolmentFactory()
    db_session.commit()
    for enrolment_id in (theirs.id, 999999):
        response = client.open(url.format(enrolment=enrolment_id), method=method, headers=bearer(school["token"]),
                               json={})
        assert response.status_code == 404 and response.is_json
    assert theirs.status is EnrolmentStatus.ACCEPTED


def test_lists_show_only_own_courses_and_enrolments(client, db_session, school):
    CourseFactory(title="Võõras kursus")
    EnrolmentFactory()
    db_session.commit()
    courses = client.get("/api/v1/courses", headers=bearer(school["token"])).json["courses"]
    assert [c["id"] for c in courses] == [school["course"].id]
    assert courses[0]["starts_at"] == "17:30" and courses[0]["weekdays"] == ["mon", "wed"]
    enrolments = client.get("/api/v1/enrolments", headers=bearer(school["token"])).json["enrolments"]
    assert [e["id"] for e in enrolments] == [school["enrolment"].id] and enrolments[0]["status"] == "accepted"
    assert client.get("/api/v1/enrolments?status=confirmed", headers=bearer(school["token"])).json == {"enrolments": []}
    assert client.get("/api/v1/enrolments?status=nope", headers=bearer(school["token"])).status_code == 422


def test_confirm_then_complete(client, school):
    url = f"/api/v1/enrolments/{school['enrolment'].id}"
    response = client.post(f"{url}/confirm", headers=bearer(school["token"]), json={"note": "Kohal"})
    assert response.status_code == 200 and response.json["status"] == "confirmed"
    again = client.post(f"{url}/confirm", headers=bearer(school["token"]))  # a retry: the same answer
    assert again.status_code == 200 and again.json == response.json
    low = client.post(f"{url}/completion", headers=bearer(school["token"]),
                      json={"attendance_percent": 70, "final_test_result": 80})
    assert low.status_code == 422 and low.json["field"] == "attendance_percent"
    bad = client.post(f"{url}/completion", headers=bearer(school["token"]),
                      json={"attendance_percent": "lots", "final_test_result": 80})
    assert bad.status_code == 422 and bad.json["field"] == "attendance_percent"
    done = client.post(f"{url}/completion", headers=bearer(school["token"]),
                       json={"attendance_percent": 92, "final_test_result": 80})
    assert done.status_code == 200 and done.json["status"] == "completed" and done.json["attendance_percent"] == 92


def test_mismatch_and_drop_out(client, db_session, school):
    response = client.post(f"/api/v1/enrolments/{school['enrolment'].id}/mismatch", headers=bearer(school["token"]),
                           json={"suggested_level": "A1"})
    assert response.status_code == 200 and response.json["mismatch_level"] == "A1"
    assert school["enrolment"].learner.profile.level is None
    other = EnrolmentFactory(course=school["course"])
    db_session.commit()
    response = client.post(f"/api/v1/enrolments/{other.id}/drop-out", headers=bearer(school["token"]),
                           json={"attendance_percent": 20, "note": "Kolis ära"})
    assert response.status_code == 200 and response.json["status"] == "dropped_out"
    assert client.post(f"/api/v1/enrolments/{other.id}/drop-out", headers=bearer(school["token"]),
                       data="[1]", content_type="application/json").status_code == 422


def test_api_needs_no_csrf(app, db_session, school):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        client = app.test_client()
        response = client.post(f"/api/v1/enrolments/{school['enrolment'].id}/confirm", headers=bearer(school["token"]))
        assert response.status_code == 200
        assert client.post("/provider/tokens").status_code == 400  # the portal keeps CSRF
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def _flask_path(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.removeprefix("/api/v1"))


def test_openapi_documents_exactly_the_routes(client, app):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    routes = {(_flask_path(rule.rule), method) for rule in app.url_map.iter_rules()
              if rule.endpoint.startswith("api.") for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == routes


# -- token management in the portal ---------------------------------------------------------------

def test_provider_admin_creates_and_revokes_tokens(client, auth, db_session):
    admin = auth.login("provider_admin", locale="en")
    page = client.post("/provider/tokens", data={"name": "Tunniplaan"}).get_data(as_text=True)
    token = re.search(r'<code class="token">([^<]+)</code>', page).group(1)
    assert "not shown again" in page
    assert client.get("/api/v1/courses", headers=bearer(token)).status_code == 200
    row = db_session.scalar(select(ApiToken))
    assert row.provider_id == admin.provider_id and row.created_by_id == admin.id
    assert token not in client.get("/provider/tokens").get_data(as_text=True)  # shown once only
    assert client.post(f"/provider/tokens/{row.id}/revoke").status_code == 302
    assert client.get("/api/v1/courses", headers=bearer(token)).status_code == 401


def test_plain_provider_staff_cannot_manage_tokens(client, auth, db_session):
    auth.login("provider")
    assert client.get("/provider/tokens").status_code == 403
    assert client.post("/provider/tokens", data={"name": "x"}).status_code == 403


def test_cli_creates_provider_admins(app, db_session):
    result = app.test_cli_runner().invoke(args=[
        "users", "create", "--email", "kool@example.com", "--name", "Kooli Admin", "--role", "provider",
        "--provider", "CLI Keelekool OÜ", "--password", "pikk-parool-123", "--provider-admin"])
    assert result.exit_code == 0, result.output
    user = db_session.scalar(select(User).where(User.email == "kool@example.com"))
    assert user.is_provider_admin and user.provider.name == "CLI Keelekool OÜ"
