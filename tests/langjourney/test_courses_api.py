"""The provider API: tokens (hash only, revocable), ownership on every route, the actions, JSON
errors, idempotency keys, and an OpenAPI document that matches the routes."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from langjourney.auth.models import User
from langjourney.courses.models import ApiIdempotencyKey, ApiToken, EnrolmentStatus
from langjourney.waitlist.models import AllocationEvent
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
    for enrolment_id in (theirs.id, 999999, 2**31, 10**25):
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


@pytest.mark.parametrize("course_id", ["abc", "0", "-1", "1.5", str(2**31), str(10**25)])
def test_a_course_id_that_is_no_id_is_refused(client, school, course_id):
    response = client.get(f"/api/v1/enrolments?course_id={course_id}", headers=bearer(school["token"]))
    assert response.status_code == 422 and response.json["field"] == "course_id"


def test_a_percentage_may_be_written_with_a_decimal_point(client, db_session, school):
    """JSON does not tell 92 from 92.0; 92.5 is still refused."""
    url = f"/api/v1/enrolments/{school['enrolment'].id}/drop-out"
    refused = client.post(url, headers=bearer(school["token"]), json={"attendance_percent": 92.5})
    assert refused.status_code == 422 and refused.json["field"] == "attendance_percent"
    response = client.post(url, headers=bearer(school["token"]), json={"attendance_percent": 92.0})
    assert response.status_code == 200 and response.json["attendance_percent"] == 92


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


# -- idempotency keys ------------------------------------------------------------------------------

def keyed(token, key):
    return {**bearer(token), "Idempotency-Key": key}


def _confirm_events(db_session) -> int:
    return db_session.scalar(select(func.count()).select_from(AllocationEvent).where(AllocationEvent.kind == "confirm"))


def test_a_repeat_with_the_same_key_gets_the_first_answer_and_changes_nothing(client, db_session, school):
    url = f"/api/v1/enrolments/{school['enrolment'].id}"
    headers = keyed(school["token"], "confirm-42-a")
    first = client.post(f"{url}/confirm", headers=headers, json={"note": "Kohal", "x": [1, 2]})
    assert first.status_code == 200 and first.json["status"] == "confirmed" and "Idempotent-Replayed" not in first.headers
    done = client.post(f"{url}/completion", headers=bearer(school["token"]),
                       json={"attendance_percent": 92, "final_test_result": 80})
    assert done.json["status"] == "completed"
    # The same request again (key order and spacing of the JSON do not matter): the stored answer,
    # as it was then, and nothing done a second time.
    again = client.post(f"{url}/confirm", headers={**headers, "Content-Type": "application/json"},
                        data='{ "x": [1, 2],  "note": "Kohal" }')
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json and again.json["status"] == "confirmed"
    assert school["enrolment"].status is EnrolmentStatus.COMPLETED and school["enrolment"].note == "Kohal"
    assert _confirm_events(db_session) == 1
    row = db_session.scalar(select(ApiIdempotencyKey))
    assert (row.key, row.method, row.path, row.status_code) == ("confirm-42-a", "POST", f"{url}/confirm", 200)


def test_the_same_key_for_another_request_is_refused(client, db_session, school):
    url = f"/api/v1/enrolments/{school['enrolment'].id}"
    other = EnrolmentFactory(course=school["course"])
    db_session.commit()
    headers = keyed(school["token"], "k1")
    assert client.post(f"{url}/confirm", headers=headers, json={"note": "Kohal"}).status_code == 200
    for path, body in ((f"{url}/confirm", {"note": "Teine märkus"}), (f"{url}/confirm", None),
                       (f"/api/v1/enrolments/{other.id}/confirm", {"note": "Kohal"}),
                       (f"/api/v1/enrolments/{other.id}/drop-out", {"attendance_percent": 10})):
        response = client.post(path, headers=headers, json=body)
        assert response.status_code == 422 and response.json["field"] == "Idempotency-Key", path
        assert f"POST {url}/confirm" in response.json["description"] and "new key" in response.json["description"]
    assert other.status is EnrolmentStatus.ACCEPTED and school["enrolment"].note == "Kohal"
    assert client.post(f"/api/v1/enrolments/{other.id}/confirm", headers=keyed(school["token"], "k2"),
                       json={"note": "Kohal"}).status_code == 200


@pytest.mark.parametrize("key", ["", " ", "two words", "tab\there", "ä", "x" * 256])
def test_a_malformed_key_is_refused_before_anything_is_done(client, db_session, school, key):
    response = client.post(f"/api/v1/enrolments/{school['enrolment'].id}/confirm",
                           headers=keyed(school["token"], key), json={"note": "Kohal"})
    assert response.status_code == 400 and response.json["field"] == "Idempotency-Key"
    assert "1 to 255 visible ASCII characters" in response.json["description"]
    assert school["enrolment"].status is EnrolmentStatus.ACCEPTED
    assert db_session.scalar(select(func.count()).select_from(ApiIdempotencyKey)) == 0


@pytest.mark.parametrize("key", ["!", "x" * 255, "4f0c7e1a-2b9d-4e8f-9a7b-3c2d1e0f9a8b", "order#17/confirm~v2"])
def test_keys_of_visible_ascii_up_to_255_characters_are_taken(client, school, key):
    response = client.post(f"/api/v1/enrolments/{school['enrolment'].id}/confirm",
                           headers=keyed(school["token"], key))
    assert response.status_code == 200 and response.json["status"] == "confirmed"


def test_refusals_are_stored_so_a_repeat_cannot_turn_into_a_success(client, db_session, school):
    url = f"/api/v1/enrolments/{school['enrolment'].id}/completion"
    headers = keyed(school["token"], "complete-1")
    body = {"attendance_percent": 92, "final_test_result": 80}
    refused = client.post(url, headers=headers, json=body)  # not confirmed yet
    assert refused.status_code == 409 and "status" in refused.json["description"]
    client.post(f"/api/v1/enrolments/{school['enrolment'].id}/confirm", headers=bearer(school["token"]))
    again = client.post(url, headers=headers, json=body)
    assert again.status_code == 409 and again.json == refused.json and again.headers["Idempotent-Replayed"] == "true"
    assert school["enrolment"].status is EnrolmentStatus.CONFIRMED
    invalid = client.post(url, headers=keyed(school["token"], "complete-2"), json={"attendance_percent": "lots"})
    assert invalid.status_code == 422 and invalid.json["field"] == "attendance_percent"
    replayed = client.post(url, headers=keyed(school["token"], "complete-2"), json={"attendance_percent": "lots"})
    assert replayed.json == invalid.json and replayed.headers["Idempotent-Replayed"] == "true"
    done = client.post(url, headers=keyed(school["token"], "complete-3"), json=body)
    assert done.status_code == 200 and done.json["status"] == "completed"


def test_what_never_reached_an_action_is_not_stored(client, db_session, school):
    theirs = EnrolmentFactory()
    db_session.commit()
    headers = keyed(school["token"], "k")
    assert client.post(f"/api/v1/enrolments/{theirs.id}/confirm", headers=headers).status_code == 404
    assert client.post(f"/api/v1/enrolments/{school['enrolment'].id}/confirm", headers=headers).status_code == 200
    # Reads ignore the header, even a malformed one.
    assert client.get("/api/v1/courses", headers=keyed(school["token"], "not a key")).status_code == 200
    assert db_session.scalar(select(func.count()).select_from(ApiIdempotencyKey)) == 1


def test_keys_are_the_providers_and_expire_after_24_hours(client, db_session, school):
    url = f"/api/v1/enrolments/{school['enrolment'].id}/confirm"
    first = client.post(url, headers=keyed(school["token"], "shared"), json={"note": "Kohal"})
    # Another token of the same provider: the same key is the same request.
    colleague = UserFactory(provider_staff=True, provider=school["provider"], is_provider_admin=True)
    _row, second_token = create_api_token(colleague, "Teine süsteem")
    db_session.commit()
    again = client.post(url, headers=keyed(second_token, "shared"), json={"note": "Kohal"})
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json
    # Another provider's key of the same name is theirs alone.
    elsewhere = UserFactory(provider_staff=True, is_provider_admin=True)
    _row, their_token = create_api_token(elsewhere, "Võõras")
    their_course = CourseFactory(provider=elsewhere.provider, started=True)
    their_enrolment = EnrolmentFactory(course=their_course)
    db_session.commit()
    theirs = client.post(f"/api/v1/enrolments/{their_enrolment.id}/confirm", headers=keyed(their_token, "shared"))
    assert theirs.status_code == 200 and "Idempotent-Replayed" not in theirs.headers
    # A day later the key is free again: another request under it is carried out, not refused.
    for row in db_session.scalars(select(ApiIdempotencyKey)):
        row.created_at -= timedelta(hours=24, seconds=1)
    db_session.commit()
    later = client.post(f"/api/v1/enrolments/{school['enrolment'].id}/drop-out", headers=keyed(school["token"], "shared"),
                        json={"attendance_percent": 10})
    assert later.status_code == 200 and later.json["status"] == "dropped_out" and "Idempotent-Replayed" not in later.headers
    # Storing it cleared the provider's expired keys; the other provider's stay until they store one.
    rows = db_session.scalars(select(ApiIdempotencyKey).order_by(ApiIdempotencyKey.id)).all()
    assert [(r.provider_id, r.path.rpartition("/")[2]) for r in rows] == [
        (elsewhere.provider_id, "confirm"), (school["provider"].id, "drop-out")]



def test_openapi_documents_the_idempotency_key_on_every_post(client):
    doc = client.get("/api/v1/openapi.json").json
    key = doc["components"]["parameters"]["IdempotencyKey"]
    assert (key["name"], key["in"], key["schema"]["maxLength"]) == ("Idempotency-Key", "header", 255)
    assert "24 hours" in key["description"] and "422" in key["description"]
    posts = [ops["post"] for ops in doc["paths"].values() if "post" in ops]
    assert len(posts) == 4
    for post in posts:
        assert {"$ref": "#/components/parameters/IdempotencyKey"} in post["parameters"]
        assert "400" in post["responses"] and "Idempotent-Replayed" in post["responses"]["200"]["headers"]

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
