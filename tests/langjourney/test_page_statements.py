"""How many SQL statements the dashboard and the catalogue make, for a learner with a realistic
history: a ceiling, so that a query per row (N+1) fails here and not in a load benchmark."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event

from langjourney.courses.models import EnrolmentStatus
from langjourney.db import utcnow
from langjourney.extensions import db
from langjourney.learners.models import LevelDecision
from langjourney.selfassess.models import SelfAssessment
from langjourney.waitlist.models import AllocationEvent
from tests.fixtures.factories import (
    CounsellingBookingFactory, CounsellingSlotFactory, CourseFactory, EnrolmentFactory, ProviderFactory,
    UserFactory, session_key,
)

# What the pages make today (the user loader included); both grew by one query per row before.
HOME_STATEMENTS = 9
CATALOGUE_STATEMENTS = 3


def _statements(client, path: str) -> list[str]:
    seen: list[str] = []

    def before(conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")):
            seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", before)
    assert response.status_code == 200, response.location
    return seen


def _learner_with_history(rows: int):
    """A placed learner with ``rows`` of each: seats given up, level decisions, waiting-list
    milestones and counselling appointments (held, cancelled by either side), and one upcoming."""
    learner = UserFactory()
    learner.profile.level, learner.profile.level_source = "A2", "counsellor"
    db.session.add(SelfAssessment(learner_id=learner.id, ratings={}, step=5, completed_at=utcnow() - timedelta(days=90)))
    for n in range(rows):
        provider = ProviderFactory()
        course = CourseFactory(provider=provider, title=f"Kursus {n}")
        EnrolmentFactory(learner=learner, course=course, status=EnrolmentStatus.CANCELLED,
                         accepted_at=utcnow() - timedelta(days=200 - n), ended_at=utcnow() - timedelta(days=150))
        counsellor = UserFactory(counsellor=True)
        db.session.add(LevelDecision(learner_id=learner.id, level="A2", decided_by=counsellor, reason="interview",
                                     decided_at=utcnow() - timedelta(days=100 - n)))
        for kind in ("join", "offer", "decline"):
            db.session.add(AllocationEvent(at=utcnow() - timedelta(days=60 - n), kind=kind, learner_id=learner.id,
                                           course_id=course.id, actor=f"learner:{learner.id}"))
        held = CounsellingSlotFactory(counsellor=counsellor, past=True)
        CounsellingBookingFactory(slot=held, learner=learner, created_at=utcnow() - timedelta(days=30 - n))
        cancelled = CounsellingSlotFactory(counsellor=counsellor)
        CounsellingBookingFactory(slot=cancelled, learner=learner, cancelled_at=utcnow() - timedelta(days=3),
                                  cancelled_by_id=learner.id if n % 2 else counsellor.id,
                                  created_at=utcnow() - timedelta(days=20 - n))
    CounsellingBookingFactory(slot=CounsellingSlotFactory(by_video=True), learner=learner)
    db.session.commit()
    return learner


def _sign_in(client, learner) -> None:
    with client.session_transaction() as session:
        session["_user_id"] = session_key(learner)
        session["_fresh"] = True


def test_dashboard_statements_do_not_grow_with_the_learners_history(client, db_session):
    few, many = _learner_with_history(1), _learner_with_history(8)
    counts = {}
    for learner in (few, many):
        _sign_in(client, learner)
        client.get("/home")  # warm up
        counts[learner.id] = _statements(client, "/home")
    assert len(counts[few.id]) == len(counts[many.id]), counts[many.id]
    assert len(counts[many.id]) <= HOME_STATEMENTS, "\n".join(counts[many.id])
    page = client.get("/home").get_data(as_text=True)
    assert "Kursus 7" in page and "appointment" in page  # the history is on the page


def test_catalogue_statements_are_a_constant_few(client, db_session):
    providers = [ProviderFactory() for _ in range(10)]
    for n in range(45):
        CourseFactory(provider=providers[n % 10], town=["Narva", "Tartu", "Pärnu"][n % 3])
    learner = _learner_with_history(3)
    for path, who in (("/courses", None), ("/courses?town=Narva&page=2", None), ("/courses", learner)):
        if who is not None:
            _sign_in(client, who)
        client.get(path)  # warm up
        statements = _statements(client, path)
        assert len(statements) <= CATALOGUE_STATEMENTS + (who is not None), "\n".join(statements)


def test_catalogue_filter_form_is_rendered_once_per_locale_and_choice(client, db_session, app):
    from flask import template_rendered

    from langjourney.courses import views

    CourseFactory(town="Narva")
    db_session.commit()
    views._FILTERS_HTML.clear()
    rendered = []

    def record(sender, template, context, **extra):
        if template.name == "courses/_filters.html":
            rendered.append(template.name)

    template_rendered.connect(record, app)
    try:
        first = client.get("/courses?level=A2").get_data(as_text=True)
        again = client.get("/courses?level=A2").get_data(as_text=True)
        assert len(rendered) == 1 and first == again
        assert '<option selected value="A2">' in again
        other = client.get("/courses?level=B1.1").get_data(as_text=True)
        assert len(rendered) == 2 and '<option selected value="B1.1">' in other
        russian = client.get("/courses?level=A2", headers={"Accept-Language": "ru"}).get_data(as_text=True)
        assert len(rendered) == 3 and "Уровень" in russian
        for _ in range(2):  # a value that is no choice is rendered each time, never kept
            client.get("/courses?level=" + "x" * 50)
        assert len(rendered) == 5 and len(views._FILTERS_HTML) == 3
    finally:
        template_rendered.disconnect(record, app)


def test_the_requests_translations_follow_force_locale_and_refresh(app):
    """The catalogue found once per request still changes with the locale (RequestDomain)."""
    from flask import session
    from flask_babel import force_locale, gettext, refresh

    with app.test_request_context("/", headers={"Accept-Language": "ru"}):
        assert gettext("Courses") == "Курсы"
        with force_locale("et"):
            assert gettext("Courses") == "Kursused"
        assert gettext("Courses") == "Курсы"
        session["lang"] = "et"  # the language switcher's choice goes before the browser's
        refresh()
        assert gettext("Courses") == "Kursused"
