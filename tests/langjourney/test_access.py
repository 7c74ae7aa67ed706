"""Every route × every role: who gets the page, who is sent to sign in, who is refused. Provider
routes also × ownership: another provider's course, enrolment or token is a 404, whatever the id."""
import re

import pytest

from langjourney.courses.services import create_api_token
from langjourney.testing import services
from tests.fixtures.factories import (
    session_key,
    CounsellingSlotFactory, CourseFactory, EnrolmentFactory, ProviderFactory, UserFactory,
)

ROLES = ["anonymous", "learner", "counsellor", "provider", "provider_admin", "admin"]
PUBLIC = set(ROLES)
STAFF = {"counsellor", "provider", "provider_admin", "admin"}
PROVIDER = {"provider", "provider_admin"}

# endpoint -> (method, url, roles that get through[, the statuses they get instead of 200/302])
ROUTES = {
    "main.index": ("GET", "/", PUBLIC),
    "waitlist.fairness": ("GET", "/fairness", PUBLIC),
    "main.healthz": ("GET", "/healthz", PUBLIC),
    "main.set_language": ("POST", "/language", PUBLIC),
    "main.staff_home": ("GET", "/staff", STAFF),
    "auth.login": ("GET", "/login", PUBLIC),
    "auth.register": ("GET", "/register", PUBLIC),
    "auth.reset_request": ("GET", "/reset", PUBLIC),
    "auth.reset_password": ("GET", "/reset/not-a-token", PUBLIC),
    "auth.confirm_email": ("GET", "/register/confirm/not-a-token", PUBLIC),
    "auth.logout": ("POST", "/logout", {"learner", "counsellor", "provider", "provider_admin", "admin"}),
    "auth.logout_everywhere": ("POST", "/logout/everywhere", {"learner", "counsellor", "provider", "provider_admin",
                                                             "admin"}),
    "learners.home": ("GET", "/home", {"learner"}),
    "learners.profile": ("GET", "/profile", {"learner"}),
    "learners.staff_list": ("GET", "/staff/learners", {"counsellor", "admin"}),
    "learners.staff_view": ("GET", "/staff/learners/{learner}", {"counsellor", "admin"}),
    "learners.allow_retake": ("POST", "/staff/learners/{learner}/allow-retake", {"counsellor", "admin"}),
    "learners.set_level": ("POST", "/staff/learners/{learner}/level", {"counsellor", "admin"}),
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
    "waitlist.join": ("POST", "/courses/{course}/waitlist", {"learner"}),
    "waitlist.mine": ("GET", "/waitlists", {"learner"}),
    "waitlist.leave": ("POST", "/waitlists/999999/leave", {"learner"}, {404}),
    "waitlist.give_up": ("GET", "/enrolments/999999/give-up", {"learner"}, {404}),
    "waitlist.accept": ("POST", "/offers/999999/accept", {"learner"}),
    "waitlist.decline": ("POST", "/offers/999999/decline", {"learner"}),
    # Offer links work without signing in; a token that isn't ours is a 404 for everyone.
    "waitlist.offer_link": ("GET", "/offers/link/not-a-token", PUBLIC, {404}),
    "waitlist.offer_link_answer": ("POST", "/offers/link/not-a-token/accept", PUBLIC, {404}),
    "waitlist.policy": ("GET", "/admin/policy", {"admin"}),
    "counselling.ask": ("GET", "/counselling", {"learner"}),
    "counselling.requests": ("GET", "/staff/counselling", {"counsellor", "admin"}),
    "counselling.done": ("POST", "/staff/counselling/999999/done", {"counsellor", "admin"}, {404}),
    "counselling.slots": ("GET", "/counselling/appointments", {"learner"}),
    "counselling.book": ("GET", "/counselling/appointments/{slot}", {"learner"}),
    "counselling.cancel_booking": ("POST", "/counselling/bookings/999999/cancel", {"learner"}, {404}),
    "counselling.staff_slots": ("GET", "/staff/counselling/slots", {"counsellor", "admin"}),
    "counselling.new_slots": ("GET", "/staff/counselling/slots/new", {"counsellor", "admin"}),
    # Whose time may be cancelled by whom (its counsellor, admins) is tested in test_counselling.py.
    "counselling.cancel_slot": ("GET", "/staff/counselling/slots/999999/cancel", {"counsellor", "admin"}, {404}),
    "counselling.video_link": ("GET", "/staff/counselling/slots/999999/video-link", {"counsellor", "admin"}, {404}),
    "admin.users": ("GET", "/admin/users", {"admin"}),
    "admin.create_user": ("GET", "/admin/users/new", {"admin"}),
    "admin.access_log": ("GET", "/admin/access-log", {"admin"}),
    "courses.catalogue": ("GET", "/courses", PUBLIC),
    "courses.detail": ("GET", "/courses/{course}", PUBLIC),
    "courses.my_matches": ("GET", "/courses/matches", {"learner"}),
    "courses.learner_matches": ("GET", "/staff/learners/{learner}/courses", {"counsellor", "admin"}),
    "courses.pending": ("GET", "/admin/courses", {"admin"}),
    "courses.approve": ("POST", "/admin/courses/{course}/approve", {"admin"}),
    "courses.approve_change": ("POST", "/admin/courses/{course}/approve-change", {"admin"}),
    "courses.return_course": ("GET", "/admin/courses/{course}/return", {"admin"}, {404}),
    "courses.overdue": ("GET", "/admin/enrolments/overdue", {"admin"}),
    "provider.courses": ("GET", "/provider/courses", PROVIDER),
    "provider.new_course": ("GET", "/provider/courses/new", PROVIDER),
    "provider.course": ("GET", "/provider/courses/{course}", PROVIDER),
    "provider.edit_course": ("GET", "/provider/courses/{course}/edit", PROVIDER),
    "provider.export_enrolments": ("GET", "/provider/courses/{course}/enrolments.csv", PROVIDER),
    "provider.enrolment": ("GET", "/provider/enrolments/{enrolment}", PROVIDER),
    "provider.confirm": ("POST", "/provider/enrolments/{enrolment}/confirm", PROVIDER),
    "provider.mismatch": ("POST", "/provider/enrolments/{enrolment}/mismatch", PROVIDER),
    "provider.outcome": ("POST", "/provider/enrolments/{enrolment}/outcome", PROVIDER),
    "provider.import_courses": ("GET", "/provider/import", PROVIDER),
    "provider.export_courses": ("GET", "/provider/courses.csv", PROVIDER),
    "provider.tokens": ("GET", "/provider/tokens", {"provider_admin"}),
    "provider.revoke_token": ("POST", "/provider/tokens/{token}/revoke", {"provider_admin"}),
}
# Token-authenticated JSON: not reachable with a session at all (tested in test_courses_api.py).
API_ROUTES = {
    "api.openapi": ("GET", "/api/v1/openapi.json"),
    "api.list_courses": ("GET", "/api/v1/courses"),
    "api.list_enrolments": ("GET", "/api/v1/enrolments"),
    "api.get_enrolment": ("GET", "/api/v1/enrolments/{enrolment}"),
    "api.confirm": ("POST", "/api/v1/enrolments/{enrolment}/confirm"),
    "api.mismatch": ("POST", "/api/v1/enrolments/{enrolment}/mismatch"),
    "api.complete": ("POST", "/api/v1/enrolments/{enrolment}/completion"),
    "api.drop_out": ("POST", "/api/v1/enrolments/{enrolment}/drop-out"),
}
# Routes that load a provider's resource: another provider's staff get 404.
OWNED = sorted(e for e, (_m, url, *_rest) in ROUTES.items() if "{course}" in url or "{enrolment}" in url
               or "{token}" in url if e.startswith("provider."))


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    assert endpoints == set(ROUTES) | set(API_ROUTES), "add new routes to ROUTES with the roles that may use them"


