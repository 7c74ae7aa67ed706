"""The enrolment rules (a level once, only upward, one course at a time, programme eligibility),
their backing in the database, and matching: the order and the reason for each place."""
from datetime import date, time, timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy.exc import IntegrityError

from langjourney.courses import services
from langjourney.courses.matching import match_courses
from langjourney.courses.models import EnrolmentStatus, Programme
from langjourney.errors import DomainError
from langjourney.learners.models import LearnerStatus
from tests.fixtures.factories import CourseFactory, EnrolmentFactory, UserFactory

TODAY = date.today()


@pytest.fixture(autouse=True)
def english(db_session):
    """Reasons are read in English here (outside a request the default locale is Estonian)."""
    with force_locale("en"):
        yield


def learner(level="A2", **profile):
    user = UserFactory(profile__level=level, profile__level_source="placement" if level else None, **{
        f"profile__{k}": v for k, v in profile.items()})
    return user


def codes(user, course, **kw):
    from langjourney.courses.rules import enrolment_problems

    return [p.code for p in enrolment_problems(user.profile, course, services.learner_enrolments(user), TODAY, **kw)]


def test_an_eligible_learner_gets_a_seat_with_a_confirmation_deadline(db_session):
    user, course = learner(), CourseFactory(start_date=date(2027, 2, 1))
    enrolment = services.create_enrolment(user, course, today=date(2027, 1, 4))
    assert enrolment.status is EnrolmentStatus.ACCEPTED and enrolment.level == "A2"
    assert enrolment.confirm_by == date(2027, 1, 11)  # 5 working days


def test_a_level_is_taken_once(db_session):
    user = learner()
    done = EnrolmentFactory(learner=user, course=CourseFactory(), status=EnrolmentStatus.COMPLETED,
                            attendance_percent=90, final_test_result=75)
    again = CourseFactory()
    assert "level_completed" in codes(user, again)
    with pytest.raises(DomainError) as info:
        services.create_enrolment(user, again)
    assert "already completed A2" in str(info.value.message)
    # A drop-out frees the level again.
    done.status = EnrolmentStatus.DROPPED_OUT
    assert codes(user, again) == []


def test_levels_go_only_upward_unless_staff_override_with_a_reason(db_session):
    user = learner(level="A2")
    EnrolmentFactory(learner=user, course=CourseFactory(level="B1.1"), level="B1.1",
                     status=EnrolmentStatus.COMPLETED, attendance_percent=85, final_test_result=70)
    course = CourseFactory(level="A2")
    assert codes(user, course) == ["downward"]
    with pytest.raises(DomainError):
        services.create_enrolment(user, course)
    provider = UserFactory(provider_staff=True)
    with pytest.raises(DomainError):  # only a counsellor or an admin may override
        services.create_enrolment(user, course, by=provider, override_reason="Kordamine")
    counsellor = UserFactory(counsellor=True)
    enrolment = services.create_enrolment(user, course, by=counsellor, override_reason="Pikk paus, kordamine")
    assert (enrolment.override_by_id, enrolment.override_reason) == (counsellor.id, "Pikk paus, kordamine")


def test_one_language_course_at_a_time(db_session):
    user = learner()
    EnrolmentFactory(learner=user, course=CourseFactory(level="A1"), level="A1", status=EnrolmentStatus.CONFIRMED,
                     confirmed_at=services.utcnow())
    assert "has_active" in codes(user, CourseFactory())


@pytest.mark.parametrize("statuses, status, ok", [
    ([], LearnerStatus.PERMANENT_RESIDENT, True),
    (["new_immigrant"], LearnerStatus.PERMANENT_RESIDENT, False),
    (["new_immigrant", "permanent_resident"], LearnerStatus.PERMANENT_RESIDENT, True),
])
def test_eligibility_by_status(db_session, statuses, status, ok):
    user = learner(status=status)
    assert ("status" not in codes(user, CourseFactory(eligible_statuses=statuses))) is ok


def test_adaptation_programme_is_for_five_years_after_the_permit(db_session):
    recent = learner(status=LearnerStatus.NEW_IMMIGRANT, residence_permit_date=TODAY - timedelta(days=365))
    old = learner(status=LearnerStatus.NEW_IMMIGRANT, residence_permit_date=TODAY - timedelta(days=6 * 365))
    protected = learner(status=LearnerStatus.TEMPORARY_PROTECTION)
    resident = learner(status=LearnerStatus.PERMANENT_RESIDENT)
    course = CourseFactory(programme=Programme.ADAPTATION)
    assert "adaptation_window" not in codes(recent, course)
    assert "adaptation_window" in codes(old, course)
    assert "adaptation_window" not in codes(protected, course)
    assert "adaptation_window" in codes(resident, course)


def test_no_level_and_wrong_level_and_closed(db_session):
    assert "no_level" in codes(learner(level=None), CourseFactory())
    assert "wrong_level" in codes(learner(level="B1.1"), CourseFactory(level="A2"))
    closed = CourseFactory(enrolment_deadline=TODAY - timedelta(days=1), start_date=TODAY + timedelta(days=3))
    assert "closed" in codes(learner(), closed)


