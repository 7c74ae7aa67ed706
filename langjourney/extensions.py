"""Extension objects, created unbound; :func:`langjourney.create_app` binds them."""
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from langjourney.db import ENGINE_OPTIONS, Base, render_item

db = SQLAlchemy(model_class=Base, engine_options=ENGINE_OPTIONS)  # the config's options add to these
migrate = Migrate(compare_type=True, render_as_batch=True, render_item=render_item)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
# Per-client limits (sign-in failures, reset requests); the client is request.remote_addr, which
# ProxyFix sets from X-Forwarded-For only for the configured proxies (langjourney.auth.throttle).
limiter = Limiter(get_remote_address)
