"""Throughput of the front page, the catalogue and a learner's dashboard under load.

    .venv/bin/python benchmarks/load_benchmark.py                      # SQLite, gunicorn -w 2 + wrk (~2 min)
    .venv/bin/python benchmarks/load_benchmark.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    .venv/bin/python benchmarks/load_benchmark.py --statements        # in-process: SQL statements and CPU per page
    .venv/bin/python benchmarks/load_benchmark.py --statements --profile /home   # + cProfile of one page

Builds a fresh database with the demo data (``flask demo load``): a temporary SQLite file, or with
``--database-url`` a new PostgreSQL database created beside the one named and dropped at the end.
Starts ``gunicorn -w 2`` (sync workers) on 127.0.0.1 and a free port, signs a demo learner in through
the real ``POST /login`` to get a session cookie, and runs ``wrk`` (Debian package ``wrk``) on ``/``,
``/courses`` and ``/home`` (with the cookie). The front page ``/`` is the yardstick: the runs
alternate F C F H F ... and each page's rate is divided by the mean of the two front-page runs beside
it, which evens out the drift of a shared machine's load. Prints req/s, latency p50/p99, the server's
CPU per request, the ratios ``/courses : /`` and ``/home : /``, and any non-2xx/3xx or socket errors.
Never fails on a time. Only ever connects to the loopback address.
"""
from __future__ import annotations

import argparse
import cProfile
from http.cookiejar import CookieJar
import os
import pstats
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from answer_benchmark import fresh_database  # noqa: E402  (a fresh SQLite file or PostgreSQL database)

USER_AGENT = "langjourney-load-benchmark"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
PAGES = ["/courses", "/home"]
DEFAULT_LEARNER = "learner031@example.com"


# --------------------------------------------------------------------------------------------
# Database and app


def make_app(url: str, secret: str, server_name: str):
    from langjourney import create_app

    return create_app({
        "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secret, "SERVER_NAME": server_name, "PREFERRED_URL_SCHEME": "http",
        "MAIL_BACKEND": "null", "REDIS_URL": None, "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False, "LOG_LEVEL": "WARNING",
    })


def prepare(app) -> dict:
    """Migrate and load the demo data, as ``flask db upgrade`` and ``flask demo load`` do."""
    from flask_migrate import upgrade

    from langjourney.demo.data import load_demo
    from langjourney.extensions import db

    with app.app_context():
        upgrade()
        counts = load_demo()
        db.session.commit()
        db.session.remove()
    return counts


# --------------------------------------------------------------------------------------------
# In-process: statements and CPU per page


def statements(args) -> None:
    from sqlalchemy import event

    from langjourney.demo.data import DEMO_PASSWORD
    from langjourney.extensions import db

    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp, \
            fresh_database(args.database_url, Path(tmp), "load") as url:
        app = make_app(url, secrets.token_urlsafe(32), "127.0.0.1:5000")
        prepare(app)
        client, anonymous = app.test_client(), app.test_client()
        token = CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
        client.post("/login", data={"email": args.learner, "password": DEMO_PASSWORD, "csrf_token": token})
        with app.app_context():
            engine = db.engine  # each request below pushes its own app context, as in production
        seen: list[str] = []

        def count(conn, cursor, statement, params, context, executemany):
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        print(f"in-process, {'PostgreSQL' if url.startswith('postgresql') else 'SQLite'}, learner {args.learner}")
        for path in ["/", *PAGES]:
            who = client if path == "/home" else anonymous
            for _ in range(3):  # warm: templates, translations, the content caches
                response = who.get(path)
                assert response.status_code == 200, (path, response.status_code, response.location)
            seen.clear()
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(args.repeats):
                who.get(path)
            cpu = (time.process_time() - cpu) * 1000 / args.repeats
            wall = (time.perf_counter() - wall) * 1000 / args.repeats
            n = len(seen) / args.repeats
            print(f"  GET {path:<10} {n:5.1f} SQL statements, {cpu:6.2f} ms CPU, {wall:6.2f} ms wall per request")
            if args.verbose:
                for statement in seen[:int(n)]:
                    print("      " + " ".join(statement.split())[:160])
        if args.profile:
            who = client if args.profile == "/home" else anonymous
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(args.repeats):
                who.get(args.profile)
            profiler.disable()
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(50)
        event.remove(engine, "before_cursor_execute", count)
        engine.dispose()