def test_full_course_refuses(db_session):
    course = CourseFactory(capacity=1)
    services.create_enrolment(learner(), course)
    with pytest.raises(DomainError, match="full"):
        services.create_enrolment(learner(), course)


def test_database_backs_one_active_course_per_learner(db_session):
    user = learner()
    EnrolmentFactory(learner=user, course=CourseFactory(level="A1"), level="A1")
    with pytest.raises(IntegrityError), db_session.begin_nested():
        EnrolmentFactory(learner=user, course=CourseFactory(level="A2"), level="A2")


def test_database_backs_a_level_once(db_session):
    user = learner()
    EnrolmentFactory(learner=user, status=EnrolmentStatus.COMPLETED, attendance_percent=90, final_test_result=80)
    EnrolmentFactory(learner=user, status=EnrolmentStatus.DROPPED_OUT)  # ended seats do not count
    with pytest.raises(IntegrityError), db_session.begin_nested():
        EnrolmentFactory(learner=user)


# -- matching -------------------------------------------------------------------------------------

def test_matching_order_and_reasons(db_session):
    user = learner(town="Narva", county="ida-viru", accepts_online=True,
                   availability=["mon:evening", "wed:evening"])
    start = TODAY + timedelta(days=30)
    c = {
        "narva_fit": CourseFactory(title="narva_fit", town="Narva", start_date=start + timedelta(days=20)),
        "narva_fit_early": CourseFactory(title="narva_fit_early", town="Narva", start_date=start),
        "narva_morning": CourseFactory(title="narva_morning", town="Narva", starts_at_time=time(9, 0),
                                       ends_at_time=time(10, 30), start_date=start),
        "narva_half": CourseFactory(title="narva_half", town="Narva", weekdays=["mon", "fri"], start_date=start),
        "johvi": CourseFactory(title="johvi", town="Jõhvi", start_date=start),
        "online": CourseFactory(title="online", online=True, start_date=start),
        "tallinn": CourseFactory(title="tallinn", town="Tallinn", county="harju", start_date=start),
        "adaptation": CourseFactory(title="adaptation", programme=Programme.ADAPTATION,
                                    eligible_statuses=[], town="Narva", start_date=start),
        "b1": CourseFactory(title="b1", level="B1.1", town="Narva"),
    }
    result = match_courses(user)
    assert [m.course.title for m in result.ranked] == [
        "narva_fit_early", "narva_fit", "narva_half", "narva_morning", "johvi", "online", "tallinn"]
    assert [m.course.title for m in result.excluded] == ["adaptation"]  # other levels are not candidates
    top = result.ranked[0].reasons
    assert top[0] == "Right level: A2."
    assert top[1].startswith("The programme meant for you")
    assert top[2] == "In your town, Narva."
    assert top[3].startswith("All lessons fit your availability")
    assert top[4].startswith("Starts on")
    half = next(m for m in result.ranked if m.course.title == "narva_half").reasons
    assert half[3].startswith("1 of 2 lesson days fit")
    assert next(m for m in result.ranked if m.course.title == "johvi").reasons[2].startswith("In your county")
    assert next(m for m in result.ranked if m.course.title == "online").reasons[2].startswith("Online")
    assert [str(p) for p in result.excluded[0].problems] == [
        "This programme is for the first 5 years after a residence permit."]
    assert c["b1"] not in [m.course for m in result.ranked + result.excluded]


def test_new_immigrant_gets_adaptation_first(db_session):
    user = learner(status=LearnerStatus.NEW_IMMIGRANT, residence_permit_date=TODAY - timedelta(days=400))
    CourseFactory(title="residents", town="Narva")
    CourseFactory(title="adaptation", programme=Programme.ADAPTATION, town="Tallinn", county="harju")
    assert [m.course.title for m in match_courses(user).ranked] == ["adaptation", "residents"]


def test_matching_explains_exclusions(db_session):
    user = learner(accepts_online=False)
    EnrolmentFactory(learner=user, status=EnrolmentStatus.COMPLETED, attendance_percent=95, final_test_result=90)
    CourseFactory(title="again")
    CourseFactory(title="web", online=True)
    result = match_courses(user)
    assert result.ranked == []
    reasons = {m.course.title: [str(p) for p in m.problems] for m in result.excluded}
    assert reasons["again"] == ["You have already completed A2."]
    assert "You have already completed A2." in reasons["web"]
    assert any("online" in r for r in reasons["web"])


def test_matching_without_level(db_session):
    assert match_courses(learner(level=None)).ranked == []


def test_learner_and_counsellor_see_matches(client, auth, db_session):
    CourseFactory(title="Narva õhtune rühm")
    me = auth.login("learner", locale="en", profile__level="A2", profile__level_source="placement")
    page = client.get("/courses/matches").get_data(as_text=True)
    assert "Narva õhtune rühm" in page and "In your town, Narva." in page
    auth.login("counsellor", locale="en")
    page = client.get(f"/staff/learners/{me.id}/courses").get_data(as_text=True)
    assert "Narva õhtune rühm" in page and me.full_name in page
