"""The public catalogue (filters, pagination, no N+1) and providers' course editing and approval."""
from datetime import date, time, timedelta

import pytest
from sqlalchemy import event, select

from langjourney.courses import services
from langjourney.courses.models import Course, CourseChange, Mode, Programme
from langjourney.courses.services import CatalogueFilters, search_catalogue
from langjourney.extensions import db
from tests.fixtures.factories import CourseFactory, EnrolmentFactory, ProviderFactory, UserFactory, session_key

TODAY = date.today()


def _titles(**filters):
    return {c.title for c in search_catalogue(CatalogueFilters(**filters), page_size=100).courses}


@pytest.fixture
def courses(db_session):
    month = TODAY.replace(day=1) + timedelta(days=62)
    month = month.replace(day=1)
    return {
        "narva_eve": CourseFactory(title="narva_eve", town="Narva", county="ida-viru",
                                   weekdays=["mon", "wed"], starts_at_time=time(17, 30), start_date=month),
        "johvi_morning": CourseFactory(title="johvi_morning", town="Jõhvi", county="ida-viru", level="B1.1",
                                       weekdays=["tue"], starts_at_time=time(9, 0), ends_at_time=time(11, 0)),
        "tallinn_adapt": CourseFactory(title="tallinn_adapt", town="Tallinn", county="harju",
                                       programme=Programme.ADAPTATION, starts_at_time=time(13, 0),
                                       ends_at_time=time(15, 0), weekdays=["sat"]),
        "online": CourseFactory(title="online", online=True, weekdays=["thu"]),
        "hybrid_tartu": CourseFactory(title="hybrid_tartu", mode=Mode.HYBRID, town="Tartu", county="tartu"),
        "hidden": CourseFactory(title="hidden", unpublished=True),
        "ended": CourseFactory(title="ended", start_date=TODAY - timedelta(days=200),
                               end_date=TODAY - timedelta(days=1)),
    }


def test_catalogue_shows_published_courses_that_have_not_ended(courses):
    assert _titles() == {"narva_eve", "johvi_morning", "tallinn_adapt", "online", "hybrid_tartu"}


@pytest.mark.parametrize("filters, expected", [
    ({"level": "B1.1"}, {"johvi_morning"}),
    ({"county": "ida-viru"}, {"narva_eve", "johvi_morning"}),
    ({"town": "Narva"}, {"narva_eve"}),
    ({"online": True}, {"online", "hybrid_tartu"}),
    ({"town": "Narva", "online": True}, {"narva_eve", "online", "hybrid_tartu"}),
    ({"day_part": "morning"}, {"johvi_morning"}),
    ({"day_part": "afternoon"}, {"tallinn_adapt"}),
    ({"day_part": "evening"}, {"narva_eve", "online", "hybrid_tartu"}),
    ({"weekday": "tue"}, {"johvi_morning"}),
    ({"weekday": "sat"}, {"tallinn_adapt"}),
    ({"programme": Programme.ADAPTATION}, {"tallinn_adapt"}),
    ({"county": "ida-viru", "day_part": "evening", "weekday": "wed"}, {"narva_eve"}),
])
def test_catalogue_filters(courses, filters, expected):
    assert _titles(**filters) == expected


def test_start_month_filter(courses):
    month = courses["narva_eve"].start_date.strftime("%Y-%m")
    assert _titles(start_month=month) == {"narva_eve"}
    assert _titles(start_month="not-a-month") == _titles()


def test_catalogue_page_filters_and_paginates(client, db_session):
    for n in range(25):
        CourseFactory(title=f"Rühm {n:02d}", start_date=TODAY + timedelta(days=10 + n))
    CourseFactory(title="Tartu rühm", town="Tartu", county="tartu")
    db_session.commit()
    page1 = client.get("/courses?county=ida-viru").get_data(as_text=True)
    assert "25 courses found" in page1 and "Rühm 00" in page1 and "Rühm 24" not in page1
    assert "Tartu rühm" not in page1
    assert "page=2" in page1 and "county=ida-viru" in page1  # the next-page link keeps the filters
    page2 = client.get("/courses?county=ida-viru&page=2").get_data(as_text=True)
    assert "Rühm 24" in page2 and "Rühm 00" not in page2
    assert '<label for="level">' in page1  # labelled filters


