import pytest

from langjourney import create_app
from langjourney.config import load_config, _secret_key


def test_config_overrides_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "sqlite:///from-env.sqlite3")
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite:///from-config.sqlite3", "TESTING": True,
                      "SECRET_KEY": "x"})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///from-config.sqlite3"
    assert app.testing


def test_environment_is_read(monkeypatch, tmp_path):
    config = load_config(tmp_path, env={"DATABASE_URL": "postgresql+psycopg://db/lj",
                                        "REDIS_URL": "redis://r:6379/0", "SECRET_KEY": "s"})
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://db/lj"
    assert config["REDIS_URL"] == "redis://r:6379/0"
    assert config["SECRET_KEY"] == "s"


def test_embedded_defaults(tmp_path):
    config = load_config(tmp_path, env={})
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'langjourney.sqlite3'}"
    assert config["REDIS_URL"] is None
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert load_config(tmp_path, env={"FLASK_DEBUG": "1"})["SESSION_COOKIE_SECURE"] is False


def test_secret_key_generated_once(tmp_path):
    first = _secret_key(tmp_path / "instance")
    assert len(first) >= 40
    assert _secret_key(tmp_path / "instance") == first
    assert load_config(tmp_path / "instance", env={})["SECRET_KEY"] == first


def test_factory_makes_no_connections(monkeypatch):
    import sqlalchemy.engine.base

    def refuse(*args, **kwargs):
        raise AssertionError("the factory connected to the database")

    monkeypatch.setattr(sqlalchemy.engine.base.Engine, "connect", refuse)
    create_app({"SQLALCHEMY_DATABASE_URI": "sqlite:///never.sqlite3", "SECRET_KEY": "x"})


@pytest.mark.parametrize("path", ["/", "/login"])
def test_wsgi_module_builds_app(path):
    import wsgi

    assert wsgi.app.url_map.bind("localhost").match(path)