def _resources(owner_provider, learner):
    """A course and an enrolment of ``owner_provider``, an API token of it, and a counsellor's free time."""
    course = CourseFactory(provider=owner_provider)
    enrolment = EnrolmentFactory(course=course, learner=learner)
    admin = UserFactory(provider_staff=True, provider=owner_provider, is_provider_admin=True)
    token, _secret = create_api_token(admin, "Matrix")
    return {"course": course.id, "enrolment": enrolment.id, "token": token.id, "slot": CounsellingSlotFactory().id}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(ROUTES))
def test_access_matrix(client, auth, db_session, endpoint, role):
    method, url, allowed, *statuses = ROUTES[endpoint]
    learner = UserFactory()
    attempt = services.start_attempt(learner, None)
    services.finish_early(attempt)  # someone else's finished attempt
    user = auth.login(role) if role != "anonymous" else None
    owner = user.provider if user is not None and user.provider is not None else ProviderFactory()
    ids = _resources(owner, learner)
    db_session.commit()
    response = client.open(url.format(learner=learner.id, attempt=attempt.id, **ids), method=method)
    if role in allowed:
        assert response.status_code in (statuses[0] if statuses else {200, 302}), response.status_code
        if response.status_code == 302:
            assert "/login" not in response.location
    elif role == "anonymous":
        assert response.status_code == 302 and "/login" in response.location
    else:
        assert response.status_code == 403
        assert learner.email not in response.get_data(as_text=True)


