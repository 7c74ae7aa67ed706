from sqlalchemy import func, select

from langjourney.auth.models import Provider, Role, User
from langjourney.courses.models import Course, Enrolment, EnrolmentStatus
from langjourney.demo.data import DEMO_PASSWORD, load_demo
from langjourney.learners.models import LearnerProfile, LevelDecision
from langjourney.waitlist.audit import audit
from langjourney.waitlist.models import EntryStatus, Offer, OfferStatus, WaitlistEntry
from langjourney.waitlist.services import recent_outcomes


def _count(model, *where):
    return select(func.count()).select_from(model).where(*where)


def test_demo_load_is_complete_and_idempotent(db_session, client):
    first = load_demo()
    enrolments = first.pop("enrolments")
    assert first == {"staff": 8, "providers": 4, "courses": 40, "learners": 200, "waiting": 8, "slots": 3 * 5 * 4}
    assert 20 <= enrolments <= 30  # the adaptation window moves with today's date
    assert load_demo() == {"staff": 0, "providers": 0, "courses": 0, "learners": 0, "enrolments": 0,
                           "waiting": 0, "slots": 0}
    # Two full courses with waiting lists; on the first, a seat given up is offered to the first in line.
    assert db_session.scalar(_count(WaitlistEntry, WaitlistEntry.status == EntryStatus.WAITING)) == 7
    offer = db_session.scalar(select(Offer).where(Offer.status == OfferStatus.OPEN))
    assert offer is not None and audit() == []
    assert recent_outcomes()["offer"] == 1
    statuses = set(db_session.scalars(select(Enrolment.status)))
    # every level the demo's counsellor set is a kept decision
    assert db_session.scalar(_count(LevelDecision)) == db_session.scalar(
        _count(LearnerProfile, LearnerProfile.level_source == "counsellor")) >= enrolments
    assert {EnrolmentStatus.ACCEPTED, EnrolmentStatus.CONFIRMED} <= statuses
    assert db_session.scalar(_count(User, User.role == Role.COUNSELLOR)) == 3
    assert db_session.scalar(_count(User, User.role == Role.ADMIN)) == 1
    assert db_session.scalar(_count(Provider)) == 4
    assert db_session.scalar(_count(User, User.role == Role.LEARNER)) == 200
    towns = set(db_session.scalars(select(Course.town)))
    assert {"Tallinn", "Narva", "Jõhvi", "Kohtla-Järve", "Tartu", "Pärnu", None} <= towns
    assert set(db_session.scalars(select(Course.level))) == {"A1", "A2", "B1.1", "B1.2", "B2", "C1"}
    db_session.commit()
    response = client.post("/login", data={"email": "learner001@example.com", "password": DEMO_PASSWORD})
    assert response.status_code == 302
