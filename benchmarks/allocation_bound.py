"""How far could seat allocation go on this machine? An upper bound for target (a) of the
allocation benchmark, measured on a database that ``allocation_benchmark.py --keep-db`` left.

Target (a) asks that seats offered per second by ``allocate`` reach 0.25 x single-row UPDATE
transactions per second. This script measures what the best conceivable implementation would
reach: the whole allocation decision inside PostgreSQL, as one PL/pgSQL call per course, from a
bare psycopg client that does nothing else. It is not the product's code and it is not a
candidate for it; it exists to tell whether the target is within reach of any rewrite. Two
variants, each in the same run as the UPDATE baseline (the same baseline as
``allocation_benchmark.py``, run before and after, the ratio uses the mean):

``decide``  One call of ``bound_allocate(course, moment, cutoff, today)`` per course with a freed
            seat, then one INSERT of an outbox row per offer (a body of the real offer mail's size,
            ~1,040 characters), then COMMIT. The function does what ``allocate`` asks of the
            database, under the default policy (tier 1 for the adaptation window, then join time,
            then the SHA-256 lottery): lock the course row, expire its due offers, count the live
            seats, rank the waiting entries, check each candidate's eligibility in the order of
            ``courses.rules.enrolment_problems`` (open offer, level, a seat or completion at this
            level, a higher level taken, another active seat, eligible statuses, the adaptation
            window), and per offer: the conditional entry UPDATE, the offer INSERT with ON
            CONFLICT DO NOTHING and the allocation event with its skipped list.
``write``   The writes of the offers alone, for entries chosen before the clock starts: lock the
            course row, and per offer the entry UPDATE, the offer INSERT and the event INSERT, then
            the outbox rows and COMMIT. No reads to decide with.

Everything the product does besides (rendering each mail in the learner's language, the signed
links, queuing the mail jobs on Redis, SQLAlchemy, any tier rules other than the default) is left
out, so the product's allocate can only be slower than ``decide``.

    .venv/bin/python benchmarks/allocation_benchmark.py --keep-db --skip-rq --db-name lj_alloc_bench
    .venv/bin/python benchmarks/allocation_bound.py --db-name lj_alloc_bench

The kept database is not changed: the script copies it (``CREATE DATABASE … TEMPLATE``) to
``<db-name>_bound``, puts the copy back to the loaded state (every enrolment accepted, every
entry waiting, no offers, events or mails), frees ``--freed`` seats before each variant as the
benchmark does, and drops the copy at the end.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from allocation_benchmark import (  # noqa: E402
    conninfo, free_seats, log, pct, run_pgbench, run_processes, run_update_baseline,
)

from langjourney.courses.rules import adaptation_cutoff  # noqa: E402
from langjourney.waitlist.policy import DEFAULT_RULES  # noqa: E402

MAIL_BODY = "x" * 1040

FUNCTIONS = """
CREATE FUNCTION bound_allocate(p_course int, p_moment timestamptz, p_cutoff date, p_today date)
RETURNS SETOF int LANGUAGE plpgsql AS $$
DECLARE
  c course%ROWTYPE;
  pol allocation_policy%ROWTYPE;
  free int;
  r record;
  reason text;
  new_offer int;
  made int := 0;
  skipped jsonb := '[]';
  levels text[] := ARRAY['A1', 'A2', 'B1', 'B2', 'C1'];
