"""The provider portal: enrolment lists, confirmation, level mismatch, outcomes, CSV export,
overdue reminders and the admin's overdue list."""
from datetime import date, timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from langjourney.auth.models import AccessLog
from langjourney.courses import services
from langjourney.courses.models import EnrolmentStatus
from langjourney.courses.tasks import remind_overdue_confirmations
from langjourney.errors import DomainError
from langjourney.mail.models import OutboxMessage
from tests.fixtures.factories import CourseFactory, EnrolmentFactory, UserFactory

TODAY = date.today()


@pytest.fixture
def seat(client, auth, db_session):
    staff = auth.login("provider", locale="en")
    course = CourseFactory(provider=staff.provider, started=True)
    learner = UserFactory(full_name="Olena Melnyk", profile__level="A2", profile__level_source="placement")
    enrolment = EnrolmentFactory(course=course, learner=learner)
    db_session.commit()
    return staff, course, enrolment


def test_course_page_lists_enrolments_with_statuses(client, seat):
    _staff, course, enrolment = seat
    page = client.get(f"/provider/courses/{course.id}").get_data(as_text=True)
    assert "Olena Melnyk" in page and "Accepted, awaiting confirmation" in page
    assert '<th scope="col">' in page and "<caption" in page


def test_viewing_an_enrolment_is_logged(client, seat, db_session):
    staff, _course, enrolment = seat
    assert "Olena Melnyk" in client.get(f"/provider/enrolments/{enrolment.id}").get_data(as_text=True)
    entry = db_session.scalar(select(AccessLog))
    assert (entry.staff_id, entry.learner_id, entry.action) == (staff.id, enrolment.learner_id, "view enrolment")


def test_confirm_with_a_note(client, seat):
    _staff, _course, enrolment = seat
    response = client.post(f"/provider/enrolments/{enrolment.id}/confirm", data={"confirm_note": "Tuli kohale"})
    assert response.status_code == 302
    assert enrolment.status is EnrolmentStatus.CONFIRMED and enrolment.confirmed_at and enrolment.note == "Tuli kohale"
    # Not twice.
    page = client.post(f"/provider/enrolments/{enrolment.id}/confirm", data={}).get_data(as_text=True)
    assert "already confirmed" in page


def test_level_mismatch_sends_learner_back_to_counselling(client, seat, db_session):
    _staff, _course, enrolment = seat
    response = client.post(f"/provider/enrolments/{enrolment.id}/mismatch",
                           data={"suggested_level": "A1", "mismatch_note": "Ei mõista lihtsaid küsimusi"})
    assert response.status_code == 302
    assert enrolment.status is EnrolmentStatus.MISMATCH and enrolment.mismatch_level == "A1"
    profile = enrolment.learner.profile
    assert (profile.level, profile.level_source, profile.level_set_at) == (None, None, None)
    mail = db_session.scalar(select(OutboxMessage).where(OutboxMessage.user_id == enrolment.learner_id))
    assert mail is not None and "A1" in mail.body
    # The level is free again: the learner may take A2 later (after counselling sets it).
    assert enrolment.is_active is False


def test_mismatch_only_after_the_course_started(db_session):
    enrolment = EnrolmentFactory(course=CourseFactory(start_date=TODAY + timedelta(days=3)))
    with pytest.raises(DomainError) as info:
        services.report_mismatch(enrolment, None, None)
    with force_locale("en"):
        assert "once the course has started" in str(info.value.message)


