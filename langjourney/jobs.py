"""Background jobs: one :func:`enqueue` that runs a job after the current transaction commits.

With ``REDIS_URL`` unset, jobs run inline (synchronously) right after the commit, through the same
functions an RQ worker would call; with it set they go to RQ and ``flask worker`` runs them. A job
enqueued in a transaction that rolls back is dropped. Redis is only a trigger: whatever a job does
is recoverable from the database (see the reconcile jobs of each feature).
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from flask import Flask, current_app
from flask_babel import force_locale, format_datetime, get_translations
from redis import Redis
from rq import Queue, Retry, Worker
from rq.worker import WorkerStatus
from sqlalchemy import event
from sqlalchemy.orm import configure_mappers

from langjourney.extensions import db

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60
DEFAULT_RETRY = Retry(max=3, interval=[10, 60, 300])
MAINTENANCE_INTERVAL = 60  # seconds
_PENDING = "langjourney_pending_jobs"
_READY = "langjourney_committed_jobs"
_worker_app: Flask | None = None


@dataclass(frozen=True)
class PendingJob:
    path: str
    args: tuple
    job_timeout: int
    retry: Retry | None


def _path(func: Callable) -> str:
    if "." in func.__qualname__ or func.__module__ == "__main__":
        raise ValueError("jobs must be module-level functions")
    return f"{func.__module__}.{func.__qualname__}"


def enqueue(func: Callable, *args: Any, job_timeout: int = DEFAULT_TIMEOUT,
            retry: Retry | None = DEFAULT_RETRY) -> None:
    """Run ``func(*args)`` once the current transaction commits; drop it if the transaction rolls back.

    ``func`` must be a module-level function taking plain values (ids), idempotent, and owning
    its own transaction.
    """
    job = PendingJob(_path(func), args, job_timeout, retry)
    db.session.connection()  # begin the transaction now, so its rollback is sure to drop the job
    db.session.info.setdefault(_PENDING, []).append(job)


def _after_commit(session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT was released (SQLAlchemy signals that too); the real commit is still to come
    session.info[_READY] = session.info.pop(_PENDING, [])


def _after_transaction_end(session, transaction) -> None:
    # Dispatch only now, when the committed transaction has given its connection back: an inline
    # job takes a connection of its own, and must not hold the request's while it waits for one.
    if transaction.parent is None and session.info.get(_READY):
        dispatch(current_app._get_current_object(), *session.info.pop(_READY))


def _after_soft_rollback(session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the whole transaction, not a savepoint inside it
        session.info.pop(_PENDING, None)


def init_app(app: Flask) -> None:
    """Hook job dispatch into the session's commit and rollback."""
    if not event.contains(db.session, "after_commit", _after_commit):
        event.listen(db.session, "after_commit", _after_commit)
        event.listen(db.session, "after_soft_rollback", _after_soft_rollback)
        event.listen(db.session, "after_transaction_end", _after_transaction_end)


def redis_connection(app: Flask) -> Redis:
    return Redis.from_url(app.config["REDIS_URL"])


def get_queue(app: Flask) -> Queue:
    """The app's queue. One Redis client per app, not a new connection per job (redis-py opens new
    connections in a forked process by itself)."""
    queue = app.extensions.get("langjourney_queue")
    if queue is None:
        queue = app.extensions["langjourney_queue"] = Queue(app.config["RQ_QUEUE"], connection=redis_connection(app))
    return queue


def dispatch(app: Flask, *jobs: PendingJob) -> None:
    """Send committed jobs to RQ (one round trip for all of them), or run them inline when no Redis
    is configured."""
    if app.config["REDIS_URL"]:
        try:
            get_queue(app).enqueue_many([
                Queue.prepare_data(run, (job.path, *job.args), timeout=job.job_timeout, retry=job.retry,
                                   description=job.path) for job in jobs])
        except Exception:
            # The commit has happened; the reconcile jobs find the work again from the database.
            log.exception("could not enqueue %s; reconcile will pick them up",
                          ", ".join(f"{job.path}{job.args!r}" for job in jobs))
        return
    for job in jobs:
        try:
            with app.app_context():  # a fresh app context gives the job its own session
                call(job.path, job.args)
        except Exception:
            log.exception("inline job %s%r failed", job.path, job.args)


