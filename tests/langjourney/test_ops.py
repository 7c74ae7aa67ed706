import json
import logging

from langjourney.ops.logging import JSONFormatter


def test_healthz_reports_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["database"] == "ok" and response.json["status"] == "ok"


def test_healthz_reports_unreachable_redis(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["redis"].startswith("error")


def test_json_log_lines():
    record = logging.LogRecord("langjourney.request", logging.INFO, __file__, 1, "GET %s", ("/x",), None)
    record.status = 200
    entry = json.loads(JSONFormatter().format(record))
    assert entry["message"] == "GET /x" and entry["status"] == 200 and entry["level"] == "INFO"


def test_static_css_served_locally(client):
    response = client.get("/login")
    page = response.get_data(as_text=True)
    assert '/static/css/main.css' in page and "http" not in page.split("<body")[0].replace(
        'http-equiv', '')
    with client.get("/static/css/main.css") as css:
        assert css.status_code == 200


def test_base_layout_accessibility_landmarks(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'class="skip-link" href="#content"' in page
    assert '<main id="content"' in page and "<nav" in page and "<header" in page
    assert '<label for="lang-select">' in page
    assert '<label for="email">' in page and '<label for="password">' in page
