"""Reliability of waitlists and seat allocation (the issue's list): many requests racing for the last
seat, several workers allocating at once, a worker killed mid-allocation, a flushed Redis, every job
delivered three times, an accept racing the expiry sweep at the deadline, a provider confirming
twice, and the allocation audit passing after each.

Races between real connections use ``live_app`` (real commits, inline jobs; they run on SQLite
too, where BEGIN IMMEDIATE serialises writers). Scenarios with real Redis and real ``flask worker``
processes use ``committed_app`` (skipped without TEST_REDIS_URL); each gets a private queue whose
keys are deleted afterwards (the test Redis is shared, so never FLUSHDB). Tests that need many
workers fork them from a launcher that has built the app once (tests/fixtures/worker_launcher.py).
"""
from __future__ import annotations

import json
import os
import random
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from flask import current_app
from flask_babel import force_locale
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from langjourney import create_app, jobs
from langjourney.auth.models import User
from langjourney.courses import services as courses
from langjourney.courses.models import ACTIVE_STATUSES, ApiIdempotencyKey, Course, Enrolment, EnrolmentStatus
from langjourney.db import utcnow
from langjourney.errors import DomainError
from langjourney.extensions import db
from langjourney.mail.models import MailStatus, OutboxMessage
from langjourney.ops.models import PeriodicRun
from langjourney.waitlist import services, tasks
from langjourney.waitlist.clock import frozen_at
from langjourney.waitlist.models import AllocationEvent, EntryStatus, Offer, OfferStatus, WaitlistEntry
from langjourney.waitlist.policy import current_policy
from tests.fixtures.app import base_config
from tests.fixtures.factories import CourseFactory, EnrolmentFactory, UserFactory, session_key
from tests.fixtures.worker_launcher import repeated
from tests.langjourney.test_waitlist import fill, learner, offers_of

ROOT = Path(__file__).resolve().parents[2]
ALLOCATE = f"{tasks.__name__}.allocate"
RECONCILE = f"{tasks.__name__}.reconcile"
# The workers run the test app's configuration; test_worker_started_as_in_production_makes_offers
# runs the production entry point (wsgi.py) instead.
WORKER_APP = "langjourney:create_app({'SERVER_NAME': 'langjourney.test'})"
JOIN_OK = "You are on the waiting list. We will e-mail you when a seat is free."
ACCEPT_OK = "You have accepted the seat. The school will confirm your enrolment."
ANSWERED = "This offer has already been answered."
EXPIRED = "This offer has expired, and the seat has been passed on."


# -- helpers ----------------------------------------------------------------------------------------

def _release() -> None:
    """Commit and hold no transaction (on SQLite: no lock) while other connections or processes write."""
    db.session.commit()
    db.session.remove()


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _audit_ok(app) -> None:
    """``flask allocation audit`` passes (it replays the whole log and checks the live seats)."""
    _release()
    result = app.test_cli_runner().invoke(args=["allocation", "audit"])
    db.session.remove()
    assert result.exit_code == 0 and "allocation log OK" in result.output, result.output


def _offer_mails(offer: Offer) -> int:
    """Outbox rows carrying this offer's signed link (the mail that tells the learner of it)."""
    return _count(OutboxMessage, OutboxMessage.user_id == offer.learner_id,
                  OutboxMessage.body.contains(services.offer_token(offer)))


def _check_course(course_id: int, *, healed: bool) -> None:
    """No seat lost or doubled on the course: live seats within capacity; every offered entry holds
    exactly one open offer and the other way round; every offer has one log event and one mail.
    ``healed``: also every free seat is offered while someone waits."""
    course = db.session.get(Course, course_id)
    live = services.live_seats(course_id)
    assert live <= course.capacity, f"course {course_id}: {live} live seats, capacity {course.capacity}"
    offered = sorted(db.session.scalars(select(WaitlistEntry.id).where(
        WaitlistEntry.course_id == course_id, WaitlistEntry.status == EntryStatus.OFFERED)))
    assert sorted(o.entry_id for o in offers_of(course)) == offered
    for offer in db.session.scalars(select(Offer).where(Offer.course_id == course_id)):
        assert _count(AllocationEvent, AllocationEvent.kind == "offer", AllocationEvent.offer_id == offer.id) == 1
        assert _offer_mails(offer) == 1, f"offer {offer.id}: {_offer_mails(offer)} mails"
    if healed:
        waiting = _count(WaitlistEntry, WaitlistEntry.course_id == course_id,
                         WaitlistEntry.status == EntryStatus.WAITING)
        assert waiting == 0 or live == course.capacity, f"course {course_id}: free seats while {waiting} wait"


def _expected_offers(course_id: int) -> list[int]:
    """The entries one run of ``allocate`` would offer the course's free seats to, in policy order."""
    course = db.session.get(Course, course_id)
    free = course.capacity - services.live_seats(course_id)
    ranked = list(services.ranked_candidates(course, current_policy()))
    histories = services.enrolment_histories({c.learner_id for c in ranked})
    return [c.entry_id for c in ranked if services.ineligibility(c, course, histories[c.learner_id]) is None][:free]


def _english(exc: DomainError) -> str:
    """A domain error's message as an English-speaking user reads it (outside requests the default
    language is Estonian)."""
    with force_locale("en"):
        return str(exc.message)


def _threads(n: int, target) -> list:
    """Run ``target(i)`` in n threads; return their results in order, re-raising any thread's error."""
    results: list = [None] * n
    errors: list = []

    def one(i):
        try:
            results[i] = target(i)
        except BaseException as exc:  # noqa: BLE001 - reported in the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a racing thread hung"
    if errors:
        raise errors[0]
    return results


# -- real worker processes --------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    """The pids of a process's children (of any of its threads), from /proc (Linux)."""
    kids = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            kids += [int(kid) for kid in children.read_text().split()]
        except OSError:  # the process or thread is gone
            pass
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _wait_gone(pids, timeout: float) -> None:
    """Wait until these processes have ended (ours or not: a pidfd says when), at most ``timeout`` s."""
    fds = []
    for pid in pids:
        try:
            fds.append(os.pidfd_open(pid))
        except ProcessLookupError:
            pass  # gone already
    try:
        with selectors.DefaultSelector() as selector:
            for fd in fds:
                selector.register(fd, selectors.EVENT_READ)
            deadline = time.monotonic() + timeout
            while selector.get_map():
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"processes {list(pids)} did not end"
                for key, _ in selector.select(remaining):
                    selector.unregister(key.fd)
    finally:
        for fd in fds:
            os.close(fd)


