"""Benchmark the waitlist's seat allocation on PostgreSQL, in-process and through RQ workers.

Targets (from the issue), on PostgreSQL with 200,000 learners, 2,000 courses, 300,000 waitlist
entries and 5,000 freed seats:

(a) seats offered per second by ``langjourney.waitlist.services.allocate`` (each call its own
    transaction) >= 0.25 x single-row UPDATE transactions per second on the same database in the
    same run, with the same number of clients; and allocate's p95 latency;
(b) end to end through RQ workers: allocation jobs per second >= 0.5 x no-op jobs per second on
    the same workers in the same run.

This script prints figures and ratios; it never fails on a time.

    .venv/bin/python benchmarks/allocation_benchmark.py                  # full size (~2-4 min)
    .venv/bin/python benchmarks/allocation_benchmark.py --learners 20000 --courses 200 \\
        --entries 30000 --freed 500                                       # a tenth (~1-1.5 min)
    .venv/bin/python benchmarks/allocation_benchmark.py --help

What it does, in order:

1.  Creates a fresh PostgreSQL database (``--db-name``, default ``lj_alloc_bench``) on the server
    that ``--database-url`` names (default ``postgresql+psycopg://postgres@127.0.0.1:5432``; only the
    loopback address is accepted), builds the app on it with ``create_app`` and runs the migrations
    (``flask_migrate.upgrade()``). The database is dropped at the end (``--keep-db`` keeps it).
2.  Bulk-loads, with COPY through psycopg and a progress bar on stderr: learners (``user`` +
    ``learner_profile`` with a level set by ``placement``), providers, published and approved courses
    with a capacity, every course full of accepted enrolments (distinct learners at the course's
    level), and waitlist entries (status ``waiting``, ``joined_at`` spread over a year; each waiting
    learner is on 1-3 lists at their own level, never on a course they hold a seat on). Then
    VACUUM ANALYZE.
3.  Frees ``--freed`` seats by cancelling that many random accepted enrolments (a direct UPDATE).
4.  (a) Baseline: ``--clients`` processes each run ``UPDATE course SET updated_at = now() WHERE
    id = $1`` (random id, autocommit: one transaction each) through psycopg for
    ``--baseline-seconds``. Then the same number of processes (processes, not threads: allocate is
    CPU-bound Python, so threads would serialise on the GIL) call ``allocate(course_id)`` + commit
    for every course with a freed seat, each in its own transaction and its own session, as a job
    does; before the clock starts, each warms up as ``flask worker`` does (``jobs.warm_up``) and
    connects, so that the figures are a long-running process's. Then the baseline again, and ``pgbench -b simple-update`` with the same number of clients
    if ``pgbench`` is installed. The ratio uses the mean of the two psycopg baselines.
5.  Frees another ``--freed`` seats (the first ones now carry open offers).
6.  (b) Starts ``--workers`` RQ workers (``flask --app allocation_benchmark:worker_app worker``:
    the app's own worker command on ``create_app()``, configured from the environment as in a
    deployment; see ``worker_app``, but with ``PERIODIC_SECONDS=0``: the workers' periodic reconcile
    sweep would allocate the same courses) on a private queue, waits until they are idle, and then runs, on those same workers, ``--jobs`` jobs of each kind, timing enqueue ->
    last job ended: no-op jobs (``langjourney.jobs.run`` on ``allocation_benchmark.noop``: the same
    app-context wrapper as every job; run before and after the others, the ratio uses the mean),
    one-query jobs (a reference: one ORM query, what any job that touches the database pays in a
    fresh work horse) and allocation jobs
    (``run('langjourney.waitlist.tasks.allocate', course_id)``, courses sampled from those with a
    freed seat, leaving out any that (a) did not reach). An allocation job queues one offer mail job
    per offer onto the same queue (the outbox); the run waits until the queue is drained and reports
    allocation jobs/s both up to the last allocation job and up to the last mail job.

Each measured run stops at ``--phase-seconds`` (twice that for (b)'s allocation run, which also
drains the mails) and reports the rate of the work done (the first version of allocate did not get
through all ~1,850 courses with a freed seat in that time at full size; it now takes ~12 s).

``--profile FILE`` runs client 0 of (a) under pyinstrument (not the reference figures).

Mail: ``MAIL_BACKEND=null`` everywhere, so nothing is sent, but every offer still renders the mail
and inserts an ``outbox_message`` row in allocate's transaction (part of the real cost), and its
commit enqueues a ``send_mail`` job on Redis. In (a) those mail jobs are dropped from the private
queue afterwards; in (b) the workers run them.

``SERVER_NAME``: offer mails carry an absolute link, which a job builds from ``SERVER_NAME`` (read
from the environment); the workers get ``SERVER_NAME=langjourney.invalid``.

Workers are started once and kept for all the runs of (b) (the same workers in the same run, and no
start-up time in the figures); they are stopped with SIGTERM at the end. RQ forks a work horse for
every job: that is RQ's own overhead and it is in both figures.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
SECRET = "allocation-benchmark-secret-key-not-for-production"
LEVELS = ("A1", "A2", "B1.1", "B1.2", "B2", "C1")
LEVEL_WEIGHTS = (30, 25, 20, 12, 8, 5)
NOOP_PATH = "allocation_benchmark.noop"
ONE_QUERY_PATH = "allocation_benchmark.one_query"
ALLOCATE_PATH = "langjourney.waitlist.tasks.allocate"


# --------------------------------------------------------------------------------------------
# Jobs and the worker app (imported by the RQ workers: keep this module's top level light)


def noop(*args) -> None:
    """The no-op job: run through ``langjourney.jobs.run`` like every job, doing nothing."""
    return None


def one_query(course_id: int) -> None:
    """A reference job: one ORM query, i.e. what any real job pays before its own work in a freshly
    forked work horse (mapper configuration, a new PostgreSQL connection, statement compilation)."""
    from langjourney.courses.models import Course
    from langjourney.extensions import db

    db.session.get(Course, course_id)
    db.session.rollback()


def worker_app():
    """The workers' ``--app``: ``create_app()`` with the configuration from the environment, as
    ``wsgi.py`` builds it. Loading it through this module imports the module in the worker before
    it forks, as ``flask worker`` does with the app's own job modules; with ``--app wsgi`` every
    work horse would import it again to run a no-op job (some 30 ms, measured), and the no-op
    baseline would be slower than RQ really is."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from langjourney import create_app

    return create_app()


