"""Periodic work (langjourney/ops/periodic.py): the claim that lets one process run each task per
period, the staleness rule of /healthz, the outbox sweep's choice of mails, and the sweeps run by the
web process on the embedded default. The real-worker scenarios (a flushed Redis, a killed worker,
two workers at once) are in test_waitlist_reliability.py."""
from __future__ import annotations

import threading
from types import SimpleNamespace
from datetime import timedelta

import pytest
from sqlalchemy import select

from langjourney import create_app
from langjourney.courses.models import Course
from langjourney.db import utcnow
from langjourney.extensions import db
from langjourney.mail import services as mail
from langjourney.mail.models import MailStatus, OutboxMessage
from langjourney.ops import periodic
from langjourney.ops.models import PeriodicRun
from langjourney.waitlist import services as waitlist
from langjourney.waitlist.clock import frozen_at
from langjourney.waitlist.models import Offer, OfferStatus
from tests.fixtures.app import base_config
from tests.fixtures.factories import CourseFactory, UserFactory
from tests.langjourney.test_waitlist import learner, offers_of

PERIOD = timedelta(seconds=60)
TASK = periodic.PeriodicTask("test-task", f"{__name__}.count_run", PERIOD)
FAILING = periodic.PeriodicTask("test-failing", f"{__name__}.fail", PERIOD)
RUNS: list[str] = []


def count_run() -> None:
    RUNS.append("ran")


def fail() -> None:
    raise RuntimeError("the mail server is down")


@pytest.fixture
def periodic_app(live_app, monkeypatch):
    """``live_app`` (real commits, on the test's database) with a 60 s period."""
    monkeypatch.setitem(live_app.config, "PERIODIC_SECONDS", 60)
    return live_app


def _row(name: str) -> SimpleNamespace | None:
    """The task's row as it is now, read in a transaction that is over at once (on SQLite, an open
    one would hold the write lock that the sweeps under test need)."""
    db.session.expire_all()
    row = db.session.get(PeriodicRun, name)
    values = row and SimpleNamespace(**{c.key: getattr(row, c.key) for c in PeriodicRun.__table__.columns})
    db.session.commit()
    return values


# -- the claim ---------------------------------------------------------------------------------------

def test_a_task_is_claimed_once_per_period(periodic_app):
    app, t0 = periodic_app, utcnow()
    tick = timedelta(seconds=periodic.tick(app))
    assert periodic.claim(app, TASK, t0)  # the first claim creates the row
    assert not periodic.claim(app, TASK, t0)
    assert not periodic.claim(app, TASK, t0 + PERIOD - tick - timedelta(seconds=1))
    assert periodic.claim(app, TASK, t0 + PERIOD - tick)  # due a tick early: runs stay a period apart
    row = _row(TASK.name)
    assert row.runs == 2 and row.started_at == t0 + PERIOD - tick


def test_a_claim_left_by_a_dead_process_lapses_after_a_period(periodic_app):
    """A worker killed mid-sweep never finishes its run; the next period's claimer runs it anyway."""
    app, t0 = periodic_app, utcnow()
    assert periodic.claim(app, TASK, t0)  # ... and the claimer dies: no finish
    assert not periodic.claim(app, TASK, t0 + timedelta(seconds=30))
    assert periodic.claim(app, TASK, t0 + PERIOD)
    assert _row(TASK.name).finished_at is None


@pytest.mark.parametrize("existing", [False, True], ids=["first run", "later run"])
def test_eight_processes_claiming_at_once_get_one_claim(periodic_app, existing):
    """Eight connections claim the same period at the same moment (each its own transaction, as
    separate processes would): one wins, on PostgreSQL (row lock) and on SQLite (BEGIN IMMEDIATE)."""
    app, t0 = periodic_app, utcnow()
    if existing:
        assert periodic.claim(app, TASK, t0 - PERIOD)
    db.session.remove()
    barrier, results, errors = threading.Barrier(8), [], []

    def claimer():
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                results.append(periodic.claim(app, TASK, t0))
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=claimer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(results) == [False] * 7 + [True]
    assert _row(TASK.name).runs == (2 if existing else 1)


