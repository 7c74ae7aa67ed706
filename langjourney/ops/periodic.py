"""Periodic work: one registry of tasks, run by whichever process gets to them first.

Every ``flask worker`` (between jobs) and, on the embedded default (no ``REDIS_URL``), every web
process (after a response has been sent) checks every few seconds (:func:`tick`) which tasks are
due, and runs a due task only after claiming it in the database (:func:`claim`): a conditional
update of the task's ``periodic_run`` row, so only one process runs each task per period, whichever
processes live or die. Nothing is kept in Redis: a flushed Redis or a worker killed mid-sweep
delays a sweep by one period at most. ``/healthz`` reads the same rows (:func:`health`).

A task is a module-level job function that takes no arguments, owns its transaction and is safe to
run twice or at once (as every job is). Adding one is one line in :data:`TASKS`.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from langjourney.db import utcnow
from langjourney.extensions import db
from langjourney.ops.models import PeriodicRun

log = logging.getLogger(__name__)

STALE_AFTER = 3  # periods without a successful run before /healthz answers 503


@dataclass(frozen=True)
class PeriodicTask:
    """``path`` (a module-level function, called with no arguments) runs every ``every``; None:
    every ``PERIODIC_SECONDS``."""

    name: str
    path: str
    every: timedelta | None = None

    def interval(self, app: Flask) -> timedelta:
        return self.every or timedelta(seconds=app.config["PERIODIC_SECONDS"])


TASKS: tuple[PeriodicTask, ...] = (
    PeriodicTask("waitlist-reconcile", "langjourney.waitlist.tasks.reconcile"),
    PeriodicTask("outbox-sweep", "langjourney.mail.tasks.sweep_outbox"),
    PeriodicTask("counselling-remind", "langjourney.counselling.tasks.remind_appointments", timedelta(minutes=10)),
    PeriodicTask("courses-remind-overdue", "langjourney.courses.tasks.remind_overdue_confirmations",
                 timedelta(hours=1)),
    # Hourly, not daily: each run after the first takes well under a second, and a stale prune shows
    # in /healthz within hours.
    PeriodicTask("privacy-prune", "langjourney.privacy.tasks.prune", timedelta(hours=1)),
)


def is_enabled(app: Flask) -> bool:
    """``PERIODIC_SECONDS=0`` turns periodic work off (the tests do; their sweeps are called by hand)."""
    return app.config["PERIODIC_SECONDS"] > 0


def tick(app: Flask) -> float:
    """How often (seconds) a process looks for due tasks: a quarter period, between 1 and 5 s."""
    return max(1.0, min(5.0, app.config["PERIODIC_SECONDS"] / 4))


def claim(app: Flask, task: PeriodicTask, now: datetime | None = None) -> bool:
    """Claim this period's run of ``task`` and commit the claim; False if another process has it.

    A task is due once its last start is a period old, less one :func:`tick` (processes look only
    every tick, so the runs stay at most a period apart). On PostgreSQL a second claimer waits for
    the first one's row lock and then finds the row already moved on; on SQLite the IMMEDIATE
    transaction serialises them.
    """
    now = now or utcnow()
    table = PeriodicRun.__table__
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    claimed = db.session.execute(
        dialect.insert(table).values(name=task.name, runs=1, created_at=now, started_at=now)
        .on_conflict_do_nothing(index_elements=["name"]).returning(table.c.name)).scalar_one_or_none()
    if claimed is None:
        due_before = now - task.interval(app) + timedelta(seconds=tick(app))
        claimed = db.session.execute(
            update(table).where(table.c.name == task.name, table.c.started_at <= due_before)
            .values(started_at=now, runs=table.c.runs + 1).returning(table.c.name)).scalar_one_or_none()
    db.session.commit()
    return claimed is not None


def _finish(task: PeriodicTask, error: str | None) -> None:
    now = utcnow()
    values = {"finished_at": now, "error": error}
    if error is None:
        values["succeeded_at"] = now
    db.session.execute(update(PeriodicRun).where(PeriodicRun.name == task.name).values(**values))
    db.session.commit()


def run_due(app: Flask) -> list[str]:
    """Run every due task this process can claim, each in its own transaction; returns their names.

    A task that fails is logged and its error kept on its row (``/healthz`` shows it); the other
    tasks still run, and the next period tries again.
    """
    from langjourney.jobs import call

    ran = []
    with app.app_context():
        try:
            started = dict(db.session.execute(select(PeriodicRun.name, PeriodicRun.started_at)).all())
            db.session.rollback()
            now = utcnow()
            for task in TASKS:
                last = started.get(task.name)
                if last is not None and last > now - task.interval(app) + timedelta(seconds=tick(app)):
                    continue
                if not claim(app, task):
                    continue
                ran.append(task.name)
                try:
                    call(task.path, ())
                    db.session.commit()
                except Exception as exc:
                    db.session.rollback()
                    log.exception("periodic task %s failed", task.name)
                    _finish(task, f"{type(exc).__name__}: {exc}"[:2000])
                else:
                    _finish(task, None)
        finally:
            db.session.remove()
    return ran


class Runner:
    """Runs :func:`run_due` at most once a :func:`tick`, so that calling :meth:`maybe_run` often
    (after every job, after every response) costs one clock reading."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.next_at = 0.0

    def is_due(self) -> bool:
        return time.monotonic() >= self.next_at

    def maybe_run(self) -> list[str]:
        if not self.is_due():
            return []
        self.next_at = time.monotonic() + tick(self.app)
        try:
            return run_due(self.app)
        except Exception:  # the database is down, say: /healthz says so; the next tick tries again
            log.exception("periodic tasks could not run")
            return []