@pytest.mark.parametrize("number", [2**31, 10**25])
def test_ids_too_large_for_the_database_are_404(app, client, db_session, number):
    """A number beyond the id columns' range matches no route (404) instead of reaching the database,
    whose driver would fail on it (500)."""
    checked = 0
    for rule in app.url_map.iter_rules():
        if "<int:" not in rule.rule:
            continue
        url = re.sub(r"<int:\w+>", str(number), rule.rule)
        url = re.sub(r"<any\((\w+)[^>]*>", r"\1", url)
        url = re.sub(r"<[^>]+>", "x", url)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            assert client.open(url, method=method).status_code == 404, (method, url)
            checked += 1
    assert checked >= 30


def test_page_numbers_out_of_range_show_the_first_page(client, auth, db_session):
    auth.login("admin")
    for url in ("/courses", "/staff/learners", "/admin/access-log"):
        for page in (0, -3, 2**31, 10**25, "x"):
            assert client.get(f"{url}?page={page}").status_code == 200, (url, page)


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


@pytest.mark.parametrize("role", ["provider", "provider_admin"])
@pytest.mark.parametrize("endpoint", OWNED)
def test_other_providers_resources_are_404(client, auth, db_session, endpoint, role):
    method, url, allowed = ROUTES[endpoint]
    auth.login(role)
    learner = UserFactory(full_name="Võõras Õppija")
    ids = _resources(ProviderFactory(), learner)
    db_session.commit()
    response = client.open(url.format(learner=learner.id, **ids), method=method)
    assert response.status_code == (404 if role in allowed else 403)  # the role check comes first
    assert "Võõras Õppija" not in response.get_data(as_text=True)


@pytest.mark.parametrize("endpoint", OWNED)
def test_unknown_ids_are_404_for_providers(client, auth, db_session, endpoint):
    method, url, _allowed = ROUTES[endpoint]
    auth.login("provider_admin")
    response = client.open(url.format(course=999999, enrolment=999999, token=999999, learner=0), method=method)
    assert response.status_code == 404


def test_provider_cannot_see_learner_pages(client, auth, db_session):
    auth.login("provider")
    learner = UserFactory()
    assert client.get(f"/staff/learners/{learner.id}").status_code == 403
    assert client.get(f"/staff/learners/{learner.id}/courses").status_code == 403


def test_unpublished_course_is_hidden_from_the_public(client, auth, db_session):
    course = CourseFactory(unpublished=True, title="Salajane kursus")
    db_session.commit()
    assert client.get(f"/courses/{course.id}").status_code == 404
    auth.login("provider")  # staff of another provider
    assert client.get(f"/courses/{course.id}").status_code == 404
    auth.login("admin")
    assert "Salajane kursus" in client.get(f"/courses/{course.id}").get_data(as_text=True)
    owner = UserFactory(provider_staff=True, provider=course.provider)
    db_session.commit()
    auth.logout()
    with client.session_transaction() as session:
        session["_user_id"] = session_key(owner)
    assert client.get(f"/courses/{course.id}").status_code == 200