def test_run_due_runs_each_due_task_once_and_keeps_a_failure(periodic_app, monkeypatch):
    monkeypatch.setattr(periodic, "TASKS", (FAILING, TASK))
    RUNS.clear()
    assert periodic.run_due(periodic_app) == ["test-failing", "test-task"]  # the failure stops no other task
    assert periodic.run_due(periodic_app) == []  # not due again within the period
    assert RUNS == ["ran"]
    ok, failed = _row(TASK.name), _row(FAILING.name)
    assert ok.succeeded_at is not None and ok.error is None and ok.finished_at >= ok.started_at
    assert failed.succeeded_at is None and failed.error == "RuntimeError: the mail server is down"


# -- /healthz: the staleness rule -------------------------------------------------------------------

def _run(name: str, *, succeeded_ago: timedelta | None, created_ago: timedelta) -> None:
    now = utcnow()
    db.session.add(PeriodicRun(name=name, runs=1, created_at=now - created_ago, started_at=now - created_ago,
                               succeeded_at=None if succeeded_ago is None else now - succeeded_ago))
    db.session.commit()


def test_health_of_a_fresh_install_a_working_one_and_a_stalled_one(periodic_app, monkeypatch):
    app = periodic_app
    monkeypatch.setattr(periodic, "TASKS", (TASK,))
    monkeypatch.setitem(app.extensions, "langjourney_started_at", utcnow())
    healthy, report = periodic.health(app)
    assert healthy and report == {"test-task": {"status": "not run yet"}}  # a fresh install's grace

    monkeypatch.setitem(app.extensions, "langjourney_started_at", utcnow() - 4 * PERIOD)
    healthy, report = periodic.health(app)
    assert not healthy and report["test-task"]["status"].startswith("stale: never run")  # no worker at all

    _run(TASK.name, succeeded_ago=2 * PERIOD, created_ago=10 * PERIOD)
    healthy, report = periodic.health(app)
    assert healthy and report["test-task"]["status"] == "ok" and report["test-task"]["last_succeeded_at"]

    db.session.execute(PeriodicRun.__table__.delete())
    _run(TASK.name, succeeded_ago=None, created_ago=2 * PERIOD)  # claimed, not finished yet: still in grace
    assert periodic.health(app)[0]

    db.session.execute(PeriodicRun.__table__.delete())
    _run(TASK.name, succeeded_ago=4 * PERIOD, created_ago=10 * PERIOD)
    healthy, report = periodic.health(app)
    assert not healthy and report["test-task"]["status"].startswith("stale: no successful run since")


def test_a_process_just_restarted_is_not_failed_for_the_time_it_was_down(periodic_app, monkeypatch):
    """On the embedded default the web process itself sweeps, after its first responses: a stale
    task is 'catching up' while the process is younger than the staleness limit, then stale."""
    monkeypatch.setattr(periodic, "TASKS", (TASK,))
    _run(TASK.name, succeeded_ago=10 * PERIOD, created_ago=20 * PERIOD)
    monkeypatch.setitem(periodic_app.extensions, "langjourney_started_at", utcnow())
    healthy, report = periodic.health(periodic_app)
    assert healthy and report["test-task"]["status"].startswith("catching up")
    monkeypatch.setitem(periodic_app.extensions, "langjourney_started_at", utcnow() - 4 * PERIOD)
    healthy, report = periodic.health(periodic_app)
    assert not healthy and report["test-task"]["status"].startswith("stale")


def test_healthz_answers_503_when_a_sweep_is_stale(periodic_app, monkeypatch):
    monkeypatch.setattr(periodic, "TASKS", (TASK,))
    monkeypatch.setitem(periodic_app.extensions, "langjourney_started_at", utcnow() - 4 * PERIOD)
    _run(TASK.name, succeeded_ago=4 * PERIOD, created_ago=10 * PERIOD)
    client = periodic_app.test_client()
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json["status"] == "error"
    assert response.json["database"] == "ok"
    assert response.json["periodic"]["test-task"]["status"].startswith("stale")

    db.session.execute(PeriodicRun.__table__.delete())
    _run(TASK.name, succeeded_ago=timedelta(seconds=5), created_ago=10 * PERIOD)
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["periodic"]["test-task"]["status"] == "ok"


