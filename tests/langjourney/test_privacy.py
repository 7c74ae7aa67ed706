"""Privacy: the retention prune (old mail bodies cleared, old access-log rows, failed sign-ins and
idempotency keys deleted; young rows and unsettled mail kept)."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from langjourney.auth.models import AccessLog, LoginFailure, UserSession
from langjourney.courses.models import ApiIdempotencyKey, EnrolmentStatus
from langjourney.courses.services import create_api_token
from langjourney.db import utcnow
from langjourney.mail.models import MailStatus, OutboxMessage
from langjourney.mail.services import queue_mail
from langjourney.privacy import services, tasks
from tests.fixtures.factories import CourseFactory, EnrolmentFactory, ProviderFactory, UserFactory, session_key

DAY = timedelta(days=1)


def _mail(user, status, created_ago, sent_ago=None):
    now = utcnow()
    message = OutboxMessage(recipient=user.email, user_id=user.id, template="mail/offer.txt",
                            subject="A seat for you", body="Accept: https://langjourney.test/offers/1",
                            locale="en", status=status, created_at=now - created_ago,
                            sent_at=None if sent_ago is None else now - sent_ago)
    return message


def _count(db_session, model):
    return db_session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def rows(db_session):
    """Each kind of row just inside and just outside its retention period (defaults 7, 365, 30 days)."""
    learner, staff = UserFactory(), UserFactory(provider_staff=True)
    mails = {
        "old sent": _mail(learner, MailStatus.SENT, 9 * DAY, 8 * DAY),
        "young sent": _mail(learner, MailStatus.SENT, 6 * DAY, 6 * DAY),
        "sent late": _mail(learner, MailStatus.SENT, 30 * DAY, 5 * DAY),  # queued long ago, sent recently
        "old failed": _mail(learner, MailStatus.FAILED, 8 * DAY),
        "young failed": _mail(learner, MailStatus.FAILED, 6 * DAY),
        "old pending": _mail(learner, MailStatus.PENDING, 60 * DAY),
    }
    now = utcnow()
    db_session.add_all(mails.values())
    db_session.add_all([AccessLog(staff_id=staff.id, learner_id=learner.id, action="view enrolment",
                                  at=now - days * DAY) for days in (400, 366, 364)])
    db_session.add_all([LoginFailure(email="kati@example.com", remote_addr="192.0.2.7", at=now - days * DAY)
                        for days in (31, 29)])
    provider = ProviderFactory()
    db_session.add_all([ApiIdempotencyKey(provider_id=provider.id, key=f"k{hours}", method="POST", path="/x",
                                          fingerprint="0" * 64, status_code=200, response={"learner": "Kati"},
                                          created_at=now - timedelta(hours=hours)) for hours in (25, 23)])
    # Sign-ins end 30 days (REMEMBER_DAYS) after they began; an ended one is only a record.
    db_session.add_all([UserSession(user_id=learner.id, token_hash=f"{days:064d}", created_at=now - days * DAY,
                                    last_seen_at=now - days * DAY) for days in (31, 29)])
    db_session.flush()
    return mails


def test_prune_removes_old_rows_and_keeps_young_ones_and_unsettled_mail(db_session, rows):
    counts = services.prune(utcnow())
    assert counts == services.PruneCounts(mail_bodies_cleared=2, access_log_deleted=2, login_failures_deleted=1,
                                          idempotency_keys_deleted=1, sign_ins_deleted=1)
    for name, message in rows.items():
        db_session.refresh(message)
        cleared = name in ("old sent", "old failed")
        assert (message.body is None and message.subject is None) is cleared, name
        # What an audit needs stays.
        assert message.user_id and message.template == "mail/offer.txt" and message.recipient, name
    assert rows["old sent"].status is MailStatus.SENT and rows["old sent"].sent_at is not None
    assert _count(db_session, AccessLog) == 1 and _count(db_session, LoginFailure) == 1
    assert _count(db_session, ApiIdempotencyKey) == 1
    assert services.prune(utcnow()) == services.PruneCounts()  # safe to run twice


def test_retention_periods_come_from_the_config(app, db_session, rows, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_BODY_RETENTION_DAYS", 30)
    monkeypatch.setitem(app.config, "ACCESS_LOG_RETENTION_DAYS", 365 * 2)
    monkeypatch.setitem(app.config, "LOGIN_FAILURE_RETENTION_DAYS", 1)
    counts = services.prune(utcnow())
    assert (counts.mail_bodies_cleared, counts.access_log_deleted, counts.login_failures_deleted) == (0, 0, 2)


def test_prune_works_in_batches_calling_back_between_them(db_session):
    learner, staff = UserFactory(), UserFactory(provider_staff=True)
    db_session.add_all([AccessLog(staff_id=staff.id, learner_id=learner.id, action="view enrolment",
                                  at=utcnow() - 400 * DAY) for _ in range(5)])
    db_session.flush()
    statements = []
    counts = services.prune(utcnow(), batch_size=2, between_batches=lambda: statements.append("commit"))
    assert counts.access_log_deleted == 5 and statements == ["commit"] * 3
    assert _count(db_session, AccessLog) == 0


def test_the_job_and_the_command_prune_and_report_counts(app, db_session, rows):
    assert tasks.prune()["access_log_deleted"] == 2
    result = app.test_cli_runner().invoke(args=["privacy", "prune"])
    assert result.exit_code == 0, result.output
    assert "mail bodies cleared: 0" in result.output and "access log deleted: 0" in result.output
    assert "login failures deleted: 0" in result.output and "idempotency keys deleted: 0" in result.output
    assert "sign ins deleted: 0" in result.output


def test_a_queued_mail_records_its_template(db_session):
    message = queue_mail(UserFactory(), "Subject", "mail/overdue_confirmations.txt", enrolments=[],
                         today=utcnow().date(), portal_url=None)
    assert message.template == "mail/overdue_confirmations.txt"


def test_a_pending_mail_cannot_lose_its_body(db_session):
    message = _mail(UserFactory(), MailStatus.PENDING, DAY)
    message.body = None
    db_session.add(message)
    with pytest.raises(IntegrityError):
        with db_session.begin_nested():
            db_session.flush()


# -- API reads in the access log ------------------------------------------------------------------

@pytest.fixture
def school(db_session):
    """A provider admin's API token and a started course of that provider with three accepted seats."""
    admin = UserFactory(provider_staff=True, is_provider_admin=True)
    token_row, token = create_api_token(admin, "Kooli süsteem")
    course = CourseFactory(provider=admin.provider, started=True)
    enrolments = [EnrolmentFactory(course=course) for _ in range(3)]
    db_session.commit()
    return SimpleNamespace(admin=admin, token=token, token_row=token_row, course=course, enrolments=enrolments)