def _count_queries(fn):
    statements = []
    engine = db.engine

    def before(conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return len(statements)


def test_catalogue_query_count_does_not_grow_with_page_size(db_session, app):
    providers = [ProviderFactory() for _ in range(6)]
    for n in range(60):
        CourseFactory(provider=providers[n % 6])
    db_session.flush()

    def run(size):
        db_session.expire_all()
        page = search_catalogue(CatalogueFilters(), page_size=size)
        return [c.provider.name for c in page.courses]  # touching the provider must not query

    small = _count_queries(lambda: run(5))
    large = _count_queries(lambda: run(50))
    assert small == large == 2  # one count, one page with its providers


def test_catalogue_page_query_count_is_constant(client, db_session, app):
    for _ in range(30):
        CourseFactory()
    db_session.commit()
    client.get("/courses")  # warm up
    with app.app_context():
        few = _count_queries(lambda: client.get("/courses?level=A2&page=2"))
        many = _count_queries(lambda: client.get("/courses?level=A2"))
    assert few == many


COURSE_FORM = {
    "title": "Eesti keel A1 õhtuti", "level": "A1", "programme": "residents", "mode": "in_person",
    "county": "ida-viru", "town": "Narva", "address": "Kooli 2", "weekdays": ["mon", "wed"],
    "starts_at_time": "17:30", "ends_at_time": "19:00", "start_date": "2027-02-01", "end_date": "2027-05-31",
    "academic_hours": "100", "capacity": "20", "support_language": "ru", "enrolment_deadline": "2027-01-20",
}


def test_provider_creates_course_admin_approves_it(client, auth, db_session):
    staff = auth.login("provider", locale="en")
    response = client.post("/provider/courses/new", data=COURSE_FORM)
    assert response.status_code == 302
    course = db_session.scalar(select(Course).where(Course.title == "Eesti keel A1 õhtuti"))
    assert course.provider_id == staff.provider_id and not course.is_published
    assert course.weekday_mask == 0b101 and course.support_language == "ru"
    assert "Eesti keel A1 õhtuti" not in client.get("/courses").get_data(as_text=True)

    admin = auth.login("admin", locale="en")
    assert "Eesti keel A1 õhtuti" in client.get("/admin/courses").get_data(as_text=True)
    assert client.post(f"/admin/courses/{course.id}/approve").status_code == 302
    assert course.is_published and course.approved_by_id == admin.id
    assert "Eesti keel A1 õhtuti" in client.get("/courses").get_data(as_text=True)


def test_admin_returns_a_course_for_changes_and_it_waits_again_once_edited(client, auth, db_session):
    from langjourney.mail.models import OutboxMessage

    staff = auth.login("provider", locale="ru")
    colleague = UserFactory(role=staff.role, provider=staff.provider, locale="et")
    assert client.post("/provider/courses/new", data=COURSE_FORM).status_code == 302
    course = db_session.scalar(select(Course))

    auth.login("admin", locale="en")
    page = client.get("/admin/courses").get_data(as_text=True)
    assert f"/admin/courses/{course.id}/return" in page
    refused = client.post(f"/admin/courses/{course.id}/return", data={"reason": "  "})
    assert refused.status_code == 200 and "This field is required." in refused.get_data(as_text=True)
    assert course.returned_at is None
    reason = "Lisage palun aadressile maja number ja klassiruum."
    assert client.post(f"/admin/courses/{course.id}/return", data={"reason": reason}).status_code == 302
    assert course.return_reason == reason and not course.is_published
    page = client.get("/admin/courses").get_data(as_text=True)
    assert "No course is waiting for approval." in page and "Returned to the provider for changes" in page
    mails = {m.user_id: m for m in db_session.scalars(select(OutboxMessage))}
    assert set(mails) == {staff.id, colleague.id}
    assert mails[staff.id].locale == "ru" and reason in mails[staff.id].body
    assert f"/provider/courses/{course.id}/edit" in mails[colleague.id].body and "muudatusi" in mails[colleague.id].subject
    assert client.post(f"/admin/courses/{course.id}/return", data={"reason": reason}).status_code == 302
    assert db_session.query(OutboxMessage).count() == 2  # a second click sends nothing more

    with client.session_transaction() as session:
        session["_user_id"], session["_fresh"] = session_key(staff), True
    assert reason in client.get(f"/provider/courses/{course.id}").get_data(as_text=True)
    edited = {**COURSE_FORM, "address": "Kooli 2, klass 14"}
    assert client.post(f"/provider/courses/{course.id}/edit", data=edited).status_code == 302
    assert course.returned_at is None and course.return_reason is None

    auth.login("admin", locale="en")
    assert "Eesti keel A1 õhtuti" in client.get("/admin/courses").get_data(as_text=True)
    assert client.post(f"/admin/courses/{course.id}/approve").status_code == 302
    assert course.is_published
    assert client.get(f"/admin/courses/{course.id}/return").status_code == 404  # published: no return


@pytest.mark.parametrize("change, field", [
    ({"ends_at_time": "17:00"}, "ends_at_time"),
    ({"end_date": "2027-01-01"}, "end_date"),
    ({"weekdays": []}, "weekdays"),
    ({"county": "", "town": ""}, "county"),
    ({"enrolment_deadline": "2027-03-01"}, "enrolment_deadline"),
    ({"capacity": "0"}, "capacity"),
])
def test_course_form_errors_are_shown_on_their_field(client, auth, db_session, change, field):
    auth.login("provider", locale="en")
    page = client.post("/provider/courses/new", data={**COURSE_FORM, **change}).get_data(as_text=True)
    assert f'href="#{field}"' in page  # the error summary links to the field
    assert db_session.scalar(select(Course)) is None


def test_online_course_needs_no_place(client, auth, db_session):
    auth.login("provider", locale="en")
    data = {**COURSE_FORM, "mode": "online", "county": "", "town": "", "address": ""}
    assert client.post("/provider/courses/new", data=data).status_code == 302
    assert db_session.scalar(select(Course)).town is None


def test_edits_to_published_course_are_logged(client, auth, db_session):
    staff = auth.login("provider", locale="en")
    course = CourseFactory(provider=staff.provider, start_date=date(2027, 2, 1), end_date=date(2027, 5, 31))
    db_session.commit()
    form = {**COURSE_FORM, "level": "A2", "capacity": "16", "title": "Uus pealkiri"}
    assert client.post(f"/provider/courses/{course.id}/edit", data=form).status_code == 302
    changes = {c.field: (c.old_value, c.new_value, c.changed_by_id)
               for c in db_session.scalars(select(CourseChange).where(CourseChange.course_id == course.id))}
    assert changes == {"capacity": ("20", "16", staff.id), "academic_hours": ("150", "100", staff.id),
                       "support_language": (None, "ru", staff.id)}
    # What learners chose the course for waits for approval; the approved values stay public.
    assert course.title != "Uus pealkiri" and course.address == "Kooli 1, Narva"
    assert course.pending_change == {"title": "Uus pealkiri", "address": "Kooli 2", "enrolment_deadline": "2027-01-20"}
    page = client.get(f"/provider/courses/{course.id}").get_data(as_text=True)
    assert "Changes after publication" in page and "Capacity (seats)" in page and "Russian" in page
    assert "A change waits for an administrator's approval" in page and "<ins>Uus pealkiri</ins>" in page


def test_level_and_date_changes_of_a_published_course_wait_for_approval_and_are_logged_then(db_session):
    staff = UserFactory(provider_staff=True)
    published = CourseFactory(provider=staff.provider)
    draft = CourseFactory(provider=staff.provider, unpublished=True)
    for course in (published, draft):
        data = services.CourseData(
            title=course.title, level="B1.1", programme=course.programme, mode=course.mode,
            weekdays=course.weekdays, starts_at_time=course.starts_at_time, ends_at_time=course.ends_at_time,
            start_date=course.start_date + timedelta(days=7), end_date=course.end_date, academic_hours=120,
            capacity=course.capacity, county=course.county, town=course.town, address=course.address)
        services.update_course(course, data, staff)
    logged = db_session.scalars(select(CourseChange).order_by(CourseChange.field)).all()
    assert [(c.course_id, c.field) for c in logged] == [(published.id, "academic_hours")]
    assert published.level == "A2" and draft.level == "B1.1"  # the published one waits for approval
    assert published.pending_change == {"level": "B1.1", "start_date": (draft.start_date).isoformat()}
    services.approve_course_change(published.id, UserFactory(admin=True))
    logged = db_session.scalars(select(CourseChange).order_by(CourseChange.field)).all()
    assert [(c.course_id, c.field, c.changed_by_id) for c in logged] == [
        (published.id, "academic_hours", staff.id), (published.id, "level", staff.id),
        (published.id, "start_date", staff.id)]


def test_capacity_cannot_drop_below_taken_seats(db_session):
    course = CourseFactory(capacity=3)
    for _ in range(2):
        EnrolmentFactory(course=course)
    data = services.CourseData(
        title=course.title, level=course.level, programme=course.programme, mode=course.mode,
        weekdays=course.weekdays, starts_at_time=course.starts_at_time, ends_at_time=course.ends_at_time,
        start_date=course.start_date, end_date=course.end_date, academic_hours=150, capacity=1,
        county=course.county, town=course.town)
    with pytest.raises(services.DomainError) as info:
        services.update_course(course, data, None)
    assert info.value.field == "capacity"


def test_working_days_skip_weekends_and_holidays():
    assert services.add_working_days(date(2027, 1, 4), 5) == date(2027, 1, 11)  # Mon -> next Mon
    assert services.add_working_days(date(2026, 12, 22), 5) == date(2026, 12, 31)  # 24-25 Dec
    assert services.add_working_days(date(2026, 12, 28), 4) == date(2027, 1, 4)  # 1 Jan
    assert services.add_working_days(date(2027, 3, 24), 2) == date(2027, 3, 29)  # Good Friday 26 Mar
    assert services.add_working_days(date(2027, 6, 22), 1) == date(2027, 6, 25)  # Võidupüha, jaanipäev
