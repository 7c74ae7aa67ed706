"""LangJourney (Keeleteekond): from "where do I stand?" to the state exam, for adult learners of Estonian."""
from __future__ import annotations

from pathlib import Path

from flask import Flask


def create_app(config: dict | None = None) -> Flask:
    """Build the application. ``config`` overrides what the environment says (tests use it).

    The factory makes no queries, runs no migrations and opens no connections.
    """
    from langjourney.config import PROJECT_ROOT, load_config

    app = Flask(__name__, instance_path=str(PROJECT_ROOT / "instance"), instance_relative_config=True)
    app.config.from_mapping(load_config(Path(app.instance_path)))
    if config:
        app.config.from_mapping(config)

    register_logging(app)
    register_extensions(app)
    register_throttle(app)
    register_url_converters(app)
    register_blueprints(app)
    register_templating(app)
    register_request_hooks(app)
    register_errors(app)
    register_commands(app)
    return app


def register_logging(app: Flask) -> None:
    from langjourney.ops.logging import configure_logging

    configure_logging(app)


def register_extensions(app: Flask) -> None:
    from langjourney import jobs
    from langjourney.db import configure_sqlite
    from langjourney.extensions import babel, csrf, db, login_manager, migrate
    from langjourney.i18n import RequestDomain, select_locale

    db.init_app(app)
    with app.app_context():  # engines exist now but have not connected; no query is made
        for engine in db.engines.values():
            configure_sqlite(engine)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    babel.domain_instance = RequestDomain()  # the default "messages" domain
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    jobs.init_app(app)
    import langjourney.models  # noqa: F401  (every model registered with the metadata)
    import langjourney.auth.access  # noqa: F401  (the user loader)


def register_throttle(app: Flask) -> None:
    """ProxyFix for the configured proxies, and Flask-Limiter (Redis when configured)."""
    from langjourney.auth.throttle import init_throttle

    init_throttle(app)


def register_url_converters(app: Flask) -> None:
    """``<int:…>`` in a route takes only numbers that fit an id column: a larger one matches no route
    (404), where it used to reach the database and fail there (500). Before the blueprints: a rule
    looks its converters up when it is added."""
    from werkzeug.routing import IntegerConverter

    from langjourney.db import MAX_ID

    class IdConverter(IntegerConverter):
        def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):
            super().__init__(map, fixed_digits, min, max, signed)

    app.url_map.converters["int"] = IdConverter


def register_blueprints(app: Flask) -> None:
    from langjourney.admin.views import bp as admin_bp
    from langjourney.auth.views import bp as auth_bp
    from langjourney.counselling.views import bp as counselling_bp
    from langjourney.courses.api import bp as api_bp
    from langjourney.courses.provider_views import bp as provider_bp
    from langjourney.courses.views import bp as courses_bp
    from langjourney.extensions import csrf
    from langjourney.learners.views import bp as learners_bp
    from langjourney.ops.views import bp as ops_bp
    from langjourney.selfassess.views import bp as selfassess_bp
    from langjourney.testing.views import bp as testing_bp
    from langjourney.waitlist.views import bp as waitlist_bp

    for bp in (ops_bp, auth_bp, learners_bp, selfassess_bp, testing_bp, admin_bp, courses_bp, provider_bp,
               api_bp, waitlist_bp, counselling_bp):
        app.register_blueprint(bp)
    csrf.exempt(api_bp)  # token-authenticated JSON: no cookies, so no cross-site forgery


def register_templating(app: Flask) -> None:
    from flask_babel import get_locale

    from langjourney.auth.forms import ROLE_LABELS
    from langjourney.i18n import LANGUAGE_NAMES
    from langjourney.testing.presentation import ATTEMPT_STATUS_LABELS

    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.globals.update(get_locale=get_locale, language_names=LANGUAGE_NAMES,
                                 role_labels=ROLE_LABELS, attempt_status_labels=ATTEMPT_STATUS_LABELS)


def register_request_hooks(app: Flask) -> None:
    from flask import request

    from langjourney.auth.sessions import init_sessions
    from langjourney.db import begin_reading
    from langjourney.ops.input import init_input_checks
    from langjourney.ops.limits import init_request_limits
    from langjourney.ops.security import init_security

    from langjourney.ops import periodic

    init_request_limits(app)  # runs first of all hooks, whenever registered: nothing reads a body before it
    init_security(app)
    init_input_checks(app)  # before anything touches the database
    init_sessions(app)
    periodic.init_app(app)

    @app.before_request
    def begin_transaction():
        if getattr(app.view_functions.get(request.endpoint), "reads_first", False):
            begin_reading()


def register_errors(app: Flask) -> None:
    from langjourney.ops.errors import init_errors

    init_errors(app)


def register_commands(app: Flask) -> None:
    from langjourney.cli import init_cli

    init_cli(app)