# --------------------------------------------------------------------------------------------
# Small helpers


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values, q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


class Progress:
    """tqdm on stderr if installed, else a plain line every few per cent."""

    def __init__(self, total: int, desc: str):
        try:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="row", unit_scale=True, file=sys.stderr,
                            mininterval=0.5, smoothing=0.1)
        except ImportError:
            self.bar = None
        self.total, self.done, self.desc, self.next_print = total, 0, desc, 0.0

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.done >= self.next_print:
            log(f"{self.desc}: {self.done:,}/{self.total:,} rows ({100 * self.done / self.total:.0f} %)")
            self.next_print = self.done + self.total / 20

    def set_description(self, desc: str) -> None:
        if self.bar is not None:
            self.bar.set_description(desc)
        self.desc = desc

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def conninfo(sa_url) -> str:
    """A libpq URL (for psycopg and pgbench) from a SQLAlchemy URL."""
    return sa_url.set(drivername="postgresql").render_as_string(hide_password=False)


def app_config(db_url: str, redis_url: str | None, queue: str) -> dict:
    return {
        "SQLALCHEMY_DATABASE_URI": db_url,
        "SECRET_KEY": SECRET,
        "REDIS_URL": redis_url,
        "RQ_QUEUE": queue,
        "MAIL_BACKEND": "null",
        "SERVER_NAME": "langjourney.invalid",
        "LOG_LEVEL": "WARNING",
    }


# --------------------------------------------------------------------------------------------
# The database