def bearer(token, **headers):
    return {"Authorization": f"Bearer {token}", "Accept-Language": "en", **headers}


@contextmanager
def inserts_into(table: str):
    """Count the INSERT statements sent to ``table``."""
    seen = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(f"INSERT INTO {table.upper()}"):
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", count)


def _log(db_session):
    return list(db_session.scalars(select(AccessLog).order_by(AccessLog.id)))


def test_listing_enrolments_logs_each_learner_with_one_insert(client, db_session, school):
    more = [EnrolmentFactory(course=school.course) for _ in range(97)]
    db_session.commit()
    with inserts_into("access_log") as inserts:
        response = client.get("/api/v1/enrolments", headers=bearer(school.token))
    assert response.status_code == 200 and len(response.json["enrolments"]) == 100
    assert len(inserts) == 1
    entries = _log(db_session)
    assert sorted(e.learner_id for e in entries) == sorted(e.learner_id for e in school.enrolments + more)
    assert {(e.staff_id, e.api_token_id, e.action) for e in entries} == \
        {(school.admin.id, school.token_row.id, "api list enrolments")}


def test_every_api_answer_with_learner_data_is_logged(client, db_session, school):
    first, second, _third = school.enrolments
    assert client.get(f"/api/v1/enrolments/{first.id}", headers=bearer(school.token)).status_code == 200
    headers = bearer(school.token, **{"Idempotency-Key": "confirm-2"})
    assert client.post(f"/api/v1/enrolments/{second.id}/confirm", headers=headers, json={}).status_code == 200
    replayed = client.post(f"/api/v1/enrolments/{second.id}/confirm", headers=headers, json={})
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert [(e.learner_id, e.action, e.api_token_id) for e in _log(db_session)] == [
        (first.learner_id, "api view enrolment", school.token_row.id),
        (second.learner_id, "api confirm enrolment", school.token_row.id),
        (second.learner_id, "api confirm enrolment", school.token_row.id)]


def test_answers_without_learner_data_are_not_logged(client, db_session, school):
    assert client.get("/api/v1/courses", headers=bearer(school.token)).status_code == 200
    assert client.get("/api/v1/enrolments", headers=bearer("ljp_nonsense")).status_code == 401
    refused = client.post(f"/api/v1/enrolments/{school.enrolments[0].id}/completion",
                          headers=bearer(school.token), json={"attendance_percent": 101})
    assert refused.status_code == 422
    assert _log(db_session) == []


def test_the_admin_access_log_names_the_token(client, auth, db_session, school):
    client.get(f"/api/v1/enrolments/{school.enrolments[0].id}", headers=bearer(school.token))
    auth.login("admin")
    page = client.get("/admin/access-log").get_data(as_text=True)
    assert "through the API token “Kooli süsteem”" in page and "api view enrolment" in page


# -- What a school sees of a learner --------------------------------------------------------------

def _ended(course, status, days_ago, name):
    """An enrolment on ``course`` that ended ``days_ago`` days ago, its learner called ``name``."""
    ended_at = utcnow() - days_ago * DAY
    results = {"attendance_percent": 90, "final_test_result": 75} if status is EnrolmentStatus.COMPLETED else {}
    return EnrolmentFactory(course=course, learner=UserFactory(full_name=name), status=status,
                            confirmed_at=ended_at - 30 * DAY, ended_at=ended_at, note=f"Notes on {name}",
                            **results)