@pytest.mark.parametrize("data, status, error", [
    ({"outcome": "dropped_out", "attendance_percent": "30"}, EnrolmentStatus.DROPPED_OUT, None),
    ({"outcome": "completed", "attendance_percent": "95", "final_test_result": "71"}, EnrolmentStatus.COMPLETED, None),
    ({"outcome": "completed", "attendance_percent": "80", "final_test_result": "71"}, None, "more than 80 percent"),
    ({"outcome": "completed", "attendance_percent": "95"}, None, "final test result"),
    ({"outcome": "completed", "attendance_percent": "101", "final_test_result": "71"}, None, "between 0 and 100"),
])
def test_outcomes(client, seat, db_session, data, status, error):
    _staff, _course, enrolment = seat
    services.confirm_enrolment(enrolment)
    db_session.commit()
    response = client.post(f"/provider/enrolments/{enrolment.id}/outcome", data=data)
    if status:
        assert response.status_code == 302 and enrolment.status is status
        assert enrolment.attendance_percent == int(data["attendance_percent"])
    else:
        assert error in response.get_data(as_text=True)
        assert enrolment.status is EnrolmentStatus.CONFIRMED


def test_completion_needs_confirmation_first(db_session):
    enrolment = EnrolmentFactory()
    with pytest.raises(DomainError):
        services.record_outcome(enrolment, EnrolmentStatus.COMPLETED, 90, 80)


def test_enrolment_csv_export(client, seat, db_session):
    _staff, course, enrolment = seat
    response = client.get(f"/provider/courses/{course.id}/enrolments.csv")
    assert response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0].startswith("enrolment_id,learner,email,status")
    assert lines[1].startswith(f"{enrolment.id},Olena Melnyk,") and ",accepted," in lines[1]
    assert db_session.scalar(select(func.count()).select_from(AccessLog)) == 1


def test_provider_sees_only_own_courses_in_lists(client, auth, db_session):
    staff = auth.login("provider", locale="en")
    CourseFactory(provider=staff.provider, title="Meie kursus")
    CourseFactory(title="Nende kursus")
    db_session.commit()
    page = client.get("/provider/courses").get_data(as_text=True)
    assert "Meie kursus" in page and "Nende kursus" not in page
    export = client.get("/provider/courses.csv").get_data(as_text=True)
    assert "Meie kursus" in export and "Nende kursus" not in export


# -- overdue confirmations ------------------------------------------------------------------------

def _overdue(provider_course, days=3):
    return EnrolmentFactory(course=provider_course, confirm_by=TODAY - timedelta(days=days))


def test_reminders_go_once_a_day_to_the_providers_staff(db_session):
    staff = UserFactory(provider_staff=True)
    colleague = UserFactory(provider_staff=True, provider=staff.provider)
    course = CourseFactory(provider=staff.provider)
    late = [_overdue(course), _overdue(course, days=1)]
    EnrolmentFactory(course=course)  # not yet due
    other = _overdue(CourseFactory())  # another provider, whose staff are not ours to mail
    db_session.commit()
    assert remind_overdue_confirmations() == 2  # one mail each for staff and colleague
    mails = db_session.scalars(select(OutboxMessage).where(OutboxMessage.user_id.in_([staff.id, colleague.id]))).all()
    assert len(mails) == 2 and all(e.learner.full_name in mails[0].body for e in late)
    assert other.reminded_on == TODAY
    assert remind_overdue_confirmations() == 0  # idempotent the same day
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    assert remind_overdue_confirmations(tomorrow) == 2


def test_confirmed_enrolments_are_not_overdue(db_session):
    enrolment = _overdue(CourseFactory())
    services.confirm_enrolment(enrolment)
    assert services.overdue_enrolments() == []


def test_remind_overdue_command(app, db_session):
    _overdue(CourseFactory())
    UserFactory(provider_staff=True)
    db_session.commit()
    result = app.test_cli_runner().invoke(args=["courses", "remind-overdue"])
    assert result.exit_code == 0 and "reminder mails" in result.output


def test_admin_overdue_list(client, auth, db_session):
    enrolment = _overdue(CourseFactory(title="Hilinenud kinnitus"), days=4)
    db_session.commit()
    auth.login("admin", locale="en")
    page = client.get("/admin/enrolments/overdue").get_data(as_text=True)
    assert "Hilinenud kinnitus" in page and enrolment.learner.full_name in page
    assert "<td>4</td>" in page