def create_database(admin_url, name: str) -> str:
    import psycopg

    with psycopg.connect(conninfo(admin_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            log(f"database {name} exists (a previous run?): dropping it")
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url, name: str) -> None:
    import psycopg

    with psycopg.connect(conninfo(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(db_url: str) -> None:
    sys.path.insert(0, str(ROOT))
    from flask_migrate import upgrade

    from langjourney import create_app
    from langjourney.extensions import db

    app = create_app(app_config(db_url, None, "unused"))
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()


# --------------------------------------------------------------------------------------------
# The bulk loader


def seed(conn, args, rng) -> dict:
    """COPY learners, providers, courses (full of accepted enrolments) and waitlist entries."""
    from datetime import date, datetime, time as dtime, timedelta, timezone

    now = datetime.now(timezone.utc)
    today = date.today()
    n_providers = max(1, args.courses // 40)
    # Courses first (in memory), so the enrolments know how many learners each level needs.
    course_levels = rng.choices(LEVELS, weights=LEVEL_WEIGHTS, k=args.courses)
    capacities = [rng.randint(args.capacity_min, args.capacity_max) for _ in range(args.courses)]
    learner_levels = rng.choices(LEVELS, weights=LEVEL_WEIGHTS, k=args.learners)
    by_level: dict[str, list[int]] = {lv: [] for lv in LEVELS}
    for uid, lv in enumerate(learner_levels, start=1):
        by_level[lv].append(uid)
    for ids in by_level.values():
        rng.shuffle(ids)
    # Enrolments: each course filled with distinct learners of its level.
    enrolments = []  # (learner, course, level)
    cursor_by_level = {lv: 0 for lv in LEVELS}
    short = 0
    for cid, (lv, cap) in enumerate(zip(course_levels, capacities), start=1):
        pool, start = by_level[lv], cursor_by_level[lv]
        take = pool[start:start + cap]
        short += cap - len(take)
        cursor_by_level[lv] = start + len(take)
        enrolments.extend((uid, cid, lv) for uid in take)
    waiting_pool = {lv: by_level[lv][cursor_by_level[lv]:] for lv in LEVELS}
    courses_at = {lv: [cid for cid, l in enumerate(course_levels, start=1) if l == lv] for lv in LEVELS}
    # Waitlist entries: per level, in proportion to its courses; 1-3 lists per learner at their level.
    entries = []  # (learner, course, level, joined_at)
    levels_with_courses = [lv for lv in LEVELS if courses_at[lv]]
    weight_total = sum(len(courses_at[lv]) for lv in levels_with_courses)
    for lv in levels_with_courses:
        want = round(args.entries * len(courses_at[lv]) / weight_total)
        learners, courses = waiting_pool[lv], courses_at[lv]
        per_learner = min(3, len(courses))
        slots = [uid for uid in learners for _ in range(per_learner)]
        rng.shuffle(slots)
        counts: dict[int, int] = {}
        for uid in slots[:want]:
            counts[uid] = counts.get(uid, 0) + 1
        for uid, k in counts.items():
            for cid in rng.sample(courses, k):
                entries.append((uid, cid, lv, now - timedelta(seconds=rng.randint(60, 365 * 86400))))
    rng.shuffle(entries)  # ids in no particular order of joined_at

    total = args.learners * 2 + n_providers + args.courses + len(enrolments) + len(entries)
    bar = Progress(total, "seeding")
    statuses = (["permanent_resident"] * 70 + ["new_immigrant"] * 12 + ["international_protection"] * 5
                + ["temporary_protection"] * 8 + ["returnee"] * 3 + ["estonian_abroad"] * 2)
    counties = ("harju", "tartu", "ida-viru", "parnu", "laane-viru", "viljandi", "rapla", "voru")
    towns = {"harju": "Tallinn", "tartu": "Tartu", "ida-viru": "Narva", "parnu": "Pärnu",
             "laane-viru": "Rakvere", "viljandi": "Viljandi", "rapla": "Rapla", "voru": "Võru"}
    tongues = ("ru", "ru", "ru", "uk", "uk", "en", "be", "lv", "fi", "other")
    locales = ("et", "en", "ru", "ru", "uk")
    chunk = 20000

    def copy(table: str, cols: str, rows):
        with conn.cursor() as cur, cur.copy(f'COPY "{table}" ({cols}) FROM STDIN') as cp:
            n = 0
            for row in rows:
                cp.write_row(row)
                n += 1
                if n == chunk:
                    bar.update(n)
                    n = 0
            bar.update(n)

    bar.set_description("seeding users")
    copy("user", "id, email, password_hash, full_name, role, locale, is_active, is_provider_admin, "
                 "created_at, password_changed_at",
         ((uid, f"learner{uid}@bench.invalid", "bench:not-a-password-hash", f"Learner {uid}", "learner",
           rng.choice(locales), True, False, now, now) for uid in range(1, args.learners + 1)))
    bar.set_description("seeding learner_profile")

    def profiles():
        for uid, lv in enumerate(learner_levels, start=1):
            status = rng.choice(statuses)
            permit = today - timedelta(days=rng.randint(30, 8 * 365)) if status == "new_immigrant" else None
            county = rng.choice(counties)
            yield (uid, rng.choice(tongues), county, towns[county], status, permit, "[]", "[]", True,
                   lv, "placement", now, now)

    copy("learner_profile", "user_id, mother_tongue, county, town, status, residence_permit_date, goals, "
                            "availability, accepts_online, level, level_source, level_set_at, updated_at",
         profiles())
    bar.set_description("seeding providers")
    copy("provider", "id, name, registry_code, created_at",
         ((pid, f"Bench language school {pid}", f"{10000000 + pid}", now) for pid in range(1, n_providers + 1)))
    bar.set_description("seeding courses")

    def courses():
        for cid, (lv, cap) in enumerate(zip(course_levels, capacities), start=1):
            county = rng.choice(counties)
            start = today + timedelta(days=rng.randint(30, 120))
            hours = {"A1": 100, "A2": 150, "B1.1": 120, "B1.2": 130, "B2": 140, "C1": 140}[lv]
            yield (cid, 1 + (cid - 1) % n_providers, f"Estonian {lv}, group {cid}", lv, "residents", "[]",
                   "in_person", county, towns[county], "Bench street 1", '["mon", "wed"]', 5,
                   dtime(17, 30), dtime(19, 0), start, start + timedelta(days=120), hours, cap, "ru",
                   start - timedelta(days=3), True, now, now, now)

    copy("course", "id, provider_id, title, level, programme, eligible_statuses, mode, county, town, "
                   "address, weekdays, weekday_mask, starts_at_time, ends_at_time, start_date, end_date, "
                   "academic_hours, capacity, support_language, enrolment_deadline, is_published, "
                   "approved_at, created_at, updated_at", courses())
    bar.set_description("seeding enrolment")
    copy("enrolment", "learner_id, course_id, level, status, accepted_at, confirm_by, updated_at",
         ((uid, cid, lv, "accepted", now - timedelta(days=rng.randint(1, 30)), today + timedelta(days=10), now)
          for uid, cid, lv in enrolments))
    bar.set_description("seeding waitlist_entry")
    copy("waitlist_entry", "learner_id, course_id, level, status, joined_at, created_at",
         ((uid, cid, lv, "waiting", joined, joined) for uid, cid, lv, joined in entries))
    bar.close()
    with conn.cursor() as cur:
        for table in ("user", "provider", "course", "enrolment", "waitlist_entry"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM \"{table}\"))")
    conn.commit()
    return {"learners": args.learners, "providers": n_providers, "courses": args.courses,
            "seats": sum(capacities), "enrolments": len(enrolments), "entries": len(entries),
            "short_of_learners": short,
            "waiting_learners": len({e[0] for e in entries})}


def free_seats(conn, n: int) -> list[int]:
    """Cancel ``n`` random accepted enrolments; return the courses that got seats back."""
    with conn.cursor() as cur:
        cur.execute("""UPDATE enrolment SET status = 'cancelled', ended_at = now(), updated_at = now()
                       WHERE id IN (SELECT id FROM enrolment WHERE status = 'accepted'
                                    ORDER BY random() LIMIT %s)
                       RETURNING course_id""", (n,))
        course_ids = sorted({row[0] for row in cur.fetchall()})
    conn.commit()
    return course_ids


# --------------------------------------------------------------------------------------------
# (a) In-process: the UPDATE baseline and allocate(), in client processes


def run_processes(ctx, target, arg_lists: list[tuple]) -> list:
    """One process per tuple, each running ``target(barrier, results, *args)`` (the barrier lines
    them up before their clocks start); returns what each put on ``results``."""
    barrier, results = ctx.Barrier(len(arg_lists)), ctx.Queue()
    procs = [ctx.Process(target=target, args=(barrier, results, *args)) for args in arg_lists]
    for p in procs:
        p.start()
    got = [results.get() for _ in procs]
    for p in procs:
        p.join()
    return got


def _update_client(barrier, results, info: str, n_courses: int, seconds: float, seed_: int) -> None:
    import random

    import psycopg

    rng = random.Random(seed_)
    lat = []
    with psycopg.connect(info, autocommit=True) as conn:
        for _ in range(20):  # warm up (psycopg prepares the statement after a few runs)
            conn.execute("UPDATE course SET updated_at = now() WHERE id = %s", (rng.randint(1, n_courses),))
        barrier.wait()
        start = time.perf_counter()
        deadline = start + seconds
        n = 0
        while True:
            t0 = time.perf_counter()
            if t0 >= deadline:
                break
            conn.execute("UPDATE course SET updated_at = now() WHERE id = %s", (rng.randint(1, n_courses),))
            lat.append(time.perf_counter() - t0)
            n += 1
        results.put({"n": n, "elapsed": time.perf_counter() - start, "lat": lat})


def run_update_baseline(ctx, info: str, clients: int, n_courses: int, seconds: float, tag: int) -> dict:
    got = run_processes(ctx, _update_client, [(info, n_courses, seconds, tag * 100 + i) for i in range(clients)])
    lat = [x for g in got for x in g["lat"]]
    n = sum(g["n"] for g in got)
    elapsed = max(g["elapsed"] for g in got)
    return {"tx": n, "seconds": elapsed, "tps": n / elapsed, "p50_ms": 1000 * pct(lat, 0.5),
            "p95_ms": 1000 * pct(lat, 0.95)}


def _statement_key(statement: str) -> str:
    import re

    full = " ".join(statement.split())
    outer = full
    while re.search(r"\([^()]*\)", outer):  # without its subqueries (EXISTS, counts): the outer statement
        outer = re.sub(r"\([^()]*\)", "", outer)
    verb = full.split(" ", 1)[0].upper()
    if verb in ("SAVEPOINT", "RELEASE", "ROLLBACK"):
        return verb
    pattern = r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?'
    table = re.search(pattern, outer, re.I) or re.search(pattern, full, re.I)
    where_pattern = r'WHERE\s+\(?"?(\w+)"?\.(\w+)'
    where = re.search(where_pattern, outer, re.I) or re.search(where_pattern, full, re.I)
    key = f"{verb} {table.group(1) if table else '?'}"
    if verb == "SELECT" and "count(" in full.lower():
        key = f"SELECT count {table.group(1) if table else '?'}"
    if where:
        key += f" WHERE {where.group(2)}"
    if "FOR UPDATE" in full.upper():
        key += " FOR UPDATE"
    return key


def _allocate_client(index: int, config: dict, course_q, results, barrier, profile_path: str | None) -> None:
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import event, text
    from sqlalchemy.engine import Engine

    from langjourney import create_app
    from langjourney.extensions import db
    from langjourney.jobs import warm_up
    from langjourney.waitlist import services
    from langjourney.waitlist.services import allocate

    stats = {"n": 0, "sql_s": 0.0, "by_statement": {}}

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_t0"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        dt = time.perf_counter() - conn.info.pop("bench_t0", time.perf_counter())
        stats["n"] += 1
        stats["sql_s"] += dt
        # Grouped by kind after the run: classifying each statement here would add to the timing.
        n, t = stats["by_statement"].get(statement, (0, 0.0))
        stats["by_statement"][statement] = (n + 1, t + dt)

    app = create_app(config)
    # Measure the steady state of a long-running process, not its first calls: warm up as
    # ``flask worker`` does before forking (locale data, mail templates, allocate's statements),
    # and connect, outside the timing.
    warm_up(app, services.warm_up)
    rows = []
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        db.session.remove()
        event.listen(Engine, "before_cursor_execute", before)
        event.listen(Engine, "after_cursor_execute", after)
        profiler = None
        if profile_path:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
        barrier.wait()
        started = time.time()
        if profiler:
            profiler.start()
        while True:
            course_id = course_q.get()
            if course_id is None:
                break
            n0, sql0, cpu0 = stats["n"], stats["sql_s"], time.process_time()
            t0 = time.perf_counter()
            offers = allocate(course_id)
            t1 = time.perf_counter()
            db.session.commit()  # enqueues one send_mail job per offer on Redis (after commit)
            t2 = time.perf_counter()
            db.session.remove()  # each call gets a fresh session, as a job does
            rows.append((course_id, len(offers), t1 - t0, t2 - t0, stats["n"] - n0, stats["sql_s"] - sql0,
                         time.process_time() - cpu0))
        ended = time.time()
        if profiler:
            profiler.stop()
            Path(profile_path).write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    by_key: dict[str, tuple[int, float]] = {}
    for statement, (n, t) in stats["by_statement"].items():
        a, b = by_key.get(_statement_key(statement), (0, 0.0))
        by_key[_statement_key(statement)] = (a + n, b + t)
    results.put({"index": index, "rows": rows, "started": started, "ended": ended, "by_key": by_key})


def run_allocate(ctx, config: dict, clients: int, course_ids: list[int], seconds: float,
                 profile_path: str | None) -> dict:
    course_q = ctx.Queue()
    for cid in course_ids:
        course_q.put(cid)
    results = ctx.Queue()
    barrier = ctx.Barrier(clients + 1)
    procs = [ctx.Process(target=_allocate_client,
                         args=(i, config, course_q, results, barrier, profile_path if i == 0 else None))
             for i in range(clients)]
    for p in procs:
        p.start()
    barrier.wait()
    t_start = time.time()
    deadline = t_start + seconds
    # Feed the sentinels once the time is up or the courses are all taken.
    while time.time() < deadline and not course_q.empty():
        time.sleep(0.05)
    hit_limit = not course_q.empty()
    if hit_limit:  # drain what is left so the clients stop after their current course
        try:
            while True:
                course_q.get(timeout=0.2)
        except Exception:
            pass
    for _ in procs:
        course_q.put(None)
    got = [results.get() for _ in procs]
    for p in procs:
        p.join()
    rows = [r for g in got for r in g["rows"]]
    wall = max(g["ended"] for g in got) - min(g["started"] for g in got)
    by_key: dict[str, tuple[int, float]] = {}
    for g in got:
        for key, (n, t) in g["by_key"].items():
            a, b = by_key.get(key, (0, 0.0))
            by_key[key] = (a + n, b + t)
    offers = sum(r[1] for r in rows)
    return {"calls": len(rows), "offers": offers, "wall": wall, "hit_limit": hit_limit,
            "seats_per_s": offers / wall if wall else 0.0, "calls_per_s": len(rows) / wall if wall else 0.0,
            "alloc_ms": [1000 * r[2] for r in rows], "total_ms": [1000 * r[3] for r in rows],
            "statements": [r[4] for r in rows], "sql_ms": [1000 * r[5] for r in rows],
            "cpu_ms": [1000 * r[6] for r in rows], "by_key": by_key,
            "per_course": {r[0]: r for r in rows}, "rows": rows}


def run_pgbench(info_url, clients: int, seconds: float) -> dict | None:
    import shutil

    exe = shutil.which("pgbench")
    if exe is None:
        return None
    env = {**os.environ, "PGHOST": info_url.host or "127.0.0.1", "PGPORT": str(info_url.port or 5432),
           "PGUSER": info_url.username or "postgres"}
    if info_url.password:
        env["PGPASSWORD"] = info_url.password
    db = info_url.database
    subprocess.run([exe, "-i", "-s", "1", "-q", db], env=env, check=True, capture_output=True)
    out = subprocess.run([exe, "-n", "-b", "simple-update", "-c", str(clients), "-j", str(clients),
                          "-T", str(int(seconds)), db], env=env, capture_output=True, text=True)
    tps = None
    for line in out.stdout.splitlines():
        if line.startswith("tps ="):
            tps = float(line.split()[2])
    lat = next((line.split("=")[1].strip() for line in out.stdout.splitlines()
                if line.startswith("latency average")), None)
    return {"tps": tps, "latency": lat, "raw": out.stdout[-600:] + out.stderr[-300:]}


# --------------------------------------------------------------------------------------------
# (b) Through RQ


def start_workers(n: int, db_url: str, redis_url: str, queue: str, app_spec: str, logdir: Path) -> list:
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": redis_url, "RQ_QUEUE": queue,
           "MAIL_BACKEND": "null", "SECRET_KEY": SECRET, "LOG_LEVEL": "WARNING",
           "SERVER_NAME": "langjourney.invalid",
           "PERIODIC_SECONDS": "0",  # no sweep allocating the measured courses behind the jobs' backs
           "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    procs = []
    for i in range(n):
        out = open(logdir / f"worker{i}.log", "wb")
        procs.append((subprocess.Popen([sys.executable, "-m", "flask", "--app", app_spec, "worker"],
                                       cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True), out))
    return procs


def stop_workers(procs) -> None:
    for p, _ in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)  # warm shutdown: the worker finishes its current job
    for p, out in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        out.close()


def wait_idle_workers(queue, n: int, timeout: float = 60) -> bool:
    from rq import Worker

    deadline = time.time() + timeout
    while time.time() < deadline:
        workers = Worker.all(queue=queue)
        if len(workers) >= n and all(w.get_state() == "idle" for w in workers):
            return True
        time.sleep(0.2)
    return False


def drained(queue) -> bool:
    from rq.registry import StartedJobRegistry

    return queue.count == 0 and StartedJobRegistry(queue=queue).count == 0


def run_jobs(queue, path: str, args_list: list[tuple], seconds: float, expect_more=None) -> dict:
    """Enqueue one job per args (as ``langjourney.jobs.dispatch`` does), wait until the queue is
    drained (or the time is up), and read when each job started and ended."""
    from datetime import datetime, timezone

    from rq import Queue
    from rq.job import Job
    from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry

    from langjourney.jobs import DEFAULT_RETRY, DEFAULT_TIMEOUT, run

    before = set(FinishedJobRegistry(queue=queue).get_job_ids()) | set(FailedJobRegistry(queue=queue).get_job_ids())
    datas = [Queue.prepare_data(run, args=(path, *a), timeout=DEFAULT_TIMEOUT, retry=DEFAULT_RETRY,
                                description=path, result_ttl=3600) for a in args_list]
    t_enqueue = datetime.now(timezone.utc)
    p0 = time.perf_counter()
    jobs = []
    for i in range(0, len(datas), 500):
        jobs += queue.enqueue_many(datas[i:i + 500])
    enqueue_s = time.perf_counter() - p0
    ids = [j.id for j in jobs]
    deadline = time.time() + seconds
    quiet = 0
    hit_limit = False
    while True:
        if drained(queue):
            quiet += 1
            if quiet >= 3:
                break
        else:
            quiet = 0
        if time.time() > deadline:
            hit_limit = True
            queue.empty()  # stop feeding the workers; the jobs they are running finish
            time.sleep(2)
            break
        time.sleep(0.03)
    t_seen = datetime.now(timezone.utc)
    fetched = [j for j in Job.fetch_many(ids, connection=queue.connection) if j is not None]
    done = [j for j in fetched if j.get_status(refresh=False) == "finished" and j.ended_at]
    failed = [j for j in fetched if j.get_status(refresh=False) == "failed"]
    scheduled = ScheduledJobRegistry(queue=queue).count
    # Jobs the measured jobs queued themselves (offer mails), from the registries.
    mine = set(ids)
    other_ids = [i for i in (set(FinishedJobRegistry(queue=queue).get_job_ids())
                             | set(FailedJobRegistry(queue=queue).get_job_ids())) - before - mine]
    others = [j for j in Job.fetch_many(other_ids, connection=queue.connection) if j is not None]
    others_done = [j for j in others if j.ended_at]
    last = max((j.ended_at for j in done), default=t_seen)
    last_all = max([last] + [j.ended_at for j in others_done])
    window = (last - t_enqueue).total_seconds()
    window_all = (last_all - t_enqueue).total_seconds()
    exec_ms = [1000 * (j.ended_at - j.started_at).total_seconds() for j in done if j.started_at]
    other_exec_ms = [1000 * (j.ended_at - j.started_at).total_seconds() for j in others_done if j.started_at]
    failures = []
    for j in failed[:3]:
        failures.append((j.exc_info or "").strip().splitlines()[-1:] if j.exc_info else ["?"])
    return {"jobs": len(ids), "finished": len(done), "failed": len(failed), "scheduled_retries": scheduled,
            "enqueue_s": enqueue_s, "window": window, "jobs_per_s": len(done) / window if window > 0 else 0.0,
            "other_jobs": len(others_done), "window_all": window_all, "exec_ms": exec_ms,
            "other_exec_ms": other_exec_ms, "hit_limit": hit_limit, "failures": failures,
            "results": [j.return_value(refresh=False) if hasattr(j, "return_value") else None for j in done]}


def cleanup_queue(queue) -> None:
    from rq.job import Job
    from rq.registry import (
        DeferredJobRegistry, FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry, StartedJobRegistry,
    )

    ids = set(queue.get_job_ids())
    for reg in (FinishedJobRegistry, FailedJobRegistry, StartedJobRegistry, ScheduledJobRegistry,
                DeferredJobRegistry):
        ids |= set(reg(queue=queue).get_job_ids())
    conn = queue.connection
    for i, job in enumerate(Job.fetch_many(list(ids), connection=conn)):
        if job is not None:
            job.delete(remove_from_queue=False, delete_dependents=False)
    queue.delete(delete_jobs=True)
    for key in conn.scan_iter(match=f"*{queue.name}*"):
        conn.delete(key)


# --------------------------------------------------------------------------------------------
# The run


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="allocation_benchmark.py",
        description="Benchmark waitlist seat allocation on PostgreSQL: (a) allocate() in-process against "
                    "single-row UPDATE transactions/s, (b) allocation jobs through RQ workers against no-op "
                    "jobs/s. Prints figures and ratios; never fails on a time.",
        epilog="Scaled-down run: --learners 20000 --courses 200 --entries 30000 --freed 500. "
               "The database is created fresh and dropped at the end.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    size = p.add_argument_group("data size")
    size.add_argument("--learners", type=int, default=200_000, help="learners (user + learner_profile)")
    size.add_argument("--courses", type=int, default=2_000, help="published courses, each full of accepted "
                                                                 "enrolments to start with")
    size.add_argument("--entries", type=int, default=300_000, help="waitlist entries (status waiting)")
    size.add_argument("--freed", type=int, default=5_000,
                      help="seats freed (cancelled enrolments) before each of (a) and (b)")
    size.add_argument("--capacity-min", type=int, default=16, help="smallest course capacity")
    size.add_argument("--capacity-max", type=int, default=24, help="largest course capacity")
    size.add_argument("--seed", type=int, default=20261130, help="random seed of the data")
    where = p.add_argument_group("services")
    where.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                       help="a PostgreSQL server on the loopback address and a database to administer it from; "
                            "the benchmark creates --db-name beside it")
    where.add_argument("--db-name", default="lj_alloc_bench", help="the fresh database (dropped at the end)")
    where.add_argument("--keep-db", action="store_true", help="keep the database at the end")
    where.add_argument("--redis-url", default="redis://127.0.0.1:6379/0",
                       help="Redis for RQ (a private queue name is used and deleted at the end)")
    where.add_argument("--worker-database-url",
                       help="(b): the server the workers connect to instead of --database-url's, such as a "
                            "connection pooler in front of it (PgBouncer in session mode: "
                            "postgresql+psycopg://postgres@127.0.0.1:6432/postgres); the database name is "
                            "replaced by the fresh database's")
    run = p.add_argument_group("measurement")
    run.add_argument("--clients", type=int, default=4,
                     help="(a): processes calling allocate(), and clients of the UPDATE baseline and pgbench")
    run.add_argument("--workers", type=int, default=4, help="(b): RQ worker processes (flask worker)")
    run.add_argument("--baseline-seconds", type=float, default=10.0, help="length of each UPDATE baseline run")
    run.add_argument("--phase-seconds", type=float, default=150.0,
                     help="time limit of each measured run ((a), (b) no-op, (b) one-query; the allocation run "
                          "of (b) gets twice this, for the offer mails its jobs queue); a run that hits it stops "
                          "and reports the rate of the work done")
    run.add_argument("--jobs", type=int, default=300,
                     help="(b): allocation jobs (courses with a freed seat, sampled), and as many no-op and "
                          "one-query jobs; 0 = one per course with a freed seat")
    run.add_argument("--no-pgbench", action="store_true", help="skip pgbench -b simple-update")
    run.add_argument("--skip-rq", action="store_true", help="skip (b)")
    run.add_argument("--skip-inprocess", action="store_true", help="skip (a)")
    run.add_argument("--worker-app", default="allocation_benchmark:worker_app",
                     help="--app of the workers (see worker_app; 'wsgi' is the production entry point, whose work "
                          "horses import this module for every reference job)")
    run.add_argument("--profile", metavar="FILE", default=None,
                     help="run client 0 of (a) under pyinstrument and write its text report to FILE "
                          "(slows that client; figures of such a run are not the reference ones)")
    return p.parse_args(argv)


def summarize_a(a: dict, base1: dict, base2: dict, pgb: dict | None, clients: int) -> tuple[list[str], float]:
    lines = []
    base = (base1["tps"] + base2["tps"]) / 2
    ratio = a["seats_per_s"] / base if base else float("nan")
    lines.append(f"(a) UPDATE baseline (psycopg, {clients} processes, autocommit): "
                 f"{base1['tps']:,.0f} tx/s before, {base2['tps']:,.0f} tx/s after, mean {base:,.0f} tx/s "
                 f"(latency p50 {base1['p50_ms']:.2f} / p95 {base1['p95_ms']:.2f} ms)")
    if pgb:
        lines.append(f"    pgbench -b simple-update -c {clients} -j {clients}: {pgb['tps']} tx/s "
                     f"(latency average {pgb['latency']})")
    lines.append(f"(a) allocate: {a['calls']} calls ({'time limit hit, ' if a['hit_limit'] else ''}"
                 f"{a['wall']:.1f} s wall, {clients} processes), {a['offers']} seats offered = "
                 f"{a['seats_per_s']:.1f} seats/s, {a['calls_per_s']:.1f} calls/s")
    lines.append(f"    allocate() latency p50 {pct(a['alloc_ms'], .5):.1f} / p95 {pct(a['alloc_ms'], .95):.1f} / "
                 f"max {max(a['alloc_ms'], default=float('nan')):.1f} ms; allocate + commit p50 "
                 f"{pct(a['total_ms'], .5):.1f} / p95 {pct(a['total_ms'], .95):.1f} ms")
    lines.append(f"    per call: CPU p50 {pct(a['cpu_ms'], .5):.1f} ms, SQL statements p50 "
                 f"{pct(a['statements'], .5):.0f} (p95 {pct(a['statements'], .95):.0f}), time in SQL round "
                 f"trips p50 {pct(a['sql_ms'], .5):.1f} ms")
    lines.append(f"    RATIO seats offered/s / UPDATE tx/s = {ratio:.4f}  (target >= 0.25: "
                 f"{'MET' if ratio >= 0.25 else 'MISSED'})")
    if pgb and pgb["tps"]:
        lines.append(f"    (against pgbench simple-update: {a['seats_per_s'] / pgb['tps']:.4f})")
    return lines, ratio


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import multiprocessing as mp
    import random
    import tempfile

    import psycopg
    from sqlalchemy.engine import make_url

    admin_url = make_url(args.database_url)
    if admin_url.host not in LOOPBACK:
        sys.exit(f"refusing {admin_url.host!r}: this benchmark only targets a PostgreSQL on the loopback address")
    if not admin_url.drivername.startswith("postgresql"):
        sys.exit("--database-url must be a PostgreSQL URL (postgresql+psycopg://...)")
    if admin_url.database in (None, ""):
        admin_url = admin_url.set(database="postgres")
    ctx = mp.get_context("spawn")
    rng = random.Random(args.seed)
    queue_name = f"lj-alloc-bench-{uuid.uuid4().hex[:10]}"
    report: list[str] = []
    t_all = time.perf_counter()
    load = os.getloadavg()
    log(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs")

    db_url = create_database(admin_url, args.db_name)
    url = make_url(db_url)
    info = conninfo(url)
    workdir = Path(tempfile.mkdtemp(prefix="lj-alloc-bench-"))
    workers = []
    queue = None
    try:
        t0 = time.perf_counter()
        migrate(db_url)
        log(f"migrated in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        with psycopg.connect(info) as conn:
            counts = seed(conn, args, rng)
        seed_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        with psycopg.connect(info, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        vacuum_s = time.perf_counter() - t0
        report.append(f"data: {counts['learners']:,} learners, {counts['courses']:,} courses "
                      f"({counts['providers']} providers, {counts['seats']:,} seats, {counts['enrolments']:,} "
                      f"accepted enrolments), {counts['entries']:,} waitlist entries of "
                      f"{counts['waiting_learners']:,} learners; loaded in {seed_s:.1f} s "
                      f"({(2 * counts['learners'] + counts['courses'] + counts['enrolments'] + counts['entries']) / seed_s:,.0f} rows/s), "
                      f"VACUUM ANALYZE {vacuum_s:.1f} s")
        if counts["short_of_learners"]:
            report.append(f"      ({counts['short_of_learners']} seats could not be filled: too few learners at a level)")
        log(report[-1])

        from redis import Redis
        from rq import Queue

        redis = Redis.from_url(args.redis_url)
        redis.ping()
        queue = Queue(queue_name, connection=redis)
        config = app_config(db_url, args.redis_url, queue_name)
        # The policy in force (version 1, created on first use) exists before anything is timed.
        from langjourney import create_app
        from langjourney.extensions import db
        from langjourney.waitlist.policy import current_policy

        app = create_app(config)
        with app.app_context():
            current_policy()
            db.session.commit()
            db.session.remove()

        if not args.skip_inprocess:
            with psycopg.connect(info) as conn:
                courses_a = free_seats(conn, args.freed)
                waiting = dict(conn.execute(
                    "SELECT course_id, count(*) FROM waitlist_entry WHERE status = 'waiting' GROUP BY course_id"))
            log(f"(a) freed {args.freed} seats on {len(courses_a)} courses; UPDATE baseline ...")
            base1 = run_update_baseline(ctx, info, args.clients, args.courses, args.baseline_seconds, 1)
            log(f"    {base1['tps']:,.0f} tx/s; allocate() on {len(courses_a)} courses with {args.clients} processes ...")
            a = run_allocate(ctx, config, args.clients, courses_a, args.phase_seconds, args.profile)
            log(f"    {a['offers']} offers in {a['wall']:.1f} s; UPDATE baseline again ...")
            base2 = run_update_baseline(ctx, info, args.clients, args.courses, args.baseline_seconds, 2)
            pgb = None
            if not args.no_pgbench:
                log("    pgbench -b simple-update ...")
                try:
                    pgb = run_pgbench(url, args.clients, args.baseline_seconds)
                except Exception as exc:  # pgbench missing or failing is not the benchmark's failure
                    log(f"    pgbench failed: {exc}")
            queue.empty()  # the offer mails' send_mail jobs: nobody runs them in (a)
            lines, _ = summarize_a(a, base1, base2, pgb, args.clients)
            report += lines
            # Where the time goes: statements per call, by kind, and the link to the waiting list.
            calls = max(a["calls"], 1)
            total_sql = sum(t for _, t in a["by_key"].values())
            report.append(f"    statements per allocate() call, by kind (mean over {a['calls']} calls; "
                          f"SQL round trips = {1000 * total_sql / calls:.1f} ms of "
                          f"{sum(a['total_ms']) / calls:.1f} ms per call):")
            for key, (n, t) in sorted(a["by_key"].items(), key=lambda kv: -kv[1][0])[:14]:
                report.append(f"      {n / calls:8.1f} x {key:<60} {1000 * t / calls:7.2f} ms")
            per = [(waiting.get(cid, 0), r[4], r[2] * 1000, r[1]) for cid, r in a["per_course"].items()]
            if per:
                mean_wait = sum(w for w, *_ in per) / len(per)
                report.append(f"    waiting entries per allocated course: mean {mean_wait:.0f}; "
                              f"statements per call mean {sum(s for _, s, *_ in per) / len(per):.0f}; "
                              f"offers per call mean {sum(o for *_, o in per) / len(per):.2f}")
                few = [p for p in per if p[0] <= pct([q[0] for q in per], 0.25)]
                many = [p for p in per if p[0] >= pct([q[0] for q in per], 0.75)]
                if few and many:
                    report.append(
                        "    shortest quarter of lists: "
                        f"{sum(p[0] for p in few) / len(few):.0f} waiting -> {sum(p[2] for p in few) / len(few):.0f} ms, "
                        f"{sum(p[1] for p in few) / len(few):.0f} statements; longest quarter: "
                        f"{sum(p[0] for p in many) / len(many):.0f} waiting -> {sum(p[2] for p in many) / len(many):.0f} ms, "
                        f"{sum(p[1] for p in many) / len(many):.0f} statements")
            with psycopg.connect(info) as conn:
                rows = dict(conn.execute("SELECT 'offers', count(*) FROM offer UNION ALL "
                                         "SELECT 'events', count(*) FROM allocation_event UNION ALL "
                                         "SELECT 'outbox', count(*) FROM outbox_message"))
            report.append(f"    rows written: {rows['offers']} offers, {rows['events']} allocation events, "
                          f"{rows['outbox']} outbox messages")
            if args.profile:
                report.append(f"    pyinstrument report of client 0: {args.profile}")
            log("\n".join(report))

        if not args.skip_rq:
            with psycopg.connect(info) as conn:
                courses_b = courses_b_all = free_seats(conn, args.freed)
                outbox_before = conn.execute("SELECT count(*) FROM outbox_message").fetchone()[0]
            # Courses (a) did not reach (its time limit) still have their first freed seats: leave them
            # out, so that an allocation job in (b) has as many seats to fill as a call in (a).
            leftover = set(courses_a) - set(a["per_course"]) if not args.skip_inprocess else set()
            courses_b = [cid for cid in courses_b if cid not in leftover]
            if args.jobs and len(courses_b) > args.jobs:
                courses_b = sorted(rng.sample(courses_b, args.jobs))
            n_jobs = len(courses_b)
            log(f"(b) freed {args.freed} seats; {n_jobs} courses (of {len(courses_b_all)}) get an allocation job; starting {args.workers} "
                f"workers ({args.worker_app}) on queue {queue_name} ...")
            worker_db_url = (make_url(args.worker_database_url).set(database=args.db_name).render_as_string(
                hide_password=False) if args.worker_database_url else db_url)
            workers = start_workers(args.workers, worker_db_url, args.redis_url, queue_name, args.worker_app, workdir)
            if not wait_idle_workers(queue, args.workers):
                log("    the workers did not come up; logs:")
                for f in sorted(workdir.glob("worker*.log")):
                    log(f.read_text()[-2000:])
                raise SystemExit(1)
            log(f"    {n_jobs} no-op jobs ...")
            noop_run = run_jobs(queue, NOOP_PATH, [() for _ in range(n_jobs)], args.phase_seconds)
            log(f"    {noop_run['jobs_per_s']:.1f} jobs/s; {n_jobs} one-query jobs ...")
            query_run = run_jobs(queue, ONE_QUERY_PATH, [(cid,) for cid in courses_b], args.phase_seconds)
            log(f"    {query_run['jobs_per_s']:.1f} jobs/s; {n_jobs} allocation jobs ...")
            # Twice the time: the allocation jobs, then the offer mail jobs they queue.
            alloc_run = run_jobs(queue, ALLOCATE_PATH, [(cid,) for cid in courses_b], 2 * args.phase_seconds)
            log(f"    {alloc_run['jobs_per_s']:.1f} jobs/s; {n_jobs} no-op jobs again ...")
            noop_run2 = run_jobs(queue, NOOP_PATH, [() for _ in range(n_jobs)], args.phase_seconds)
            stop_workers(workers)
            workers = []
            tracebacks = sum(f.read_text(errors="replace").count("Traceback") for f in workdir.glob("worker*.log"))
            with psycopg.connect(info) as conn:
                outbox_after = conn.execute("SELECT count(*) FROM outbox_message").fetchone()[0]
                sent = conn.execute("SELECT count(*) FROM outbox_message WHERE status = 'sent'").fetchone()[0]
            offers_b = sum(r or 0 for r in alloc_run["results"] if isinstance(r, int))
            nr, nr2, qr, ar = noop_run, noop_run2, query_run, alloc_run
            noop_rate = (nr["jobs_per_s"] + nr2["jobs_per_s"]) / 2
            ratio = ar["jobs_per_s"] / noop_rate if noop_rate else float("nan")
            alloc_incl_mail = ar["finished"] / ar["window_all"] if ar["window_all"] > 0 else 0.0
            ratio_all = alloc_incl_mail / noop_rate if noop_rate else float("nan")
            report.append(f"(b) RQ: {args.workers} workers ({args.worker_app}, started once for all the runs; "
                          "periodic sweeps off"
                          f"{f'; workers connect through {make_url(args.worker_database_url).render_as_string()}' if args.worker_database_url else ''}"
                          f"), {n_jobs} jobs per run "
                          f"(courses sampled from the {len(courses_b_all)} with a freed seat"
                          f"{f', less {len(leftover)} left over from (a)' if leftover else ''})")
            report.append(f"    no-op jobs: {nr['finished']}/{nr['jobs']} finished in {nr['window']:.1f} s "
                          f"(enqueue -> last ended; enqueueing took {nr['enqueue_s']:.2f} s) = "
                          f"{nr['jobs_per_s']:.1f} jobs/s; in the work horse p50 {pct(nr['exec_ms'], .5):.1f} ms"
                          f"{'; TIME LIMIT HIT' if nr['hit_limit'] else ''}; again after the allocation jobs: "
                          f"{nr2['jobs_per_s']:.1f} jobs/s; mean {noop_rate:.1f} jobs/s")
            report.append(f"    one-query jobs (reference: one ORM query): {qr['finished']}/{qr['jobs']} finished in "
                          f"{qr['window']:.1f} s = {qr['jobs_per_s']:.1f} jobs/s; in the work horse p50 "
                          f"{pct(qr['exec_ms'], .5):.1f} ms{'; TIME LIMIT HIT' if qr['hit_limit'] else ''}")
            report.append(f"    allocation jobs: {ar['finished']}/{ar['jobs']} finished, {ar['failed']} failed, "
                          f"{ar['scheduled_retries']} waiting to retry, in {ar['window']:.1f} s = "
                          f"{ar['jobs_per_s']:.1f} jobs/s; {offers_b} seats offered ({offers_b / max(ar['finished'], 1):.2f} per job, "
                          f"{offers_b / ar['window'] if ar['window'] > 0 else 0:.1f} seats/s); in the work horse "
                          f"p50 {pct(ar['exec_ms'], .5):.1f} / p95 {pct(ar['exec_ms'], .95):.1f} ms"
                          f"{'; TIME LIMIT HIT' if ar['hit_limit'] else ''}")
            for f in ar["failures"]:
                report.append(f"      failure: {' '.join(f)}")
            report.append(f"    offer mail jobs they queued: {ar['other_jobs']} run (outbox rows "
                          f"{outbox_after - outbox_before}, sent by the null backend {sent}), in the work horse "
                          f"p50 {pct(ar['other_exec_ms'], .5):.1f} ms; queue drained {ar['window_all']:.1f} s "
                          f"after the enqueue = {alloc_incl_mail:.1f} allocation jobs/s counting their mails")
            report.append(f"    RATIO allocation jobs/s / no-op jobs/s = {ratio:.3f}  (target >= 0.5: "
                          f"{'MET' if ratio >= 0.5 else 'MISSED'}); counting the offer mails: {ratio_all:.3f}; "
                          f"one-query jobs / no-op jobs: {qr['jobs_per_s'] / noop_rate if noop_rate else 0:.3f}")
            report.append(f"    tracebacks in the worker logs: {tracebacks}"
                          + (f" (logs kept in {workdir})" if tracebacks else ""))
        report.append(f"total run time {time.perf_counter() - t_all:.0f} s; load average at the end "
                      f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        if workers:
            stop_workers(workers)
        if queue is not None:
            try:
                cleanup_queue(queue)
            except Exception as exc:
                log(f"could not clean up the queue {queue_name}: {exc}")
        if not args.keep_db:
            drop_database(admin_url, args.db_name)
        if not any(workdir.glob("*.log")) or "(logs kept in" not in "\n".join(report):
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"kept the database: {db_url}")
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