BEGIN
  SELECT * INTO c FROM course WHERE id = p_course FOR UPDATE;
  IF NOT FOUND THEN RETURN; END IF;
  WITH due AS (UPDATE offer SET status = 'expired', decided_at = p_moment
               WHERE course_id = p_course AND status = 'open' AND expires_at <= p_moment
               RETURNING entry_id)
  UPDATE waitlist_entry SET status = 'expired', ended_at = p_moment WHERE id IN (SELECT entry_id FROM due);
  free := c.capacity
          - (SELECT count(*) FROM enrolment WHERE course_id = p_course AND status IN ('accepted', 'confirmed'))
          - (SELECT count(*) FROM offer WHERE course_id = p_course AND status = 'open');
  IF free <= 0 OR NOT c.is_published OR coalesce(c.enrolment_deadline, c.start_date) < p_today THEN
    RETURN;
  END IF;
  SELECT * INTO pol FROM allocation_policy ORDER BY version DESC LIMIT 1;
  FOR r IN
    SELECT * FROM (
      SELECT e.id, e.learner_id, e.joined_at, p.level, p.status,
             CASE WHEN p.residence_permit_date IS NOT NULL THEN p.residence_permit_date >= p_cutoff
                  ELSE p.status IN ('international_protection', 'temporary_protection') END AS in_window,
             coalesce(e.tier_override,
                      CASE WHEN CASE WHEN p.residence_permit_date IS NOT NULL THEN p.residence_permit_date >= p_cutoff
                                     ELSE p.status IN ('international_protection', 'temporary_protection') END
                           THEN 1 ELSE pol.default_tier END) AS tier,
             encode(sha256(convert_to(pol.lottery_seed || ':' || e.id, 'UTF8')), 'hex') AS lottery,
             EXISTS (SELECT 1 FROM offer o WHERE o.learner_id = e.learner_id AND o.status = 'open') AS holds_offer
      FROM waitlist_entry e JOIN learner_profile p ON p.user_id = e.learner_id
      WHERE e.course_id = p_course AND e.status = 'waiting') ranked
    ORDER BY tier, joined_at, lottery COLLATE "C"
  LOOP
    reason := CASE
      WHEN r.holds_offer THEN 'holds_offer'
      WHEN r.level IS NULL THEN 'no_level'
      WHEN r.level <> c.level THEN 'wrong_level'
      WHEN EXISTS (SELECT 1 FROM enrolment en WHERE en.learner_id = r.learner_id AND en.level = c.level
                   AND en.status IN ('accepted', 'confirmed', 'completed')) THEN 'level_taken'
      WHEN EXISTS (SELECT 1 FROM enrolment en WHERE en.learner_id = r.learner_id
                   AND en.status IN ('accepted', 'confirmed', 'completed')
                   AND coalesce(array_position(levels, en.level::text), 0) > coalesce(array_position(levels, c.level::text), 0))
        THEN 'downward'
      WHEN EXISTS (SELECT 1 FROM enrolment en WHERE en.learner_id = r.learner_id AND en.course_id <> p_course
                   AND en.status IN ('accepted', 'confirmed')) THEN 'has_active'
      WHEN json_array_length(c.eligible_statuses) > 0 AND NOT c.eligible_statuses::jsonb ? r.status THEN 'status'
      WHEN c.programme = 'adaptation' AND NOT r.in_window THEN 'adaptation_window'
    END;
    IF reason IS NOT NULL THEN
      skipped := skipped || jsonb_build_object('entry', r.id, 'learner', r.learner_id, 'reason', reason);
      CONTINUE;
    END IF;
    UPDATE waitlist_entry SET status = 'offered' WHERE id = r.id AND status = 'waiting';
    CONTINUE WHEN NOT FOUND;
    new_offer := NULL;
    INSERT INTO offer (entry_id, learner_id, course_id, policy_version, status, offered_at, expires_at)
    VALUES (r.id, r.learner_id, p_course, pol.version, 'open', p_moment, p_moment + make_interval(hours => pol.offer_hours))
    ON CONFLICT DO NOTHING RETURNING id INTO new_offer;
    IF new_offer IS NULL THEN
      UPDATE waitlist_entry SET status = 'waiting' WHERE id = r.id;
      CONTINUE;
    END IF;
    made := made + 1;
    INSERT INTO allocation_event (at, kind, actor, reason, detail, learner_id, course_id, entry_id, offer_id,
                                  policy_version, tier, lottery)
    VALUES (p_moment, 'offer', 'job', format('free seat %s of %s', made, free),
            json_build_object('skipped', skipped, 'joined_at', r.joined_at), r.learner_id, p_course, r.id,
            new_offer, pol.version, r.tier, r.lottery);
    RETURN NEXT new_offer;
    EXIT WHEN made >= free;
  END LOOP;
END $$;

CREATE FUNCTION bound_write(p_course int, p_entries int[], p_moment timestamptz)
RETURNS SETOF int LANGUAGE plpgsql AS $$
DECLARE
  entry int;
  learner int;
  new_offer int;
