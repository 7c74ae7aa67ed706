"""Text the database cannot store (a NUL character; half a surrogate pair in JSON) is refused with
a 400 and a reason before any view runs, in forms, query strings and JSON bodies alike."""
import pytest
from sqlalchemy import func, select

from langjourney.auth.models import User
from langjourney.ops.input import storable
from tests.langjourney.test_courses_api import bearer, school  # noqa: F401  (the fixture)

REGISTRATION = {"full_name": "Olena Kovalenko", "email": "olena@example.com", "password": "pikk-parool-123",
                "password_confirm": "pikk-parool-123", "locale": "en", "mother_tongue": "uk", "county": "harju",
                "town": "Tallinn", "status": "returnee", "consent": "y"}


def test_what_can_be_stored():
    assert storable("Õnne 12, Tõrva — Ülle Šõštšenko")
    assert not storable("a\x00b")
    assert not storable("\ud800")


@pytest.mark.parametrize("field", ["full_name", "town", "password"])
def test_a_nul_in_a_form_is_refused_and_nothing_is_written(app, client, db_session, field):
    app.config["WTF_CSRF_ENABLED"] = False
    users = db_session.scalar(select(func.count()).select_from(User))
    response = client.post("/register", data={**REGISTRATION, field: "Tal\x00linn"},
                           headers={"Accept-Language": "et"})
    assert response.status_code == 400
    assert "mida ei saa salvestada" in response.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(User)) == users
    # The same form without it goes through.
    assert client.post("/register", data=REGISTRATION).status_code == 302


def test_a_nul_in_a_query_string_is_refused(client):
    assert client.get("/courses?town=Nar%00va").status_code == 400
    assert client.get("/courses?town=Narva").status_code == 200


@pytest.mark.parametrize("body", ['{"note": "a\\u0000b"}', '{"note": "\\ud800"}', '{"a\\u0000": 1}',
                                  '{"x": [{"y": "\\udfff"}]}'])
def test_the_api_refuses_unstorable_json_with_the_field(client, db_session, school, body):  # noqa: F811
    response = client.post(f"/api/v1/enrolments/{school['enrolment'].id}/confirm", data=body,
                           headers={**bearer(school["token"]), "Content-Type": "application/json"})
    assert response.status_code == 400 and response.is_json
    assert "cannot be stored" in response.json["description"] and response.json["field"]
    assert school["enrolment"].status.value == "accepted"