@pytest.fixture
def history(db_session):
    """A course of one provider with an active seat, two enrolments that ended lately (inside the 90
    days) and two that ended long ago."""
    staff = UserFactory(provider_staff=True, is_provider_admin=True)
    course = CourseFactory(provider=staff.provider, started=True)
    enrolments = {
        "active": EnrolmentFactory(course=course, learner=UserFactory(full_name="Olena Aktiivne"),
                                   status=EnrolmentStatus.CONFIRMED, confirmed_at=utcnow()),
        "cancelled lately": _ended(course, EnrolmentStatus.CANCELLED, 10, "Ivan Hiljuti"),
        "completed lately": _ended(course, EnrolmentStatus.COMPLETED, 89, "Maria Eelmine"),
        "completed long ago": _ended(course, EnrolmentStatus.COMPLETED, 91, "Anna Ammune"),
        "dropped out long ago": _ended(course, EnrolmentStatus.DROPPED_OUT, 400, "Pavel Vana"),
    }
    _row, token = create_api_token(staff, "Kooli süsteem")
    db_session.commit()
    return SimpleNamespace(staff=staff, course=course, enrolments=enrolments, token=token)


SHOWN = ("Olena Aktiivne", "Ivan Hiljuti", "Maria Eelmine")
HIDDEN = ("Anna Ammune", "Pavel Vana")


def _sign_in(client, user):
    with client.session_transaction() as session:
        session["_user_id"] = session_key(user)
        session["_fresh"] = True


def test_the_course_page_names_only_learners_of_active_and_lately_ended_enrolments(client, db_session, history):
    _sign_in(client, history.staff)
    page = client.get(f"/provider/courses/{history.course.id}").get_data(as_text=True)
    assert all(name in page for name in SHOWN) and not any(name in page for name in HIDDEN)
    assert page.count("Not shown") == 2
    assert "2 enrolments ended more than 90 days ago: they are counted here" in page
    for name, enrolment in history.enrolments.items():
        assert (f"/provider/enrolments/{enrolment.id}\"" in page) is ("long ago" not in name), name
    # The names shown are written to the access log; the others are not read.
    logged = {e.learner_id for e in _log(db_session)}
    assert logged == {e.learner_id for name, e in history.enrolments.items() if "long ago" not in name}


def test_an_enrolment_that_ended_long_ago_has_no_page_and_no_name_in_the_export(client, db_session, history):
    _sign_in(client, history.staff)
    enrolments = history.enrolments
    assert client.get(f"/provider/enrolments/{enrolments['cancelled lately'].id}").status_code == 200
    assert client.get(f"/provider/enrolments/{enrolments['completed long ago'].id}").status_code == 404
    export = client.get(f"/provider/courses/{history.course.id}/enrolments.csv").get_data(as_text=True)
    assert all(name in export for name in SHOWN) and not any(name in export for name in HIDDEN)
    assert "Notes on Anna" not in export and enrolments["completed long ago"].learner.email not in export
    assert len(export.strip().splitlines()) == 1 + 5  # every enrolment is still counted


def test_the_api_lists_ended_enrolments_without_their_learners(client, db_session, history):
    listed = client.get("/api/v1/enrolments", headers=bearer(history.token)).json["enrolments"]
    by_id = {e["id"]: e for e in listed}
    assert len(listed) == 5
    for name, enrolment in history.enrolments.items():
        answer = by_id[enrolment.id]
        if "long ago" in name:
            assert answer["learner"] is None and answer["note"] is None, name
            assert answer["status"] == enrolment.status.value and answer["ended_at"], name
        else:
            assert answer["learner"]["name"] == enrolment.learner.full_name, name
    old = history.enrolments["completed long ago"]
    one = client.get(f"/api/v1/enrolments/{old.id}", headers=bearer(history.token)).json
    assert one["learner"] is None and one["final_test_result"] == 75
    assert {e.learner_id for e in _log(db_session)} == \
        {e.learner_id for name, e in history.enrolments.items() if "long ago" not in name}


def test_the_period_is_configured(app, client, db_session, history, monkeypatch):
    monkeypatch.setitem(app.config, "ENDED_ENROLMENT_VISIBLE_DAYS", 365)
    listed = client.get("/api/v1/enrolments", headers=bearer(history.token)).json["enrolments"]
    assert sum(e["learner"] is None for e in listed) == 1  # only the one that ended 400 days ago
    monkeypatch.setitem(app.config, "ENDED_ENROLMENT_VISIBLE_DAYS", 0)
    listed = client.get("/api/v1/enrolments", headers=bearer(history.token)).json["enrolments"]
    assert [e["id"] for e in listed if e["learner"] is not None] == [history.enrolments["active"].id]