# --------------------------------------------------------------------------------------------
# HTTP: gunicorn + wrk


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_cpu_ms(pgid: int) -> float:
    """CPU time (user + system) used so far by the processes of the server's process group."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total * 1000 / os.sysconf("SC_CLK_TCK")


def wrk_run(url: str, args, pgid: int, cookie: str | None = None, duration: float | None = None) -> dict:
    duration = duration or args.duration
    cmd = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{max(1, round(duration))}s",
           "--timeout", "5s", "--latency", "-H", f"User-Agent: {USER_AGENT}"]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    cpu = server_cpu_ms(pgid)
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=duration + 30)
    cpu = server_cpu_ms(pgid) - cpu
    text = out.stdout + out.stderr
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    lat = {q: m.group(1) for q in ("50%", "99%") if (m := re.search(rf"^\s+{re.escape(q)}\s+(\S+)\s*$", text, re.M))}
    non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    if not rps:
        print(f"  wrk gave no figures (exit {out.returncode}): {text.strip()[:500]}")
    n = int(total.group(1)) if total else 0
    return {"rps": float(rps.group(1)) if rps else float("nan"), "requests": n, "lat": lat,
            "non_ok": int(non_ok.group(1)) if non_ok else 0, "errors": errors.group(1) if errors else "",
            "cpu_ms": cpu / n if n else float("nan")}


def sign_in(base: str, email: str, password: str) -> str:
    """Sign in through the server's own form; returns the Cookie header for the signed-in session."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", USER_AGENT)]
    page = opener.open(base + "/login", timeout=10).read().decode()
    token = CSRF.search(page).group(1)
    body = urllib.parse.urlencode({"email": email, "password": password, "csrf_token": token}).encode()
    opener.open(urllib.request.Request(base + "/login", data=body), timeout=10).read()
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def check_home(base: str, cookie: str) -> str:
    """The dashboard answers 200 with the learner's page (not the sign-in page)."""
    request = urllib.request.Request(base + "/home", headers={"Cookie": cookie, "User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=10) as r:
        final, html = r.geturl(), r.read().decode()
    if not final.endswith("/home") or ('action="/login"' in html and "/logout" not in html):
        sys.exit(f"the session cookie does not open /home (ended at {final})")
    return html


def wait_ready(url: str, server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    sys.exit("gunicorn did not answer in time")


def http(args) -> None:
    from langjourney.demo.data import DEMO_PASSWORD

    gunicorn = ROOT / ".venv" / "bin" / "gunicorn"
    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp, \
            fresh_database(args.database_url, Path(tmp), "load") as url:
        tmp = Path(tmp)
        kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite (file in a temporary directory)"
        secret, port = secrets.token_urlsafe(32), free_port()
        t = time.perf_counter()
        prepare(make_app(url, secret, f"127.0.0.1:{port}"))
        print(f"http: {kind}, demo data (prepared in {time.perf_counter() - t:.1f} s); gunicorn -w {args.workers} "
              f"(sync), wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s, {args.rounds} rounds, "
              f"learner {args.learner}; all on 127.0.0.1")
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": secret, "SERVER_NAME": f"127.0.0.1:{port}",
               "SESSION_COOKIE_SECURE": "0", "MAIL_BACKEND": "null", "LOG_LEVEL": "WARNING"}
        env.pop("REDIS_URL", None)
        load_before = os.getloadavg()[0]
        log = (tmp / "gunicorn.log").open("w")
        server = subprocess.Popen(
            [str(gunicorn), "-w", str(args.workers), "-b", f"127.0.0.1:{port}", "wsgi:app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        runs: dict[str, list[dict]] = {"/": [], **{p: [] for p in PAGES}}
        try:
            wait_ready(base + "/", server)
            cookie = sign_in(base, args.learner, DEMO_PASSWORD)
            check_home(base, cookie)

            def run(path, duration=None):
                return wrk_run(base + path, args, server.pid, cookie if path == "/home" else None, duration)

            for path in ["/", *PAGES]:  # warm both workers: templates, translations, content caches
                run(path, duration=2)
            runs["/"].append(run("/"))
            for _ in range(args.rounds):
                for path in PAGES:
                    runs[path].append(run(path))
                    runs["/"].append(run("/"))
            check_home(base, cookie)  # still signed in: every /home request was the dashboard
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
            log.close()
        report(args, runs, load_before)
        errors = [ln for ln in (tmp / "gunicorn.log").read_text().splitlines()
                  if "Traceback" in ln or '"level": "ERROR"' in ln]
        if errors:
            print(f"  server logged {len(errors)} error line(s); first: {errors[0][:300]}")


def report(args, runs: dict[str, list[dict]], load_before: float) -> None:
    def line(label, r):
        print(f"  GET {label:<9} {r['rps']:8.1f} req/s  ({r['requests']} requests, latency p50 "
              f"{r['lat'].get('50%', '?')}, p99 {r['lat'].get('99%', '?')}; server CPU {r['cpu_ms']:.2f} ms/request"
              + (f", non-2xx/3xx {r['non_ok']}" if r["non_ok"] else "")
              + (f", socket errors {r['errors']}" if r["errors"] else "") + ")")

    front = runs["/"]
    ratios: dict[str, list[float]] = {p: [] for p in PAGES}
    line("/", front[0])
    for i in range(args.rounds):
        for j, path in enumerate(PAGES):
            k = i * len(PAGES) + j  # the front-page runs before and after this one
            r = runs[path][i]
            line(path, r)
            line("/", front[k + 1])
            ratios[path].append(r["rps"] / ((front[k]["rps"] + front[k + 1]["rps"]) / 2))
    print(f"  mean: / {statistics.mean(r['rps'] for r in front):.1f} req/s"
          + "".join(f", {p} {statistics.mean(r['rps'] for r in runs[p]):.1f} req/s" for p in PAGES))
    for path in PAGES:
        print(f"  ratio {path} : /  " + " / ".join(f"{x:.3f}" for x in ratios[path])
              + f"  (mean {statistics.mean(ratios[path]):.3f}; target >= 0.3)")
    bad = sum(r["non_ok"] for rs in runs.values() for r in rs)
    sock = [r["errors"] for rs in runs.values() for r in rs if r["errors"]]
    print(f"  errors: {bad} non-2xx/3xx responses" + (f"; socket errors: {'; '.join(sock)}" if sock else "; no socket errors"))
    print(f"  load average (1 min) before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="a PostgreSQL URL on 127.0.0.1 (a new database is made beside it)")
    parser.add_argument("--learner", default=DEFAULT_LEARNER, help=f"the demo learner to sign in (default {DEFAULT_LEARNER})")
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--rounds", type=int, default=2, help="F C F H F rounds (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--statements", action="store_true", help="in-process: SQL statements and CPU per page")
    parser.add_argument("--repeats", type=int, default=30, help="--statements: requests per page (default 30)")
    parser.add_argument("--profile", choices=["/", *PAGES], help="--statements: cProfile this page")
    parser.add_argument("--sort", default="cumulative", help="--profile: pstats sort key (default cumulative)")
    parser.add_argument("-v", "--verbose", action="store_true", help="--statements: list the statements")
    args = parser.parse_args()
    if args.connections > 64 or args.duration > 60:
        sys.exit("bounded on purpose: at most 64 connections and 60 s per run")
    if args.statements:
        statements(args)
    else:
        http(args)


if __name__ == "__main__":
    main()