def call(path: str, args: tuple) -> Any:
    """Call the module-level function named by ``path`` (``package.module.function``)."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)(*args)


def run(path: str, *args: Any) -> Any:
    """Entry point of every RQ job: call ``path(*args)`` inside an application context."""
    global _worker_app
    if _worker_app is None:
        from langjourney import create_app  # only in a bare ``rq worker`` process

        _worker_app = create_app()
    with _worker_app.app_context():
        # A forked work horse must not reuse the parent's pooled connections.
        for engine in db.engines.values():
            engine.dispose(close=False)
        try:
            return call(path, args)
        finally:
            db.session.remove()


def warm_up(app: Flask, *statements: Callable[[], Any]) -> None:
    """Do once, in the worker before it forks its work horses, what each horse would otherwise
    redo before its job could start: import the job modules, configure the ORM mappers, load every
    language's translations, locale data and time zone, compile the mail templates, let SQLAlchemy
    meet the database (its dialect reads the server's settings on the first connection), and run
    ``statements``: functions that run the hot jobs' statements on ids that match nothing, so that
    their compiled forms are in the engine's cache, in one transaction that is rolled back. The
    connections are closed at the end, so that none crosses the fork.

    RQ forks a work horse per job and the horse inherits all of this; without it every allocation
    job spent some 40 ms of CPU getting there (see benchmarks/README.md).
    """
    import langjourney

    for feature in pkgutil.iter_modules(langjourney.__path__):  # the modules that hold the jobs
        if feature.ispkg and importlib.util.find_spec(f"langjourney.{feature.name}.tasks"):
            importlib.import_module(f"langjourney.{feature.name}.tasks")
    configure_mappers()
    with app.app_context():
        for language in app.config["LANGUAGES"]:
            with force_locale(language):
                get_translations()
                format_datetime(datetime.now(timezone.utc), "short")  # the locale's data and the time zone
        for name in app.jinja_env.list_templates(filter_func=lambda name: name.startswith("mail/")):
            app.jinja_env.get_template(name)
        try:
            for prepare in statements:
                prepare()
        except Exception:  # only a head start: the jobs meet the same problem and report it
            log.warning("warming up the worker's database statements failed", exc_info=True)
        finally:
            db.session.rollback()
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()


class _Worker(Worker):
    """An RQ worker that, whenever it is about to wait for a job and at least every ``every``
    seconds while it waits (not in burst mode), runs ``periodic.maybe_run()`` if
    ``periodic.is_due()`` (see :class:`langjourney.ops.periodic.Runner`)."""

    periodic: Any = None
    every: int = 5

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        if self.periodic is None or timeout is None or max_idle_time is not None:
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        while True:
            if self.periodic.is_due():
                self.set_state(WorkerStatus.BUSY)  # a warm shutdown (SIGTERM) lets it finish, as a job
                self.periodic.maybe_run()
                if self._stop_requested:
                    return None
            result = super().dequeue_job_and_maintain_ttl(self.every, self.every)  # None: waited that long
            if result is not None or self._stop_requested:
                return result


def run_worker(app: Flask, burst: bool = False, warm_ups: tuple[Callable[[], Any], ...] = (),
               periodic: Any = None, every: float = 5) -> bool:
    """Run an RQ worker with its scheduler on the app's queue (``flask worker``); ``warm_ups`` are
    passed to :func:`warm_up`; ``periodic`` (a :class:`langjourney.ops.periodic.Runner`) gets its
    turn before each wait for a job and every ``every`` seconds while idle (not in burst mode).

    RQ's scheduler (it runs the jobs' retries) holds a lock in Redis that a killed worker leaves
    behind for a minute; a worker retries taking it at each maintenance, here every minute rather
    than RQ's ten.
    """
    global _worker_app
    if not app.config["REDIS_URL"]:
        raise RuntimeError("REDIS_URL is not set: jobs run inline and no worker is needed")
    _worker_app = app
    warm_up(app, *warm_ups)
    queue = get_queue(app)
    worker = _Worker([queue], connection=queue.connection, maintenance_interval=MAINTENANCE_INTERVAL)
    worker.periodic, worker.every = periodic, max(1, round(every))
    return worker.work(burst=burst, with_scheduler=True)