class Workers:
    """Real ``flask worker`` processes, each in its own session (process group: the worker, its
    forked work horse and its scheduler), so a SIGKILL can take down the whole group.

    ``start`` runs a fresh ``python -m flask worker``; ``fork`` gets one from a launcher that has
    built the app once (tests/fixtures/worker_launcher.py), for tests that need many workers."""

    def __init__(self, app):
        self.app = app
        self.procs: list[tuple[subprocess.Popen, object]] = []
        self.launcher: tuple[subprocess.Popen, object] | None = None
        self.forked: list[int] = []

    def _env(self, queue: str | None, app_spec: str) -> dict:
        return {**os.environ, "FLASK_APP": app_spec,
                "DATABASE_URL": self.app.config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": self.app.config["REDIS_URL"],
                "RQ_QUEUE": queue or self.app.config["RQ_QUEUE"], "MAIL_BACKEND": "null",
                "SECRET_KEY": self.app.config["SECRET_KEY"], "LOG_LEVEL": "WARNING",
                "PERIODIC_SECONDS": "0"}  # the periodic tests turn the sweeps on in their workers

    def start(self, *, queue: str | None = None, burst: bool = True, app_spec: str = WORKER_APP):
        log = tempfile.TemporaryFile()
        proc = subprocess.Popen([sys.executable, "-m", "flask", "worker", *(["--burst"] if burst else [])],
                                env=self._env(queue, app_spec), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append((proc, log))
        return proc

    def fork(self, queue: str | None = None, *, burst: bool = True, deliveries: int = 1, **config) -> int:
        """A ``flask worker`` on ``queue`` (default: the app's), ``config`` overriding app settings;
        ``deliveries`` > 1: every job its jobs enqueue is delivered that many times. Returns its pid."""
        if self.launcher is None:
            log = tempfile.TemporaryFile()
            proc = subprocess.Popen([sys.executable, "-m", "tests.fixtures.worker_launcher"],
                                    env=self._env(None, WORKER_APP), cwd=ROOT, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
            self.launcher = (proc, log)
            assert proc.stdout.readline() == "ready\n", self.output(proc)
        proc = self.launcher[0]
        proc.stdin.write(json.dumps({"queue": queue or self.app.config["RQ_QUEUE"], "burst": burst,
                                     "deliveries": deliveries, "config": config}) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        assert line.strip().isdigit(), self.output(proc)
        self.forked.append(int(line))
        return int(line)

    def output(self, proc=None) -> str:
        """What a started worker (or, without ``proc``, the launcher and its forked workers) wrote."""
        if proc is None or self.launcher and proc is self.launcher[0]:
            log = self.launcher[1]
        else:
            log = next(log for p, log in self.procs if p is proc)
        log.seek(0)
        return log.read().decode(errors="replace")

    def wait_all(self, timeout: float = 60) -> None:
        for proc, _ in self.procs:
            proc.wait(timeout=timeout)
            assert proc.returncode == 0, self.output(proc)

    def wait_forked(self, pids, timeout: float = 60) -> None:
        """Wait for forked (burst) workers to finish."""
        _wait_gone(pids, timeout)

    @staticmethod
    def kill(proc_or_pid) -> None:
        """SIGKILL the worker and everything it started. RQ's work horse calls setsid(), so it is not
        in the worker's process group: the tree is read from /proc (Linux) before anything dies."""
        pid = proc_or_pid if isinstance(proc_or_pid, int) else proc_or_pid.pid
        family, i = [pid], 0
        while i < len(family):
            family += _children(family[i])
            i += 1
        for member in reversed(family):  # the work horse first: it is the one inside allocate
            for kill in (os.killpg, os.kill):
                try:
                    kill(member, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        if not isinstance(proc_or_pid, int):
            proc_or_pid.wait(timeout=30)
        _wait_gone(family, timeout=30)

    def close(self) -> None:
        for proc, log in self.procs:
            if proc.poll() is None:
                self.kill(proc)
            log.close()
        self.procs.clear()
        for pid in self.forked:
            if _alive(pid):
                self.kill(pid)
        self.forked.clear()
        if self.launcher is not None:
            proc, log = self.launcher
            proc.stdin.close()
            proc.wait(timeout=30)
            proc.stdout.close()
            log.close()
            self.launcher = None


def _purge_rq(conn, prefix: str) -> None:
    """Delete every Redis key of the queues named ``prefix…`` (jobs, registries, worker records);
    the test Redis is shared with other runs, so nothing else is touched."""
    from rq import Queue

    names = {key.decode().rpartition(":")[2] for key in conn.scan_iter(f"rq:*{prefix}*")
             if key.decode().rpartition(":")[2].startswith(prefix)}
    for name in names:
        q = Queue(name, connection=conn)
        ids = set(q.get_job_ids())
        for registry in (q.started_job_registry, q.finished_job_registry, q.failed_job_registry,
                         q.scheduled_job_registry, q.deferred_job_registry, q.canceled_job_registry):
            ids.update(conn.zrange(registry.key, 0, -1))
        for member in ids:
            member = member.decode() if isinstance(member, bytes) else member
            job_id = member.partition(":")[0]  # a started registry lists "<job id>:<execution id>"
            origin = conn.hget(f"rq:job:{job_id}", "origin")
            if origin is None or origin.decode().startswith(prefix):  # the fixed-id reconcile may be another run's
                for key in list(conn.scan_iter(f"rq:*{job_id}*", count=1000)):  # job, results, executions
                    conn.delete(key)
        conn.srem("rq:queues", f"rq:queue:{name}")
    for pattern in ("rq:worker:*", "rq:scheduler:*"):  # killed workers leave these (with a TTL)
        for key in list(conn.scan_iter(pattern, count=1000)):
            queues = conn.hget(key, "queues") if conn.type(key) == b"hash" else None
            if queues and queues.decode().startswith(prefix):
                conn.delete(key)
                conn.srem("rq:workers", key.decode().rpartition(":")[2])
    for key in list(conn.scan_iter(f"*{prefix}*", count=1000)):
        conn.delete(key)


@pytest.fixture
def rq_app(committed_app):
    """``committed_app`` plus its worker processes, all killed, and every Redis key of its queues
    deleted, at the end."""
    workers = Workers(committed_app)
    try:
        yield committed_app, workers
    finally:
        workers.close()
        db.session.remove()
        with closing(jobs.redis_connection(committed_app)) as conn:
            _purge_rq(conn, committed_app.config["RQ_QUEUE"])


def _enqueue(app, path: str, *args, queue: str | None = None):
    from rq import Queue

    q = Queue(queue or app.config["RQ_QUEUE"], connection=jobs.redis_connection(app))
    return q.enqueue(jobs.run, path, *args, description=path)


def allocate_together(course_id: int, key: str, n: int) -> list[int]:
    """A job for the worker processes: wait until ``n`` workers each hold one of these (a barrier in
    Redis), then run the real allocation job. Returns [workers seen at the barrier, offers made]."""
    with closing(jobs.redis_connection(current_app)) as conn:
        conn.incr(key)
        conn.expire(key, 300)
        deadline = time.monotonic() + 30
        while int(conn.get(key)) < n and time.monotonic() < deadline:
            time.sleep(0.001)
        seen = int(conn.get(key))
    return [seen, tasks.allocate(course_id)]


# -- 1. fifty requests racing for the last seat -----------------------------------------------------

def _login(app, user_key: str | None):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    if user_key:
        with client.session_transaction() as session:
            session["_user_id"], session["_fresh"] = user_key, True
    return client


def _flashes(client) -> list[str]:
    with client.session_transaction() as session:
        return [message for _, message in session.pop("_flashes", [])]


@pytest.fixture
def roomy_app(live_app, db_url):
    """A second app on the same database whose pool has a connection for each of the 50 racing
    requests (the default 5 + 10 would make most of them queue for the pool, not race)."""
    app = create_app(base_config(db_url, SQLALCHEMY_ENGINE_OPTIONS={
        "pool_pre_ping": True, "pool_size": 10, "max_overflow": 190, "pool_timeout": 60}))
    yield app
    with app.app_context():
        db.engine.dispose()


def test_fifty_requests_race_for_the_last_seat(live_app, roomy_app):
    """Phase 1: 50 learners POST "join" at once (each then accepts if offered) for the one free seat:
    exactly one seat taken, the others told they are on the list. Phase 2: a seat frees up and 50
    accept requests (25 from the learner's session, 25 from the offer mail's signed link) race for it:
    one enrolment, 49 told the offer was already answered. Real HTTP endpoints, one client per thread."""
    n = 50
    course = CourseFactory(capacity=3)
    fill(course, 2)
    holder = db.session.scalars(select(Enrolment).where(Enrolment.course_id == course.id)).first().learner
    racers = [learner() for _ in range(n)]
    course_id, holder_id = course.id, holder.id
    ids, keys = [r.id for r in racers], [session_key(r) for r in racers]
    _release()
    clients = [_login(roomy_app, key) for key in keys]
    barrier = threading.Barrier(n)

    def join_then_accept(i):
        barrier.wait(timeout=30)
        response = clients[i].post(f"/courses/{course_id}/waitlist")
        assert response.status_code == 302, response.status_code
        joined = _flashes(clients[i])
        with roomy_app.app_context():
            offer_id = db.session.scalar(select(Offer.id).where(Offer.learner_id == ids[i],
                                                                Offer.status == OfferStatus.OPEN))
            db.session.remove()
        if offer_id is None:
            return joined, None
        clients[i].post(f"/offers/{offer_id}/accept")
        return joined, _flashes(clients[i])

    started = time.monotonic()
    outcomes = _threads(n, join_then_accept)
    assert all(joined == [JOIN_OK] for joined, _ in outcomes)  # every join is answered clearly
    accepted = [i for i, (_, answer) in enumerate(outcomes) if answer is not None]
    assert [outcomes[i][1] for i in accepted] == [[ACCEPT_OK]]
    assert _count(Enrolment, Enrolment.course_id == course_id, Enrolment.status.in_(ACTIVE_STATUSES)) == 3
    assert services.live_seats(course_id) == 3 and _count(Offer, Offer.status == OfferStatus.OPEN) == 0
    assert _count(WaitlistEntry, WaitlistEntry.status == EntryStatus.WAITING) == n - 1
    # A loser's page says where they stand.
    loser = next(i for i in range(n) if i not in accepted)
    _release()
    page = clients[loser].get("/waitlists").get_data(as_text=True)
    assert "among the learners who can take this course" in page
    _release()

    # Phase 2: the seat of a holder frees up; the best waiting learner is offered it; 50 accepts race.
    services.cancel(db.session.get(User, holder_id), db.session.get(Course, course_id))
    db.session.commit()  # the inline allocation job offers the seat
    [offer] = offers_of(db.session.get(Course, course_id))
    offer_id, winner, token = offer.id, ids.index(offer.learner_id), services.offer_token(offer)
    _release()
    # 25 tabs signed in as the learner, 25 browsers opening the mail's link.
    tabs = [_login(roomy_app, keys[winner]) if i % 2 else _login(roomy_app, None) for i in range(n)]
    barrier = threading.Barrier(n)

    def accept(i):
        barrier.wait(timeout=30)
        url = f"/offers/{offer_id}/accept" if i % 2 else f"/offers/link/{token}/accept"
        response = tabs[i].post(url)
        assert response.status_code == 302, response.status_code
        return _flashes(tabs[i])

    answers = [a for flashes in _threads(n, accept) for a in flashes]
    assert len(answers) == n
    assert answers.count(ACCEPT_OK) == 1 and answers.count(ANSWERED) == n - 1, set(answers)
    assert _count(Enrolment, Enrolment.learner_id == ids[winner]) == 1
    assert _count(Enrolment, Enrolment.course_id == course_id, Enrolment.status.in_(ACTIVE_STATUSES)) == 3
    assert services.live_seats(course_id) == 3
    _check_course(course_id, healed=True)
    assert time.monotonic() - started < 60
    _audit_ok(live_app)


def test_inline_jobs_under_concurrent_requests_do_not_exhaust_the_pool(live_app, db_url, monkeypatch):
    """The embedded default (jobs inline) with a pool of 4 connections: 4 learners' join requests
    are under way at once (each has checked out its connection when the first commits: held at
    that point until all four are there). Every join must succeed and its allocation job run: an
    inline job must not wait for a connection while its request still holds one (before commit
    2527ee6 it did, and this test timed out on the pool and lost the allocations)."""
    n = 4
    small = create_app(base_config(db_url, SQLALCHEMY_ENGINE_OPTIONS={
        "pool_size": n, "max_overflow": 0, "pool_timeout": 1}))
    failed: list[str] = []
    original = jobs.log.exception
    monkeypatch.setattr(jobs.log, "exception", lambda msg, *a, **k: (failed.append(msg % a), original(msg, *a, **k)))
    course = CourseFactory(capacity=n)
    keys = [session_key(learner()) for _ in range(n)]
    course_id = course.id
    _release()
    clients = [_login(small, key) for key in keys]
    started, under_way = threading.Barrier(n), threading.Barrier(n)
    local = threading.local()

    def on_checkout(*_):
        if getattr(local, "racing", False) and not getattr(local, "held", False):
            local.held = True
            under_way.wait(timeout=10)

    def join(i):
        local.racing = True
        started.wait(timeout=30)
        return clients[i].post(f"/courses/{course_id}/waitlist").status_code

    with small.app_context():
        engine = db.engine
    event.listen(engine, "checkout", on_checkout)
    try:
        codes = _threads(n, join)
    finally:
        event.remove(engine, "checkout", on_checkout)
        engine.dispose()
    assert failed == [] and codes == [302] * n
    assert _count(Offer, Offer.course_id == course_id, Offer.status == OfferStatus.OPEN) == n


# -- 2. four workers allocating the same course at once --------------------------------------------

def test_four_workers_allocating_at_once_equal_one(rq_app):
    """Four ``flask worker --burst`` processes take four allocation jobs for the same course, held
    at a barrier in Redis until all four workers hold one, then allocating at the same moment (and
    four more plain allocation jobs): the offers are exactly those one run would make, in policy
    order, each logged once and mailed once."""
    app, workers = rq_app
    course = CourseFactory(capacity=7)
    fill(course, 2)
    other = CourseFactory(capacity=1)
    busy = learner()  # holds an offer elsewhere: must be skipped, though first in line
    services.join(busy, other)
    db.session.commit()
    services.allocate(other.id)
    services.join(busy, course, tier_override=1)
    moment = utcnow()
    with frozen_at(moment - timedelta(hours=2)):
        for _ in range(3):
            services.join(learner(), course)
    with frozen_at(moment - timedelta(hours=1)):  # equal claims: the lottery orders these
        for _ in range(6):
            services.join(learner(), course)
    db.session.commit()
    course_id = course.id
    expected = _expected_offers(course_id)
    assert len(expected) == 5 and busy.id not in {db.session.get(WaitlistEntry, e).learner_id for e in expected}
    q = jobs.get_queue(app)
    q.empty()  # the joins' own triggers: replaced by the jobs below
    key = f"{app.config['RQ_QUEUE']}:barrier"
    together = [q.enqueue(jobs.run, f"{__name__}.allocate_together", course_id, key, 4) for _ in range(4)]
    plain = [_enqueue(app, ALLOCATE, course_id) for _ in range(4)]
    _release()
    for _ in range(4):
        workers.start()
    workers.wait_all(timeout=90)

    results = [job.latest_result() for job in together + plain]
    assert all(r is not None and r.type == r.Type.SUCCESSFUL for r in results), [r and r.exc_string for r in results]
    seen = [r.return_value[0] for r in results[:4]]
    made = [r.return_value[1] for r in results[:4]] + [r.return_value for r in results[4:]]
    assert seen == [4] * 4  # the four allocations really ran side by side on four workers
    assert sorted(made) == [0] * 7 + [5]  # one run made every offer; the others found nothing to do
    course = db.session.get(Course, course_id)
    assert sorted(o.entry_id for o in offers_of(course)) == sorted(expected)
    assert services.live_seats(course_id) == course.capacity
    assert _count(AllocationEvent, AllocationEvent.kind == "offer", AllocationEvent.course_id == course_id) == 5
    _check_course(course_id, healed=True)
    assert services.allocate(course_id) == []  # and a fifth run changes nothing
    db.session.rollback()
    assert q.failed_job_registry.count == 0
    _audit_ok(app)


# -- 3. a worker killed in the middle of allocate, again and again ---------------------------------

def _probe_lock(url: str):
    """A function telling whether some transaction holds the write lock of the course row (PostgreSQL:
    the row lock ``allocate`` takes first; SQLite: the database's write lock)."""
    engine = create_engine(url, poolclass=NullPool)
    conn = engine.connect()
    if engine.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA busy_timeout = 0")

    def held(course_id: int) -> bool:
        try:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.execute(text("SELECT id FROM course WHERE id = :id FOR UPDATE NOWAIT"), {"id": course_id})
        except OperationalError:
            return True
        finally:
            conn.rollback()
        return False

    def close():
        conn.close()
        engine.dispose()

    return held, close


KILL_ROUNDS = 20
# When the SIGKILL comes: in most rounds a varying time after the worker's transaction has locked the
# course row (offering 8 seats takes a fresh work horse about a tenth of a second here; on a faster
# machine more of these kills land after the commit, which is as good a test); in every fourth
# round as soon as the offers are committed, the mail jobs perhaps not yet enqueued.
KILL_DELAYS = [0, 0.001, 0.003, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1]


def _offers_committed(course_id: int) -> bool:
    made = _count(Offer, Offer.course_id == course_id)
    db.session.remove()
    return made > 0


def test_worker_killed_mid_allocation_loses_and_doubles_nothing(rq_app):
    """Twenty rounds: a fresh ``flask worker`` (non-burst, on a queue of its own) takes the allocation
    job of a course with 8 free seats and 10 waiting learners; once its transaction holds the course
    row, the worker, its work horse and its scheduler get SIGKILL after a short, varying delay, or
    right after the commit. After each kill the course's offers are all there or none. Then the
    periodic sweep (``reconcile``, on a worker) offers every free seat to a waiting learner, each
    offer logged and mailed exactly once, and the audit passes."""
    app, workers = rq_app
    base = app.config["RQ_QUEUE"]
    course_ids = []
    for _ in range(KILL_ROUNDS):
        course = CourseFactory(capacity=10)
        fill(course, 2)
        for _ in range(10):
            services.join(learner(), course)
        course_ids.append(course.id)
    _release()
    jobs.get_queue(app).empty()  # the joins' triggers: the jobs below are the ones killed
    held, close_probe = _probe_lock(app.config["SQLALCHEMY_DATABASE_URI"])
    rng = random.Random(20270104)
    outcomes = []
    try:
        for k, course_id in enumerate(course_ids):
            queue = f"{base}-kill{k}"
            _enqueue(app, ALLOCATE, course_id, queue=queue)
            pid = workers.fork(queue, burst=False)
            after_commit = k % 4 == 3
            deadline = time.monotonic() + 30
            while not (_offers_committed(course_id) if after_commit else held(course_id)):
                assert time.monotonic() < deadline and _alive(pid), \
                    f"round {k}: the worker never started allocating\n{workers.output()[-3000:]}"
                time.sleep(0.001)  # leave the CPU to the worker
            if not after_commit:
                time.sleep(rng.choice(KILL_DELAYS))
            Workers.kill(pid)
            made = _count(Offer, Offer.course_id == course_id)
            db.session.remove()
            assert made in (0, 8), f"round {k}: {made} offers survived the kill"  # one transaction: all or none
            outcomes.append(made)
    finally:
        close_probe()
    mid_transaction = outcomes.count(0)
    assert mid_transaction >= 1, "no kill landed inside the allocation's transaction"
    assert outcomes[3::4] == [8] * (KILL_ROUNDS // 4)
    for course_id in course_ids:
        _check_course(course_id, healed=False)
    db.session.remove()

    # The periodic sweep, on a worker, heals what the dead workers left undone.
    sweep = _enqueue(app, RECONCILE)
    pid = workers.fork(burst=False)
    result = sweep.latest_result(timeout=60)
    Workers.kill(pid)  # it would go on to send the new offers' mails: not what this test is about
    assert result is not None and result.type == result.Type.SUCCESSFUL, workers.output()[-3000:]
    assert result.return_value == 8 * mid_transaction
    assert services.reconcile() == []
    db.session.rollback()
    for course_id in course_ids:
        _check_course(course_id, healed=True)
        assert services.live_seats(course_id) == 10
    _audit_ok(app)


# -- 4. periodic work heals a flushed Redis, a killed worker, and runs once with two workers ---------
# The workers sweep every 2 s (PERIODIC_SECONDS) and listen on a queue of their own: the test's own
# commits send their jobs to the app's queue, where no worker takes them (they stand for the jobs a
# flush or a dead worker loses). Only the sweeps can then expire the overdue offer and send its mail.
HEAL_WITHIN = 90  # seconds


def _periodic_worker(workers, **config) -> int:
    return workers.fork(f"{workers.app.config['RQ_QUEUE']}-w", burst=False, PERIODIC_SECONDS=2, **config)


def _sweeps(name: str = "waitlist-reconcile") -> int:
    """How many times the task has been claimed (0: never)."""
    runs = db.session.scalar(select(PeriodicRun.runs).where(PeriodicRun.name == name)) or 0
    _release()
    return runs


def _wait_for(condition, what: str, workers, timeout: float = HEAL_WITHIN) -> None:
    """Poll ``condition`` (it reads the database; each poll in a transaction of its own) until true."""
    deadline = time.monotonic() + timeout
    while not condition():
        _release()
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s\n{workers.output()[-3000:]}"
        time.sleep(0.2)
    _release()


def _overdue_offer(tag: str) -> dict:
    """A course of one seat whose offer to the first in line ran out an hour ago, a second learner
    waiting, and the offer's mail still pending (its job went to a queue no worker reads)."""
    course = CourseFactory(capacity=1, title=f"Kursus {tag}")
    first, second = learner(), learner()
    for minutes, who in ((0, first), (1, second)):
        with frozen_at(utcnow() - timedelta(hours=50) + timedelta(minutes=minutes)):
            services.join(who, course)
    db.session.commit()
    with frozen_at(utcnow() - timedelta(hours=49)):
        assert tasks.allocate(course.id) == 1
    [offer] = offers_of(course)
    assert offer.learner_id == first.id and offer.expires_at < utcnow()
    ids = dict(course=course.id, offer=offer.id, first=first.id, second=second.id)
    _release()
    return ids


def _healed(case: dict) -> bool:
    """The overdue offer is expired, the seat offered to the second learner, and no mail is pending."""
    offered = [o.learner_id for o in offers_of(db.session.get(Course, case["course"]))]
    return (db.session.get(Offer, case["offer"]).status is OfferStatus.EXPIRED and offered == [case["second"]]
            and _count(OutboxMessage, OutboxMessage.status != MailStatus.SENT) == 0)


def _check_healed(app, cases: list[dict]) -> None:
    for case in cases:
        _check_course(case["course"], healed=True)
        assert _count(AllocationEvent, AllocationEvent.kind == "expire", AllocationEvent.offer_id == case["offer"]) == 1
    mails = db.session.scalars(select(OutboxMessage)).all()
    assert len(mails) == 2 * len(cases) and all(m.status is MailStatus.SENT and m.attempts == 1 for m in mails)
    _audit_ok(app)


def test_redis_flushed_while_the_worker_runs_heals_within_90_seconds(rq_app):
    """The worker keeps running while Redis is flushed (FLUSHDB on this run's own database index):
    the periodic work goes on, so an overdue offer is expired and the seat passed on, a freed seat
    whose allocation job was lost is offered, and the mails whose jobs were lost are sent."""
    app, workers = rq_app
    _periodic_worker(workers)
    _wait_for(lambda: _sweeps() > 0, "the worker's first sweep", workers)
    freed = CourseFactory(capacity=2)
    fill(freed, 2)
    waiting = [learner() for _ in range(3)]
    for who in waiting:
        services.join(who, freed)
    holder = db.session.scalars(select(Enrolment).where(Enrolment.course_id == freed.id)).first().learner
    services.cancel(holder, freed)  # its allocation job goes to Redis, and is lost
    db.session.commit()
    freed_id, first_waiting = freed.id, waiting[0].id
    case = _overdue_offer("flush")
    with closing(jobs.redis_connection(app)) as conn:
        conn.flushdb()  # this run's own index (TEST_REDIS_URL), never FLUSHALL

    def healed():
        return _healed(case) and [o.learner_id for o in offers_of(db.session.get(Course, freed_id))] == [first_waiting]

    _wait_for(healed, "healed after the flush", workers)
    Workers.kill(workers.forked[-1])
    _check_course(freed_id, healed=True)
    mails = db.session.scalars(select(OutboxMessage)).all()
    assert len(mails) == 3 and all(m.status is MailStatus.SENT and m.attempts == 1 for m in mails)
    _audit_ok(app)


def test_worker_killed_and_restarted_sweeps_within_90_seconds(rq_app):
    """A worker is killed (SIGKILL, with its scheduler and any work horse) and a new one started: the
    dead one's locks do not hold the new one back; its sweeps heal what is left."""
    app, workers = rq_app
    dead = _periodic_worker(workers)
    _wait_for(lambda: _sweeps() > 0, "the first worker's first sweep", workers)
    Workers.kill(dead)
    case = _overdue_offer("kill")
    _periodic_worker(workers)
    _wait_for(lambda: _healed(case), "healed after the restart", workers)
    Workers.kill(workers.forked[-1])
    _check_healed(app, [case])


def test_two_workers_sweep_once_and_send_each_mail_once(rq_app, smtp_sink):
    """Two workers sweep side by side, sending real mail (SMTP to a local server): every overdue
    offer is expired once and passed on once, and the mail server gets every mail exactly once,
    however many sweeps both workers go through."""
    app, workers = rq_app
    cases = [_overdue_offer(f"two-{k}") for k in range(4)]
    for _ in range(2):
        _periodic_worker(workers, **smtp_sink.config())
    _wait_for(lambda: all(_healed(case) for case in cases), "healed by two workers", workers)
    healed_at = _sweeps()
    _wait_for(lambda: _sweeps() >= healed_at + 3, "three more sweeps", workers)
    for pid in workers.forked:
        Workers.kill(pid)
    _check_healed(app, cases)
    mails = db.session.scalars(select(OutboxMessage)).all()
    received = [(m.recipients, m.subject, m.body.strip()) for m in smtp_sink.received]
    assert sorted(received) == sorted(((m.recipient,), m.subject, m.body.strip()) for m in mails)


# -- 5. every job delivered three times -------------------------------------------------------------

def _scenario(tag: str, settle=lambda: None) -> dict:
    """One course's story with every kind of trigger: joins, a decline, an accept, a confirmation,
    a cancelled seat and an expiry. ``settle()`` runs after the commits and returns when the jobs
    they set off are done (inline jobs are done by then). Returns a dump of what the database holds
    about the story, with ids replaced by the learners' order of appearance."""

    def commit():
        db.session.commit()
        settle()

    course = CourseFactory(capacity=2, title=f"Kolm korda {tag}")
    holder = learner()
    courses.create_enrolment(holder, course)
    people = [holder] + [learner() for _ in range(4)]
    commit()
    start = utcnow()
    for i, who in enumerate(people[1:]):
        with frozen_at(start - timedelta(minutes=10 - i)):  # joined in order, a little while ago
            services.join(who, course)
            db.session.commit()
    settle()  # the joins' allocation jobs (on workers: together) offer the free seat to people[1]
    services.decline(services.open_offer(people[1]).id, people[1])
    commit()
    enrolment = services.accept(services.open_offer(people[2]).id, people[2])
    commit()
    courses.confirm_enrolment(enrolment, "Makstud")
    commit()
    services.cancel(holder, course)
    commit()
    overdue = services.open_offer(people[3])
    assert overdue is not None and overdue.learner_id == people[3].id
    sweep_at = overdue.expires_at + timedelta(seconds=1)
    # people[3] never answers. A second after the deadline the periodic sweep runs (here in the test,
    # as workers keep real time): it expires the offer, then allocates the freed seat.
    with frozen_at(sweep_at):
        assert services.reconcile() == [course.id]
        db.session.commit()  # inline jobs: the expiry's own trigger offers the seat already
        tasks.allocate(course.id)
    settle()
    with frozen_at(sweep_at + timedelta(hours=1)):
        services.accept(services.open_offer(people[4]).id, people[4])
        db.session.commit()
    settle()

    who = {p.id: i for i, p in enumerate(people)}
    course_id = course.id
    for offer in db.session.scalars(select(Offer).where(Offer.course_id == course_id)):
        assert _offer_mails(offer) == 1, f"learner {who[offer.learner_id]}: offer mailed {_offer_mails(offer)} times"
    actor = re.compile(r"learner:(\d+)")
    dump = {
        "entries": sorted((who[e.learner_id], e.status.value) for e in db.session.scalars(
            select(WaitlistEntry).where(WaitlistEntry.course_id == course_id))),
        "offers": sorted((who[o.learner_id], o.status.value, o.policy_version) for o in db.session.scalars(
            select(Offer).where(Offer.course_id == course_id))),
        "enrolments": sorted((who[e.learner_id], e.status.value, e.note) for e in db.session.scalars(
            select(Enrolment).where(Enrolment.course_id == course_id))),
        "events": [(e.kind, who.get(e.learner_id), actor.sub(lambda m: f"learner:{who[int(m[1])]}", e.actor),
                    e.reason, e.tier) for e in db.session.scalars(
            select(AllocationEvent).where(AllocationEvent.course_id == course_id).order_by(AllocationEvent.id))],
        "mails": sorted((who[m.user_id], m.subject.replace(tag, "*"), m.status.value, m.attempts)
                        for m in db.session.scalars(select(OutboxMessage).where(
                            OutboxMessage.user_id.in_(list(who))))),
    }
    _release()
    return dump


def _assert_story(once: dict, thrice: dict) -> None:
    assert thrice == once
    assert [m[2:] for m in once["mails"]] == [("sent", 1)] * len(once["mails"])  # each mail sent once
    assert len(once["offers"]) == 4 and sum(k == "offer" for k, *_ in once["events"]) == 4


def test_every_job_delivered_three_times_changes_nothing(live_app, monkeypatch):
    """The same story twice, jobs inline: once with each job delivered once, once with every job
    (each allocation, each mail, and the jobs those start) delivered three times. The database ends
    the same, and nobody gets an e-mail twice."""
    once = _scenario("uno")
    deliveries: dict[str, int] = {}
    original = jobs.dispatch

    def three_times(app, *pending):
        for job in pending:
            deliveries[job.path] = deliveries.get(job.path, 0) + 3
        for _ in range(3):
            original(app, *pending)

    monkeypatch.setattr(jobs, "dispatch", three_times)
    thrice = _scenario("tres")
    assert deliveries[ALLOCATE] >= 18 and deliveries["langjourney.mail.tasks.send_mail"] >= 12
    _assert_story(once, thrice)
    _audit_ok(live_app)


def _finished_jobs(queue) -> dict[str, str]:
    """The queue's finished jobs: id -> the job function's path."""
    from rq.job import Job
    from rq.registry import FinishedJobRegistry

    ids = FinishedJobRegistry(queue=queue).get_job_ids()
    return {job.id: job.args[0] for job in Job.fetch_many(ids, connection=queue.connection) if job is not None}


def test_every_job_delivered_three_times_to_real_workers_changes_nothing(rq_app, smtp_sink, monkeypatch):
    """The same story on real ``flask worker`` processes sending real mail (SMTP to a local
    server): once with each job delivered once, once with every job delivered three times — each
    enqueued three times, whether by the test's commits or by the workers' own jobs, and three
    workers taking them at once. The database ends the same, each job really ran three times as
    often, and the mail server got each mail exactly once."""
    app, workers = rq_app
    queue = jobs.get_queue(app)
    deliveries = 1

    def settle():
        # Jobs are enqueued at the commit, so an empty queue means nothing was set off. Burst workers
        # leave only when the queue is empty, the jobs that jobs enqueue included.
        if queue.count:
            workers.wait_forked([workers.fork(deliveries=deliveries, **smtp_sink.config()) for _ in range(3)])

    once = _scenario("uno", settle)
    ran_once = _finished_jobs(queue)
    deliveries = 3
    monkeypatch.setattr(jobs, "dispatch", repeated(jobs.dispatch, 3))
    thrice = _scenario("tres", settle)
    ran_thrice = {job_id: path for job_id, path in _finished_jobs(queue).items() if job_id not in ran_once}

    assert queue.failed_job_registry.count == 0, workers.output()[-3000:]
    once_counts, thrice_counts = Counter(ran_once.values()), Counter(ran_thrice.values())
    assert once_counts[ALLOCATE] >= 6 and once_counts["langjourney.mail.tasks.send_mail"] == 4
    assert thrice_counts == Counter({path: 3 * n for path, n in once_counts.items()})
    _assert_story(once, thrice)
    mails = db.session.scalars(select(OutboxMessage)).all()
    received = [(m.recipients, m.subject, m.body.strip()) for m in smtp_sink.received]
    assert sorted(received) == sorted(((m.recipient,), m.subject, m.body.strip()) for m in mails)
    assert len(mails) == 8
    _audit_ok(app)


# -- 6. accept at the deadline racing the expiry sweep ----------------------------------------------

ROUNDS = 200
ACCEPT_AT = [timedelta(seconds=-1), timedelta(milliseconds=-1), timedelta(0), timedelta(milliseconds=1),
             timedelta(seconds=1)]
SWEEP_AT = [timedelta(0), timedelta(seconds=1)]


def test_accept_at_the_deadline_races_the_sweep_200_times(live_app):
    """200 offers with deadlines 10 s apart. For each, one connection accepts at deadline + δ
    (δ = -1 s, -1 ms, 0, +1 ms, +1 s) while another runs the expiry sweep at the deadline or 1 s
    after it, both released at once. Exactly one wins each time: before the deadline either may,
    at or after it only the sweep; the loser is told why; the database agrees."""
    course = CourseFactory(capacity=ROUNDS)
    people = [learner() for _ in range(ROUNDS)]
    for who in people:
        services.join(who, course)
    db.session.commit()  # one allocation offers all 200 seats
    offers = sorted(offers_of(course), key=lambda o: o.learner_id)
    assert len(offers) == ROUNDS
    base = offers[0].expires_at
    for k, offer in enumerate(offers):
        offer.expires_at = base + timedelta(seconds=10 * k)
    plan = [(o.id, o.learner_id, o.expires_at) for o in offers]
    course_id = course.id
    _release()

    barrier = threading.Barrier(2)
    outcome: list[dict] = [{} for _ in range(ROUNDS)]

    def accepter(_):
        with live_app.app_context():
            for k, (offer_id, learner_id, deadline) in enumerate(plan):
                barrier.wait(timeout=30)
                with frozen_at(deadline + ACCEPT_AT[k % 5]):
                    try:
                        services.accept(offer_id, db.session.get(User, learner_id))
                        db.session.commit()
                        outcome[k]["accept"] = "won"
                    except DomainError as exc:
                        db.session.rollback()
                        outcome[k]["accept"] = _english(exc)
                    finally:
                        db.session.remove()

    def sweeper(_):
        with live_app.app_context():
            for k, (offer_id, learner_id, deadline) in enumerate(plan):
                barrier.wait(timeout=30)
                with frozen_at(deadline + SWEEP_AT[(k // 5) % 2]):
                    try:
                        outcome[k]["sweep"] = services.expire_due(course_id)
                        db.session.commit()
                    finally:
                        db.session.remove()

    _threads(2, lambda i: (accepter, sweeper)[i](i))
    accepted = {e.learner_id: e for e in db.session.scalars(select(Enrolment).where(Enrolment.course_id == course_id))}
    wins = {"accept": 0, "sweep": 0}
    for k, (offer_id, learner_id, deadline) in enumerate(plan):
        result, status = outcome[k], db.session.get(Offer, offer_id).status
        if result["accept"] == "won":
            assert result["sweep"] == set() and status is OfferStatus.ACCEPTED and learner_id in accepted, (k, result)
            assert ACCEPT_AT[k % 5] < timedelta(0), f"round {k}: accepted at or after the deadline"
            wins["accept"] += 1
        else:
            assert result["accept"] == EXPIRED, (k, result)
            assert result["sweep"] == {course_id} and status is OfferStatus.EXPIRED, (k, result)
            assert learner_id not in accepted
            wins["sweep"] += 1
    assert wins["accept"] + wins["sweep"] == ROUNDS and len(accepted) == wins["accept"]
    assert wins["sweep"] >= ROUNDS * 3 // 5  # every accept at or after the deadline lost
    assert _count(AllocationEvent, AllocationEvent.kind.in_(("accept", "expire"))) == ROUNDS
    _check_course(course_id, healed=True)
    _audit_ok(live_app)


# -- 7. a provider's confirmation submitted twice ---------------------------------------------------

def _provider_with_enrolment(*, started: bool = False):
    """A provider admin with an API token, and an accepted enrolment on one of its courses (a course
    that has begun, if ``started``: its seat was taken before the start)."""
    admin = UserFactory(provider_staff=True, is_provider_admin=True)
    course = CourseFactory(provider=admin.provider, capacity=2, started=started)
    enrolment = (EnrolmentFactory(course=course, learner=learner()) if started
                 else courses.create_enrolment(learner(), course))
    row, token = courses.create_api_token(admin, "Kooli süsteem")
    row.last_used_at = utcnow()  # recently used: the racing requests do not both write it
    db.session.commit()
    return enrolment.id, token


def _confirmations(enrolment_id: int, kind: str = "confirm") -> int:
    enrolment = db.session.get(Enrolment, enrolment_id)
    return _count(AllocationEvent, AllocationEvent.kind == kind,
                  AllocationEvent.learner_id == enrolment.learner_id, AllocationEvent.course_id == enrolment.course_id)


def _api_answer(response) -> str | tuple:
    if response.status_code != 200:
        return response.status_code, response.get_json()["description"]
    return "replayed" if response.headers.get("Idempotent-Replayed") == "true" else "answered"


@pytest.mark.parametrize("via", ["service", "api", "api with a key"])
def test_confirmation_submitted_twice_at_once_confirms_once(live_app, via):
    """Two confirmations of one enrolment at once (two threads calling ``confirm_enrolment`` on their
    own connections, or two ``POST /api/v1/enrolments/<id>/confirm``, without or with the same
    ``Idempotency-Key``): one confirmation, the note written once. The service refuses the second
    (already confirmed); the API answers it like the first, from the stored answer under a key."""
    enrolment_id, token = _provider_with_enrolment()
    _release()
    barrier = threading.Barrier(2)

    def by_service(i):
        with live_app.app_context():
            barrier.wait(timeout=30)
            try:
                courses.confirm_enrolment(db.session.get(Enrolment, enrolment_id), "Makstud")
                db.session.commit()
                return "answered"
            except DomainError as exc:
                db.session.rollback()
                return _english(exc)
            finally:
                db.session.remove()

    clients = [_login(live_app, None) for _ in range(2)]
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en",
               **({"Idempotency-Key": "confirm-1"} if via == "api with a key" else {})}
    answers = []

    def by_api(i):
        barrier.wait(timeout=30)
        response = clients[i].post(f"/api/v1/enrolments/{enrolment_id}/confirm", json={"note": "Makstud"},
                                   headers=headers)
        answers.append(response.get_json())
        return _api_answer(response)

    # The enrolment's row lock makes the second wait for the first (on SQLite, the write lock does).
    results = _threads(2, by_service if via == "service" else by_api)
    second = {"service": "This enrolment is already confirmed.", "api": "answered", "api with a key": "replayed"}[via]
    assert sorted(map(str, results)) == sorted(["answered", second])
    if via != "service":
        assert answers[0] == answers[1] and answers[0]["status"] == "confirmed"
    enrolment = db.session.get(Enrolment, enrolment_id)
    assert enrolment.status is EnrolmentStatus.CONFIRMED and enrolment.note == "Makstud"
    assert _confirmations(enrolment_id) == 1
    assert _count(ApiIdempotencyKey) == (1 if via == "api with a key" else 0)
    _audit_ok(live_app)


@pytest.mark.parametrize("action", ["confirm", "mismatch"])
def test_one_key_sent_twice_at_once_acts_once(live_app, db_url, action):
    """Two requests with the same ``Idempotency-Key`` both get past the look-up for a stored answer
    before either has one: a third connection holds the enrolment's row lock until both wait for it.
    The first to get the lock acts and stores its answer; the second (its confirmation finding the
    enrolment confirmed, its mismatch report refused) fails to store its own on the unique key, is
    undone and gives the first one's answer. One confirmation (or one mismatch report and one mail),
    two equal answers, one of them replayed. PostgreSQL only: SQLite runs the two one after the
    other, so the second always finds the stored answer (test_courses_api.py covers that)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("needs row locks: SQLite serialises whole transactions")
    enrolment_id, token = _provider_with_enrolment(started=True)
    learner_id = db.session.get(Enrolment, enrolment_id).learner_id
    _release()
    engine = create_engine(db_url, poolclass=NullPool)
    clients = [_login(live_app, None) for _ in range(2)]
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en", "Idempotency-Key": f"{action}-1"}
    body = {"note": "Makstud"} if action == "confirm" else {"suggested_level": "A1"}
    responses = [None, None]

    def post(i):
        responses[i] = clients[i].post(f"/api/v1/enrolments/{enrolment_id}/{action}", json=body, headers=headers)

    racers = [threading.Thread(target=post, args=(i,)) for i in range(2)]
    try:
        with engine.connect() as holder, engine.connect() as watcher:
            holder.execute(text("SELECT id FROM enrolment WHERE id = :id FOR UPDATE"), {"id": enrolment_id})
            for racer in racers:
                racer.start()
            deadline = time.monotonic() + 30

            def waiting() -> int:  # a new transaction each time: one sees a single snapshot of the view
                with watcher.begin():
                    return watcher.scalar(text("SELECT count(*) FROM pg_stat_activity "
                                               "WHERE datname = current_database() AND wait_event_type = 'Lock'"))

            # Let them go once both requests are inside the action, waiting for the lock.
            while waiting() < 2:
                assert time.monotonic() < deadline and all(r.is_alive() for r in racers), responses
                time.sleep(0.005)
            holder.rollback()
    finally:
        for racer in racers:
            racer.join(timeout=60)
        engine.dispose()
    assert not any(r.is_alive() for r in racers), "a request hung"
    assert sorted(_api_answer(r) for r in responses) == ["answered", "replayed"], [r.get_json() for r in responses]
    assert responses[0].get_json() == responses[1].get_json()
    enrolment = db.session.get(Enrolment, enrolment_id)
    if action == "confirm":
        assert enrolment.status is EnrolmentStatus.CONFIRMED and enrolment.note == "Makstud"
        assert _confirmations(enrolment_id) == 1
    else:
        assert enrolment.status is EnrolmentStatus.MISMATCH and enrolment.mismatch_level == "A1"
        assert _confirmations(enrolment_id, "mismatch") == 1
        assert _count(OutboxMessage, OutboxMessage.user_id == learner_id) == 1
    [stored] = db.session.scalars(select(ApiIdempotencyKey)).all()
    assert stored.status_code == 200 and stored.response == responses[0].get_json()
    _audit_ok(live_app)


def test_api_confirmation_repeated_is_answered_not_replayed(live_app):
    """A provider's system repeating a confirmation with its ``Idempotency-Key`` (say, after a lost
    response) gets the first answer again, marked as such, and nothing is confirmed twice."""
    enrolment_id, token = _provider_with_enrolment()
    _release()
    client = _login(live_app, None)
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en", "Idempotency-Key": "confirm-1"}
    first = client.post(f"/api/v1/enrolments/{enrolment_id}/confirm", json={"note": "Makstud"}, headers=headers)
    assert first.status_code == 200 and first.get_json()["status"] == "confirmed"
    assert "Idempotent-Replayed" not in first.headers
    confirmed_at = first.get_json()["confirmed_at"]
    second = client.post(f"/api/v1/enrolments/{enrolment_id}/confirm", json={"note": "Makstud"}, headers=headers)
    assert second.status_code == 200 and second.get_json() == first.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    again = client.get(f"/api/v1/enrolments/{enrolment_id}", headers=headers).get_json()
    assert again["status"] == "confirmed" and again["confirmed_at"] == confirmed_at and again["note"] == "Makstud"
    assert _confirmations(enrolment_id) == 1
    _audit_ok(live_app)


# -- a worker started as in production -------------------------------------------------------------

def test_worker_started_as_in_production_makes_offers(rq_app):
    """``flask --app wsgi worker`` (the Makefile's worker) allocating a freed seat."""
    app, workers = rq_app
    course = CourseFactory(capacity=1)
    waiting = learner()
    services.join(waiting, course)
    course_id, waiting_id = course.id, waiting.id
    _release()
    proc = workers.start(app_spec="wsgi.py")
    workers.wait_all(timeout=60)
    offered = [o.learner_id for o in offers_of(db.session.get(Course, course_id))]
    assert offered == [waiting_id], workers.output(proc)[-1500:]
