"""Request bodies have a size limit by kind of request, answered 413 before the body is read (a page in
the user's language, JSON with a reason for the API), and JSON nested too deep is a 400, not a 500."""
import io
import os
import select as io_select
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from langjourney.auth.models import User
from langjourney.courses.models import Course
from langjourney.ops.limits import BODY_LIMITS, body_kind
from tests.langjourney.test_courses_api import bearer, school  # noqa: F401  (the fixture)
from tests.langjourney.test_courses_csv import GOOD, csv_text
from tests.langjourney.test_input import REGISTRATION


class CountingStream(io.BytesIO):
    """A request body that remembers how much of it was read."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk

    def readline(self, size=-1):
        line = super().readline(size)
        self.bytes_read += len(line)
        return line


def post_unread(client, url, n_bytes, content_type, headers=None, chunked=False):
    """POST a body of ``n_bytes`` that counts its reads; with or without a Content-Length."""
    stream = CountingStream(b"[" + b" " * (n_bytes - 2) + b"]")
    if chunked:  # as gunicorn hands a chunked body on: no length, the server ends the stream
        response = client.post(url, input_stream=stream, content_type=content_type,
                               headers={**(headers or {}), "Transfer-Encoding": "chunked"},
                               environ_overrides={"wsgi.input_terminated": True})
    else:
        response = client.post(url, input_stream=stream, content_type=content_type, content_length=n_bytes,
                               headers=headers or {})
    return response, stream.bytes_read


def test_every_kind_has_a_limit_in_the_config(app):
    for setting in BODY_LIMITS.values():
        assert app.config[setting] > 0
    assert app.config["MAX_FORM_BYTES"] <= min(app.config[s] for s in BODY_LIMITS.values())
    with pytest.raises(ValueError):
        body_kind("video")


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded",
                                          "text/plain"])
def test_a_large_body_to_healthz_is_refused_unread(client, app, content_type):
    response, bytes_read = post_unread(client, "/healthz", 50 * 1024 * 1024, content_type)
    assert response.status_code == 413 and response.is_json
    assert response.json["limit"] == app.config["MAX_FORM_BYTES"] and "at most" in response.json["description"]
    assert bytes_read == 0


def test_a_chunked_body_is_read_only_up_to_the_limit(client, app):
    response, bytes_read = post_unread(client, "/healthz", 5 * 1024 * 1024, "application/json", chunked=True)
    assert response.status_code == 413
    assert bytes_read <= app.config["MAX_FORM_BYTES"] + 64 * 1024
    # a small chunked body goes on to the route, which does not take a POST
    response, _ = post_unread(client, "/healthz", 100, "application/json", chunked=True)
    assert response.status_code == 405


def test_a_large_form_gets_a_page_in_the_users_language(client, db_session):
    users = db_session.scalar(select(func.count()).select_from(User))
    data = {**REGISTRATION, "full_name": "O" * (200 * 1024)}
    response = client.post("/register", data=data, headers={"Accept-Language": "et"})
    assert response.status_code == 413 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "Saadetu on liiga suur" in page and "128 kilobaiti" in page
    assert db_session.scalar(select(func.count()).select_from(User)) == users
    # an ordinary registration still goes through
    assert client.post("/register", data=REGISTRATION).status_code == 302


def test_the_api_answers_413_before_authenticating_and_reading(client, app):
    response, bytes_read = post_unread(client, "/api/v1/enrolments/1/confirm", 50 * 1024 * 1024,
                                       "application/json")
    assert response.status_code == 413 and response.is_json and bytes_read == 0
    assert response.json["limit"] == app.config["MAX_API_BYTES"]
    # within the limit, the missing token is what is refused
    response, _ = post_unread(client, "/api/v1/enrolments/1/confirm", 1000, "application/json")
    assert response.status_code == 401


def test_a_csv_import_larger_than_a_form_is_accepted(client, auth, db_session, app):
    staff = auth.login("provider", locale="en")
    rows = [GOOD[0].replace("Eesti keel A1 õhtuti", f"Eesti keel A1 rühm {n}") for n in range(1500)]
    content = csv_text(*rows).encode()
    assert app.config["MAX_FORM_BYTES"] < len(content) < app.config["MAX_CSV_IMPORT_BYTES"]
    response = client.post("/provider/import", data={"file": (io.BytesIO(content), "c.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    assert db_session.scalar(select(func.count()).select_from(Course)
                             .where(Course.provider_id == staff.provider_id)) == 1500


def test_a_csv_file_over_its_limit_is_refused_unread(client, auth, db_session, app):
    auth.login("provider", locale="en")
    response, bytes_read = post_unread(client, "/provider/import", app.config["MAX_CSV_IMPORT_BYTES"] + 1,
                                       "multipart/form-data; boundary=x")
    assert response.status_code == 413 and bytes_read == 0
    assert "at most 3 megabytes" in response.get_data(as_text=True)


def _nested(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


@pytest.mark.parametrize("levels", [65, 2000, 15000])
def test_deep_json_is_a_400_with_a_reason(client, levels):
    response = client.post("/healthz", data=_nested(levels), content_type="application/json")
    assert response.status_code == 400 and response.is_json
    assert "nested more than 64 levels" in response.json["description"]
    arrays = client.post("/courses", data="[" * levels + "]" * levels, content_type="application/json",
                         headers={"Accept-Language": "ru"})
    assert arrays.status_code == 400 and "вложены слишком глубоко (допустимо не более 64 уровней)" in arrays.get_data(as_text=True)


def test_json_up_to_the_depth_limit_reaches_the_api(client, db_session, school):  # noqa: F811
    body = '{"note": "ok", "x": ' + "[" * 62 + "]" * 62 + "}"  # 63 levels
    response = client.post(f"/api/v1/enrolments/{school['enrolment'].id}/confirm", data=body,
                           headers={**bearer(school["token"]), "Content-Type": "application/json"})
    assert response.status_code == 200 and response.json["status"] == "confirmed"
    deeper = client.post(f"/api/v1/enrolments/{school['enrolment'].id}/confirm", data=_nested(3000),
                         headers={**bearer(school["token"]), "Content-Type": "application/json"})
    assert deeper.status_code == 400 and deeper.json["field"] == "body"


ROOT = Path(__file__).resolve().parents[2]
BIG = 50 * 1024 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status(pid: int, field: str) -> int:
    """A memory figure of process ``pid`` from /proc, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def _post_big(port: int, *, chunked: bool) -> tuple[int, int]:
    """POST ``BIG`` bytes to /healthz, stopping as soon as the server answers: (status, bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    with sock:
        length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {BIG}"
        sock.sendall(f"POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     f"{length}\r\n\r\n".encode())
        piece = b" " * 65536
        frame = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
        sent, pending, deadline = 0, b"", time.monotonic() + 20
        while sent < BIG and time.monotonic() < deadline:
            readable, writable, _ = io_select.select([sock], [sock], [], 5)
            if readable:
                break  # the answer came before the body was sent
            pending = pending or frame
            try:
                done = sock.send(pending)
            except (BrokenPipeError, ConnectionResetError):
                break
            pending, sent = pending[done:], sent + done
        else:
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        answer = b""
        try:
            while b"\r\n" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except ConnectionResetError:
            pass
    return int(answer.split()[1]) if answer else 0, sent


def test_gunicorn_refuses_large_bodies_without_taking_their_memory(app):
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"],
           "MAIL_BACKEND": "null", "LOG_LEVEL": "WARNING", "SERVER_NAME": f"127.0.0.1:{port}"}
    env.pop("REDIS_URL", None)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}",
                               "--log-level", "warning", "wsgi:app"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).close()
                break
            except urllib.error.HTTPError as answer:
                answer.close()
                break  # it answers
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("gunicorn did not start")
        workers = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        assert len(workers) == 1
        worker = int(workers[0])
        warm = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", data=b" " * (200 * 1024),
                                      headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(warm, timeout=5)
        refused.value.close()
        assert refused.value.code == 413
        rss, peak = _status(worker, "VmRSS"), _status(worker, "VmHWM")

        for chunked in (False, True):
            status, sent = _post_big(port, chunked=chunked)
            assert status == 413, (chunked, sent)
            assert sent < BIG / 2  # refused early: the client could stop sending

        grown = max(_status(worker, "VmRSS") - rss, _status(worker, "VmHWM") - peak)
        assert grown < 8 * 1024 * 1024, f"the worker grew by {grown / 2**20:.1f} MiB for a {BIG / 2**20:.0f} MiB body"
    finally:
        server.terminate()
        server.wait(timeout=10)
