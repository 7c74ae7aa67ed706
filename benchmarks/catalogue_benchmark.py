"""Benchmark the public course catalogue search on 10,000 courses.

    .venv/bin/python benchmarks/catalogue_benchmark.py
    .venv/bin/python benchmarks/catalogue_benchmark.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Builds the schema by running the migrations in a temporary SQLite file and, with ``--database-url``,
in a temporary PostgreSQL database created next to the one named (and dropped afterwards), loads
10,000 courses of 50 providers, and times typical filtered catalogue pages (the count and the page
query with its providers, as the web page runs them) and a matching run. The baseline is an
unfiltered primary-key page fetch of the same size in the same run; each figure is also given as a
ratio to it, which travels between machines better than milliseconds. Never fails on a time.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta, time as dtime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from langjourney import create_app  # noqa: E402
from langjourney.auth.models import Provider, Role, User  # noqa: E402
from langjourney.courses.models import COURSE_LEVELS, WEEKDAY_CODES, Course, weekday_mask  # noqa: E402
from langjourney.courses.services import PAGE_SIZE, CatalogueFilters, search_catalogue  # noqa: E402
from langjourney.extensions import db  # noqa: E402
from langjourney.learners.models import LearnerProfile, LearnerStatus  # noqa: E402

PLACES = [("Tallinn", "harju"), ("Maardu", "harju"), ("Narva", "ida-viru"), ("Jõhvi", "ida-viru"),
          ("Kohtla-Järve", "ida-viru"), ("Sillamäe", "ida-viru"), ("Tartu", "tartu"), ("Pärnu", "parnu"),
          ("Valga", "valga"), ("Rakvere", "laane-viru"), ("Viljandi", "viljandi"), ("Kuressaare", "saare")]
TODAY = date.today()
SEARCHES = {
    "level": CatalogueFilters(level="A2"),
    "county": CatalogueFilters(county="ida-viru"),
    "town + online": CatalogueFilters(town="Narva", online=True),
    "level + county + evening": CatalogueFilters(level="B1.1", county="harju", day_part="evening"),
    "weekday + time of day": CatalogueFilters(weekday="sat", day_part="morning"),
    "start month": CatalogueFilters(start_month=(TODAY + timedelta(days=62)).strftime("%Y-%m")),
    "everything": CatalogueFilters(level="A1", county="ida-viru", online=True, day_part="evening",
                                   weekday="mon", programme=None),
}


def build(n_courses: int, seed: int) -> None:
    rng = random.Random(seed)
    db.session.execute(insert(Provider), [{"name": f"Keelekool {i} OÜ", "created_at": _now()} for i in range(50)])
    provider_ids = list(db.session.scalars(select(Provider.id)))
    rows = []
    for i in range(n_courses):
        town, county = rng.choice(PLACES)
        online = rng.random() < 0.15
        days = sorted(rng.sample(WEEKDAY_CODES[:6], k=rng.choice([1, 2, 2, 3])), key=WEEKDAY_CODES.index)
        hour = rng.choice([9, 10, 13, 15, 17, 18])
        start = TODAY + timedelta(days=rng.randrange(-60, 300))
        rows.append({
            "provider_id": rng.choice(provider_ids), "title": f"Eesti keel {i}", "level": rng.choice(COURSE_LEVELS),
            "programme": "adaptation" if rng.random() < 0.25 else "residents", "eligible_statuses": [],
            "mode": "online" if online else rng.choice(["in_person", "in_person", "hybrid"]),
            "county": None if online else county, "town": None if online else town, "address": None,
            "weekdays": days, "weekday_mask": weekday_mask(days), "starts_at_time": dtime(hour, 0),
            "ends_at_time": dtime(hour + 1, 30), "start_date": start, "end_date": start + timedelta(weeks=16),
            "academic_hours": 120, "capacity": 20, "support_language": None, "enrolment_deadline": None,
            "is_published": rng.random() < 0.95, "approved_at": _now(), "created_at": _now(), "updated_at": _now(),
        })
    for chunk in range(0, len(rows), 2000):
        db.session.execute(insert(Course), rows[chunk:chunk + 2000])
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    else:
        db.session.execute(text("ANALYZE"))
        db.session.commit()


def _now():
    from langjourney.db import utcnow

    return utcnow()


def timed(fn, repeat: int) -> float:
    """Median milliseconds of ``repeat`` runs after one warm-up, each with a fresh session."""
    fn()
    db.session.remove()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
        db.session.remove()
    return statistics.median(samples)


def baseline() -> None:
    list(db.session.scalars(select(Course).order_by(Course.id).limit(PAGE_SIZE)))


def run(url: str, n_courses: int, repeat: int, seed: int) -> None:
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "benchmark", "REDIS_URL": None,
                      "MAIL_BACKEND": "null", "LOG_LEVEL": "WARNING", "SERVER_NAME": "bench.local"})
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        build(n_courses, seed)
        print(f"\n{db.engine.dialect.name}: {n_courses} courses built in {time.perf_counter() - started:.1f} s")
        base = timed(baseline, repeat)
        print(f"  {'baseline: primary-key page of ' + str(PAGE_SIZE):<40} {base:8.2f} ms   1.0×")
        for name, filters in SEARCHES.items():
            total = search_catalogue(filters).total
            for page in (1, 5):
                ms = timed(lambda f=filters, p=page: search_catalogue(f, p), repeat)
                print(f"  {name + f' (page {page}, {total} hits)':<40} {ms:8.2f} ms {ms / base:6.1f}×")
        learner = User(email="bench@example.com", full_name="Bench", role=Role.LEARNER, password_hash="x")
        db.session.add(learner)
        db.session.add(LearnerProfile(user=learner, mother_tongue="ru", county="ida-viru", town="Narva",
                                      status=LearnerStatus.PERMANENT_RESIDENT, availability=["mon:evening"],
                                      accepts_online=True, level="A2", level_source="placement"))
        db.session.commit()
        learner_id = learner.id
        from langjourney.courses.matching import match_courses

        with app.test_request_context():
            ms = timed(lambda: match_courses(db.session.get(User, learner_id)), repeat)
            ranked = len(match_courses(db.session.get(User, learner_id)).ranked)
        print(f"  {f'matching one A2 learner ({ranked} ranked)':<40} {ms:8.2f} ms {ms / base:6.1f}×")
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--courses", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--database-url", help="a PostgreSQL URL; a temporary database is created on that server")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{tmp}/catalogue.sqlite3", args.courses, args.repeat, args.seed)
    if args.database_url:
        url = make_url(args.database_url)
        name = f"lj_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run(url.set(database=name).render_as_string(hide_password=False), args.courses, args.repeat, args.seed)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