# -- the outbox sweep's choice -----------------------------------------------------------------------

def test_outbox_sweep_takes_lost_mails_and_failed_ones_due_for_retry(db_session):
    user, now = UserFactory(), utcnow()

    def mail_row(created_ago, attempts=0, tried_ago=None, status=MailStatus.PENDING):
        row = OutboxMessage(recipient=user.email, user_id=user.id, subject="s", body="b", locale="et",
                            status=status, attempts=attempts, created_at=now - created_ago,
                            last_attempt_at=None if tried_ago is None else now - tried_ago)
        db.session.add(row)
        db.session.flush()
        return row.id

    fresh = mail_row(timedelta(seconds=1))  # its own job has not had its chance yet
    lost = mail_row(timedelta(seconds=6))
    retry_due = mail_row(timedelta(minutes=5), attempts=1, tried_ago=timedelta(seconds=31))
    retry_waits = mail_row(timedelta(minutes=5), attempts=2, tried_ago=timedelta(minutes=1))
    late = mail_row(timedelta(hours=3), attempts=4, tried_ago=timedelta(minutes=31))
    sent = mail_row(timedelta(minutes=5), attempts=1, tried_ago=timedelta(minutes=4), status=MailStatus.SENT)
    given_up = mail_row(timedelta(hours=5), attempts=5, tried_ago=timedelta(hours=1), status=MailStatus.FAILED)
    due = mail.due_ids(now)
    assert due == [lost, retry_due, late]
    assert not {fresh, retry_waits, sent, given_up} & set(due)


def test_sending_records_the_attempt_time(db_session):
    message = mail.queue_mail(UserFactory(), "Tere", "mail/welcome.txt")
    db_session.commit()
    db_session.refresh(message)
    assert message.status is MailStatus.SENT and message.last_attempt_at is not None


# -- the embedded default: the web process sweeps ---------------------------------------------------

@pytest.fixture
def web(db_url):
    """A web process of the embedded default (no Redis), sweeping every minute."""
    web = create_app(base_config(db_url, PERIODIC_SECONDS=60))
    yield web
    with web.app_context():
        db.engine.dispose()


def test_on_the_embedded_default_a_request_sets_off_the_due_sweeps(live_app, web):
    """No Redis, no worker: after a response has been sent, the web process runs the due sweeps (an
    overdue offer is expired and the seat passed on; a mail left pending is sent); the next request
    within the period does not sweep again."""
    course = CourseFactory(capacity=1)
    first, second = learner(), learner()
    for hours, who in ((50, first), (49, second)):
        with frozen_at(utcnow() - timedelta(hours=hours)):
            waitlist.join(who, course)
            db.session.commit()  # (inline jobs: the first learner's offer and its mail, 50 h ago)
    [overdue] = offers_of(course)
    assert overdue.learner_id == first.id and overdue.expires_at < utcnow()
    db.session.execute(OutboxMessage.__table__.update().values(status=MailStatus.PENDING, attempts=0,
                                                               created_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    course_id, offer_id, second_id = course.id, overdue.id, second.id
    db.session.remove()

    client = web.test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    response.close()  # the sweeps run once the response is done with
    assert _row("waitlist-reconcile").succeeded_at is not None
    assert {name: _row(name).error for name in ("waitlist-reconcile", "outbox-sweep")} == \
        {"waitlist-reconcile": None, "outbox-sweep": None}
    assert db.session.get(Offer, offer_id).status is OfferStatus.EXPIRED
    [passed_on] = offers_of(db.session.get(Course, course_id))
    assert passed_on.learner_id == second_id
    assert set(db.session.scalars(select(OutboxMessage.status))) == {MailStatus.SENT}
    db.session.commit()
    runs = _row("waitlist-reconcile").runs
    client.get("/healthz").close()
    assert _row("waitlist-reconcile").runs == runs  # one clock reading, no sweep, until the next tick
    with web.app_context():
        assert periodic.health(web)[0]