def init_app(app: Flask) -> None:
    """Note when this process started (the grace of :func:`health`). On the embedded default (no
    Redis, no worker) the web processes run the periodic tasks, after a response has been sent, so
    that no request waits for a sweep."""
    app.extensions["langjourney_started_at"] = utcnow()
    if app.config["REDIS_URL"] or not is_enabled(app):
        return
    runner = app.extensions["langjourney_periodic"] = Runner(app)

    @app.after_request
    def run_periodic_tasks(response):
        if runner.is_due():
            response.call_on_close(runner.maybe_run)
        return response


def health(app: Flask, now: datetime | None = None) -> tuple[bool, dict]:
    """Each task's last run, and whether all are fresh: a task is stale when its last success (or,
    before its first one, its first claim) is more than :data:`STALE_AFTER` periods old. A task
    never claimed at all is given the same grace from the start of this web process: a fresh
    install is not unhealthy before its first sweep, only when no process has swept for that long.
    So is a stale task while this process is younger than that: a web process restarted after a
    stop is the one that sweeps on the embedded default (after its first responses), and its first
    health check must not fail it for the time it was down."""
    now = now or utcnow()
    rows = {row.name: row for row in db.session.scalars(select(PeriodicRun))}
    since_start = app.extensions.get("langjourney_started_at", now)
    healthy, report = True, {}
    for task in TASKS:
        limit = STALE_AFTER * task.interval(app)
        row = rows.get(task.name)
        if row is None:
            fresh = now - since_start <= limit
            report[task.name] = {"status": "not run yet" if fresh else f"stale: never run in {limit}"}
        else:
            last_ok = row.succeeded_at or row.created_at
            if now - last_ok <= limit:
                fresh, status = True, "ok"
            elif now - since_start <= limit:
                fresh, status = True, "catching up: this process started less than 3 periods ago"
            else:
                fresh, status = False, f"stale: no successful run since {last_ok.isoformat()}"
            report[task.name] = {
                "status": status,
                "last_started_at": row.started_at.isoformat(),
                "last_finished_at": row.finished_at and row.finished_at.isoformat(),
                "last_succeeded_at": row.succeeded_at and row.succeeded_at.isoformat(),
                "last_error": row.error,
            }
        healthy = healthy and fresh
    return healthy, report
