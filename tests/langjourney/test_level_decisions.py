"""Counsellors set a learner's level, with a reason; the learner is told and the view is logged."""
from sqlalchemy import func, select

from langjourney.auth.models import AccessLog
from langjourney.courses import services as courses
from langjourney.learners.models import LevelDecision
from langjourney.mail.models import OutboxMessage
from tests.fixtures.factories import CourseFactory, EnrolmentFactory, UserFactory, session_key


def _logged(db_session, learner, action) -> int:
    return db_session.scalar(select(func.count()).select_from(AccessLog)
                             .where(AccessLog.learner_id == learner.id, AccessLog.action == action))


def test_counsellor_sets_the_level_with_a_reason_and_the_learner_is_told(client, auth, db_session):
    learner = UserFactory(locale="ru", full_name="Olga Petrova")
    learner.profile.level, learner.profile.level_source = "A2", "placement"
    counsellor = auth.login("counsellor", full_name="Mari Maasikas")
    page = client.get(f"/staff/learners/{learner.id}").get_data(as_text=True)
    assert "Current level: A2" in page and 'name="level-level"' in page and 'id="level-reason"' in page

    response = client.post(f"/staff/learners/{learner.id}/level",
                           data={"level-level": "B1.1", "level-reason": "  Counselling interview: speaks well.  "})
    assert response.status_code == 302
    assert (learner.profile.level, learner.profile.level_source) == ("B1.1", "counsellor")
    [decision] = db_session.scalars(select(LevelDecision))
    assert (decision.previous_level, decision.level, decision.decided_by_id) == ("A2", "B1.1", counsellor.id)
    assert decision.reason == "Counselling interview: speaks well."
    [mail] = db_session.scalars(select(OutboxMessage).where(OutboxMessage.user_id == learner.id))
    assert mail.locale == "ru" and "B1.1" in mail.subject and "/courses/matches" in mail.body
    assert "установлен консультантом: B1.1" in mail.body
    assert _logged(db_session, learner, "set the level") == 1

    page = client.get(f"/staff/learners/{learner.id}").get_data(as_text=True)
    assert "Current level: B1.1" in page and "set by a counsellor" in page
    assert "Counselling interview: speaks well." in page and "Mari Maasikas" in page

    auth.logout()
    with client.session_transaction() as session:
        session["_user_id"], session["_fresh"] = session_key(learner), True
    home = client.get("/home").get_data(as_text=True)
    assert "Языковой консультант установил ваш уровень: B1.1." in home


def test_a_refused_level_changes_nothing_and_the_view_is_still_logged(client, auth, db_session):
    learner = UserFactory()
    auth.login("counsellor")
    for data, message in [({"level-level": "B1.1", "level-reason": " "}, "This field is required."),
                          ({"level-level": "B3", "level-reason": "x"}, "Not a valid choice"),
                          ({"level-level": "B1.1", "level-reason": "x" * 501}, "Write at most 500 characters.")]:
        response = client.post(f"/staff/learners/{learner.id}/level", data=data)
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and message in page, (data, page[:200])
    assert learner.profile.level is None
    assert db_session.scalar(select(func.count()).select_from(LevelDecision)) == 0
    assert db_session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert _logged(db_session, learner, "set the level") == 3  # each page showed the learner's data


def test_after_a_level_mismatch_the_counsellor_sees_the_schools_suggestion(client, auth, db_session):
    learner = UserFactory()
    learner.profile.level, learner.profile.level_source = "A2", "placement"
    course = CourseFactory(level="A2", started=True, title="Eesti keel A2 Narvas")
    enrolment = EnrolmentFactory(learner=learner, course=course)
    db_session.commit()
    courses.report_mismatch(enrolment, "B1.1", "Knows more than A2")
    db_session.commit()
    assert learner.profile.level is None
    auth.login("counsellor")
    page = client.get(f"/staff/learners/{learner.id}").get_data(as_text=True)
    assert "The learner has no level yet." in page
    assert "Eesti keel A2 Narvas" in page and "Level the school suggests: B1.1." in page
    assert client.post(f"/staff/learners/{learner.id}/level",
                       data={"level-level": "B1.1", "level-reason": "Agreed with the school"}).status_code == 302
    assert learner.profile.level == "B1.1"
    assert db_session.scalar(select(LevelDecision.previous_level)) is None