BEGIN
  PERFORM 1 FROM course WHERE id = p_course FOR UPDATE;
  FOREACH entry IN ARRAY p_entries LOOP
    learner := NULL;
    UPDATE waitlist_entry SET status = 'offered' WHERE id = entry AND status = 'waiting' RETURNING learner_id INTO learner;
    CONTINUE WHEN learner IS NULL;
    new_offer := NULL;
    INSERT INTO offer (entry_id, learner_id, course_id, policy_version, status, offered_at, expires_at)
    VALUES (entry, learner, p_course, 1, 'open', p_moment, p_moment + interval '48 hours')
    ON CONFLICT DO NOTHING RETURNING id INTO new_offer;
    CONTINUE WHEN new_offer IS NULL;
    INSERT INTO allocation_event (at, kind, actor, reason, detail, learner_id, course_id, entry_id, offer_id,
                                  policy_version, tier, lottery)
    VALUES (p_moment, 'offer', 'job', 'free seat', '{"skipped": [], "joined_at": null}', learner, p_course,
            entry, new_offer, 1, 2, encode(sha256(convert_to('seed:' || entry, 'UTF8')), 'hex'));
    RETURN NEXT new_offer;
  END LOOP;
END $$;
"""

RESET = """
DELETE FROM offer; DELETE FROM allocation_event; DELETE FROM outbox_message;
UPDATE waitlist_entry SET status = 'waiting', ended_at = NULL WHERE status <> 'waiting';
UPDATE enrolment SET status = 'accepted', ended_at = NULL WHERE status <> 'accepted';
"""


def _client(barrier, results, info: str, calls: list, variant: str) -> None:
    import psycopg

    moment = datetime.now(timezone.utc)
    today = date.today()
    cutoff = adaptation_cutoff(today)
    seats, latencies = 0, []
    with psycopg.connect(info) as conn:
        conn.execute("SELECT 1").fetchall()
        conn.commit()
        barrier.wait()
        start, cpu = time.perf_counter(), time.process_time()
        for call in calls:
            t0 = time.perf_counter()
            with conn.transaction():
                if variant == "decide":
                    offers = conn.execute("SELECT bound_allocate(%s, %s, %s, %s)",
                                          (call, moment, cutoff, today)).fetchall()
                else:
                    offers = conn.execute("SELECT bound_write(%s, %s, %s)", (*call, moment)).fetchall()
                if offers:
                    with conn.cursor() as cur:
                        cur.executemany(
                            "INSERT INTO outbox_message (recipient, user_id, subject, body, locale, status, "
                            "attempts, created_at) VALUES ('learner@example.invalid', NULL, %s, %s, 'et', "
                            "'pending', 0, now())", [("Sul on vaba koht", MAIL_BODY)] * len(offers))
            latencies.append(time.perf_counter() - t0)
            seats += len(offers)
        results.put({"seats": seats, "calls": len(calls), "elapsed": time.perf_counter() - start,
                     "cpu": time.process_time() - cpu, "lat": latencies})


def run_variant(ctx, info: str, clients: int, calls: list, variant: str) -> dict:
    random.Random(7).shuffle(calls)
    got = run_processes(ctx, _client, [(info, calls[i::clients], variant) for i in range(clients)])
    elapsed = max(g["elapsed"] for g in got)
    seats = sum(g["seats"] for g in got)
    lat = [x for g in got for x in g["lat"]]
    return {"seats": seats, "calls": len(calls), "elapsed": elapsed, "seats_s": seats / elapsed,
            "p50_ms": 1000 * pct(lat, 0.5), "p95_ms": 1000 * pct(lat, 0.95),
            "client_cpu_ms": 1000 * sum(g["cpu"] for g in got) / len(calls)}


def chosen_entries(conn, course_ids: list[int]) -> list[tuple[int, list[int]]]:
    """For the write variant: per course, as many waiting entries of learners without an open offer
    as the course has free seats, one learner at most once (chosen before the clock starts)."""
    rows = conn.execute("""
        SELECT c.id, c.capacity - (SELECT count(*) FROM enrolment en WHERE en.course_id = c.id
                                   AND en.status IN ('accepted', 'confirmed'))
                             - (SELECT count(*) FROM offer o WHERE o.course_id = c.id AND o.status = 'open')
        FROM course c WHERE c.id = ANY(%s)""", (course_ids,)).fetchall()
    taken: set[int] = set()
    calls = []
    for course_id, free in rows:
        entries = []
        for entry_id, learner_id in conn.execute(
                """SELECT e.id, e.learner_id FROM waitlist_entry e WHERE e.course_id = %s AND e.status = 'waiting'
                   AND NOT EXISTS (SELECT 1 FROM offer o WHERE o.learner_id = e.learner_id AND o.status = 'open')
                   ORDER BY e.id""", (course_id,)):
            if len(entries) == free:
                break
            if learner_id not in taken:
                taken.add(learner_id)
                entries.append(entry_id)
        if entries:
            calls.append((course_id, entries))
    return calls


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="An upper bound for the allocation benchmark's target (a): allocation as one PL/pgSQL "
                    "call per course from a bare psycopg client, and the offers' writes alone, each against "
                    "the UPDATE baseline in the same run. Runs on a copy of a database kept by "
                    "allocation_benchmark.py --keep-db.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="the server (loopback only) and a database to administer it from")
    parser.add_argument("--db-name", default="lj_alloc_bench", help="the database allocation_benchmark.py kept")
    parser.add_argument("--freed", type=int, default=5000, help="seats freed before each variant")
    parser.add_argument("--clients", type=int, default=4, help="client processes, also of the baseline")
    parser.add_argument("--baseline-seconds", type=float, default=10.0, help="length of each UPDATE baseline run")
    parser.add_argument("--no-pgbench", action="store_true", help="skip pgbench simple-update")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    import psycopg
    from sqlalchemy.engine import make_url

    args = parse_args(argv)
    admin = make_url(args.database_url)
    if admin.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("only a loopback server is accepted")
    copy = f"{args.db_name}_bound"
    with psycopg.connect(conninfo(admin), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (args.db_name,)).fetchone():
            sys.exit(f"no database {args.db_name}: run allocation_benchmark.py --keep-db --db-name {args.db_name}")
        conn.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{args.db_name}"')
    url = admin.set(database=copy)
    info = conninfo(url)
    ctx = mp.get_context("spawn")
    try:
        with psycopg.connect(info, autocommit=True) as conn:
            rules = conn.execute("SELECT tier_rules FROM allocation_policy ORDER BY version DESC LIMIT 1").fetchone()
            if rules and rules[0] != DEFAULT_RULES:
                sys.exit(f"the policy in force has tier rules {rules[0]}; this bound implements only the default")
            conn.execute(RESET)
            conn.execute(FUNCTIONS)
            conn.execute("VACUUM ANALYZE")
            n_courses = conn.execute("SELECT count(*) FROM course").fetchone()[0]
        lines = []
        for variant in ("decide", "write"):
            with psycopg.connect(info) as conn:
                course_ids = free_seats(conn, args.freed)
                calls = course_ids if variant == "decide" else chosen_entries(conn, course_ids)
            before = run_update_baseline(ctx, info, args.clients, n_courses, args.baseline_seconds, 1)
            result = run_variant(ctx, info, args.clients, list(calls), variant)
            after = run_update_baseline(ctx, info, args.clients, n_courses, args.baseline_seconds, 2)
            baseline = (before["tps"] + after["tps"]) / 2
            lines.append(
                f"{variant}: {result['calls']} calls, {result['seats']} seats in {result['elapsed']:.2f} s = "
                f"{result['seats_s']:,.0f} seats/s; call + commit p50 {result['p50_ms']:.2f} / p95 "
                f"{result['p95_ms']:.2f} ms; client CPU per call {result['client_cpu_ms']:.2f} ms; UPDATE "
                f"baseline {before['tps']:,.0f} / {after['tps']:,.0f} tx/s; RATIO {result['seats_s'] / baseline:.3f}")
            log(lines[-1])
        if not args.no_pgbench:
            pgb = run_pgbench(url, args.clients, args.baseline_seconds)
            if pgb and pgb["tps"]:
                lines.append(f"pgbench -b simple-update -c {args.clients}: {pgb['tps']:,.0f} tx/s")
        print("\n".join(lines))
    finally:
        with psycopg.connect(conninfo(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
