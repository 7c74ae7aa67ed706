"""Jobs run after commit, never after rollback: inline on the embedded default, and on real RQ
workers (separate processes) against real Redis."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from langjourney import jobs
from langjourney.auth.models import Provider
from langjourney.extensions import db
from langjourney.jobs import enqueue, get_queue
from langjourney.mail.models import MailStatus, OutboxMessage
from langjourney.mail.services import queue_mail
from tests.fixtures.factories import UserFactory


def create_provider(name: str) -> None:
    """A job for these tests: it writes a row in its own transaction."""
    db.session.add(Provider(name=name))
    db.session.commit()


def _providers() -> set[str]:
    return set(db.session.scalars(select(Provider.name)))


def test_inline_job_runs_after_commit(db_session):
    enqueue(create_provider, "Pärast kinnitamist OÜ")
    assert _providers() == set()  # not yet: the transaction is still open
    db_session.commit()
    assert _providers() == {"Pärast kinnitamist OÜ"}


def test_inline_job_dropped_on_rollback(db_session):
    enqueue(create_provider, "Tagasi keeratud OÜ")
    db_session.rollback()
    db_session.commit()
    assert _providers() == set()


def test_enqueue_refuses_nested_functions(db_session):
    def local():
        pass

    with pytest.raises(ValueError):
        enqueue(local)


def test_inline_mail_is_sent_through_the_outbox(db_session):
    user = UserFactory()
    message = queue_mail(user, "Tere", "mail/welcome.txt")
    assert message.status is MailStatus.PENDING
    db_session.commit()
    db_session.refresh(message)
    assert message.status is MailStatus.SENT and message.attempts == 1


def test_mail_rendered_in_recipients_language(db_session):
    user = UserFactory(locale="ru", full_name="Павел")
    message = queue_mail(user, "x", "mail/welcome.txt")
    assert "Павел" in message.body and message.locale == "ru"
    english = queue_mail(UserFactory(locale="en"), "x", "mail/welcome.txt")
    assert message.body.splitlines()[2] != english.body.splitlines()[2]


def _worker(app, *, burst=True):
    env = {**os.environ, "FLASK_APP": "wsgi.py", "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "REDIS_URL": app.config["REDIS_URL"], "RQ_QUEUE": app.config["RQ_QUEUE"],
           "MAIL_BACKEND": "console", "SECRET_KEY": app.config["SECRET_KEY"], "LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "flask", "worker", *(["--burst"] if burst else [])],
                            env=env, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _run_workers(app, n=1):
    procs = [_worker(app) for _ in range(n)]
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out.decode()


def test_real_worker_sends_committed_mail(committed_app):
    user = UserFactory()
    message_id = queue_mail(user, "Tere", "mail/welcome.txt").id
    assert get_queue(committed_app).count == 0  # nothing before the commit
    db.session.commit()
    assert get_queue(committed_app).count == 1
    _run_workers(committed_app)
    db.session.expire_all()
    message = db.session.get(OutboxMessage, message_id)
    assert message.status is MailStatus.SENT and message.attempts == 1


def test_real_worker_never_sees_rolled_back_job(committed_app):
    UserFactory()
    db.session.commit()
    user = db.session.scalars(select(jobs_user_model())).first()
    queue_mail(user, "Tere", "mail/welcome.txt")
    db.session.rollback()
    assert get_queue(committed_app).count == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def jobs_user_model():
    from langjourney.auth.models import User

    return User


def test_two_workers_send_a_mail_once(committed_app):
    """The same job twice on two worker processes at once: the row lock lets one send it."""
    message_id = queue_mail(UserFactory(), "Tere", "mail/welcome.txt").id
    db.session.commit()
    from langjourney.mail.tasks import send_mail

    get_queue(committed_app).enqueue(jobs.run, f"{send_mail.__module__}.send_mail", message_id)
    _run_workers(committed_app, n=2)
    db.session.expire_all()
    message = db.session.get(OutboxMessage, message_id)
    assert message.status is MailStatus.SENT and message.attempts == 1


def test_flushed_redis_loses_no_mail(committed_app):
    """Redis is a trigger, not a store: after losing the job, the outbox resend finds the mail."""
    from datetime import timedelta

    from langjourney.mail.tasks import resend_stale

    message_id = queue_mail(UserFactory(), "Tere", "mail/welcome.txt").id
    db.session.commit()
    get_queue(committed_app).empty()  # the job is gone
    message = db.session.get(OutboxMessage, message_id)
    message.created_at -= timedelta(minutes=10)
    db.session.commit()
    assert resend_stale(minutes=5) == 1
    db.session.expire_all()
    assert db.session.get(OutboxMessage, message_id).status is MailStatus.SENT


def test_worker_command_needs_redis(app):
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code != 0 and "REDIS_URL" in result.output


def test_releasing_a_savepoint_does_not_run_jobs(db_session):
    enqueue(create_provider, "Alles ootel OÜ")
    with db_session.begin_nested():
        db_session.add(Provider(name="Vahepealne OÜ"))
    assert _providers() == {"Vahepealne OÜ"}  # the job did not run at the savepoint's release
    db_session.commit()
    assert _providers() == {"Vahepealne OÜ", "Alles ootel OÜ"}


def test_worker_warm_up_writes_nothing_and_keeps_no_connection(live_app):
    """What ``flask worker`` does before forking: a head start for the work horses, nothing more."""
    from langjourney.waitlist import services
    from langjourney.waitlist.models import AllocationPolicy

    jobs.warm_up(live_app, services.warm_up)  # on an empty database: the default policy is not created
    assert db.engine.pool.checkedout() == 0  # no connection to inherit across the fork
    assert db.session.scalar(select(func.count()).select_from(AllocationPolicy)) == 0


def test_worker_warm_up_failing_is_only_logged(live_app, monkeypatch):
    def broken():
        raise RuntimeError("no database yet")

    warnings = []
    monkeypatch.setattr(jobs.log, "warning", lambda message, *args, **kwargs: warnings.append(message))
    jobs.warm_up(live_app, broken)  # the worker starts anyway
    assert warnings == ["warming up the worker's database statements failed"]
    assert db.engine.pool.checkedout() == 0
